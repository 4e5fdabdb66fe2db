/**
 * The leader's half of replication: each follower's progress (nextIndex,
 * matchIndex, appends in flight), pipelined appends bounded by
 * `maxInflightAppends` × `maxAppendBytes`, heartbeats, a snapshot for a
 * follower that needs entries the log no longer holds, and the commit rule.
 *
 * Progress is optimistic: `next` moves past what was sent before the reply
 * comes, so up to `maxInflightAppends` appends pipeline to one follower. A
 * refusal (its log does not match at `prev`) sends `next` back to the
 * follower's hint — but never to or below `match`, which the follower is known
 * to hold (an append right after `match` always matches) — empties the
 * pipeline and probes: one append at a time until one succeeds (etcd's probe
 * and replicate states), so refusals of a full pipeline cannot each refill it
 * and multiply into a storm. A follower that answered nothing for two
 * heartbeats gets everything after its `match` again (lost appends). A
 * follower whose `next` is at or before the snapshot gets the snapshot: the
 * entries it needs are gone, and `termAt(0)` answers 0 even when entries 1…
 * are compacted, so an append after index 0 would not follow on from them.
 * None of this can lose an entry: `match` only grows, from successful replies
 * of this term, and only `match` counts toward commit.
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
  /** Refused since its last success: one append in flight at a time, until one succeeds. */
  probing: boolean;
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
    // Below the snapshot's index nothing is known (termAt(0) is 0 by contract even when 1… are compacted).
    if (prevTerm === undefined || prevIndex < (storage.snapshot()?.index ?? 0)) {
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
    const max = p.probing ? 1 : limits.maxInflightAppends;
    while (p.inflight < max && p.next <= storage.lastIndex()) {
      const from = p.next;
      // An append that carried nothing (a storage that broke its contract) ends the round instead of repeating forever.
      if (!sendAppend(peer, p) || p.next === from) return;
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
      for (const peer of peers) progress.set(peer, { next, match: 0, inflight: 0, probing: false, answeredAt: 0 });
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
        p.probing = false;
        advanceCommit();
      } else {
        // Its log does not match at what we sent: go back to its hint, even when the hint is at or below match (the
        // start of its conflicting run may lie below what it is known to hold), but no further back than match + 1:
        // an append right after match matches. Then probe: a refusal sends one append, not a pipeline.
        p.next = Math.max(p.match + 1, Math.min(p.next, index, storage.lastIndex() + 1));
        p.inflight = 0;
        p.probing = true;
      }
      replicate(peer);
    },
    snapshotReplied: (peer: NodeId, index: number) => {
      const p = progress.get(peer);
      if (!p) return;
      p.answeredAt = tick;
      p.inflight = 0;
      p.probing = false;
      p.match = Math.max(p.match, index);
      p.next = Math.max(p.next, index + 1);
      advanceCommit();
      replicate(peer);
    },
    matchIndex: (): Record<NodeId, number> => Object.fromEntries([...progress].map(([peer, p]) => [peer, p.match])),
  };
};
