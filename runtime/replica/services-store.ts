/**
 * The replicated services this host is a replica of: each one's spec, kept in
 * the host's store (`replica_services`) so that a host that restarts — a sister
 * respawned after kill -9 — takes its place in every group again.
 */
import type Database from 'better-sqlite3';
import { openDatabaseWithSchema } from '../store.js';

export interface ServiceSpec {
  readonly name: string;
  /** Absolute path of the actor module: it must exist on every replica's machine. */
  readonly module: string;
  /** JSON text of the params given to `make(powers, params)`. */
  readonly params: string;
  readonly grants: readonly string[];
  /** The replicas' VatIds (three for a triple service); fixed for the service's life. */
  readonly members: readonly string[];
  readonly createdAt: number;
  /** A service of the tribe itself, run by the replica host with no vat: 'names' is the naming service. */
  readonly system?: 'names';
}

export interface ServicesStore {
  list(): ServiceSpec[];
  get(name: string): ServiceSpec | undefined;
  save(spec: ServiceSpec): void;
  close(): void;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS replica_services (name TEXT PRIMARY KEY, spec TEXT NOT NULL) WITHOUT ROWID;`;

export const openServicesStore = (dbPath: string): ServicesStore => {
  const db: Database.Database = openDatabaseWithSchema(dbPath, SCHEMA);
  const all = db.prepare<[], { spec: string }>('SELECT spec FROM replica_services ORDER BY name');
  const one = db.prepare<[string], { spec: string }>('SELECT spec FROM replica_services WHERE name = ?');
  const put = db.prepare('INSERT INTO replica_services (name, spec) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET spec = excluded.spec');
  return {
    list: () => all.all().map((r) => JSON.parse(r.spec) as ServiceSpec),
    get: (name) => {
      const row = one.get(name);
      return row ? (JSON.parse(row.spec) as ServiceSpec) : undefined;
    },
    save: (spec) => void put.run(spec.name, JSON.stringify(spec)),
    close: () => db.close(),
  };
};
