/**
 * A sister's sync: its keyed spaces (the host's store), the saga responder
 * other sisters push to, and pushes of its own. Two system spaces converge
 * across the tribe: `registry` (every sister's signed record) and `names`
 * (which sister publishes each name); users' own spaces sync the same way
 * (`tribe space`, `tribe sync --space`).
 *
 * The responder is exported at a ref derived from the tribe's secret, like the
 * Sister's, and accepts sagas only from sisters whose key this host knows (a
 * sister record: the VatId is the key's hash, so a key is never taken on a
 * peer's word). Turns cross CapTP as base64 text.
 *
 * Failure semantics: a push settles with the saga's outcome or rejects with
 * its named error (protocols/saga/errors.ts); whatever happens, this host's
 * durable spaces change only by a committed saga pushed to it.
 */
import { E, Far } from '@endo/far';
import { reviveError } from '../../capabilities/errors.js';
import { checkRecord, sisterSwiss } from '../../protocols/bootstrap/record.js';
import type { SagaBook, SagaEndpoint, SagaParty } from '../../protocols/saga/endpoint.js';
import { makeSagaBook } from '../../protocols/saga/endpoint.js';
import { SagaRefusedError, SagaMalformedError } from '../../protocols/saga/errors.js';
import { runInitiator, type SagaOutcome } from '../../protocols/saga/initiator.js';
import { DEFAULT_SAGA_LIMITS, type SagaLimits } from '../../protocols/saga/limits.js';
import { makeResponder } from '../../protocols/saga/responder.js';
import { parseTurn, SPACE_PATTERN } from '../../protocols/saga/codec.js';
import type { SagaRecord, SpaceStore } from '../../protocols/saga/spaces.js';
import type { SigningKey } from '../../protocols/session/crypto.js';
import { shortVatId, vatIdOf } from '../../protocols/session/vat-id.js';
import { unbase32 } from '../../protocols/bootstrap/record.js';
import { nodeCrypto } from '../crypto-node.js';
import { homePaths } from '../home.js';
import { describeError } from '../../capabilities/errors.js';
import { SisterNotFoundError } from '../../protocols/bootstrap/errors.js';
import { UsageError } from '../errors.js';
import type { Host, KeyedSpace, SyncReport, SyncRequest, SyncResult, SyncStatus } from '../host-api.js';
import { openSpaceStore } from '../saga/space-store.js';

/** The spaces every sister keeps and converges by itself. */
export const SYSTEM_SPACES = ['names', 'registry'] as const;
/** The name the saga responder is published under on each sister (beside `sister`). */
export const SYNC_ENDPOINT_NAME = 'sister.sync';
/** Sagas one sister answers at once: a tribe of 16 pushing two spaces each, with room. */
const MAX_ACTIVE_SAGAS = 40;

export interface SyncPeer {
  readonly vatId: string;
  readonly address: string;
  /** Its identity key, base32, from its record. */
  readonly key: string;
}

export interface SisterSync {
  readonly spaces: SpaceStore;
  /** Refreshes this host's own entries in the system spaces and answers every system space's root. */
  roots(): Record<string, string>;
  /** Pushes `space` to `peer` (a saga with this host as initiator). */
  push(peer: SyncPeer, space: string): Promise<SagaOutcome>;
  /** Which sister publishes `name`, as the names space says (undefined: none known here yet). */
  publisherOf(name: string): string | undefined;
  status(): SyncStatus;
  /** Sagas in flight here (cheap: no store read). */
  inFlight(): SyncStatus['inFlight'];
  /** `tribe sync`: pushes to each sister of `connected` (or the one `req.with` names), then asks it to push back. */
  syncNow(req: SyncRequest, connected: readonly (SyncPeer & { slot: number; machine: string })[]): Promise<SyncReport>;
  /** A keyed space; the system spaces are read-only through it. */
  space(name: string): KeyedSpace;
  close(): void;
}

export interface SisterSyncOptions {
  readonly host: Host;
  readonly secret: Uint8Array;
  readonly tribe: string;
  readonly key: SigningKey;
  /** This host's signed record (encoded): what it puts in the registry space. */
  readonly recordText: string;
  readonly startedAt: number;
  /** Sisters this host knows, with their keys (registry, announcements, pings). */
  peers(): readonly SyncPeer[];
  readonly print: (line: string) => void;
  readonly limits?: Partial<SagaLimits>;
}

