/**
 * Two saga parties on real SQLite stores (temp files), joined by an in-memory
 * endpoint whose faults a test sets per leg: cut (the call is lost), hold (no
 * answer until released), or a hook that rewrites the turn on its way.
 *
 * Each side watches its own machines end (through the party's `inspect`), so a
 * test awaits an outcome as an event; with `{ manualClock: true }` a side's
 * machines run on timers the test advances by hand, and a reopen (a crash)
 * gives it fresh ones: a dead process's timers never fire.
 */
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { type SagaBook, type SagaEndpoint, type SagaParty, makeSagaBook } from '../../protocols/saga/endpoint.js';
import { DEFAULT_SAGA_LIMITS, type SagaLimits } from '../../protocols/saga/limits.js';
import { makeResponder, type Responder, type ResponderOptions } from '../../protocols/saga/responder.js';
import type { SyncEntry } from '../../protocols/saga/space.js';
import type { SigningKey } from '../../protocols/session/crypto.js';
import { vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { openSpaceStore, type SpaceStore } from '../../runtime/saga/space-store.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';
import { tempHome } from '../helpers/host.js';
import { manualTimers } from '../helpers/manual-timers.js';
import { trackDir } from '../helpers/processes.js';

export type ManualTimers = ReturnType<typeof manualTimers>;

/** A saga machine of this side that reached a final state. */
export interface EndedMachine {
  readonly role: 'initiator' | 'responder';
  readonly state: string;
  readonly errorName: string | undefined;
  readonly error: string | undefined;
}

export interface Side {
  readonly id: string;
  readonly key: SigningKey;
  readonly dbPath: string;
  store: SpaceStore;
  /** Its sagas in flight (a crash empties it, as it would a process's memory). */
  book: SagaBook;
  party: SagaParty;
  /** The simulated timers of this side's machines (sides made with `manualClock`). */
  clock: ManualTimers | undefined;
  /** This side's machines that ended, in order. */
  readonly ended: EndedMachine[];
  /** Resolves with the `count`-th machine of `role` to end here (bounded: a hang fails the test). */
  endOf(role: EndedMachine['role'], count?: number): Promise<EndedMachine>;
  /** Opens the store again (as after a crash: what was open is cleaned). */
  reopen(): void;
}

/** Records the final snapshot of each root saga machine (children's ends are not the saga's). */
const watchEnds = () => {
  const ended: EndedMachine[] = [];
  const waiters = new Set<() => void>();
  const inspect = (role: EndedMachine['role']) => (ev: unknown) => {
    const e = ev as { type: string; rootId: string; actorRef: { sessionId: string }; snapshot?: { status: string; value: unknown; context?: { errorName?: string; error?: string } } };
    if (e.type !== '@xstate.snapshot' || e.actorRef.sessionId !== e.rootId || e.snapshot?.status !== 'done') return;
    ended.push({ role, state: String(e.snapshot.value), errorName: e.snapshot.context?.errorName, error: e.snapshot.context?.error });
    for (const w of [...waiters]) w();
  };
  const endOf = (role: EndedMachine['role'], count = 1) =>
    within(
      new Promise<EndedMachine>((resolve) => {
        const check = () => {
          const mine = ended.filter((m) => m.role === role);
          if (mine.length < count) return false;
          waiters.delete(check);
          resolve(mine[count - 1]!);
          return true;
        };
        if (!check()) waiters.add(check);
      }),
      LOCAL_MS,
      `the ${role} machine #${count} to end`,
    );
  return { ended, inspect, endOf };
};

const TMPFS = '/dev/shm';
const onTmpfs = (() => {
  try {
    accessSync(TMPFS, constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();

/**
 * A temp home for one side's store: on tmpfs when the machine has one. The
 * store commits with synchronous = FULL, an fsync costs milliseconds on this
 * disk and a saga makes dozens; these tests are about the protocol, not the
 * disk. Removed at teardown, or by the worker's reaper when a teardown never runs.
 */
export const storeHome = (t: ExecutionContext): string => {
  if (!onTmpfs) return tempHome(t);
  const dir = mkdtempSync(join(TMPFS, 'tribe-test-'));
  const tracked = trackDir(dir);
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    tracked.forget();
  });
  return dir;
};

export const makeSide = (t: ExecutionContext, name: string, limits: Partial<SagaLimits> = {}, opts: { manualClock?: boolean } = {}): Side => {
  const dir = storeHome(t);
  const key = nodeCrypto.ed25519FromSeed(nodeCrypto.sha256(new TextEncoder().encode(`saga test ${name}`)));
  const id = vatIdOf(nodeCrypto, key.publicKey);
  const dbPath = join(dir, 'store.sqlite');
  const all: SagaLimits = { ...DEFAULT_SAGA_LIMITS, ...limits };
  const book = makeSagaBook();
  const ends = watchEnds();
  const side: Side = {
    id,
    key,
    dbPath,
    book,
    store: openSpaceStore(dbPath, nodeCrypto, all),
    party: undefined as unknown as SagaParty,
    clock: opts.manualClock ? manualTimers() : undefined,
    ended: ends.ended,
    endOf: ends.endOf,
    reopen() {
      side.store.close();
      side.store = openSpaceStore(dbPath, nodeCrypto, all);
      side.clock = opts.manualClock ? manualTimers() : undefined;
      side.book = makeSagaBook();
      side.party = { ...side.party, store: side.store, book: side.book, ...(side.clock ? { clock: side.clock } : {}) };
    },
  };
  side.party = {
    crypto: nodeCrypto,
    key,
    self: id,
    store: side.store,
    limits: all,
    now: () => Date.now(),
    book,
    inspect: (role) => ends.inspect(role),
    ...(side.clock ? { clock: side.clock } : {}),
  };
  t.teardown(() => side.store.close());
  return side;
};

export type Leg = 'init' | 'delta' | 'commit' | 'abort';

export interface Wire extends SagaEndpoint {
  /** The responder turns reach now. */
  readonly responder: Responder;
  /**
   * The responder's process dies and starts again: its store is reopened (what
   * was open is marked aborted, temp rows go), its clock and its sagas in
   * flight are gone, and later turns reach a fresh responder.
   */
  restartResponder(): void;
  /** Called with each turn on its way; may throw (the call is lost), return other bytes, or wait. */
  onTurn?: (leg: Leg, n: number, bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** Called with each answer on its way back; may throw (the answer is lost). */
  onAnswer?: (leg: Leg, n: number) => void | Promise<void>;
}

/** An endpoint to `to`'s responder (knowing `from`'s key), with fault hooks. */
export const wire = (from: Side, to: Side, opts: Partial<ResponderOptions> = {}): Wire => {
  const start = () =>
    makeResponder(to.party, {
      keyOf: (id) => (id === from.id ? from.key.publicKey : undefined),
      accepts: () => true,
      maxActive: 8,
      ...opts,
    });
  let responder = start();
  const counts: Record<Leg, number> = { init: 0, delta: 0, commit: 0, abort: 0 };
  const w: Wire = {
    get responder() {
      return responder;
    },
    restartResponder() {
      to.reopen();
      responder = start();
    },
    async init(bytes) {
      return call('init', bytes, (b) => responder.init(b));
    },
    async delta(bytes) {
      return call('delta', bytes, (b) => responder.delta(b));
    },
    async commit(bytes) {
      return call('commit', bytes, (b) => responder.commit(b));
    },
    async abort(bytes) {
      return call('abort', bytes, (b) => responder.abort(b));
    },
  };
  const call = async <T,>(leg: Leg, bytes: Uint8Array, f: (b: Uint8Array) => Promise<T>): Promise<T> => {
    const n = counts[leg]++;
    const sent = w.onTurn ? await w.onTurn(leg, n, bytes) : bytes;
    const answer = await f(sent);
    await w.onAnswer?.(leg, n);
    return answer;
  };
  return w;
};

/** `n` entries `prefix0…` with values of `size` characters, written at clock `clock` by `origin`. */
export const entries = (n: number, opts: { prefix?: string; size?: number; clock?: number; origin?: string; value?: (i: number) => string } = {}): SyncEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    key: `${opts.prefix ?? 'k'}${i}`,
    value: opts.value ? opts.value(i) : `v${i}:`.padEnd(opts.size ?? 16, 'x'),
    clock: opts.clock ?? 1000 + i,
    origin: opts.origin ?? 'test',
    deleted: false,
  }));

/** Every entry of a space, tombstones included, as comparable rows. */
export const dump = (s: SpaceStore, space: string) => s.page(space, 0, 4096, undefined, 1_000_000).map((e) => [e.key, e.value, e.clock, e.origin, e.deleted, e.digest]);
