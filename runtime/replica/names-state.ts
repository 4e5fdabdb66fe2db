/**
 * The tribe's naming service as a replicated state machine (the `names`
 * system group of replica-host.ts): which sister publishes each name, and the
 * sturdy ref that reaches it there. Every name is in the log of a majority of
 * its replicas, so a name survives the loss of any one sister, and two sisters
 * that publish one name at once are ordered by the log: the first keeps it,
 * the second is refused (NameTakenError), the same on every replica.
 *
 * Commands (the `data` of a Raft entry; checked here, so every replica
 * answers a malformed one alike):
 *   { op: 'publish', name, publisher, ref }   taken by another → { error }
 *   { op: 'withdraw', name, publisher }       only the publisher's own
 *   { op: 'withdrawAll', publisher, keep }    every name of publisher but `keep`
 *   { op: 'lookup', name }                    a read through the log: linearizable
 * Each is idempotent (publishing again what one holds, withdrawing what is
 * gone), so a caller that retries after a failover changes nothing twice.
 * The state is small (names, not objects): a snapshot carries its rows.
 */
import type Database from 'better-sqlite3';
import { NAME_PATTERN } from '../../capabilities/names.js';
import type { StateMachine } from '../../protocols/raft/types.js';
import { openDatabaseWithSchema } from '../store.js';
import { ReplicaSnapshotError } from './errors.js';

/** Names the service keeps: each a row of at most ≈ 0.5 KiB; a bound so that no member can grow every replica's store without limit. */
export const MAX_NAMES = 100_000;
/** A publisher is a VatId, a ref a sturdy ref's text: bounded like the names themselves. */
const MAX_FIELD_CHARS = 512;

export interface NameRecord {
  readonly name: string;
  readonly publisher: string;
  readonly ref: string;
}

export type NamesCommand =
  | { readonly op: 'publish'; readonly name: string; readonly publisher: string; readonly ref: string }
  | { readonly op: 'withdraw'; readonly name: string; readonly publisher: string }
  | { readonly op: 'withdrawAll'; readonly publisher: string; readonly keep: readonly string[] }
  | { readonly op: 'lookup'; readonly name: string };

/** What a command answers: data, never thrown (an answer is the same on every replica). */
export type NamesAnswer = { readonly ok: NameRecord | boolean | number | null } | { readonly error: { readonly name: string; readonly message: string } };

/** The naming service's methods, as its front offers them. */
export const NAMES_METHODS = harden(['lookup', 'publish', 'withdraw', 'withdrawAll']);

/** A front's call as a command: `publish(name, publisher, ref)`, `withdraw(name, publisher)`, `withdrawAll(publisher, keep)`, `lookup(name)`. */
export const namesCommand = (method: string, args: readonly unknown[]): unknown => {
  switch (method) {
    case 'publish':
      return { op: method, name: args[0], publisher: args[1], ref: args[2] };
    case 'withdraw':
      return { op: method, name: args[0], publisher: args[1] };
    case 'withdrawAll':
      return { op: method, publisher: args[0], keep: args[1] };
    default:
      return { op: method, name: args[0] };
  }
};

