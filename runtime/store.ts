/**
 * The host's SQLite store (better-sqlite3, WAL). One file per host; vat workers
 * open their own connection for their durable `store` (see vat-store.ts).
 */
import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Grant } from '../vats/link.js';
import type { ObjectRow, StoreBackend } from '../vats/store.js';
import type { DurableNameStore } from '../capabilities/names.js';
import { checkStoreFile, storeUnusable } from './store-check.js';

/**
 * 2: revoked sturdy refs are kept, marked (`revoked_at`), so that `tribe refs` lists them.
 * 3: durable objects (`vat_objects`): one row per instance of a durable kind, and one per durable
 *    vat for its root's key (kind ROOT_KIND); `durable_names`: names published for durable objects.
 */
export const SCHEMA_VERSION = 3;
/** How long a writer waits for another connection's transaction before failing. */
export const BUSY_TIMEOUT_MS = 5000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vats (
  name TEXT PRIMARY KEY,
  module TEXT NOT NULL,
  params TEXT NOT NULL,
  durable INTEGER NOT NULL,
  grants TEXT NOT NULL,
  time_budget_ms INTEGER,
  heap_mb INTEGER,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vat_store (
  vat TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (vat, key)
) WITHOUT ROWID;
-- Durable objects: id is the object's key ('d:<base32>' for kind instances, 'r:<base32>' for a vat's root),
-- unguessable: holding the key is the authority to reach the object again after a restart.
CREATE TABLE IF NOT EXISTS vat_objects (
  vat TEXT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (vat, id)
) WITHOUT ROWID;
-- Names a vat published for one of its durable objects: published again each time the vat starts.
CREATE TABLE IF NOT EXISTS durable_names (
  name TEXT PRIMARY KEY,
  vat TEXT NOT NULL,
  key TEXT NOT NULL
) WITHOUT ROWID;
-- Sturdy refs by the SHA-256 of their swiss number: the store alone does not reveal live capabilities.
CREATE TABLE IF NOT EXISTS sturdy_refs (
  swiss_hash TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
) WITHOUT ROWID;
`;

/**
 * Characters of the swiss number's SHA-256 (hex) that name a sturdy ref in `tribe refs`:
 * 48 bits, so the refs of one host do not collide in practice (a collision is refused
 * as ambiguous, never guessed). A prefix of a one-way hash says nothing of the swiss number.
 */
export const REF_ID_CHARS = 12;

/** A sturdy ref as the store knows it: never its swiss number, which only its holders have. */
export interface StoredSturdyRef {
  /** The first REF_ID_CHARS of the SHA-256 of its swiss number (hex). */
  readonly id: string;
  /** The name it enlivens to. */
  readonly name: string;
  readonly createdAt: number;
  /** When it was revoked; absent while it works. */
  readonly revokedAt?: number;
}

export interface VatRow {
  readonly name: string;
  readonly module: string;
  readonly params: string;
  readonly durable: boolean;
  readonly grants: readonly Grant[];
  readonly timeBudgetMs: number | undefined;
  readonly heapMb: number | undefined;
}

/** The database and its WAL files hold vat state: owner-only, like the key. */
const restrictFiles = (path: string) => {
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch {
      // Not created (yet): SQLite makes -wal/-shm on first use, with this file's mode.
    }
  }
};

export const openDatabase = (path: string): Database.Database => {
  const db = new Database(path);
  restrictFiles(path);
  db.pragma('journal_mode = WAL');
  restrictFiles(path);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // Durability on commit: a turn's reply is released only after its writes are on disk.
  db.pragma('synchronous = FULL');
  return db;
};

/** `openDatabase`, then `schema` (CREATE … IF NOT EXISTS): the tables of a part of the host kept in the same file. Closed again if the schema fails. */
export const openDatabaseWithSchema = (path: string, schema: string): Database.Database => {
  const db = openDatabase(path);
  try {
    db.exec(schema);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
};

export interface HostStore {
  meta: { get(key: string): string | undefined; set(key: string, value: string): void };
  vats: { save(row: VatRow): void; list(): VatRow[]; get(name: string): VatRow | undefined; remove(name: string): void };
  /** Names published for durable objects (capabilities/names.ts `persistDurableNames`). */
  durableNames: DurableNameStore & {
    /** The names vat `vat` published for its durable objects. */
    ofVat(vat: string): { name: string; key: string }[];
    removeVat(vat: string): void;
  };
  sturdyRefs: {
    add(swissHash: string, name: string): void;
    /** The name a live (not revoked) ref enlivens to. */
    lookup(swissHash: string): string | undefined;
    /** Marks a live ref revoked; true when there was one. */
    revoke(swissHash: string): boolean;
    /** Every ref minted, oldest first, revoked ones included. */
    list(): StoredSturdyRef[];
    /** The refs whose hash starts with `hexPrefix` (lowercase hex). */
    find(hexPrefix: string): Array<StoredSturdyRef & { readonly swissHash: string }>;
    /** Live refs, of one name or all. */
    count(name?: string): number;
  };
  close(): void;
}

interface RefRow {
  swiss_hash: string;
  name: string;
  created_at: number;
  revoked_at: number | null;
}

const storedRef = (r: RefRow): StoredSturdyRef => ({
  id: r.swiss_hash.slice(0, REF_ID_CHARS),
  name: r.name,
  createdAt: r.created_at,
  ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
});

const vatRow = (r: Record<string, unknown>): VatRow => ({
  name: String(r['name']),
  module: String(r['module']),
  params: String(r['params']),
  durable: r['durable'] === 1,
  grants: JSON.parse(String(r['grants'])) as Grant[],
  timeBudgetMs: (r['time_budget_ms'] as number | null) ?? undefined,
  heapMb: (r['heap_mb'] as number | null) ?? undefined,
});

/** Creates the tables a store lacks and brings an older one to SCHEMA_VERSION. */
const migrate = (db: Database.Database) => {
  db.exec(SCHEMA);
  const getMeta = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
  const setMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
  if (!getMeta.get('schema')) setMeta.run('schema', String(SCHEMA_VERSION));
  // A version 1 store deleted revoked refs and has no column to mark them.
  const refColumns = db.prepare<[], { name: string }>('PRAGMA table_info(sturdy_refs)').all();
  if (!refColumns.some((c) => c.name === 'revoked_at')) {
    db.exec('ALTER TABLE sturdy_refs ADD COLUMN revoked_at INTEGER');
  }
  // Versions 1 and 2 lack only tables that SCHEMA has just created.
  if (Number(getMeta.get('schema')!.value) < SCHEMA_VERSION) setMeta.run('schema', String(SCHEMA_VERSION));
  // A write on every open, so that a full disk or a read-only file is found now, with a
  // message naming the store, and not by the first vat turn that commits.
  setMeta.run('opened_at', String(Date.now()));
};

const openMigrated = (path: string): Database.Database => {
  checkStoreFile(path, SCHEMA_VERSION);
  let db: Database.Database | undefined;
  try {
    db = openDatabase(path);
    migrate(db);
    return db;
  } catch (err) {
    db?.close();
    throw storeUnusable(path, err);
  }
};

/**
 * Opens the host's store. Throws StoreUnusableError (the file left as it was) when it is
 * damaged, not a database, written by a newer Tribe, read-only, or on a full disk:
 * checkStoreFile decides before anything is written, and a failure of the first writes
 * (the migration and the open's own write) is reported the same way.
 */
export const openHostStore = (path: string): HostStore => {
  const db = openMigrated(path);
  const getMeta = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?');
  const setMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');

  const insertVat = db.prepare(
    `INSERT INTO vats (name, module, params, durable, grants, time_budget_ms, heap_mb, created_at)
     VALUES (@name, @module, @params, @durable, @grants, @timeBudgetMs, @heapMb, @createdAt)
     ON CONFLICT(name) DO UPDATE SET module = excluded.module, params = excluded.params, durable = excluded.durable,
       grants = excluded.grants, time_budget_ms = excluded.time_budget_ms, heap_mb = excluded.heap_mb`,
  );
  const listVats = db.prepare<[], Record<string, unknown>>('SELECT * FROM vats ORDER BY created_at, name');
  const getVat = db.prepare<[string], Record<string, unknown>>('SELECT * FROM vats WHERE name = ?');
  const deleteVat = db.prepare('DELETE FROM vats WHERE name = ?');
  const putName = db.prepare('INSERT INTO durable_names (name, vat, key) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET vat = excluded.vat, key = excluded.key');
  const removeName = db.prepare('DELETE FROM durable_names WHERE name = ?');
  const namesOf = db.prepare<[string], { name: string; key: string }>('SELECT name, key FROM durable_names WHERE vat = ? ORDER BY name');
  const removeNamesOf = db.prepare('DELETE FROM durable_names WHERE vat = ?');
  const addRef = db.prepare('INSERT INTO sturdy_refs (swiss_hash, name, created_at) VALUES (?, ?, ?)');
  const getRef = db.prepare<[string], { name: string }>('SELECT name FROM sturdy_refs WHERE swiss_hash = ? AND revoked_at IS NULL');
  const revokeRef = db.prepare('UPDATE sturdy_refs SET revoked_at = ? WHERE swiss_hash = ? AND revoked_at IS NULL');
  const listRefs = db.prepare<[], RefRow>('SELECT * FROM sturdy_refs ORDER BY created_at, swiss_hash');
  // substr, not LIKE: an id is matched as a prefix, with no wildcard characters to escape.
  const findRefs = db.prepare<{ prefix: string }, RefRow>(
    'SELECT * FROM sturdy_refs WHERE swiss_hash >= @prefix AND substr(swiss_hash, 1, length(@prefix)) = @prefix',
  );
  const countRefs = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM sturdy_refs WHERE revoked_at IS NULL');
  const countRefsOf = db.prepare<[string], { n: number }>(
    'SELECT count(*) AS n FROM sturdy_refs WHERE name = ? AND revoked_at IS NULL',
  );

  return {
    meta: {
      get: (key: string) => getMeta.get(key)?.value,
      set: (key: string, value: string) => void setMeta.run(key, value),
    },
    vats: {
      save(row: VatRow) {
        insertVat.run({
          ...row,
          durable: row.durable ? 1 : 0,
          grants: JSON.stringify(row.grants),
          timeBudgetMs: row.timeBudgetMs ?? null,
          heapMb: row.heapMb ?? null,
          createdAt: Date.now(),
        });
      },
      list: (): VatRow[] => listVats.all().map(vatRow),
      get: (name: string): VatRow | undefined => {
        const r = getVat.get(name);
        return r && vatRow(r);
      },
      remove: (name: string) => void deleteVat.run(name),
    },
    durableNames: {
      put: (name, vat, key) => void putName.run(name, vat, key),
      remove: (name) => void removeName.run(name),
      ofVat: (vat) => namesOf.all(vat),
      removeVat: (vat) => void removeNamesOf.run(vat),
    },
    sturdyRefs: {
      add: (swissHash, name) => void addRef.run(swissHash, name, Date.now()),
      lookup: (swissHash) => getRef.get(swissHash)?.name,
      revoke: (swissHash) => revokeRef.run(Date.now(), swissHash).changes > 0,
      list: () => listRefs.all().map(storedRef),
      find: (prefix) => findRefs.all({ prefix }).map((r) => ({ ...storedRef(r), swissHash: r.swiss_hash })),
      count: (name) => (name === undefined ? countRefs.get()!.n : countRefsOf.get(name)!.n),
    },
    close: () => db.close(),
  };
};


/** The SQLite side of one durable vat's `powers.store` and durable objects, opened inside its worker. */
export interface VatStoreBackend extends StoreBackend {
  close(): void;
}

export const openVatStoreBackend = (path: string, vat: string): VatStoreBackend => {
  const db = openDatabase(path);
  const get = db.prepare<[string, string], { value: string }>('SELECT value FROM vat_store WHERE vat = ? AND key = ?');
  // Prefix match by substr, not by an upper bound: SQLite compares UTF-8 bytes, so no
  // single "largest character" bounds every key (emoji sort above U+FFFF). The lower
  // bound still lets the primary-key index skip ahead.
  const keys = db.prepare<[{ vat: string; prefix: string }], { key: string }>(
    'SELECT key FROM vat_store WHERE vat = @vat AND key >= @prefix AND substr(key, 1, length(@prefix)) = @prefix ORDER BY key',
  );
  const put = db.prepare('INSERT INTO vat_store (vat, key, value) VALUES (?, ?, ?) ON CONFLICT(vat, key) DO UPDATE SET value = excluded.value');
  const del = db.prepare('DELETE FROM vat_store WHERE vat = ? AND key = ?');
  const getObject = db.prepare<[string, string], ObjectRow>('SELECT kind, state FROM vat_objects WHERE vat = ? AND id = ?');
  const putObject = db.prepare(
    'INSERT INTO vat_objects (vat, id, kind, state) VALUES (?, ?, ?, ?) ON CONFLICT(vat, id) DO UPDATE SET kind = excluded.kind, state = excluded.state',
  );
  const kinds = db.prepare<[string], { kind: string; count: number }>(
    'SELECT kind, count(*) AS count FROM vat_objects WHERE vat = ? GROUP BY kind ORDER BY kind',
  );
  const idsOf = db.prepare<[string, string, number], { id: string }>('SELECT id FROM vat_objects WHERE vat = ? AND kind = ? LIMIT ?');
  const commit = db.transaction((writes: ReadonlyMap<string, string | undefined>, objects: ReadonlyMap<string, ObjectRow> = new Map()) => {
    for (const [k, v] of writes) {
      if (v === undefined) del.run(vat, k);
      else put.run(vat, k, v);
    }
    for (const [id, row] of objects) putObject.run(vat, id, row.kind, row.state);
  });
  return {
    get: (key) => get.get(vat, key)?.value,
    keys: (prefix) => keys.all({ vat, prefix }).map((r) => r.key),
    object: (id) => getObject.get(vat, id),
    kinds: () => kinds.all(vat),
    idsOf: (kind, limit) => idsOf.all(vat, kind, limit).map((r) => r.id),
    commit(writes, objects) {
      try {
        commit(writes, objects);
      } catch (err) {
        // The vat dies with this line: it names the file and the cause (a full disk, say).
        throw storeUnusable(path, err);
      }
    },
    close: () => db.close(),
  };
};

/**
 * The visualizer's history: every machine step this host saw (its own and the
 * ones peers relayed), newest `limit` kept. Its own connection commits with
 * synchronous = NORMAL: a diagnostic record lost in a power cut is acceptable,
 * an fsync per batch on the vats' store is not.
 */
export interface VizHistoryStore {
  /** Each record's time (ms) and its JSON. */
  append(records: readonly { t: number; body: string }[]): void;
  /** Bodies of the `limit` newest records older than `before` (ms), oldest first. */
  before(before: number, limit: number): string[];
  close(): void;
}

const VIZ_SCHEMA = `
CREATE TABLE IF NOT EXISTS viz_history (
  id INTEGER PRIMARY KEY,
  t INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS viz_history_t ON viz_history (t, id);
`;

export const openVizHistory = (path: string, limit: number): VizHistoryStore => {
  const db = openDatabase(path);
  db.pragma('synchronous = NORMAL');
  db.exec(VIZ_SCHEMA);
  const insert = db.prepare('INSERT INTO viz_history (t, body) VALUES (?, ?)');
  const prune = db.prepare('DELETE FROM viz_history WHERE id <= (SELECT max(id) FROM viz_history) - ?');
  const older = db.prepare<[number, number], { body: string }>(
    'SELECT body FROM viz_history WHERE t < ? ORDER BY t DESC, id DESC LIMIT ?',
  );
  let sincePrune = 0;
  const append = db.transaction((records: readonly { t: number; body: string }[]) => {
    for (const r of records) insert.run(r.t, r.body);
    sincePrune += records.length;
    // Ids only grow, so "the newest `limit`" is an id range; pruning in steps keeps appends cheap.
    if (sincePrune >= Math.max(1, limit >> 4)) {
      sincePrune = 0;
      prune.run(limit);
    }
  });
  return {
    append: (records) => {
      if (records.length > 0) append(records);
    },
    before: (before, n) => older.all(before, n).map((r) => r.body).reverse(),
    close: () => db.close(),
  };
};
