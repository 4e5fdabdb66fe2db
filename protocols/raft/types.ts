/**
 * The replication seam: one Raft node of a replicated service, as the runtime
 * (runtime/replica/) and the deterministic simulation (test/sim/) drive it.
 *
 * The node is pure: it reads no clock, opens no socket and writes no file.
 * Everything it needs comes in through `RaftNodeOptions`:
 *
 * - `storage` persists term, vote, log and snapshot *synchronously*: when a
 *   call returns, the write is durable (SQLite with synchronous=FULL in the
 *   runtime, a map that survives a simulated crash in the simulation). The node
 *   sends no message that rests on a write before that write returned.
 * - `send` is fire-and-forget: a message may be lost, delayed, duplicated or
 *   reordered, and the node must stay safe under all of them (Raft's RPCs are
 *   idempotent; replies carry the term and the index they answer). It should
 *   deliver later (a queue, a socket); a message delivered synchronously back
 *   into a node while it works waits until that node's step ends.
 * - `timers` are the XState machine's clock: the simulation gives a simulated
 *   one, the runtime the real one.
 * - `random` picks election timeouts: seeded in the simulation.
 * - `apply` runs each committed entry's command on the state machine, exactly
 *   once per index, in index order, on every replica; what it returns is what
 *   `propose` resolves with on the leader that proposed it.
 *
 * Failure semantics of `propose`: it rejects at once with NotLeaderError (with
 * the leader it knows, if any) on a node that is not the leader; a proposal
 * accepted into the log rejects with LeadershipLostError if this node stops
 * being leader before the entry is known committed — the entry may still
 * commit later under another leader, which is why callers carry call ids and
 * the state machine deduplicates them (exactly once). It rejects with
 * RaftStoppedError once `stop()` was called. It never hangs: a leader that
 * cannot reach a majority for `limits.leaderLeaseMs` steps down, which
 * rejects what it holds with LeadershipLostError.
 */

/** A member of the group: the VatId of a sister host in the runtime, any string in the simulation. */
export type NodeId = string;

/** What an entry carries. `noop` is the entry each new leader appends (the current-term commit rule); `data` is the service's. */
export type Command = { readonly type: 'noop' } | { readonly type: 'data'; readonly data: unknown };

export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly command: Command;
}

/** A snapshot of the state machine after applying every entry up to `index` (its term `term`). `data` is opaque to the node. */
export interface Snapshot {
  readonly index: number;
  readonly term: number;
  readonly data: unknown;
}

export type RaftMessage =
  | { readonly type: 'vote.request'; readonly term: number; readonly candidate: NodeId; readonly lastIndex: number; readonly lastTerm: number }
  | { readonly type: 'vote.reply'; readonly term: number; readonly granted: boolean }
  | {
      readonly type: 'append.request';
      readonly term: number;
      readonly leader: NodeId;
      readonly prevIndex: number;
      readonly prevTerm: number;
      readonly entries: readonly LogEntry[];
      readonly leaderCommit: number;
    }
  | {
      readonly type: 'append.reply';
      readonly term: number;
      readonly success: boolean;
      /** On success: the index of the last entry this follower now matches. On failure: a hint where to go back to (its last index + 1 or the first index of the conflicting term). */
      readonly index: number;
    }
  | { readonly type: 'snapshot.request'; readonly term: number; readonly leader: NodeId; readonly snapshot: Snapshot }
  | { readonly type: 'snapshot.reply'; readonly term: number; readonly index: number };

/**
 * Durable state of one node. Every method is synchronous and durable when it
 * returns. Indices start at 1; index 0 / term 0 is "nothing". After a snapshot
 * at index S, entries ≤ S may be dropped: `entry(i)` for i ≤ S is undefined and
 * `termAt(S)` answers the snapshot's term.
 */
