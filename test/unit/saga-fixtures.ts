/**
 * Two saga parties on real SQLite stores (temp files), joined by an in-memory
 * endpoint whose faults a test sets per leg: cut (the call is lost), hold (no
 * answer until released), or a hook that rewrites the turn on its way.
 */
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
import { tempHome } from '../helpers/host.js';

export interface Side {
  readonly id: string;
  readonly key: SigningKey;
  readonly dbPath: string;
  store: SpaceStore;
  readonly book: SagaBook;
  party: SagaParty;
  /** Opens the store again (as after a crash: what was open is cleaned). */
  reopen(): void;
}

export const makeSide = (t: ExecutionContext, name: string, limits: Partial<SagaLimits> = {}): Side => {
  const dir = tempHome(t);
  const key = nodeCrypto.ed25519FromSeed(nodeCrypto.sha256(new TextEncoder().encode(`saga test ${name}`)));
  const id = vatIdOf(nodeCrypto, key.publicKey);
  const dbPath = join(dir, 'store.sqlite');
  const all: SagaLimits = { ...DEFAULT_SAGA_LIMITS, ...limits };
  const book = makeSagaBook();
  const side = {
    id,
    key,
    dbPath,
    book,
    store: openSpaceStore(dbPath, nodeCrypto, all),
    party: undefined as unknown as SagaParty,
    reopen() {
      side.store.close();
      side.store = openSpaceStore(dbPath, nodeCrypto, all);
      side.party = { ...side.party, store: side.store };
    },
  };
  side.party = { crypto: nodeCrypto, key, self: id, store: side.store, limits: all, now: () => Date.now(), book };
  t.teardown(() => side.store.close());
  return side;
};

export type Leg = 'init' | 'delta' | 'commit' | 'abort';

export interface Wire extends SagaEndpoint {
  readonly responder: Responder;
  /** Called with each turn on its way; may throw (the call is lost), return other bytes, or wait. */
  onTurn?: (leg: Leg, n: number, bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** Called with each answer on its way back; may throw (the answer is lost). */
  onAnswer?: (leg: Leg, n: number) => void | Promise<void>;
}

/** An endpoint to `to`'s responder (knowing `from`'s key), with fault hooks. */
export const wire = (from: Side, to: Side, opts: Partial<ResponderOptions> = {}): Wire => {
  const responder = makeResponder(to.party, {
    keyOf: (id) => (id === from.id ? from.key.publicKey : undefined),
    accepts: () => true,
    maxActive: 8,
    ...opts,
  });
  const counts: Record<Leg, number> = { init: 0, delta: 0, commit: 0, abort: 0 };
  const w: Wire = {
    responder,
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
