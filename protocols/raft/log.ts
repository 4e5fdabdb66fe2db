/**
 * Pure steps over a node's log (`RaftStorage`): the follower's append rule and
 * the leader's commit rule, kept apart from the node so each reads alone.
 */
import type { LogEntry, RaftStorage } from './types.js';

/**
 * The follower's side of an append (the paper's AppendEntries receiver rules
 * 2–4). Fails when the log does not hold `prevIndex` with `prevTerm`, with a
 * hint where the leader should go back to: this log's end, or the first index
 * of the conflicting term. Otherwise truncates only at the first entry that
 * really conflicts (same index, other term) and appends from there: entries
 * that match are never removed, so a duplicated or reordered older append
 * (a prefix of what this log holds) changes nothing. Entries at or below the
 * snapshot are committed and equal to the leader's: they are skipped.
 */
export const acceptAppend = (
  storage: Pick<RaftStorage, 'lastIndex' | 'termAt' | 'truncateAndAppend'>,
  m: { readonly prevIndex: number; readonly prevTerm: number; readonly entries: readonly LogEntry[] },
  snapshotIndex: number,
): { success: boolean; index: number } => {
  const last = storage.lastIndex();
  if (m.prevIndex > last) return { success: false, index: last + 1 };
  if (m.prevIndex >= snapshotIndex) {
    const have = storage.termAt(m.prevIndex);
    if (have !== m.prevTerm) {
      let first = m.prevIndex;
      while (first - 1 > snapshotIndex && storage.termAt(first - 1) === have) first--;
      return { success: false, index: first };
    }
  }
  for (let k = 0; k < m.entries.length; k++) {
    const e = m.entries[k]!;
    if (e.index <= snapshotIndex || storage.termAt(e.index) === e.term) continue;
    storage.truncateAndAppend(e.index, m.entries.slice(k));
    break;
  }
  return { success: true, index: Math.max(m.prevIndex + m.entries.length, snapshotIndex) };
};

/**
 * The leader's commit rule (the paper's §5.3–5.4.2, figure 8): the highest
 * index held by a majority (`matches` has one entry per member, this leader's
 * last index among them) becomes committed only when its entry is of the
 * leader's current term. An entry of an earlier term is never committed by
 * counting replicas — it commits with the first current-term entry above it.
 * Returns the new commit index (or `commitIndex` unchanged).
 */
export const quorumCommit = (matches: readonly number[], commitIndex: number, term: number, termAt: (i: number) => number | undefined): number => {
  const sorted = [...matches].sort((a, b) => b - a);
  const held = sorted[Math.floor(matches.length / 2)]!;
  return held > commitIndex && termAt(held) === term ? held : commitIndex;
};

/** A candidate's log is at least as up-to-date as ours (§5.4.1): a later last term, or the same last term and at least as long. */
export const upToDate = (candidate: { lastTerm: number; lastIndex: number }, ours: { lastTerm: number; lastIndex: number }): boolean =>
  candidate.lastTerm > ours.lastTerm || (candidate.lastTerm === ours.lastTerm && candidate.lastIndex >= ours.lastIndex);
