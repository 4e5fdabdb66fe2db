/**
 * One Raft node (Ongaro & Ousterhout, "In Search of an Understandable
 * Consensus Algorithm", extended version): the log, the term, the vote and
 * every message, around the role machine (raft.machine.ts) that holds the
 * timers. The contract and its failure semantics are in types.ts.
 *
 * Order of effects: every storage write returns before any message that rests
 * on it is sent (a vote, an append's success), so a crash between the two
 * loses only the message. All work runs one step at a time: a message that
 * arrives while a step runs (a `send` that delivered synchronously) waits in
 * `inbox` until the step ends, and timers fire through the same gate.
 *
 * Elections use pre-vote and leader stickiness (Raft thesis §9.6, as
 * etcd/raft): a node asks for pre-votes at term + 1 before it raises its
 * term, and a node that leads or heard the current leader within
 * electionMinMs refuses pre-votes and ignores vote requests of a higher term.
 * A replica that restarts or returns from a partition therefore cannot
 * depose a live leader: it learns the term from the refusals and follows.
 */
import { type Actor, createActor } from 'xstate';
import { LeadershipLostError, NotLeaderError, RaftBusyError, RaftStoppedError } from './errors.js';
import { makeLeader } from './leader.js';
import { raftLimits } from './limits.js';
import { acceptAppend, upToDate } from './log.js';
import { asChecked, dropReason } from './messages.js';
import { raftMachine } from './raft.machine.js';
import type { NodeId, RaftMessage, RaftNode, RaftNodeOptions, RaftRole, RaftStatus, RaftTimers } from './types.js';

