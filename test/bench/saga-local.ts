/**
 * Section 10's in-process half (saga.ts runs the section): the data, the floor
 * (the same rows copied between two SQLite files), two saga parties on real
 * stores in this process, and the in-process pushes and no-ops.
 */
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openTurn, parseTurn, sealTurn } from '../../protocols/saga/codec.js';
import { makeSagaBook, type SagaEndpoint, type SagaParty } from '../../protocols/saga/endpoint.js';
import { runInitiator } from '../../protocols/saga/initiator.js';
import { DEFAULT_SAGA_LIMITS } from '../../protocols/saga/limits.js';
import { makeResponder, type Responder } from '../../protocols/saga/responder.js';
import type { SyncEntry } from '../../protocols/saga/space.js';
import type { SigningKey } from '../../protocols/session/crypto.js';
import { vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { openSpaceStore, type SpaceStore } from '../../runtime/saga/space-store.js';
import { openDatabase } from '../../runtime/store.js';
import { fmt, median } from './stats.js';

const encoder = new TextEncoder();

// --- data ----------------------------------------------------------------------

const FILLER = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.repeat(8);
export const keyAt = (i: number) => `k${String(i).padStart(7, '0')}`;
export const valueAt = (i: number, size: number) => {
  const head = `v${i}:`;
  let v = head;
  while (v.length < size) v += FILLER.slice(i % 62, i % 62 + Math.min(size - v.length, 400));
  return v;
};
/** Payload bytes of `n` keys: keys and values (what a user put in). */
export const payloadBytes = (n: number, size: number) => {
  let b = 0;
  for (let i = 0; i < n; i++) b += keyAt(i).length + Math.max(size, `v${i}:`.length);
  return b;
};

/** `tribe space import`'s input: JSON lines {"key","value"}. */
export const writeJsonLines = async (path: string, n: number, size: number) => {
  const out = createWriteStream(path);
  for (let i = 0; i < n; i++) {
    if (!out.write(`${JSON.stringify({ key: keyAt(i), value: valueAt(i, size) })}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
};

export const entriesOf = (n: number, size: number, origin: string): SyncEntry[] => {
  const clock = Date.now();
  return Array.from({ length: n }, (_, i) => ({ key: keyAt(i), value: valueAt(i, size), clock, origin, deleted: false }));
};

// --- the floor: rows copied between two SQLite files -----------------------------------

export const removeDb = (path: string) => {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
};

export type FloorWay = 'attach' | 'loop';
/**
 * Copies `space`'s rows of sync_entries from `srcPath` into a fresh file with the same
 * table (its CREATE statement and index, read from the source), in one transaction;
 * answers the ms of that transaction. The file is opened like the host's store (WAL,
 * synchronous = FULL: the commit is fsynced, as the saga's Commit is).
 */
const floorCopy = (srcPath: string, space: string, dir: string, way: FloorWay, want: number): number => {
  const dstPath = join(dir, `floor-${way}.sqlite`);
  removeDb(dstPath);
  const src = new Database(srcPath, { readonly: true });
  const dst = openDatabase(dstPath);
  try {
    const ddl = src.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE tbl_name = 'sync_entries' AND sql IS NOT NULL").all();
    for (const { sql } of ddl) dst.exec(sql);
    let rows: number;
    let ms: number;
    if (way === 'attach') {
      dst.prepare('ATTACH DATABASE ? AS src').run(srcPath);
      const copy = dst.prepare('INSERT INTO main.sync_entries SELECT * FROM src.sync_entries WHERE space = ?');
      const t = performance.now();
      rows = dst.transaction(() => copy.run(space).changes)();
      ms = performance.now() - t;
    } else {
      const select = src.prepare('SELECT * FROM sync_entries WHERE space = ?');
      const insert = dst.prepare('INSERT INTO sync_entries (space, bucket, key, value, clock, origin, deleted, digest) VALUES (@space, @bucket, @key, @value, @clock, @origin, @deleted, @digest)');
      const t = performance.now();
      rows = dst.transaction(() => {
        let n = 0;
        for (const r of select.iterate(space)) n += insert.run(r as Record<string, unknown>).changes;
        return n;
      })();
      ms = performance.now() - t;
    }
    if (rows !== want) throw new Error(`BenchError: the floor copied ${rows} rows, want ${want}`);
    return ms;
  } finally {
    src.close();
    dst.close();
    removeDb(dstPath);
  }
};

/** One sample of each way, in alternating order. */
export const floorSample = (srcPath: string, space: string, dir: string, want: number, rep: number, into: Record<FloorWay, number[]>) => {
  const ways: FloorWay[] = rep % 2 === 0 ? ['attach', 'loop'] : ['loop', 'attach'];
  for (const w of ways) into[w].push(floorCopy(srcPath, space, dir, w, want));
};

export const floorOf = (s: Record<FloorWay, number[]>) => {
  const way: FloorWay = median(s.attach) <= median(s.loop) ? 'attach' : 'loop';
  return { way, ms: median(s[way]), other: median(s[way === 'attach' ? 'loop' : 'attach']) };
};
export const FLOOR_NAMES: Record<FloorWay, string> = {
  attach: 'ATTACH + INSERT … SELECT',
  loop: 'prepared-statement row loop',
};

export type FloorSamples = Record<FloorWay, number[]>;
export const floorSamples = (): FloorSamples => ({ attach: [], loop: [] });

// --- in-process parties ---------------------------------------------------------------

export interface Side {
  readonly id: string;
  readonly key: SigningKey;
  readonly path: string;
  readonly store: SpaceStore;
  readonly party: SagaParty;
}

export const makeSide = (dir: string, name: string): Side => {
  const key = nodeCrypto.ed25519FromSeed(nodeCrypto.sha256(encoder.encode(`saga bench ${name}`)));
  const id = vatIdOf(nodeCrypto, key.publicKey);
  const path = join(dir, `${name}.sqlite`);
  const store = openSpaceStore(path, nodeCrypto, DEFAULT_SAGA_LIMITS);
  return { id, key, path, store, party: { crypto: nodeCrypto, key, self: id, store, limits: DEFAULT_SAGA_LIMITS, now: () => Date.now(), book: makeSagaBook() } };
};

export const responderFor = (from: Side, to: Side): Responder =>
  makeResponder(to.party, { keyOf: (id) => (id === from.id ? from.key.publicKey : undefined), accepts: () => true, maxActive: 8 });

export const pushLocal = (from: Side, to: Side, space: string, endpoint: SagaEndpoint) => runInitiator(from.party, { vatId: to.id, key: to.key.publicKey }, space, endpoint);

// --- the in-process rows --------------------------------------------------------------------

/** What the in-process runs share with the section: the initiator (its file is the floor's source), a temp dir, progress. */
export interface LocalRun {
  readonly a: Side;
  readonly dir: string;
  /** Bulk keys in `a`'s space `bulk`. */
  readonly keys: number;
  log(line: string): void;
  /** Runs `run`, noting when (for saga-profile.ts). */
  marked<T>(label: string, run: () => Promise<T>): Promise<T>;
}

/** Pushes `a`'s bulk space to a fresh responder store `reps` times; a floor sample after each. */
export const localBulk = async (run: LocalRun, reps: number): Promise<{ ms: number[]; floor: FloorSamples }> => {
  const { a, dir, keys, log } = run;
  const ms: number[] = [];
  const floor = floorSamples();
  for (let rep = 0; rep < reps; rep++) {
    const b = makeSide(dir, `b${rep}`);
    try {
      const t = performance.now();
      const o = await run.marked('in-process push', () => pushLocal(a, b, 'bulk', responderFor(a, b)));
      ms.push(performance.now() - t);
      if (o.state !== 'committed' || o.applied !== keys || b.store.root('bulk') !== a.store.root('bulk')) throw new Error(`BenchError: in-process push: ${JSON.stringify(o)}`);
    } finally {
      b.store.close();
      removeDb(b.path);
    }
    floorSample(a.path, 'bulk', dir, keys, rep, floor);
    log(`  in-process push ${rep + 1}/${reps}: ${fmt(ms.at(-1)!, 0)} ms; floor attach ${fmt(floor.attach.at(-1)!, 0)} ms, loop ${fmt(floor.loop.at(-1)!, 0)} ms`);
  }
  return { ms, floor };
};

export interface LocalNoop {
  readonly saga: number[];
  /** The same Init and Ack sealed and opened alone. */
  readonly turns: number[];
  readonly initBytes: number;
  readonly ackBytes: number;
}

/** Times `seal` + `open` of a captured Init and Ack: the floor of an exchange of signed turns. */
const turnsAlone = (a: Side, r: Side, space: string, captured: { init: Uint8Array; ack: Uint8Array }) => {
  const init = parseTurn(captured.init, DEFAULT_SAGA_LIMITS).turn;
  const ack = parseTurn(captured.ack, DEFAULT_SAGA_LIMITS).turn;
  return () => {
    const t0 = performance.now();
    const i = sealTurn(nodeCrypto, a.key, init);
    const oi = openTurn(nodeCrypto, i.bytes, { key: a.key.publicKey, from: a.id, to: r.id, seq: 0, kinds: ['init'], seen: () => false }, DEFAULT_SAGA_LIMITS);
    const k = sealTurn(nodeCrypto, r.key, ack);
    openTurn(nodeCrypto, k.bytes, { key: r.key.publicKey, from: r.id, to: a.id, saga: init.saga, space, seq: 1, prev: oi.hash, kinds: ['ack'] }, DEFAULT_SAGA_LIMITS);
    return performance.now() - t0;
  };
};

/** For each size: a space of `n` small keys pushed once to a responder `r`, then `reps` no-op sagas and as many turns-alone samples, alternating. */
export const localNoops = async (run: LocalRun, sizes: readonly number[], valueBytes: number, reps: number): Promise<Map<number, LocalNoop>> => {
  const { a, dir, log } = run;
  const r = makeSide(dir, 'r');
  const out = new Map<number, LocalNoop>();
  try {
    const responder = responderFor(a, r);
    for (const n of sizes) {
      const space = `noop-${n}`;
      a.store.putMany(space, entriesOf(n, valueBytes, a.id));
      await pushLocal(a, r, space, responder);
      let captured: { init: Uint8Array; ack: Uint8Array } | undefined;
      const capture: SagaEndpoint = {
        ...responder,
        init: async (b) => {
          const ack = await responder.init(b);
          captured = { init: b, ack };
          return ack;
        },
      };
      if ((await pushLocal(a, r, space, capture)).state !== 'synced' || !captured) throw new Error(`BenchError: ${space} is not in sync in process`);
      const sealAndOpen = turnsAlone(a, r, space, captured);
      const s: LocalNoop = { saga: [], turns: [], initBytes: captured.init.length, ackBytes: captured.ack.length };
      for (let rep = 0; rep < reps; rep++) {
        const sagaFirst = rep % 2 === 0;
        if (!sagaFirst) s.turns.push(sealAndOpen());
        const t0 = performance.now();
        const o = await run.marked(`in-process no-op ${n}`, () => pushLocal(a, r, space, responder));
        s.saga.push(performance.now() - t0);
        if (o.state !== 'synced') throw new Error(`BenchError: ${space} was not in sync: ${JSON.stringify(o)}`);
        if (sagaFirst) s.turns.push(sealAndOpen());
      }
      out.set(n, s);
      log(`  in-process no-op, ${fmt(n, 0)} keys: ${fmt(median(s.saga), 2)} ms; Init + Ack sealed and opened alone ${fmt(median(s.turns), 2)} ms (Init ${fmt(s.initBytes / 1024, 1)} KiB)`);
    }
  } finally {
    r.store.close();
  }
  return out;
};