const toB64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');

/** Decodes a turn's text from a peer, bounded before decoding. */
const fromB64 = (text: unknown, limits: SagaLimits): Uint8Array => {
  if (typeof text !== 'string' || text.length > Math.ceil(limits.maxTurnBytes / 3) * 4 + 4) throw new SagaMalformedError('a turn is base64 text within maxTurnBytes');
  return new Uint8Array(Buffer.from(text, 'base64'));
};

/**
 * A test hook: `TRIBE_TEST_SAGA_HOLD=LEG[:SPACE][,…]` (LEG init|delta|commit) makes the responder keep
 * turns of that leg unanswered — of that space only, when one is named, so one tribe holds a different
 * leg in each space and its system spaces still sync (fault-injection tests kill a side then).
 */
const HOLD = process.env['TRIBE_TEST_SAGA_HOLD'] ?? '';
const HOLDS = HOLD.split(',')
  .filter((h) => h !== '')
  .map((h) => (h.includes(':') ? { leg: h.slice(0, h.indexOf(':')), space: h.slice(h.indexOf(':') + 1) } : { leg: h, space: undefined }));
const legMs = Number(process.env['TRIBE_TEST_SAGA_LEG_MS'] ?? '') || undefined;

const isSystemName = (name: string) => name === 'sister' || name.startsWith('sister.');

