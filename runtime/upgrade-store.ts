/**
 * The SQL of `upgradeVat` (runtime/upgrade.ts): a backup of one vat's durable
 * state while its new code starts, and the record that an upgrade is under way.
 *
 * Crash safety rests on three transactions, each all-or-nothing:
 * - `begin` copies the vat's `vat_store` and `vat_objects` rows to the backup
 *   tables and writes its `upgrades` record (only once the old worker is gone, so
 *   the backup holds what the old code last committed);
 * - `finish` (the new code runs) points the `vats` row at the new module and
 *   params and drops the backup and the record;
 * - `rollBack` (the new code failed, or the host died during the upgrade: a
 *   record is left at the next start) puts the vat's rows back exactly as the
 *   backup has them, whatever the new code wrote, and drops backup and record.
 * The `vats` row changes only in `finish`, so a host that dies at any point
 * restarts the vat from its old module, and a left record tells it to roll back first.
 *
 * Opened on the host's database file with a connection of its own; the tables
 * are created here, beside the host store's.
 */
import type Database from 'better-sqlite3';
import { UpgradeInProgressError } from './errors.js';
import { openDatabase } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS upgrades (
  vat TEXT PRIMARY KEY,
  old_module TEXT NOT NULL,
  old_params TEXT NOT NULL,
  new_module TEXT NOT NULL,
  new_params TEXT NOT NULL,
  started_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upgrade_store_backup (
  vat TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (vat, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upgrade_objects_backup (
  vat TEXT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (vat, id)
) WITHOUT ROWID;
`;

/** An upgrade under way, as its record holds it. */
export interface UpgradeRecord {
  readonly vat: string;
  readonly oldModule: string;
  /** JSON text, as in the `vats` row. */
  readonly oldParams: string;
  readonly newModule: string;
  readonly newParams: string;
  readonly startedAt: number;
}

/** What a backup holds of one vat: its `vat_store` keys and its durable objects. */
export interface KeptState {
  readonly keys: number;
  readonly objects: number;
}

export interface UpgradeStore {
  /** Backs up the vat's rows and records the upgrade, in one transaction. UpgradeInProgressError if one is recorded already. */
  begin(record: Omit<UpgradeRecord, 'startedAt'>): KeptState;
  /** The new code runs: the `vats` row names the new module and params; backup and record go. One transaction. */
  finish(vat: string): void;
  /** The vat's rows as the backup has them; backup and record go. One transaction. Undefined if nothing was recorded. */
  rollBack(vat: string): UpgradeRecord | undefined;
  /** Upgrades recorded and not finished or rolled back: the host died during them. */
  unfinished(): UpgradeRecord[];
  close(): void;
}

interface RecordRow {
  vat: string;
  old_module: string;
  old_params: string;
  new_module: string;
  new_params: string;
  started_at: number;
}

const fromRow = (r: RecordRow): UpgradeRecord => ({
  vat: r.vat,
  oldModule: r.old_module,
  oldParams: r.old_params,
  newModule: r.new_module,
  newParams: r.new_params,
  startedAt: r.started_at,
});

export const openUpgradeStore = (path: string): UpgradeStore => {
  const db: Database.Database = openDatabase(path);
  try {
    db.exec(SCHEMA);
  } catch (err) {
    db.close();
    throw err;
  }
  const insertRecord = db.prepare(
    `INSERT INTO upgrades (vat, old_module, old_params, new_module, new_params, started_at)
     VALUES (@vat, @oldModule, @oldParams, @newModule, @newParams, @startedAt)`,
  );
  const getRecord = db.prepare<[string], RecordRow>('SELECT * FROM upgrades WHERE vat = ?');
  const listRecords = db.prepare<[], RecordRow>('SELECT * FROM upgrades ORDER BY started_at, vat');
  const deleteRecord = db.prepare('DELETE FROM upgrades WHERE vat = ?');
  const backUpStore = db.prepare(
    'INSERT INTO upgrade_store_backup (vat, key, value) SELECT vat, key, value FROM vat_store WHERE vat = ?',
  );
  const backUpObjects = db.prepare(
    'INSERT INTO upgrade_objects_backup (vat, id, kind, state) SELECT vat, id, kind, state FROM vat_objects WHERE vat = ?',
  );
  const clearStore = db.prepare('DELETE FROM vat_store WHERE vat = ?');
  const clearObjects = db.prepare('DELETE FROM vat_objects WHERE vat = ?');
  const restoreStore = db.prepare(
    'INSERT INTO vat_store (vat, key, value) SELECT vat, key, value FROM upgrade_store_backup WHERE vat = ?',
  );
  const restoreObjects = db.prepare(
    'INSERT INTO vat_objects (vat, id, kind, state) SELECT vat, id, kind, state FROM upgrade_objects_backup WHERE vat = ?',
  );
  const dropStoreBackup = db.prepare('DELETE FROM upgrade_store_backup WHERE vat = ?');
  const dropObjectsBackup = db.prepare('DELETE FROM upgrade_objects_backup WHERE vat = ?');
  const pointVat = db.prepare('UPDATE vats SET module = ?, params = ? WHERE name = ?');

  const dropBackup = (vat: string) => {
    dropStoreBackup.run(vat);
    dropObjectsBackup.run(vat);
    deleteRecord.run(vat);
  };

  const begin = db.transaction((record: Omit<UpgradeRecord, 'startedAt'>): KeptState => {
    const existing = getRecord.get(record.vat);
    if (existing) {
      throw new UpgradeInProgressError(`an upgrade of vat "${record.vat}" to ${existing.new_module} is recorded and not finished`);
    }
    insertRecord.run({ ...record, startedAt: Date.now() });
    const keys = backUpStore.run(record.vat).changes;
    const objects = backUpObjects.run(record.vat).changes;
    return { keys, objects };
  });
  const finish = db.transaction((vat: string) => {
    const record = getRecord.get(vat);
    if (!record) throw new Error(`no upgrade of vat "${vat}" is recorded`);
    pointVat.run(record.new_module, record.new_params, vat);
    dropBackup(vat);
  });
  const rollBack = db.transaction((vat: string): UpgradeRecord | undefined => {
    const record = getRecord.get(vat);
    if (!record) return undefined;
    clearStore.run(vat);
    clearObjects.run(vat);
    restoreStore.run(vat);
    restoreObjects.run(vat);
    dropBackup(vat);
    return fromRow(record);
  });

  return {
    begin: (record) => begin.immediate(record),
    finish: (vat) => void finish.immediate(vat),
    rollBack: (vat) => rollBack.immediate(vat),
    unfinished: () => listRecords.all().map(fromRow),
    close: () => db.close(),
  };
};
