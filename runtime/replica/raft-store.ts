/**
 * A Raft node's durable state (protocols/raft/types.ts `RaftStorage`) in the
 * host's store file, on a connection of its own, one group per storage.
 *
 * Durability: the connection commits with synchronous = FULL, so every method
 * that writes has fsynced (WAL) when it returns — the node sends a vote or an
 * append.reply only after the write it rests on returned. Writes that belong
 * together (a truncation and the appends after it, a snapshot and the
 * compaction it allows) are one transaction: a crash leaves the one state or
 * the other, never a log with a hole.
 *
 * Reads are hot (the leader reads what it just appended, per follower): the
 * term and vote, the last index and the snapshot are kept in memory, updated
 * only after the transaction that changed them committed. So one storage per
 * group may be open at a time; a second would not see the first's writes in
 * its caches.
 *
 * Failure semantics: a call that would break the log's shape (a gap, indices
 * out of order, rewriting compacted entries, a snapshot older than the one
 * held) throws RaftStorageError and changes nothing; an SQLite failure (disk full) throws as it comes, the
 * transaction rolled back and the caches as they were.
 */
import type Database from 'better-sqlite3';
import type { Command, LogEntry, NodeId, RaftStorage, Snapshot } from '../../protocols/raft/types.js';
import { openDatabaseWithSchema } from '../store.js';
import { RaftStorageError } from './errors.js';

/**
 * raft_log is a rowid table with a unique (grp, idx), not WITHOUT ROWID: an entry carries a
 * turn's write-set (kilobytes, up to a vat value's megabyte), and WITHOUT ROWID suits rows
 * under ~1/20 of a page only (SQLite's own advice; the sync spaces follow it too).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS raft_meta (
  grp TEXT PRIMARY KEY, term INTEGER NOT NULL, voted_for TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS raft_log (
  grp TEXT NOT NULL, idx INTEGER NOT NULL, term INTEGER NOT NULL, entry TEXT NOT NULL,
  UNIQUE (grp, idx)
);
CREATE TABLE IF NOT EXISTS raft_snapshot (
  grp TEXT PRIMARY KEY, idx INTEGER NOT NULL, term INTEGER NOT NULL, data TEXT NOT NULL
) WITHOUT ROWID;
`;

/** A RaftStorage on SQLite, with the connection's end. */
export interface SqliteRaftStorage extends RaftStorage {
  /** Closes the connection; the storage must not be used after. */
  close(): void;
}

interface LogRow {
  idx: number;
  term: number;
  entry: string;
}

/** JSON characters of `{"index":i,"term":t,"command":…}` around the command's text: what an entry adds to an append.request. */
const entryJsonBytes = (r: LogRow): number => 29 + String(r.idx).length + String(r.term).length + Buffer.byteLength(r.entry);

const isIndex = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

const checkCommand = (c: unknown, where: string): Command => {
  const ok =
    typeof c === 'object' &&
    c !== null &&
    ((c as Command).type === 'noop' || ((c as Command).type === 'data' && 'data' in c));
  if (!ok) throw new RaftStorageError(`${where}: the command is not { type: 'noop' } or { type: 'data', data }`);
  return c as Command;
};

const toEntry = (r: LogRow): LogEntry => ({ index: r.idx, term: r.term, command: JSON.parse(r.entry) as Command });

