/**
 * The state machine of a replicated durable vat (protocols/raft/types.ts
 * `StateMachine`): each committed `data` entry is one turn's write-set, applied
 * to this host's own rows of the vat — vat_store and vat_objects, the tables
 * the vat's worker reads through openVatStoreBackend — plus the replies of its
 * exactly-once calls, in one SQLite transaction with the applied index.
 *
 * Exactly once per index: the applied index commits with the rows, so after a
 * crash an entry at or below it is skipped, never applied twice.
 *
 * Idempotent and absolute: a write-set puts whole values (and whole object
 * states), never increments, and a reply already recorded keeps its first
 * result. So applying an entry twice, or applying entries S+1..X on top of a
 * state already at X, gives the state at X. (The replies table is bounded, and
 * that holds for it too: it keeps the newest replies by the last index that
 * carried each call id, a function of the entries whatever replays happened.) A snapshot transfer relies on it:
 * the snapshot is a marker at S (`{ durable: true, index }`, the state IS the
 * rows), the rows a follower receives are read later, at some X ≥ S, and the
 * follower restores them at S and applies S+1.. on top.
 *
 * Failure semantics: a write-set of the wrong shape throws ReplicaWriteSetError
 * (the same on every replica: the check reads only the entry) and changes no
 * row; its index still counts as applied. An SQLite failure rolls everything
 * back and throws as it comes.
 */
import type { SagaLimits } from '../../protocols/saga/limits.js';
import type { SpaceStore } from '../../protocols/saga/spaces.js';
import type { StateMachine } from '../../protocols/raft/types.js';
import { openDatabaseWithSchema } from '../store.js';
import { ReplicaReplyExpiredError, ReplicaSnapshotError, ReplicaWriteSetError } from './errors.js';
import { rowsFromSpace, rowsToSpace } from './space-transfer.js';
import { checkRows, checkWriteSet, type ReplicaRows, type WriteSet } from './write-set.js';

/**
 * Replies of exactly-once calls kept per group: a client retries within minutes, and 100,000
 * replies of a few hundred bytes stay within tens of MB. Older ones are dropped, oldest index
 * first, inside `apply` (so the same on every replica); a retry of a call that old is answered
 * as expired (ReplicaReplyExpiredError) when the caller can tell, and as unknown otherwise.
 * Every replica of a group must use the same bound, or their replies tables diverge.
 */
export const MAX_REPLIES_PER_GROUP = 100_000;

export interface ServiceStateOptions {
  /** The Raft group (one replicated service). */
  readonly group: string;
  /** The vat whose rows the group's entries write. */
  readonly vat: string;
  /** Replies kept (tests shrink it); MAX_REPLIES_PER_GROUP by default. */
  readonly maxReplies?: number;
}

/** What applying one entry answers: its index, the replies it recorded, and whether it had been applied before (and so changed nothing). */
export interface ApplyResult {
  readonly index: number;
  readonly replies: number;
  readonly skipped: boolean;
}

/** What `snapshot()` answers: the state is this host's rows at `index`. */
export interface DurableSnapshotMarker {
  readonly durable: true;
  readonly index: number;
}

