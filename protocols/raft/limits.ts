/**
 * The timings and bounds of one Raft node, in one record (like SagaLimits).
 * Defaults suit loopback and a LAN (round trips well under a millisecond to a
 * few); tests shrink them. `raftLimits` checks a partial record against the
 * defaults and throws a RangeError naming the field that is wrong.
 */
import type { RaftLimits } from './types.js';

export const DEFAULT_RAFT_LIMITS: RaftLimits = Object.freeze({
  /** Well above a LAN round trip and a GC pause, so a live leader is not deposed; low enough that failover takes under a second. */
  electionMinMs: 300,
  /** Twice the minimum: a spread wide enough that one candidate usually starts (and wins) before any other times out. */
  electionMaxMs: 600,
  /** Four heartbeats per minimum election timeout: a follower misses three in a row before it starts an election. */
  heartbeatMs: 75,
  /**
   * Longer than the longest election timeout, with room for a loaded machine: a leader whose
   * followers' replies come late (busy event loops, fsyncs) must not step down before its service's
   * vat has even started; a minority leader still stops taking writes within 3 s.
   */
  leaderLeaseMs: 1_500,
  /** One append stays a small frame on the wire (well under a CapTP/session frame) while a catching-up follower still gets many entries per round trip. */
  maxAppendBytes: 256 * 1024,
  /** Four appends in flight fill a LAN pipe; a follower that does not answer costs at most 4 × maxAppendBytes of buffered sends. */
  maxInflightAppends: 4,
  /** A snapshot every thousand entries keeps the log (and a restart's replay) short without snapshotting on every write. */
  snapshotEvery: 1000,
  /** A thousand proposals waiting to commit is far past what a healthy group needs; beyond it callers get backpressure, not an unbounded queue. */
  maxPendingProposals: 1000,
});

const POSITIVE_INTEGERS = ['maxAppendBytes', 'maxInflightAppends', 'snapshotEvery', 'maxPendingProposals'] as const;
const POSITIVE_MS = ['electionMinMs', 'electionMaxMs', 'heartbeatMs', 'leaderLeaseMs'] as const;

/** The defaults with `partial` over them, checked: positive numbers, integer counts, heartbeatMs < electionMinMs < electionMaxMs. */
export const raftLimits = (partial: Partial<RaftLimits> = {}): RaftLimits => {
  const limits: RaftLimits = { ...DEFAULT_RAFT_LIMITS, ...partial };
  for (const field of POSITIVE_MS) {
    const v = limits[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`raft limit ${field} must be a positive number of ms, got ${String(v)}`);
  }
  for (const field of POSITIVE_INTEGERS) {
    const v = limits[field];
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`raft limit ${field} must be a positive integer, got ${String(v)}`);
  }
  if (limits.electionMinMs >= limits.electionMaxMs) throw new RangeError(`raft limit electionMinMs (${limits.electionMinMs}) must be below electionMaxMs (${limits.electionMaxMs})`);
  if (limits.heartbeatMs >= limits.electionMinMs) throw new RangeError(`raft limit heartbeatMs (${limits.heartbeatMs}) must be below electionMinMs (${limits.electionMinMs})`);
  return Object.freeze(limits);
};
