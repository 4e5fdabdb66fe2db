/**
 * The saga's SQLite side: keyed spaces (durable), each saga's temp space, the
 * sagas run and their signed turns (the audit trail), and each peer's chain
 * head. It lives in the host's store file on a connection of its own.
 *
 * Durability: a Commit moves a saga's temp rows into durable space, updates
 * the summary tree, records the final turns and the chain head, and deletes
 * the temp rows — one transaction. An abort deletes the temp rows; opening the
 * store marks every saga still open as aborted by a crash and deletes all temp
 * rows, so nothing a dead process staged survives it.
 */
import { chmodSync, rmSync } from 'node:fs';
import type { CryptoSuite } from '../../protocols/session/crypto.js';
import { isWellFormed, jsonFits, type SealedTurn } from '../../protocols/saga/codec.js';
import { type SagaLimits, SHORT_DIGEST_CHARS } from '../../protocols/saga/limits.js';
import { bucketDigest, bucketOfKey, coarseDigests, digestEntry, type DigestedEntry, emptyFine, type FineDigests, fromHex, rootOf, type SyncEntry } from '../../protocols/saga/space.js';
import { openDatabase } from '../store.js';
import type { SagaRecord, SagaRole, SagaState, SpaceStore, StoredTurn } from '../../protocols/saga/spaces.js';

/**
 * Temp space: a file of its own beside the store, made afresh each time the store is opened
 * (what a dead process staged goes with it). Nothing in it must survive a crash or an abort,
 * so it has no rollback journal and no fsync: staging costs a write, not a durable one, and
 * dropping a saga's rows journals nothing (a journal, even in memory, would hold every page
 * of a 100 MiB saga while its rows are deleted). Its rows are deleted outside the store's
 * transactions, after them: a failure in between leaves rows the next open discards.
 */
const TEMP_SCHEMA = `
CREATE TABLE tmp.sync_temp (
  saga TEXT NOT NULL, n INTEGER NOT NULL, bucket INTEGER NOT NULL, key TEXT NOT NULL,
  value TEXT NOT NULL, clock INTEGER NOT NULL, origin TEXT NOT NULL, deleted INTEGER NOT NULL, digest TEXT NOT NULL,
  PRIMARY KEY (saga, n)
);
`;

/** The temp space's file for the store at `path` (beside it, like its -wal file). */
export const tempSpacePath = (path: string): string => `${path}.sync-temp`;

export type { SagaRecord, SagaRole, SagaState, SpaceStore, SpaceSummary, StoredTurn } from '../../protocols/saga/spaces.js';

const SCHEMA = `
-- Rowid tables: values run to kilobytes, and WITHOUT ROWID suits small rows only (SQLite's own advice).
CREATE TABLE IF NOT EXISTS sync_entries (
  space TEXT NOT NULL, bucket INTEGER NOT NULL, key TEXT NOT NULL,
  value TEXT NOT NULL, clock INTEGER NOT NULL, origin TEXT NOT NULL, deleted INTEGER NOT NULL, digest TEXT NOT NULL,
  UNIQUE (space, bucket, key)
);
-- A bucket's digest is recomputed from its entries' digests after each write to it: this index
-- holds them in order, so that reads a few index pages, never the kilobyte rows (without it, a
-- 100,000-key import in 1,000-key batches read ≈ 2 million rows at random: 62 s).
CREATE INDEX IF NOT EXISTS sync_entries_digests ON sync_entries (space, bucket, key, digest);
CREATE TABLE IF NOT EXISTS sync_buckets (
  space TEXT NOT NULL, bucket INTEGER NOT NULL, digest TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (space, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_sagas (
  saga TEXT PRIMARY KEY, peer TEXT NOT NULL, space TEXT NOT NULL, role TEXT NOT NULL, state TEXT NOT NULL,
  started_at INTEGER NOT NULL, ended_at INTEGER, outcome TEXT, error_name TEXT,
  chunks INTEGER NOT NULL DEFAULT 0, entries INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0, applied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sync_sagas_peer ON sync_sagas (peer, space, started_at);
-- The chain: every turn of every saga, in order. Delta turns keep their hash, prev and signature, not their
-- entries (those are the durable space's rows once committed; keeping them twice would double a sync's writes).
CREATE TABLE IF NOT EXISTS sync_turns (
  saga TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, sender TEXT NOT NULL,
  hash TEXT NOT NULL, prev TEXT NOT NULL, bytes BLOB NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (saga, seq, kind)
) WITHOUT ROWID;
-- Before temp space had a file of its own (below), its table lived here.
DROP TABLE IF EXISTS main.sync_temp;
CREATE TABLE IF NOT EXISTS sync_heads (
  peer TEXT NOT NULL, space TEXT NOT NULL, role TEXT NOT NULL, head TEXT NOT NULL,
  PRIMARY KEY (peer, space, role)
) WITHOUT ROWID;
`;