export const openRaftStorage = (dbPath: string, group: string): SqliteRaftStorage => {
  const db: Database.Database = openDatabaseWithSchema(dbPath, SCHEMA);
  const q = {
    meta: db.prepare<[string], { term: number; voted_for: string | null }>('SELECT term, voted_for FROM raft_meta WHERE grp = ?'),
    saveMeta: db.prepare(
      'INSERT INTO raft_meta (grp, term, voted_for) VALUES (?, ?, ?) ON CONFLICT(grp) DO UPDATE SET term = excluded.term, voted_for = excluded.voted_for',
    ),
    last: db.prepare<[string], { idx: number | null }>('SELECT max(idx) AS idx FROM raft_log WHERE grp = ?'),
    term: db.prepare<[string, number], { term: number }>('SELECT term FROM raft_log WHERE grp = ? AND idx = ?'),
    entry: db.prepare<[string, number], LogRow>('SELECT idx, term, entry FROM raft_log WHERE grp = ? AND idx = ?'),
    range: db.prepare<[string, number, number], LogRow>('SELECT idx, term, entry FROM raft_log WHERE grp = ? AND idx >= ? AND idx <= ? ORDER BY idx'),
    dropFrom: db.prepare('DELETE FROM raft_log WHERE grp = ? AND idx >= ?'),
    dropUpTo: db.prepare('DELETE FROM raft_log WHERE grp = ? AND idx <= ?'),
    dropAll: db.prepare('DELETE FROM raft_log WHERE grp = ?'),
    append: db.prepare('INSERT INTO raft_log (grp, idx, term, entry) VALUES (?, ?, ?, ?)'),
    snapshot: db.prepare<[string], { idx: number; term: number; data: string }>('SELECT idx, term, data FROM raft_snapshot WHERE grp = ?'),
    saveSnapshot: db.prepare(
      'INSERT INTO raft_snapshot (grp, idx, term, data) VALUES (?, ?, ?, ?) ON CONFLICT(grp) DO UPDATE SET idx = excluded.idx, term = excluded.term, data = excluded.data',
    ),
  };

  const metaRow = q.meta.get(group);
  let meta: { term: number; votedFor: NodeId | undefined } = Object.freeze({ term: metaRow?.term ?? 0, votedFor: metaRow?.voted_for ?? undefined });
  const snapRow = q.snapshot.get(group);
  let snap: Snapshot | undefined = snapRow && Object.freeze({ index: snapRow.idx, term: snapRow.term, data: JSON.parse(snapRow.data) as unknown });
  const snapIndex = () => snap?.index ?? 0;
  let last = Math.max(q.last.get(group)?.idx ?? 0, snapIndex());

  const truncateAndAppend = db.transaction((from: number, rows: readonly [number, number, string][]) => {
    q.dropFrom.run(group, from);
    for (const [idx, term, text] of rows) q.append.run(group, idx, term, text);
  });

  /** Keeps the entries after the snapshot when this log holds its entry (same term); otherwise they follow a log the leader overwrote, and all go. */
  const saveSnapshot = db.transaction((s: Snapshot, data: string, keepTail: boolean) => {
    q.saveSnapshot.run(group, s.index, s.term, data);
    if (keepTail) q.dropUpTo.run(group, s.index);
    else q.dropAll.run(group);
  });

  const termAt = (index: number): number | undefined => {
    if (index === 0) return 0;
    if (!isIndex(index) || index > last) return undefined;
    const s = snapIndex();
    if (index < s) return undefined;
    if (index === s) return snap!.term;
    return q.term.get(group, index)?.term;
  };

  const checkBatch = (from: number, entries: readonly LogEntry[]): [number, number, string][] => {
    if (!isIndex(from) || from < 1) throw new RaftStorageError(`truncateAndAppend from ${from}: not an index ≥ 1`);
    if (from <= snapIndex()) throw new RaftStorageError(`truncateAndAppend from ${from}: entries up to ${snapIndex()} are compacted into the snapshot`);
    if (from > last + 1) throw new RaftStorageError(`truncateAndAppend from ${from}: the log ends at ${last}, a gap`);
    return entries.map((e, i) => {
      if (e.index !== from + i) throw new RaftStorageError(`truncateAndAppend from ${from}: entry ${i} has index ${e.index}, want ${from + i}`);
      if (!Number.isSafeInteger(e.term) || e.term < 1) throw new RaftStorageError(`truncateAndAppend: entry ${e.index} has term ${e.term}, not a term ≥ 1`);
      return [e.index, e.term, JSON.stringify(checkCommand(e.command, `entry ${e.index}`))];
    });
  };

  return {
    load: () => meta,
    saveTerm(term, votedFor) {
      if (!isIndex(term)) throw new RaftStorageError(`saveTerm: ${term} is not a term`);
      q.saveMeta.run(group, term, votedFor ?? null);
      meta = Object.freeze({ term, votedFor });
    },
    lastIndex: () => last,
    termAt,
    entry(index) {
      if (!isIndex(index) || index <= snapIndex() || index > last) return undefined;
      const r = q.entry.get(group, index);
      return r && toEntry(r);
    },
    entries(from, to, maxBytes) {
      // A range that starts in the compacted prefix starts after it (the entries there are gone).
      const lo = Math.max(from, snapIndex() + 1);
      const out: LogEntry[] = [];
      let bytes = 0;
      for (const r of q.range.iterate(group, lo, Math.min(to, last))) {
        bytes += entryJsonBytes(r);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(toEntry(r));
      }
      return out;
    },
    truncateAndAppend(from, entries) {
      const rows = checkBatch(from, entries);
      truncateAndAppend(from, rows);
      last = Math.max(from - 1 + rows.length, snapIndex());
    },
    snapshot: () => snap,
    saveSnapshot(s) {
      if (!isIndex(s.index) || !isIndex(s.term)) throw new RaftStorageError(`saveSnapshot: index ${s.index} / term ${s.term} are not counts`);
      // Its entries are gone already: the node must not install a snapshot older than the one it holds.
      if (s.index < snapIndex()) throw new RaftStorageError(`saveSnapshot at ${s.index}: the snapshot held is at ${snapIndex()}`);
      const data = JSON.stringify(s.data) ?? 'null';
      const keepTail = s.index <= last && termAt(s.index) === s.term;
      saveSnapshot(s, data, keepTail);
      snap = Object.freeze({ index: s.index, term: s.term, data: JSON.parse(data) as unknown });
      last = keepTail ? last : s.index;
    },
    close: () => db.close(),
  };
};