export interface NamesState extends StateMachine {
  appliedIndex(): number;
  /** This replica's names as applied (a possibly stale read: lookups that must be current go through the log). */
  list(): NameRecord[];
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS replica_names (name TEXT PRIMARY KEY, publisher TEXT NOT NULL, ref TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replica_names_applied (one INTEGER PRIMARY KEY CHECK (one = 1), idx INTEGER NOT NULL);
`;

const field = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD_CHARS;
const refused = (name: string, message: string): NamesAnswer => ({ error: { name, message: `${name}: ${message}` } });

/** The command `data` is, or why it is none. */
const checkCommand = (data: unknown): NamesCommand | string => {
  if (typeof data !== 'object' || data === null) return 'a names command is an object';
  const c = data as Record<string, unknown>;
  const named = typeof c['name'] === 'string' && NAME_PATTERN.test(c['name']);
  switch (c['op']) {
    case 'publish':
      return named && field(c['publisher']) && field(c['ref']) ? (c as NamesCommand) : 'publish takes a name, a publisher and a ref';
    case 'withdraw':
      return named && field(c['publisher']) ? (c as NamesCommand) : 'withdraw takes a name and a publisher';
    case 'withdrawAll':
      return field(c['publisher']) && Array.isArray(c['keep']) && (c['keep'] as unknown[]).every((k) => typeof k === 'string') ? (c as NamesCommand) : 'withdrawAll takes a publisher and the names to keep';
    case 'lookup':
      return named ? (c as NamesCommand) : 'lookup takes a name';
    default:
      return `unknown op ${JSON.stringify(c['op'])}`;
  }
};

/** `maxNames` replaces MAX_NAMES (tests reach the bound without 100,000 rows); every replica of a group must use the same. */
export const openNamesState = (dbPath: string, opts: { maxNames?: number } = {}): NamesState => {
  const maxNames = opts.maxNames ?? MAX_NAMES;
  const db: Database.Database = openDatabaseWithSchema(dbPath, SCHEMA);
  // Applying is replay: the Raft log (raft-store.ts, synchronous = FULL) is what a reply rests on.
  // An apply lost to a power cut (WAL, NORMAL: never to a crash of the process) leaves the applied
  // index behind with the rows, and the entries are applied again from the log. One fsync less per turn.
  // Compaction stays safe: the log's snapshot is saved by a FULL transaction on the same WAL file, whose
  // fsync makes every earlier apply durable before the entries it covers are dropped.
  db.pragma('synchronous = NORMAL');
  const q = {
    applied: db.prepare<[], { idx: number }>('SELECT idx FROM replica_names_applied WHERE one = 1'),
    setApplied: db.prepare('INSERT INTO replica_names_applied (one, idx) VALUES (1, ?) ON CONFLICT(one) DO UPDATE SET idx = excluded.idx'),
    get: db.prepare<[string], NameRecord>('SELECT name, publisher, ref FROM replica_names WHERE name = ?'),
    put: db.prepare('INSERT INTO replica_names (name, publisher, ref) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET publisher = excluded.publisher, ref = excluded.ref'),
    del: db.prepare('DELETE FROM replica_names WHERE name = ?'),
    count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM replica_names'),
    ofPublisher: db.prepare<[string], { name: string }>('SELECT name FROM replica_names WHERE publisher = ?'),
    all: db.prepare<[], NameRecord>('SELECT name, publisher, ref FROM replica_names ORDER BY name'),
    clear: db.prepare('DELETE FROM replica_names'),
  };
  let applied = q.applied.get()?.idx ?? 0;

  const run = (c: NamesCommand): NamesAnswer => {
    switch (c.op) {
      case 'lookup':
        return { ok: q.get.get(c.name) ?? null };
      case 'publish': {
        const had = q.get.get(c.name);
        if (had && had.publisher !== c.publisher) return refused('NameTakenError', `the name "${c.name}" is published by sister ${had.publisher.slice(0, 8)}`);
        if (!had && q.count.get()!.n >= maxNames) return refused('NamesFullError', `the naming service holds ${maxNames} names, its bound`);
        q.put.run(c.name, c.publisher, c.ref);
        return { ok: true };
      }
      case 'withdraw': {
        const had = q.get.get(c.name);
        if (had && had.publisher === c.publisher) q.del.run(c.name);
        return { ok: had?.publisher === c.publisher };
      }
      case 'withdrawAll': {
        const keep = new Set(c.keep);
        let n = 0;
        for (const { name } of q.ofPublisher.all(c.publisher)) {
          if (keep.has(name)) continue;
          q.del.run(name);
          n += 1;
        }
        return { ok: n };
      }
    }
  };

  const applyOne = db.transaction((data: unknown, index: number): NamesAnswer => {
    const c = checkCommand(data);
    const answer = typeof c === 'string' ? refused('NamesCommandError', c) : run(c);
    q.setApplied.run(index);
    return answer;
  });

  const restoreRows = db.transaction((rows: readonly NameRecord[], index: number) => {
    q.clear.run();
    for (const r of rows) q.put.run(r.name, r.publisher, r.ref);
    q.setApplied.run(index);
  });

  return {
    apply(data, index) {
      if (index <= applied) return { ok: null };
      const answer = applyOne(data, index);
      applied = index;
      return answer;
    },
    appliedIndex: () => applied,
    // Small state: the snapshot is the rows themselves (a follower behind the log gets them inline).
    snapshot: () => ({ names: q.all.all() }),
    restore(data, index) {
      const rows = (data as { names?: unknown } | null)?.names;
      const wellFormed = (r: Partial<NameRecord> | null) => typeof r?.name === 'string' && NAME_PATTERN.test(r.name) && field(r.publisher) && field(r.ref);
      if (!Array.isArray(rows) || rows.length > maxNames || !rows.every(wellFormed)) {
        throw new ReplicaSnapshotError(`a names snapshot is { names: [{ name, publisher, ref }] }, names as tribe names, at most ${maxNames}`);
      }
      restoreRows(rows as NameRecord[], index);
      applied = index;
    },
    list: () => q.all.all(),
    close: () => db.close(),
  };
};
