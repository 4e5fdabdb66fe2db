/** A vat's durable rows as SQL holds them, read from a home's database (also while its host runs: WAL). */
import { join } from 'node:path';
import Database from 'better-sqlite3';

export interface VatRows {
  readonly store: ReadonlyArray<{ key: string; value: string }>;
  readonly objects: ReadonlyArray<{ id: string; kind: string; state: string }>;
}

export const vatRows = (home: string, vat: string): VatRows => {
  const db = new Database(join(home, 'tribe.db'), { readonly: true });
  try {
    return {
      store: db.prepare<[string], { key: string; value: string }>('SELECT key, value FROM vat_store WHERE vat = ? ORDER BY key').all(vat),
      objects: db
        .prepare<[string], { id: string; kind: string; state: string }>('SELECT id, kind, state FROM vat_objects WHERE vat = ? ORDER BY id')
        .all(vat),
    };
  } finally {
    db.close();
  }
};

/** Rows of the upgrade bookkeeping tables (records and backups), all vats. */
export const upgradeLeftovers = (home: string): number => {
  const db = new Database(join(home, 'tribe.db'), { readonly: true });
  try {
    return ['upgrades', 'upgrade_store_backup', 'upgrade_objects_backup']
      .map((table) => db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()!.n)
      .reduce((a, b) => a + b, 0);
  } finally {
    db.close();
  }
};