type Msg<T extends RaftMessage['type']> = Extract<RaftMessage, { type: T }>;
interface Pending {
  readonly term: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export const makeRaftNode = (opts: RaftNodeOptions): RaftNode => {
  const limits = raftLimits(opts.limits);
  const { id, storage, machine } = opts;
  const members = new Set(opts.members);
  if (!members.has(id)) throw new RangeError(`raft node ${id} is not one of its members ${[...members].join(', ')}`);
  const peers = [...members].filter((m) => m !== id);
  const majority = Math.floor(members.size / 2) + 1;

  let term = 0;
  let votedFor: NodeId | undefined;
  let role: RaftRole = 'follower';
  let leader: NodeId | undefined;
  /** `leader` was heard within electionMinMs (the follower's first timer phase): it is current. */
  let leaderCurrent = false;
  let commitIndex = 0;
  let lastApplied = 0;
  let snapshotIndex = 0;
  let started = false;
  let stopped = false;
  /** Pre-votes (as a precandidate) or votes (as a candidate) granted this round, its own among them. */
  const votes = new Set<NodeId>();
  const pending = new Map<number, Pending>();
  const dropped: Record<string, number> = {};
  const drop = (reason: string) => {
    dropped[reason] = (dropped[reason] ?? 0) + 1;
  };

  // --- one step at a time ---
  let busy = false;
  const inbox: [NodeId, RaftMessage][] = [];
  let shown = '';
  /** On a leader, the entries each other member lacks (what the visualizer shows beside the role); {} elsewhere. */
  const lagOf = (): Record<NodeId, number> => {
    if (role !== 'leader') return {};
    const last = storage.lastIndex();
    const match = lead.matchIndex();
    return Object.fromEntries(opts.members.filter((m) => m !== id).map((m) => [m, Math.max(0, last - (match[m] ?? 0))]));
  };
  const notify = () => {
    const key = `${role}|${term}|${leader}|${commitIndex}`;
    if (key === shown || stopped) return;
    shown = key;
    actor.send({ type: 'status', term, leader, commitIndex, lag: lagOf() });
    try {
      opts.onStatus?.(status());
    } catch {
      // An observer's failure is its own: the node goes on.
    }
  };
  const run = (step: () => void) => {
    if (busy) return step();
    busy = true;
    try {
      step();
      for (let next = inbox.shift(); next && !stopped; next = inbox.shift()) dispatch(...next);
      notify();
    } finally {
      busy = false;
    }
  };

  const persistTerm = (t: number, vote: NodeId | undefined) => {
    storage.saveTerm(t, vote);
    term = t;
    votedFor = vote;
  };
  /** Any message with a higher term: adopt it (durably, the vote cleared) and be a follower. */
  const observeTerm = (t: number) => {
    if (t <= term) return;
    persistTerm(t, undefined);
    leader = undefined;
    leaderCurrent = false;
    actor.send({ type: 'term.higher' });
  };
  /** Leader stickiness: this node leads, or heard the leader of its term within electionMinMs. */
  const followsLiveLeader = () => role === 'leader' || (leaderCurrent && leader !== undefined);
  const lastLog = () => {
    const lastIndex = storage.lastIndex();
    return { lastIndex, lastTerm: storage.termAt(lastIndex) ?? 0 };
  };

  // --- applying ---
  const settle = (index: number, entryTerm: number, ok: boolean, result: unknown) => {
    const p = pending.get(index);
    if (!p) return;
    pending.delete(index);
    if (p.term !== entryTerm) p.reject(new LeadershipLostError(`entry ${index} of term ${p.term} was replaced by one of term ${entryTerm}`));
    else if (ok) p.resolve(result);
    else p.reject(result);
  };
  const rejectPending = (error: Error) => {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  /** Applies every committed entry not applied yet, in order, once each; snapshots every `snapshotEvery`. */
  const applyCommitted = () => {
    while (lastApplied < commitIndex) {
      const entry = storage.entry(lastApplied + 1);
      if (!entry) return; // cannot happen: a committed entry above the snapshot is in the log
      lastApplied = entry.index;
      if (entry.command.type === 'data') {
        let ok = true;
        let result: unknown;
        try {
          result = machine.apply(entry.command.data, entry.index);
        } catch (error) {
          ok = false;
          result = error;
        }
        settle(entry.index, entry.term, ok, result);
      }
      if (lastApplied - snapshotIndex >= limits.snapshotEvery) {
        storage.saveSnapshot({ index: lastApplied, term: storage.termAt(lastApplied)!, data: machine.snapshot() });
        snapshotIndex = lastApplied;
      }
    }
  };
  const commitTo = (index: number) => {
    if (index <= commitIndex) return;
    commitIndex = index;
    applyCommitted();
  };

  const lead = makeLeader({
    peers,
    storage,
    limits,
    send: (to, m) => opts.send(to, m),
    current: () => ({ term, id, commitIndex }),
    commitTo,
  });

  // --- the role machine's steps ---
  const heard = new Set<NodeId>();
  const roleMachine = raftMachine.provide({
    actions: {
      becomeFollower: () => {
        role = 'follower';
        votes.clear();
      },
      forgetLeader: () => {
        leaderCurrent = false;
      },
      startPreVote: () => {
        role = 'precandidate';
        leader = undefined;
        leaderCurrent = false;
        votes.clear();
        votes.add(id);
        // Nothing is written: the term and the vote stay as they are until a majority answers.
        const { lastIndex, lastTerm } = lastLog();
        for (const peer of peers) opts.send(peer, { type: 'prevote.request', term: term + 1, candidate: id, lastIndex, lastTerm });
        if (votes.size >= majority) actor.send({ type: 'prevotes.won' });
      },
      startElection: () => {
        role = 'candidate';
        leader = undefined;
        persistTerm(term + 1, id);
        votes.clear();
        votes.add(id);
        const { lastIndex, lastTerm } = lastLog();
        for (const peer of peers) opts.send(peer, { type: 'vote.request', term, candidate: id, lastIndex, lastTerm });
        if (votes.size >= majority) actor.send({ type: 'votes.won' });
      },
      becomeLeader: () => {
        role = 'leader';
        leader = id;
        heard.clear();
        heard.add(id);
        lead.begin();
      },
      leaveLeader: () => {
        lead.end();
        rejectPending(new LeadershipLostError(`${id} stopped leading term ${term}`));
      },
      sendHeartbeats: () => lead.heartbeat(),
      renewLease: () => {
        heard.clear();
        heard.add(id);
      },
    },
    guards: { quorumHeard: () => heard.size >= majority },
    delays: {
      election: () => Math.floor(limits.electionMinMs + opts.random() * (limits.electionMaxMs - limits.electionMinMs)),
      electionRest: () => Math.floor(opts.random() * (limits.electionMaxMs - limits.electionMinMs)),
    },
  });
  /** The machine's clock: the given timers, each firing through the step gate (and not at all once stopped). */
  const clock: RaftTimers = {
    setTimeout: (fn, ms) => opts.timers.setTimeout(() => stopped || run(() => fn()), ms),
    clearTimeout: (handle) => opts.timers.clearTimeout(handle),
  };
  const actor: Actor<typeof roleMachine> = createActor(roleMachine, {
    input: { id, members: [...opts.members], electionMinMs: limits.electionMinMs, heartbeatMs: limits.heartbeatMs, leaderLeaseMs: limits.leaderLeaseMs },
    clock,
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
  });

  // --- messages ---
  /** A pre-vote changes nothing here: no term or vote is written and the election timer runs on (it is not a vote). */
  const onPreVoteRequest = (from: NodeId, m: Msg<'prevote.request'>) => {
    const granted = m.term > term && !followsLiveLeader() && upToDate(m, lastLog());
    // A grant echoes the prospective term; a refusal carries ours, so a pre-candidate behind it learns the term and follows.
    opts.send(from, { type: 'prevote.reply', term: granted ? m.term : term, granted });
  };
  const onPreVoteReply = (from: NodeId, m: Msg<'prevote.reply'>) => {
    if (role !== 'precandidate' || m.term !== term + 1 || !m.granted) return;
    votes.add(from);
    if (votes.size >= majority) actor.send({ type: 'prevotes.won' });
  };
  const onVoteRequest = (from: NodeId, m: Msg<'vote.request'>) => {
    let granted = false;
    if (m.term === term && (votedFor === undefined || votedFor === m.candidate) && upToDate(m, lastLog())) {
      if (votedFor !== m.candidate) persistTerm(term, m.candidate);
      granted = true;
      actor.send({ type: 'vote.granted' });
    }
    opts.send(from, { type: 'vote.reply', term, granted });
  };
  const onVoteReply = (from: NodeId, m: Msg<'vote.reply'>) => {
    if (role !== 'candidate' || m.term !== term || !m.granted) return;
    votes.add(from);
    if (votes.size >= majority) actor.send({ type: 'votes.won' });
  };
  /** An append or snapshot of the current term: its sender is the leader. False when this node leads the same term (two leaders: a broken peer). */
  const heardLeader = (from: NodeId): boolean => {
    if (role === 'leader') {
      drop('second.leader');
      return false;
    }
    leader = from;
    leaderCurrent = true;
    actor.send({ type: 'leader.heard' });
    return true;
  };
  const onAppendRequest = (from: NodeId, m: Msg<'append.request'>) => {
    if (m.term < term) return opts.send(from, { type: 'append.reply', term, success: false, index: storage.lastIndex() + 1 });
    if (!heardLeader(from)) return;
    const { success, index } = acceptAppend(storage, m, snapshotIndex);
    if (success) commitTo(Math.min(m.leaderCommit, index));
    opts.send(from, { type: 'append.reply', term, success, index });
  };
  const onSnapshotRequest = (from: NodeId, m: Msg<'snapshot.request'>) => {
    if (m.term < term) return opts.send(from, { type: 'snapshot.reply', term, index: 0 });
    if (!heardLeader(from)) return;
    const s = m.snapshot;
    if (s.index > lastApplied && storage.termAt(s.index) !== s.term) {
      // Behind the leader's compacted log: its state replaces ours (and the log, unless it holds the snapshot's entry).
      storage.saveSnapshot(s);
      snapshotIndex = s.index;
      machine.restore(s.data, s.index);
      lastApplied = s.index;
      commitIndex = Math.max(commitIndex, s.index);
    } else if (s.index > lastApplied) {
      // This log holds the snapshot's entry: everything up to it is committed, and applied from the log.
      commitTo(s.index);
    }
    opts.send(from, { type: 'snapshot.reply', term, index: s.index });
  };
  /** A reply to this leader, of its term: the follower is alive (lease) and its progress moves. */
  const onLeaderReply = (from: NodeId, m: Msg<'append.reply'> | Msg<'snapshot.reply'>) => {
    if (role !== 'leader' || m.term !== term) return;
    if (m.index > storage.lastIndex() && (m.type === 'snapshot.reply' || m.success)) return drop('index.beyond.log');
    heard.add(from);
    if (m.type === 'snapshot.reply') lead.snapshotReplied(from, m.index);
    else lead.appendReplied(from, m.success, m.index);
  };
  /**
   * Which terms move this node (etcd's rules): a pre-vote request carries a
   * prospective term and a granted pre-vote echoes it, so neither does; a
   * refused one carries the refuser's term, which does. A vote request of a
   * higher term is ignored whole (no step down, no reply) while this node
   * follows a live leader. A leadership transfer would mark its vote request
   * to pass this check; there is none yet.
   */
  const dispatch = (from: NodeId, m: RaftMessage) => {
    if (m.type === 'vote.request' && m.term > term && followsLiveLeader()) return;
    if (m.type !== 'prevote.request' && !(m.type === 'prevote.reply' && m.granted)) observeTerm(m.term);
    switch (m.type) {
      case 'prevote.request':
        return onPreVoteRequest(from, m);
      case 'prevote.reply':
        return onPreVoteReply(from, m);
      case 'vote.request':
        return onVoteRequest(from, m);
      case 'vote.reply':
        return onVoteReply(from, m);
      case 'append.request':
        return onAppendRequest(from, m);
      case 'snapshot.request':
        return onSnapshotRequest(from, m);
      default:
        return onLeaderReply(from, m);
    }
  };

  // --- the node ---
  const status = (): RaftStatus => ({
    id,
    role,
    term,
    leader,
    commitIndex,
    lastApplied,
    lastIndex: storage.lastIndex(),
    snapshotIndex,
    matchIndex: role === 'leader' ? lead.matchIndex() : {},
  });

  const start = () => {
    if (started || stopped) return;
    started = true;
    ({ term, votedFor } = storage.load());
    const snap = storage.snapshot();
    snapshotIndex = snap?.index ?? 0;
    const applied = machine.appliedIndex?.();
    if (applied !== undefined && applied >= snapshotIndex) lastApplied = applied;
    else {
      if (snap) machine.restore(snap.data, snap.index);
      lastApplied = snapshotIndex;
    }
    commitIndex = lastApplied;
    run(() => actor.start());
  };

  const stop = () => {
    if (stopped) return;
    rejectPending(new RaftStoppedError(`${id} was stopped`));
    stopped = true;
    inbox.length = 0;
    // Leaving the role cancels its timers; stopping the actor cancels anything left.
    if (started) actor.send({ type: 'stop' });
    actor.stop();
  };

  const receive = (from: NodeId, message: RaftMessage) => {
    if (!started || stopped) return drop(stopped ? 'stopped' : 'not.started');
    const reason = dropReason(id, members, from, message, limits);
    if (reason) return drop(reason);
    if (busy) inbox.push([from, asChecked(message)]);
    else run(() => dispatch(from, asChecked(message)));
  };

  const propose = (data: unknown): Promise<unknown> => {
    if (stopped) return Promise.reject(new RaftStoppedError(`${id} was stopped`));
    if (role !== 'leader') return Promise.reject(new NotLeaderError(`${id} is not the leader of term ${term}`, leader));
    if (pending.size >= limits.maxPendingProposals) return Promise.reject(new RaftBusyError(`${pending.size} proposals wait to commit on ${id}`));
    return new Promise((resolve, reject) =>
      run(() => {
        const index = lead.append({ type: 'data', data });
        pending.set(index, { term, resolve, reject });
        lead.replicateAll();
      }),
    );
  };

  return Object.freeze({ start, stop, receive, propose, status, dropped: () => ({ ...dropped }) });
};