export const startSisterSync = (opts: SisterSyncOptions): SisterSync => {
  const { host, secret, tribe, print } = opts;
  const limits: SagaLimits = { ...DEFAULT_SAGA_LIMITS, ...(legMs ? { legTimeoutMs: legMs } : {}), ...opts.limits };
  const spaces = openSpaceStore(homePaths(host.home).db, nodeCrypto, limits);
  if (spaces.recovered > 0) print(`sync: ${spaces.recovered} saga(s) were open when this host last stopped: aborted, their temp space removed`);
  const book: SagaBook = makeSagaBook();

  /** The VatId is the key's hash: a key that is not its key is no key for it, whoever said so. */
  const keyFor = (vatId: string, text: string | undefined): Uint8Array | undefined => {
    const key = text === undefined ? undefined : unbase32(text);
    return key?.length === 32 && vatIdOf(nodeCrypto, key) === vatId ? key : undefined;
  };
  const keyOf = (vatId: string): Uint8Array | undefined => {
    for (const p of opts.peers()) {
      const key = p.vatId === vatId ? keyFor(vatId, p.key) : undefined;
      if (key) return key;
    }
    // A sister known only from the registry space (its record synced here by another sister).
    const synced = spaces.get('registry', vatId);
    const check = synced ? checkRecord(nodeCrypto, tribe, synced.value) : undefined;
    return check?.ok ? keyFor(vatId, check.record.key) : undefined;
  };

  const party: SagaParty = {
    crypto: nodeCrypto,
    key: opts.key,
    self: host.id,
    store: spaces,
    limits,
    now: () => Date.now(),
    book,
    inspect: (role, peer, space) => host.inspector.tap({ group: 'sync', name: `saga ${role === 'initiator' ? '→' : '←'} ${shortVatId(peer)} ${space}` }).inspect as (ev: unknown) => void,
  };

  const responder = makeResponder(party, {
    keyOf,
    accepts: (space) => SPACE_PATTERN.test(space),
    checkEntry: (space, e) => {
      if (space !== 'registry' || e.deleted) return undefined;
      const check = checkRecord(nodeCrypto, tribe, e.value);
      if (!check.ok) return check.detail;
      return check.record.vatId === e.key ? undefined : `a record of ${shortVatId(check.record.vatId)} under ${shortVatId(e.key)}`;
    },
    maxActive: MAX_ACTIVE_SAGAS,
  });

  const hold = (leg: string, text: unknown): Promise<never> | undefined => {
    if (!HOLDS.some((h) => h.leg === leg)) return undefined;
    let space: string;
    try {
      space = parseTurn(fromB64(text, limits), limits).turn.space;
    } catch {
      return undefined; // Not a turn: the responder refuses it.
    }
    if (!HOLDS.some((h) => h.leg === leg && (h.space === undefined || h.space === space))) return undefined;
    print(`sync: holding a ${leg} turn unanswered (space ${space}; TRIBE_TEST_SAGA_HOLD=${HOLD})`);
    return new Promise<never>(() => {});
  };
  const endpoint = Far('SagaEndpoint', {
    init: async (t: unknown) => (await hold('init', t)) ?? toB64(await responder.init(fromB64(t, limits))),
    delta: async (t: unknown) => (await hold('delta', t)) ?? responder.delta(fromB64(t, limits)),
    commit: async (t: unknown) => (await hold('commit', t)) ?? toB64(await responder.commit(fromB64(t, limits))),
    abort: async (t: unknown) => {
      await responder.abort(fromB64(t, limits));
    },
  });
  host.names.publish(SYNC_ENDPOINT_NAME, endpoint);
  host.remote!.exportAt(sisterSwiss(nodeCrypto, secret, `${host.id}/saga`), SYNC_ENDPOINT_NAME);

  /** The remote endpoint's calls as a SagaEndpoint: turns as base64, errors revived by name. */
  const remoteEndpoint = (ref: unknown): SagaEndpoint => {
    const call = async <T,>(p: Promise<T>): Promise<T> => {
      try {
        return await p;
      } catch (err) {
        throw reviveError(err);
      }
    };
    return {
      init: async (b) => fromB64(await call(E(ref as any).init(toB64(b))), limits),
      delta: async (b) => Number(await call(E(ref as any).delta(toB64(b)))),
      commit: async (b) => fromB64(await call(E(ref as any).commit(toB64(b))), limits),
      abort: async (b) => void (await call(E(ref as any).abort(toB64(b)))),
    };
  };

  const pushing = new Map<string, Promise<SagaOutcome>>();
  const push = async (peer: SyncPeer, space: string): Promise<SagaOutcome> => {
    if (!SPACE_PATTERN.test(space)) throw new SagaRefusedError(`${JSON.stringify(space)} is not a space name (a-z first, then a-z 0-9 . _ : -, at most 64)`);
    const id = `${peer.vatId} ${space}`;
    await pushing.get(id)?.catch(() => {});
    const run = (async () => {
      const key = keyOf(peer.vatId);
      if (!key) throw new SagaRefusedError(`no key is known for sister ${shortVatId(peer.vatId)}`);
      const ref = await host.enliven(`tribe://${peer.vatId}@${peer.address}/${sisterSwiss(nodeCrypto, secret, `${peer.vatId}/saga`)}`);
      return runInitiator(party, { vatId: peer.vatId, key }, space, remoteEndpoint(ref));
    })();
    pushing.set(id, run);
    try {
      return await run;
    } finally {
      if (pushing.get(id) === run) pushing.delete(id);
    }
  };

  const recordClock = opts.startedAt;
  const roots = (): Record<string, string> => {
    // This host's own record: its start time is its clock, so a newer run of a sister replaces an older one everywhere.
    const mine = spaces.get('registry', host.id);
    if (mine?.value !== opts.recordText) {
      spaces.putMany('registry', [{ key: host.id, value: opts.recordText, clock: recordClock, origin: host.id, deleted: false }]);
    }
    const local = new Set(host.names.list().filter((n) => !isSystemName(n)));
    // The sisters known, read once a round and only if a name needs them (it reads the registry's files).
    let known: Set<string> | undefined;
    const isKnown = (id: string) => {
      known ??= new Set(opts.peers().map((p) => p.vatId));
      return known.has(id);
    };
    for (const name of local) {
      const e = spaces.get('names', name);
      const owner = e ? (JSON.parse(e.value) as { vatId?: string }).vatId : undefined;
      if (owner === host.id) continue;
      // Taken by a sister that still has it (a name is the tribe's): not fought over.
      if (owner !== undefined && isKnown(owner)) continue;
      // Its derived ref first: a sister that reads the entry reaches it at once.
      host.remote!.exportAt(sisterSwiss(nodeCrypto, secret, `${host.id}/${name}`), name);
      spaces.put('names', name, JSON.stringify({ vatId: host.id }), host.id);
    }
    for (const e of spaces.entries('names')) {
      if (!local.has(e.key) && (JSON.parse(e.value) as { vatId?: string }).vatId === host.id) spaces.remove('names', e.key, host.id);
    }
    return Object.fromEntries(SYSTEM_SPACES.map((s) => [s, spaces.root(s)]));
  };

  const status = (): SyncStatus => {
    const last = new Map<string, SagaRecord>();
    for (const r of spaces.sagas({ limit: 400 })) if (r.state !== 'open' && !last.has(`${r.peer} ${r.space}`)) last.set(`${r.peer} ${r.space}`, r);
    return {
      inFlight: book.list(),
      last: [...last.values()],
      spaces: spaces.spaces().map((s) => ({ ...s, root: spaces.root(s.space) })),
      recovered: spaces.recovered,
    };
  };

  const syncNow = async (req: SyncRequest, connected: readonly (SyncPeer & { slot: number; machine: string })[]): Promise<SyncReport> => {
    const wanted = req.space !== undefined ? [req.space] : [...SYSTEM_SPACES];
    for (const s of wanted) if (!SPACE_PATTERN.test(s)) throw new UsageError(`--space wants a space name (a-z first, then a-z 0-9 . _ : -, at most 64), got ${JSON.stringify(s)}`);
    const w = req.with;
    const mine = host.ps().tribe?.machine;
    const targets = connected.filter((v) => w === undefined || (/^\d+$/.test(w) ? v.machine === mine && v.slot === Number(w) : w.length >= 4 && v.vatId.startsWith(w)));
    if (w !== undefined && targets.length !== 1) {
      throw new SisterNotFoundError(`${targets.length > 1 ? `${JSON.stringify(w)} names more than one sister` : `no connected sister ${JSON.stringify(w)}`}; connected: ${connected.map((v) => `${v.slot} (${shortVatId(v.vatId)})`).join(', ') || 'none'}`);
    }
    if (req.space === undefined) roots();
    const results: SyncResult[] = [];
    const attempt = async (v: (typeof targets)[number], space: string, direction: 'push' | 'pull', run: () => Promise<{ state: 'synced' | 'committed'; entries: number; applied: number; root: string }>) => {
      const t0 = Date.now();
      const base = { peer: v.vatId, slot: v.slot, space, direction };
      try {
        const o = await run();
        results.push({ ...base, state: o.state, entries: o.entries, applied: o.applied, root: o.root, ms: Date.now() - t0 });
      } catch (err) {
        results.push({ ...base, state: 'failed', entries: 0, applied: 0, ms: Date.now() - t0, error: describeError(reviveError(err)) });
      }
    };
    for (const v of targets) {
      for (const space of wanted) {
        await attempt(v, space, 'push', () => push(v, space));
        await attempt(v, space, 'pull', async () => {
          const theirs = await host.enliven(`tribe://${v.vatId}@${v.address}/${sisterSwiss(nodeCrypto, secret, v.vatId)}`);
          return (await E(theirs).pushTo(host.id, space)) as { state: 'synced' | 'committed'; entries: number; applied: number; root: string };
        });
      }
    }
    return { results, roots: Object.fromEntries(wanted.map((s) => [s, spaces.root(s)])) };
  };

  const space = (name: string): KeyedSpace => {
    if (!SPACE_PATTERN.test(name)) throw new UsageError(`a space name is a-z first, then a-z 0-9 . _ : -, at most 64 characters; got ${JSON.stringify(name)}`);
    const writable = () => {
      if ((SYSTEM_SPACES as readonly string[]).includes(name)) throw new UsageError(`space ${name} is the tribe's own: its sisters write it, you read it`);
    };
    return {
      put: (key, value) => {
        writable();
        spaces.put(name, key, value, host.id);
      },
      putMany: (entries) => {
        writable();
        const clock = spaces.clock();
        spaces.putMany(name, entries.map((e) => ({ key: e.key, value: e.value, clock, origin: host.id, deleted: false })));
      },
      get: (key) => spaces.get(name, key)?.value,
      remove: (key) => {
        writable();
        spaces.remove(name, key, host.id);
      },
      entries: (prefix) => spaces.entries(name, prefix).map((e) => ({ key: e.key, value: e.value })),
      count: () => spaces.count(name),
      root: () => spaces.root(name),
    };
  };

  return {
    spaces,
    roots,
    push,
    syncNow,
    space,
    publisherOf: (name) => {
      const e = spaces.get('names', name);
      return e ? (JSON.parse(e.value) as { vatId?: string }).vatId : undefined;
    },
    status,
    inFlight: () => book.list(),
    close() {
      responder.close('the host is stopping');
      spaces.close();
    },
  };
};