interface EntryRow {
  bucket: number;
  key: string;
  value: string;
  clock: number;
  origin: string;
  deleted: number;
  digest: string;
}

const rowEntry = (r: EntryRow): DigestedEntry => ({
  key: r.key,
  value: r.value,
  clock: r.clock,
  origin: r.origin,
  deleted: r.deleted === 1,
  digest: r.digest,
  bucket: r.bucket,
});

export const openSpaceStore = (path: string, crypto: CryptoSuite, limits: Pick<SagaLimits, 'maxKeyBytes' | 'maxValueBytes'>): SpaceStore => {
  const db = openDatabase(path);
  db.exec(SCHEMA);
  const tempPath = tempSpacePath(path);
  for (const f of [tempPath, `${tempPath}-journal`]) rmSync(f, { force: true });
  db.prepare('ATTACH DATABASE ? AS tmp').run(tempPath);
  db.pragma('tmp.journal_mode = OFF');
  db.pragma('tmp.synchronous = OFF');
  db.exec(TEMP_SCHEMA);
  // Temp space holds what peers sent before it is committed: owner-only, like the store.
  chmodSync(tempPath, 0o600);
  // The saga's bookkeeping (turns, temp rows, records) commits without an fsync each: a power cut
  // loses at most the last of it, and a saga that was open is aborted at the next open anyway.
  // Writes to durable space — a Commit, a local write — run `durable`: fsynced before they return
  // (and so is all bookkeeping before them: WAL order).
  db.pragma('synchronous = NORMAL');
  /** Fine digests and root by space, read once and kept up to date by every write here (the only writer of these tables). */
  const fineCache = new Map<string, { fine: FineDigests; root?: string; count?: number; coarse: Map<number, string[]> }>();
  const durable = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A): R => {
    db.pragma('synchronous = FULL');
    try {
      return fn(...args);
    } catch (err) {
      // Rolled back: the cached digests may hold what the transaction wrote. Read afresh.
      fineCache.clear();
      throw err;
    } finally {
      db.pragma('synchronous = NORMAL');
    }
  };
  const recovered = db.transaction(() => {
    return db
      .prepare("UPDATE sync_sagas SET state = 'aborted', ended_at = ?, outcome = 'crashed: found open when the store was opened', error_name = 'SagaAbortedError' WHERE state = 'open'")
      .run(Date.now()).changes;
  })();

  const q = {
    get: db.prepare<[string, number, string], EntryRow>('SELECT * FROM sync_entries WHERE space = ? AND bucket = ? AND key = ?'),
    upsert: db.prepare(
      `INSERT INTO sync_entries (space, bucket, key, value, clock, origin, deleted, digest) VALUES (@space, @bucket, @key, @value, @clock, @origin, @deleted, @digest)
       ON CONFLICT(space, bucket, key) DO UPDATE SET value = excluded.value, clock = excluded.clock, origin = excluded.origin, deleted = excluded.deleted, digest = excluded.digest`,
    ),
    all: db.prepare<[string], EntryRow>('SELECT * FROM sync_entries WHERE space = ? AND deleted = 0 ORDER BY bucket, key'),
    bucketCount: db.prepare<[string], { n: number | null }>('SELECT sum(count) AS n FROM sync_buckets WHERE space = ?'),
    spaces: db.prepare<[], { space: string; count: number }>('SELECT space, sum(count) AS count FROM sync_buckets GROUP BY space ORDER BY space'),
    maxClock: db.prepare<[], { c: number | null }>('SELECT max(clock) AS c FROM sync_entries'),
    digestsOf: db.prepare<[string, number], { digest: string }>('SELECT digest FROM sync_entries WHERE space = ? AND bucket = ? ORDER BY key'),
    putBucket: db.prepare('INSERT INTO sync_buckets (space, bucket, digest, count) VALUES (?, ?, ?, ?) ON CONFLICT(space, bucket) DO UPDATE SET digest = excluded.digest, count = excluded.count'),
    dropBucket: db.prepare('DELETE FROM sync_buckets WHERE space = ? AND bucket = ?'),
    buckets: db.prepare<[string], { bucket: number; digest: string }>('SELECT bucket, digest FROM sync_buckets WHERE space = ?'),
    pageFirst: db.prepare<[string, number, number, number], EntryRow>('SELECT * FROM sync_entries WHERE space = ? AND bucket >= ? AND bucket < ? ORDER BY bucket, key LIMIT ?'),
    pageAfter: db.prepare<[string, number, number, number, string, number], EntryRow>(
      'SELECT * FROM sync_entries WHERE space = ? AND bucket >= ? AND bucket < ? AND (bucket, key) > (?, ?) ORDER BY bucket, key LIMIT ?',
    ),
    countIn: db.prepare<[string, number, number], { n: number }>('SELECT count(*) AS n FROM sync_entries WHERE space = ? AND bucket >= ? AND bucket < ?'),
    spaceOf: db.prepare<[string], { space: string }>('SELECT space FROM sync_sagas WHERE saga = ?'),
    seen: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM sync_sagas WHERE saga = ?'),
    begin: db.prepare("INSERT INTO sync_sagas (saga, peer, space, role, state, started_at) VALUES (?, ?, ?, ?, 'open', ?)"),
    stage: db.prepare(
      'INSERT INTO tmp.sync_temp (saga, n, bucket, key, value, clock, origin, deleted, digest) VALUES (@saga, @n, @bucket, @key, @value, @clock, @origin, @deleted, @digest)',
    ),
    staged: db.prepare<[string], { n: number; bytes: number | null }>('SELECT count(*) AS n, sum(length(value) + length(key)) AS bytes FROM tmp.sync_temp WHERE saga = ?'),
    merge: db.prepare(
      `INSERT INTO sync_entries (space, bucket, key, value, clock, origin, deleted, digest)
       SELECT @space, bucket, key, value, clock, origin, deleted, digest FROM tmp.sync_temp WHERE saga = @saga ORDER BY n
       ON CONFLICT(space, bucket, key) DO UPDATE SET value = excluded.value, clock = excluded.clock, origin = excluded.origin, deleted = excluded.deleted, digest = excluded.digest
       WHERE excluded.clock > sync_entries.clock
          OR (excluded.clock = sync_entries.clock AND (excluded.origin > sync_entries.origin
              OR (excluded.origin = sync_entries.origin AND excluded.digest > sync_entries.digest)))`,
    ),
    touched: db.prepare<[string], { bucket: number }>('SELECT DISTINCT bucket FROM tmp.sync_temp WHERE saga = ?'),
    tempMaxClock: db.prepare<[string], { c: number | null }>('SELECT max(clock) AS c FROM tmp.sync_temp WHERE saga = ?'),
    dropTemp: db.prepare('DELETE FROM tmp.sync_temp WHERE saga = ?'),
    tempRows: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM tmp.sync_temp'),
    progress: db.prepare('UPDATE sync_sagas SET chunks = ?, entries = ?, bytes = ? WHERE saga = ?'),
    endSaga: db.prepare('UPDATE sync_sagas SET state = ?, ended_at = ?, outcome = ?, error_name = ?, applied = ? WHERE saga = ?'),
    turn: db.prepare('INSERT OR REPLACE INTO sync_turns (saga, seq, kind, sender, hash, prev, bytes, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    turns: db.prepare<[string], StoredTurn & { bytes: Buffer }>('SELECT saga, seq, kind, sender, hash, prev, bytes FROM sync_turns WHERE saga = ? ORDER BY seq, at'),
    head: db.prepare<[string, string, string], { head: string }>('SELECT head FROM sync_heads WHERE peer = ? AND space = ? AND role = ?'),
    setHead: db.prepare('INSERT INTO sync_heads (peer, space, role, head) VALUES (?, ?, ?, ?) ON CONFLICT(peer, space, role) DO UPDATE SET head = excluded.head'),
    sagas: db.prepare<[number], Record<string, unknown>>('SELECT * FROM sync_sagas ORDER BY started_at DESC, rowid DESC LIMIT ?'),
    sagasOf: db.prepare<[string, number], Record<string, unknown>>('SELECT * FROM sync_sagas WHERE peer = ? ORDER BY started_at DESC, rowid DESC LIMIT ?'),
  };

  let lastClock = q.maxClock.get()?.c ?? 0;
  const nextClock = () => (lastClock = Math.max(Date.now(), lastClock + 1));
  const cached = (space: string) => {
    let c = fineCache.get(space);
    if (!c) {
      const fine = emptyFine();
      for (const r of q.buckets.all(space)) fromHex(r.digest, fine, 32 * r.bucket);
      c = { fine, coarse: new Map() };
      fineCache.set(space, c);
    }
    return c;
  };
  /** Entries of a space, tombstones included, from its buckets' counts (kept with the digests). */
  const countNow = (space: string): number => {
    const c = cached(space);
    c.count ??= q.bucketCount.get(space)?.n ?? 0;
    return c.count;
  };
  /** A no-op saga costs what comparing two cached summaries costs: they are recomputed only after a write. */
  const coarseNow = (space: string, bits: number): string[] => {
    const c = cached(space);
    let coarse = c.coarse.get(bits);
    if (!coarse) {
      coarse = coarseDigests(crypto, c.fine, bits).map((d) => d.slice(0, SHORT_DIGEST_CHARS));
      c.coarse.set(bits, coarse);
    }
    return coarse;
  };
  const rootNow = (space: string): string => {
    const c = cached(space);
    c.root ??= rootOf(crypto, c.fine);
    return c.root;
  };
  const refreshBucket = (space: string, bucket: number) => {
    const digests = q.digestsOf.all(space, bucket).map((r) => r.digest);
    const d = bucketDigest(crypto, digests);
    if (digests.length === 0) q.dropBucket.run(space, bucket);
    else q.putBucket.run(space, bucket, d, digests.length);
    const c = cached(space);
    fromHex(d, c.fine, 32 * bucket);
    delete c.root;
    delete c.count;
    c.coarse.clear();
  };

  const check = (key: string, value: string) => {
    if (!isWellFormed(key) || !isWellFormed(value)) throw new RangeError('a space key or value is not well-formed Unicode (a lone surrogate): it could not be stored as given');
    if (typeof key !== 'string' || key.length === 0 || new TextEncoder().encode(key).length > limits.maxKeyBytes) {
      throw new RangeError(`a space key is a string of 1..${limits.maxKeyBytes} bytes`);
    }
    if (typeof value !== 'string' || !jsonFits(value, limits.maxValueBytes)) throw new RangeError(`a space value is a string of at most ${limits.maxValueBytes} bytes as JSON`);
  };

  const write = durable(db.transaction((space: string, e: DigestedEntry) => {
    q.upsert.run({ space, ...e, deleted: e.deleted ? 1 : 0 });
    refreshBucket(space, e.bucket);
  }));

  const putMany = durable(db.transaction((space: string, entries: readonly SyncEntry[]) => {
    const touched = new Set<number>();
    for (const raw of entries) {
      check(raw.key, raw.value);
      const e = digestEntry(crypto, raw);
      lastClock = Math.max(lastClock, e.clock);
      q.upsert.run({ space, ...e, deleted: e.deleted ? 1 : 0 });
      touched.add(e.bucket);
    }
    for (const b of touched) refreshBucket(space, b);
  }));

  const stage = db.transaction((saga: string, entries: readonly DigestedEntry[], first: number) => {
    let n = first;
    for (const e of entries) q.stage.run({ saga, n: n++, ...e, deleted: e.deleted ? 1 : 0 });
  });

  const recordTurns = (saga: string, turns: readonly SealedTurn[]) => {
    for (const t of turns) {
      const bytes = t.turn.k === 'delta' ? t.bytes.subarray(0, 64) : t.bytes;
      q.turn.run(saga, t.turn.seq, t.turn.k, t.turn.from, t.hash, t.turn.prev, Buffer.from(bytes), t.turn.at);
    }
  };

  const commit = durable(db.transaction((saga: string, space: string, final: (done: { applied: number; root: string; count: number }) => readonly SealedTurn[], head: { peer: string; role: SagaRole }) => {
    const touched = q.touched.all(saga).map((r) => r.bucket);
    const applied = q.merge.run({ space, saga }).changes;
    lastClock = Math.max(lastClock, q.tempMaxClock.get(saga)?.c ?? 0);
    for (const b of touched) refreshBucket(space, b);
    const root = rootNow(space);
    const count = countNow(space);
    const turns = final({ applied, root, count });
    recordTurns(saga, turns);
    const last = turns[turns.length - 1];
    if (last) q.setHead.run(head.peer, space, head.role, last.hash);
    q.endSaga.run('committed', Date.now(), `committed: ${applied} of the entries sent changed this space`, null, applied, saga);
    return { applied, root, count };
  }));

  const endSaga = db.transaction((saga: string, state: SagaState, outcome: string, opts: { errorName?: string; applied?: number; head?: { peer: string; role: SagaRole; hash: string } } = {}) => {
    q.endSaga.run(state, Date.now(), outcome, opts.errorName ?? null, opts.applied ?? 0, saga);
    const head = opts.head;
    if (head) {
      const space = q.spaceOf.get(saga)?.space;
      if (space !== undefined) q.setHead.run(head.peer, space, head.role, head.hash);
    }
  });

  const toRecord = (r: Record<string, unknown>): SagaRecord => ({
    saga: String(r['saga']),
    peer: String(r['peer']),
    space: String(r['space']),
    role: r['role'] as SagaRole,
    state: r['state'] as SagaState,
    startedAt: Number(r['started_at']),
    ...(r['ended_at'] != null ? { endedAt: Number(r['ended_at']) } : {}),
    ...(r['outcome'] != null ? { outcome: String(r['outcome']) } : {}),
    ...(r['error_name'] != null ? { errorName: String(r['error_name']) } : {}),
    chunks: Number(r['chunks']),
    entries: Number(r['entries']),
    bytes: Number(r['bytes']),
    applied: Number(r['applied']),
  });

  return {
    put(space, key, value, origin) {
      check(key, value);
      const e = digestEntry(crypto, { key, value, clock: nextClock(), origin, deleted: false });
      write(space, e);
      return e;
    },
    remove(space, key, origin) {
      const had = q.get.get(space, bucketOfKey(crypto, key), key);
      if (!had || had.deleted === 1) return;
      write(space, digestEntry(crypto, { key, value: '', clock: nextClock(), origin, deleted: true }));
    },
    get(space, key) {
      const r = q.get.get(space, bucketOfKey(crypto, key), key);
      return r && r.deleted === 0 ? rowEntry(r) : undefined;
    },
    entries: (space, prefix = '') => q.all.all(space).filter((r) => r.key.startsWith(prefix)).map(rowEntry),
    count: (space) => countNow(space),
    spaces: () => q.spaces.all(),
    root: (space) => rootNow(space),
    summary(space, bits) {
      return {
        root: rootNow(space),
        count: countNow(space),
        bits,
        buckets: [...coarseNow(space, bits)],
      };
    },
    page: (space, lo, hi, after, limit) =>
      (after ? q.pageAfter.all(space, lo, hi, after[0], after[1], limit) : q.pageFirst.all(space, lo, hi, limit)).map(rowEntry),
    countIn: (space, lo, hi) => q.countIn.get(space, lo, hi)!.n,
    putMany: (space, entries) => putMany(space, entries),
    clock: () => nextClock(),
    seen: (saga) => q.seen.get(saga) !== undefined,
    begin: (saga, peer, space, role) => void q.begin.run(saga, peer, space, role, Date.now()),
    stage: (saga, entries, first) => stage(saga, entries, first),
    staged(saga) {
      const r = q.staged.get(saga)!;
      return { entries: r.n, bytes: r.bytes ?? 0 };
    },
    record: db.transaction((saga: string, turns: readonly SealedTurn[], progress?: { chunks: number; entries: number; bytes: number }) => {
      recordTurns(saga, turns);
      if (progress) q.progress.run(progress.chunks, progress.entries, progress.bytes, saga);
    }),
    commit: (saga, space, final, head) => {
      const done = commit(saga, space, final, head);
      q.dropTemp.run(saga);
      return done;
    },
    end: (saga, state, outcome, opts) => {
      endSaga(saga, state, outcome, opts);
      q.dropTemp.run(saga);
    },
    head: (peer, space, role) => q.head.get(peer, space, role)?.head ?? '',
    sagas: (opts = {}) => (opts.peer ? q.sagasOf.all(opts.peer, opts.limit ?? 50) : q.sagas.all(opts.limit ?? 50)).map(toRecord),
    turns: (saga) => q.turns.all(saga).map((t) => ({ ...t, bytes: new Uint8Array(t.bytes) })),
    tempRows: () => q.tempRows.get()!.n,
    recovered,
    close: () => db.close(),
  };
};