export interface RaftStorage {
  readonly load: () => { readonly term: number; readonly votedFor: NodeId | undefined };
  /** Persists term and vote together (a new term clears the vote unless one is given). */
  readonly saveTerm: (term: number, votedFor: NodeId | undefined) => void;
  /** Index of the last entry (or of the snapshot when the log after it is empty). */
  readonly lastIndex: () => number;
  /** Term of entry `index`, the snapshot's term at its index, 0 at index 0, undefined when unknown (compacted away or beyond the end). */
  readonly termAt: (index: number) => number | undefined;
  readonly entry: (index: number) => LogEntry | undefined;
  /** Entries from `from` to `to` inclusive, stopping early after `maxBytes` of JSON (at least one entry). */
  readonly entries: (from: number, to: number, maxBytes: number) => LogEntry[];
  /** Removes every entry with index ≥ `from`, then appends `entries` (which start at `from`). */
  readonly truncateAndAppend: (from: number, entries: readonly LogEntry[]) => void;
  /** The latest snapshot, if any. */
  readonly snapshot: () => Snapshot | undefined;
  /** Keeps `snapshot` and drops every entry ≤ its index (a follower installing a leader's snapshot drops the whole log when it does not hold the snapshot's entry). */
  readonly saveSnapshot: (snapshot: Snapshot) => void;
}

/** The service the log drives. Deterministic: the same entries in the same order give the same state and results on every replica. */
export interface StateMachine {
  /** Applies a committed `data` entry; the result goes to the proposer. Throwing is a result too (the error is what propose rejects with, on every replica the same). */
  readonly apply: (data: unknown, index: number) => unknown;
  /** The state after the last applied entry, as data `restore` takes. */
  readonly snapshot: () => unknown;
  /** Replaces the state by a snapshot's (a follower catching up past the leader's compacted log). */
  readonly restore: (data: unknown, index: number) => void;
  /**
   * A durable state machine says which index it has applied (its state survives a restart):
   * the node restarts applying after it and does not restore a snapshot at or below it.
   * Without it (an in-memory machine), a restart restores the snapshot and re-applies the
   * committed entries after it as the commit index is learned again.
   */
  readonly appliedIndex?: () => number;
}

export interface RaftTimers {
  setTimeout(fn: (...args: any[]) => void, ms: number): any;
  clearTimeout(id: any): void;
}

export interface RaftLimits {
  /** Election timeouts are drawn uniformly from [electionMinMs, electionMaxMs): randomness breaks split votes. */
  readonly electionMinMs: number;
  readonly electionMaxMs: number;
  /** A leader sends an append (maybe empty) to each follower at least this often; well under electionMinMs. */
  readonly heartbeatMs: number;
  /** A leader that heard from no majority for this long steps down (so a partitioned minority leader stops accepting writes). */
  readonly leaderLeaseMs: number;
  /** One append.request carries at most this much JSON of entries (at least one entry). */
  readonly maxAppendBytes: number;
  /** Appends carrying entries (or a snapshot) in flight to one follower before the leader waits for its replies. */
  readonly maxInflightAppends: number;
  /** After this many applied entries past the last snapshot, the node takes a snapshot and compacts its log. */
  readonly snapshotEvery: number;
  /** Proposals waiting to commit on a leader; more is RaftBusyError (backpressure, never an unbounded queue). */
  readonly maxPendingProposals: number;
}

export type RaftRole = 'follower' | 'candidate' | 'leader';

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: RaftRole;
  readonly term: number;
  readonly leader: NodeId | undefined;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  /** On a leader: each follower's match index (what it is known to hold). */
  readonly matchIndex: Readonly<Record<NodeId, number>>;
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  /** Every member, this one included. Fixed for the group's life. */
  readonly members: readonly NodeId[];
  readonly storage: RaftStorage;
  readonly machine: StateMachine;
  readonly send: (to: NodeId, message: RaftMessage) => void;
  readonly timers: RaftTimers;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  readonly limits?: Partial<RaftLimits>;
  /** XState `inspect` for the role machine (the visualizer); none by default. */
  readonly inspect?: (event: unknown) => void;
  /** Told after every change of role, term, leader or commit index (ps, the visualizer, tests). */
  readonly onStatus?: (status: RaftStatus) => void;
}

export interface RaftNode {
  /** Starts as a follower with the persisted term and vote, restoring the snapshot and re-applying nothing beyond it until commits are learned. */
  readonly start: () => void;
  /** Stops timers, rejects pending proposals (RaftStoppedError); idempotent. A stopped node ignores messages. */
  readonly stop: () => void;
  /** A message from member `from` (anything else, or malformed, is dropped and counted). */
  readonly receive: (from: NodeId, message: RaftMessage) => void;
  /** Appends `data` (leader only) and settles with `apply`'s result once committed and applied here. */
  readonly propose: (data: unknown) => Promise<unknown>;
  readonly status: () => RaftStatus;
  /** Messages dropped as malformed or from non-members, by reason. */
  readonly dropped: () => Readonly<Record<string, number>>;
}