export interface ServiceState extends StateMachine {
  /** The index of the last entry applied (0: none); durable with the rows. */
  appliedIndex(): number;
  /**
   * The result recorded for `callId`, or undefined when none is. With `knownIndex` — an applied
   * index the caller saw before it first made the call — a reply that may have been dropped
   * since throws ReplicaReplyExpiredError instead of answering unknown.
   */
  reply(callId: string, knownIndex?: number): string | undefined;
  /** Every dropped reply had an index ≤ this (0: none dropped). */
  replyHorizon(): number;
  /** Every row of the vat's replicated state, for a snapshot transfer. */
  exportRows(): ReplicaRows;
  /** Writes `exportRows()` into `space` as its only live entries (what was there is deleted); the number of entries written. */
  toSpace(spaces: SpaceStore, space: string, origin: string, limits?: Pick<SagaLimits, 'maxKeyBytes' | 'maxValueBytes'>): number;
  /** The rows `toSpace` wrote into `space` (on the host that received them), in the shape `restore` takes under `rows`. */
  fromSpace(spaces: SpaceStore, space: string): ReplicaRows;
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS replica_applied (
  grp TEXT PRIMARY KEY, idx INTEGER NOT NULL, replies INTEGER NOT NULL, horizon INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replica_replies (
  grp TEXT NOT NULL, call_id TEXT NOT NULL, result TEXT NOT NULL, idx INTEGER NOT NULL,
  PRIMARY KEY (grp, call_id)
);
CREATE INDEX IF NOT EXISTS replica_replies_age ON replica_replies (grp, idx, call_id);
`;

interface Progress {
  readonly applied: number;
  readonly replies: number;
  readonly horizon: number;
}

const isMarker = (d: unknown): d is DurableSnapshotMarker =>
  typeof d === 'object' && d !== null && (d as DurableSnapshotMarker).durable === true && Number.isSafeInteger((d as DurableSnapshotMarker).index);

export const openServiceState = (dbPath: string, opts: ServiceStateOptions): ServiceState => {
  const { group, vat } = opts;
  const maxReplies = opts.maxReplies ?? MAX_REPLIES_PER_GROUP;
  const db = openDatabaseWithSchema(dbPath, SCHEMA);
  // Applying is replay: the Raft log (raft-store.ts, synchronous = FULL) is what a reply rests on.
  // An apply lost to a power cut (WAL, NORMAL: never to a crash of the process) leaves the applied
  // index behind with the rows, and the entries are applied again from the log. One fsync less per turn.
  // Compaction stays safe: the log's snapshot is saved by a FULL transaction on the same WAL file, whose
  // fsync makes every earlier apply durable before the entries it covers are dropped.
  db.pragma('synchronous = NORMAL');
  const q = {
    progress: db.prepare<[string], { idx: number; replies: number; horizon: number }>('SELECT idx, replies, horizon FROM replica_applied WHERE grp = ?'),
    setProgress: db.prepare(
      'INSERT INTO replica_applied (grp, idx, replies, horizon) VALUES (?, ?, ?, ?) ON CONFLICT(grp) DO UPDATE SET idx = excluded.idx, replies = excluded.replies, horizon = excluded.horizon',
    ),
    put: db.prepare('INSERT INTO vat_store (vat, key, value) VALUES (?, ?, ?) ON CONFLICT(vat, key) DO UPDATE SET value = excluded.value'),
    del: db.prepare('DELETE FROM vat_store WHERE vat = ? AND key = ?'),
    putObject: db.prepare(
      'INSERT INTO vat_objects (vat, id, kind, state) VALUES (?, ?, ?, ?) ON CONFLICT(vat, id) DO UPDATE SET kind = excluded.kind, state = excluded.state',
    ),
    addReply: db.prepare('INSERT OR IGNORE INTO replica_replies (grp, call_id, result, idx) VALUES (?, ?, ?, ?)'),
    touchReply: db.prepare('UPDATE replica_replies SET idx = max(idx, ?) WHERE grp = ? AND call_id = ?'),
    reply: db.prepare<[string, string], { result: string }>('SELECT result FROM replica_replies WHERE grp = ? AND call_id = ?'),
    nthOldest: db.prepare<[string, number], { idx: number; call_id: string }>(
      'SELECT idx, call_id FROM replica_replies WHERE grp = ? ORDER BY idx, call_id LIMIT 1 OFFSET ?',
    ),
    dropUpTo: db.prepare('DELETE FROM replica_replies WHERE grp = @grp AND (idx < @idx OR (idx = @idx AND call_id <= @callId))'),
    oldest: db.prepare<[string], { idx: number | null }>('SELECT min(idx) AS idx FROM replica_replies WHERE grp = ?'),
    store: db.prepare<[string], { key: string; value: string }>('SELECT key, value FROM vat_store WHERE vat = ? ORDER BY key'),
    objects: db.prepare<[string], { id: string; kind: string; state: string }>('SELECT id, kind, state FROM vat_objects WHERE vat = ? ORDER BY id'),
    replies: db.prepare<[string], { call_id: string; result: string; idx: number }>(
      'SELECT call_id, result, idx FROM replica_replies WHERE grp = ? ORDER BY idx, call_id',
    ),
    clearStore: db.prepare('DELETE FROM vat_store WHERE vat = ?'),
    clearObjects: db.prepare('DELETE FROM vat_objects WHERE vat = ?'),
    clearReplies: db.prepare('DELETE FROM replica_replies WHERE grp = ?'),
  };

  const row = q.progress.get(group);
  let progress: Progress = { applied: row?.idx ?? 0, replies: row?.replies ?? 0, horizon: row?.horizon ?? 0 };

  /**
   * Records a reply; a call id recorded already keeps its first result, and its row's index
   * moves up to the latest entry that carried it. Why the latest: a row's age must be a
   * function of the entries alone, whatever order of replays led here. Kept at the first
   * index, a duplicate that arrived after its first reply was dropped would be ignored on one
   * replica and recorded on another that replays it on top of later rows (a snapshot
   * transfer), and the two would drop different replies from then on. 1 when recorded.
   */
  const record = (callId: string, result: string, index: number): number => {
    if (q.addReply.run(group, callId, result, index).changes === 1) return 1;
    q.touchReply.run(index, group, callId);
    return 0;
  };

  /** Drops the oldest replies past the bound (by index, then call id: the same rows on every replica); the new horizon. */
  const prune = (count: number, horizon: number): { replies: number; horizon: number } => {
    if (count <= maxReplies) return { replies: count, horizon };
    const cut = q.nthOldest.get(group, count - maxReplies - 1)!;
    q.dropUpTo.run({ grp: group, idx: cut.idx, callId: cut.call_id });
    return { replies: maxReplies, horizon: Math.max(horizon, cut.idx) };
  };

  const applyWriteSet = db.transaction((ws: WriteSet, index: number, before: Progress): Progress & { recorded: number } => {
    for (const [key, value] of ws.writes) {
      if (value === null) q.del.run(vat, key);
      else q.put.run(vat, key, value);
    }
    for (const [id, o] of ws.objects) q.putObject.run(vat, id, o.kind, o.state);
    let recorded = 0;
    for (const [callId, result] of ws.replies) recorded += record(callId, result, index);
    const kept = prune(before.replies + recorded, before.horizon);
    q.setProgress.run(group, index, kept.replies, kept.horizon);
    return { applied: index, ...kept, recorded };
  });

  const markApplied = db.transaction((index: number, before: Progress) => {
    q.setProgress.run(group, index, before.replies, before.horizon);
  });

  const restoreRows = db.transaction((rows: ReplicaRows, index: number): Progress => {
    q.clearStore.run(vat);
    q.clearObjects.run(vat);
    q.clearReplies.run(group);
    for (const [key, value] of rows.store) q.put.run(vat, key, value);
    for (const [id, o] of rows.objects) q.putObject.run(vat, id, o.kind, o.state);
    let count = 0;
    for (const [callId, result, idx] of rows.replies) count += record(callId, result, idx);
    const kept = prune(count, 0);
    // Rows come without their horizon. Replies are only ever dropped down to the bound, so a full
    // table may have lost older ones: treat everything below its oldest as dropped (sound, if cautious).
    const horizon = kept.replies >= maxReplies ? Math.max(kept.horizon, q.oldest.get(group)?.idx ?? 0) : kept.horizon;
    q.setProgress.run(group, index, kept.replies, horizon);
    return { applied: index, replies: kept.replies, horizon };
  });

  const checkIndex = (index: number, what: string) => {
    if (!Number.isSafeInteger(index) || index < 0) throw new ReplicaWriteSetError(`${what}: index ${index} is not a count`);
  };

  const exportRows = (): ReplicaRows =>
    db.transaction(() => ({
      store: q.store.all(vat).map((r) => [r.key, r.value] as const),
      objects: q.objects.all(vat).map((r) => [r.id, { kind: r.kind, state: r.state }] as const),
      replies: q.replies.all(group).map((r) => [r.call_id, r.result, r.idx] as const),
    }))();

  return {
    apply(data, index): ApplyResult {
      checkIndex(index, 'apply');
      if (index <= progress.applied) return { index, replies: 0, skipped: true };
      let ws: WriteSet;
      try {
        ws = checkWriteSet(data);
      } catch (err) {
        // Refused, and that refusal is this index's result: it is not to be applied again either.
        markApplied(index, progress);
        progress = { ...progress, applied: index };
        throw err;
      }
      const after = applyWriteSet(ws, index, progress);
      progress = { applied: after.applied, replies: after.replies, horizon: after.horizon };
      return { index, replies: after.recorded, skipped: false };
    },
    snapshot: (): DurableSnapshotMarker => ({ durable: true, index: progress.applied }),
    restore(data, index) {
      checkIndex(index, 'restore');
      if (isMarker(data)) {
        // Only the host that took it holds a durable snapshot's rows: here, they are at or past it (absolute writes: the entries after it apply again harmlessly).
        if (progress.applied >= index) return;
        throw new ReplicaSnapshotError(`a durable snapshot at ${index} names rows this replica does not hold (applied ${progress.applied}): they must come by transfer`);
      }
      progress = restoreRows(checkRows(data), index);
    },
    appliedIndex: () => progress.applied,
    reply(callId, knownIndex) {
      const r = q.reply.get(group, callId);
      if (r) return r.result;
      if (knownIndex !== undefined && knownIndex < progress.horizon) {
        throw new ReplicaReplyExpiredError(`the reply to call ${callId} may have been dropped: replies up to index ${progress.horizon} were, and the call was made after ${knownIndex}`);
      }
      return undefined;
    },
    replyHorizon: () => progress.horizon,
    exportRows,
    toSpace: (spaces, space, origin, limits) => rowsToSpace(exportRows(), spaces, space, origin, limits),
    fromSpace: (spaces, space) => rowsFromSpace(spaces, space),
    close: () => db.close(),
  };
};
