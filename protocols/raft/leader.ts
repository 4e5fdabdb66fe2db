/**
 * The leader's half of replication: each follower's progress (nextIndex,
 * matchIndex, appends in flight), pipelined appends bounded by
 * `maxInflightAppends` × `maxAppendBytes`, heartbeats, a snapshot for a
 * follower that needs entries the log no longer holds, and the commit rule.
 *
 * Progress is optimistic: `next` moves past what was sent before the reply
 * comes, so up to `maxInflightAppends` appends pipeline to one follower. A
 * refusal (its log does not match at `prev`) sends `next` back to the
 * follower's hint and empties the pipeline; a follower that answered nothing
 * for two heartbeats gets everything after its `match` again (lost appends).
 * Neither can lose an entry: `match` only grows, from successful replies of
 * this term, and only `match` counts toward commit.
 */
import { quorumCommit } from './log.js';
import type { Command, NodeId, RaftLimits, RaftMessage, RaftStorage } from './types.js';

interface Progress {
  /** The next entry to send. */
  next: number;
  /** The highest entry known to be held (0: nothing known). */
  match: number;
  /** Appends with entries (or a snapshot) sent and not answered. */
  inflight: number;
  /** The heartbeat tick of its last answer. */
  answeredAt: number;
}

export interface LeaderDeps {
  readonly peers: readonly NodeId[];
  readonly storage: RaftStorage;
  readonly limits: RaftLimits;
  readonly send: (to: NodeId, message: RaftMessage) => void;
  readonly current: () => { term: number; id: NodeId; commitIndex: number };
  /** Moves the node's commit index up (and applies). */
  readonly commitTo: (index: number) => void;
}

/** Heartbeat ticks without an answer after which a follower's unanswered appends count as lost and are sent again. */
const STALL_TICKS = 2;

export const makeLeader = ({ peers, storage, limits, send, current, commitTo }: LeaderDeps) => {
  const progress = new Map<NodeId, Progress>();
  let tick = 0;

  const advanceCommit = () => {
    const { term, commitIndex } = current();
    const matches = [storage.lastIndex(), ...[...progress.values()].map((p) => p.match)];
    commitTo(quorumCommit(matches, commitIndex, term, storage.termAt));
  };

  const sendSnapshot = (peer: NodeId, p: Progress) => {
    const snapshot = storage.snapshot();
    if (!snapshot) return;
    const { term, id } = current();
    send(peer, { type: 'snapshot.request', term, leader: id, snapshot });
    // Nothing else goes to this follower until it answers (or stalls): the snapshot fills its pipeline.
    p.inflight = limits.maxInflightAppends;
  };

  /** One append from `next` (empty when the follower is caught up). False when a snapshot went instead. */
  const sendAppend = (peer: NodeId, p: Progress): boolean => {
    const prevIndex = p.next - 1;
    const prevTerm = storage.termAt(prevIndex);
    if (prevTerm === undefined) {
      sendSnapshot(peer, p);
      return false;
    }
    const last = storage.lastIndex();
    const entries = p.next <= last ? storage.entries(p.next, last, limits.maxAppendBytes) : [];
    const { term, id, commitIndex } = current();
    send(peer, { type: 'append.request', term, leader: id, prevIndex, prevTerm, entries, leaderCommit: commitIndex });
    const sent = entries.at(-1);
    if (sent) {
      p.next = sent.index + 1;
      p.inflight++;
    }
    return true;
  };

  /** Fills the follower's pipeline with what it lacks. */
  const replicate = (peer: NodeId) => {
    const p = progress.get(peer);
    if (!p) return;
    while (p.inflight < limits.maxInflightAppends && p.next <= storage.lastIndex()) {
      if (!sendAppend(peer, p)) return;
    }
  };

  const append = (command: Command): number => {
    const index = storage.lastIndex() + 1;
    storage.truncateAndAppend(index, [{ index, term: current().term, command }]);
    return index;
  };

  const replicateAll = () => {
    for (const peer of peers) replicate(peer);
    advanceCommit();
  };

  return {
    /** Elected: every follower starts at our end (match unknown), a noop of the new term goes out (it commits what earlier terms left). */
    begin: () => {
      tick = 0;
      const next = storage.lastIndex() + 1;
      for (const peer of peers) progress.set(peer, { next, match: 0, inflight: 0, answeredAt: 0 });
      append({ type: 'noop' });
      replicateAll();
    },
    end: () => progress.clear(),
    append,
    replicateAll,
    /** Every follower hears from the leader: a stalled pipeline is sent again, an idle one gets an (empty) append. */
    heartbeat: () => {
      tick++;
      for (const [peer, p] of progress) {
        if (p.inflight > 0 && tick - p.answeredAt >= STALL_TICKS) {
          p.inflight = 0;
          p.next = p.match + 1;
        }
        if (p.inflight === 0 && sendAppend(peer, p)) replicate(peer);
      }
    },
    appendReplied: (peer: NodeId, success: boolean, index: number) => {
      const p = progress.get(peer);
      if (!p) return;
      p.answeredAt = tick;
      p.inflight = Math.max(0, p.inflight - 1);
      if (success) {
        p.match = Math.max(p.match, index);
        p.next = Math.max(p.next, index + 1);
        advanceCommit();
      } else if (index > p.match) {
        // Its log does not match at what we sent: go back to its hint (never below what it is known to hold).
        p.next = Math.max(p.match + 1, Math.min(p.next, index, storage.lastIndex() + 1));
        p.inflight = 0;
      }
      replicate(peer);
    },
    snapshotReplied: (peer: NodeId, index: number) => {
      const p = progress.get(peer);
      if (!p) return;
      p.answeredAt = tick;
      p.inflight = 0;
      p.match = Math.max(p.match, index);
      p.next = Math.max(p.next, index + 1);
      advanceCommit();
      replicate(peer);
    },
    matchIndex: (): Record<NodeId, number> => Object.fromEntries([...progress].map(([peer, p]) => [peer, p.match])),
  };
};
