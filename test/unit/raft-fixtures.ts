/**
 * A scripted Raft group for the unit tests: nodes on one xstate
 * SimulatedClock, every message in one queue that the test delivers, drops or
 * duplicates one at a time (no randomized simulation here; that lives in
 * test/sim/). `expire(id)` fires a follower's or candidate's election timer
 * now, so a test chooses who stands for election without racing clocks;
 * `run(ms)` moves the clock a millisecond at a time and delivers everything
 * (across the partition's cut, nothing) for the tests about time.
 */
import { SimulatedClock } from 'xstate';
import { makeMemoryStorage, type MemoryStorage } from '../../protocols/raft/memory-storage.js';
import { makeRaftNode } from '../../protocols/raft/node.js';
import type { LogEntry, NodeId, RaftLimits, RaftMessage, RaftNode, RaftTimers, StateMachine } from '../../protocols/raft/types.js';

export interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: RaftMessage;
}

/**
 * A state machine that records what it applies: its state is the list of
 * applied data; `apply` of 'boom' throws, and so does an index that is not
 * above the last (applied twice, or out of order). `applied` lists indices applied in
 * this machine's life; `restoredAt` where restores put it. `durable` makes it
 * report `appliedIndex` (a machine whose state survives restarts).
 */
export const makeRecorder = (durable = false) => {
  let state: unknown[] = [];
  let at = 0;
  const applied: number[] = [];
  const restoredAt: number[] = [];
  const machine: StateMachine & { state: () => unknown[]; applied: number[]; restoredAt: number[] } = {
    apply: (data, index) => {
      if (index <= at) throw new Error(`applied ${index} after ${at}`);
      at = index;
      applied.push(index);
      if (data === 'boom') throw new RangeError(`boom at ${index}`);
      state.push(data);
      return { index, data };
    },
    snapshot: () => ({ state: [...state], at }),
    restore: (data, index) => {
      const d = data as { state: unknown[]; at: number };
      state = [...d.state];
      at = index;
      restoredAt.push(index);
    },
    ...(durable ? { appliedIndex: () => at } : {}),
    state: () => state,
    applied,
    restoredAt,
  };
  return machine;
};
export type Recorder = ReturnType<typeof makeRecorder>;

/** Timers on the shared clock that know which are still pending (the "no timers left" checks and `expire`). */
const trackedTimers = (clock: SimulatedClock) => {
  const live = new Map<unknown, () => void>();
  const timers: RaftTimers = {
    setTimeout: (fn, ms) => {
      const handle = clock.setTimeout(() => {
        live.delete(handle);
        fn();
      }, ms);
      live.set(handle, fn);
      return handle;
    },
    clearTimeout: (handle) => {
      live.delete(handle);
      clock.clearTimeout(handle);
    },
  };
  return { timers, live };
};

export interface Member {
  node: RaftNode;
  readonly storage: MemoryStorage;
  machine: Recorder;
  live: Map<unknown, () => void>;
  up: boolean;
}

export interface ClusterOptions {
  readonly limits?: Partial<RaftLimits>;
  /** Seeded logs and terms per node (the paper's figures). */
  readonly seed?: Record<NodeId, { term?: number; entries?: readonly LogEntry[] }>;
  /** Election draws per node, in [0, 1); default 0.5. */
  readonly random?: Record<NodeId, () => number>;
  readonly durable?: boolean;
  readonly onStatus?: (id: NodeId, status: ReturnType<RaftNode['status']>) => void;
}

export const TEST_LIMITS: Partial<RaftLimits> = { electionMinMs: 300, electionMaxMs: 600, heartbeatMs: 50, leaderLeaseMs: 600 };

export const makeCluster = (ids: readonly NodeId[], options: ClusterOptions = {}) => {
  const clock = new SimulatedClock();
  const queue: Envelope[] = [];
  const sent: Envelope[] = [];
  const members: Record<NodeId, Member> = {};
  /** Groups of a partition: a message between two groups is lost on delivery. */
  let groups: NodeId[][] | undefined;
  const connected = (a: NodeId, b: NodeId) => !groups || groups.some((g) => g.includes(a) && g.includes(b));

  const boot = (id: NodeId, storage: MemoryStorage, machine: Recorder): Member => {
    const { timers, live } = trackedTimers(clock);
    const node = makeRaftNode({
      id,
      members: ids,
      storage,
      machine,
      timers,
      random: options.random?.[id] ?? (() => 0.5),
      limits: { ...TEST_LIMITS, ...options.limits },
      send: (to, message) => {
        const env = { from: id, to, message };
        queue.push(env);
        sent.push(env);
      },
      ...(options.onStatus ? { onStatus: (s) => options.onStatus!(id, s) } : {}),
    });
    node.start();
    return { node, storage, machine, live, up: true };
  };
  for (const id of ids) members[id] = boot(id, makeMemoryStorage(options.seed?.[id] ?? {}), makeRecorder(options.durable));

  const take = (match: (e: Envelope) => boolean): Envelope | undefined => {
    const i = queue.findIndex(match);
    return i < 0 ? undefined : queue.splice(i, 1)[0];
  };
  const hand = (e: Envelope) => {
    const m = members[e.to];
    if (m?.up && connected(e.from, e.to)) m.node.receive(e.from, e.message);
  };

  const cluster = {
    clock,
    queue,
    /** Every message ever sent, in order. */
    sent,
    members,
    node: (id: NodeId) => members[id]!.node,
    status: (id: NodeId) => members[id]!.node.status(),
    /** Delivers the first queued message that matches; returns it (undefined: none matched). */
    deliver: (match: (e: Envelope) => boolean = () => true): Envelope | undefined => {
      const e = take(match);
      if (e) hand(e);
      return e;
    },
    /** Delivers matching messages (and what they cause, if it matches too) until none is left. */
    deliverAll: (match: (e: Envelope) => boolean = () => true, max = 100_000) => {
      let n = 0;
      for (let e = take(match); e; e = take(match)) {
        hand(e);
        if (++n > max) throw new Error('deliverAll: messages do not stop');
      }
      return n;
    },
    /** Removes matching messages from the queue (lost). */
    drop: (match: (e: Envelope) => boolean) => {
      const kept = queue.filter((e) => !match(e));
      const n = queue.length - kept.length;
      queue.splice(0, queue.length, ...kept);
      return n;
    },
    /** Fires the election timer of a follower or candidate now (its only timer). */
    expire: (id: NodeId) => {
      const m = members[id]!;
      if (m.node.status().role === 'leader') throw new Error(`${id} leads: it has no election timer`);
      const entries = [...m.live];
      if (entries.length !== 1) throw new Error(`${id} has ${entries.length} timers`);
      const [handle, fn] = entries[0]!;
      clock.clearTimeout(handle as number);
      m.live.delete(handle);
      fn();
    },
    /** Moves the clock `ms` a millisecond at a time, delivering everything after each (a partition drops what crosses it). */
    run: (ms: number, deliver = true) => {
      for (let i = 0; i < ms; i++) {
        clock.increment(1);
        if (deliver) cluster.deliverAll();
      }
    },
    partition: (...parts: NodeId[][]) => {
      groups = parts;
    },
    heal: () => {
      groups = undefined;
    },
    /** Stops a node; its queued messages (both ways) are lost, and nothing reaches it until restart. */
    crash: (id: NodeId) => {
      const m = members[id]!;
      m.node.stop();
      m.up = false;
      cluster.drop((e) => e.from === id || e.to === id);
    },
    /** A new node on the same storage; `fresh` gives it a new (empty, in-memory) state machine, else the same (durable) one. */
    restart: (id: NodeId, fresh = !options.durable) => {
      const old = members[id]!;
      if (old.up) cluster.crash(id);
      members[id] = boot(id, old.storage, fresh ? makeRecorder(options.durable) : old.machine);
      return members[id]!;
    },
    leaders: () => ids.filter((id) => members[id]!.up && members[id]!.node.status().role === 'leader'),
    /** Terms of each entry held (index 1 first; undefined where compacted). */
    terms: (id: NodeId) => {
      const s = members[id]!.storage;
      return Array.from({ length: s.lastIndex() }, (_, k) => s.termAt(k + 1));
    },
    pendingTimers: () => Object.values(members).reduce((n, m) => n + m.live.size, 0),
    stopAll: () => {
      for (const m of Object.values(members)) m.node.stop();
    },
  };
  return cluster;
};
export type Cluster = ReturnType<typeof makeCluster>;

/** Entries of the given terms from index 1 (data: "t<term>i<index>"). */
export const logOf = (...terms: number[]): LogEntry[] => terms.map((term, k) => ({ index: k + 1, term, command: { type: 'data', data: `t${term}i${k + 1}` } }));

export const isVote = (e: Envelope) => e.message.type === 'vote.request' || e.message.type === 'vote.reply';
export const from = (id: NodeId) => (e: Envelope) => e.from === id;
export const to = (id: NodeId) => (e: Envelope) => e.to === id;

/** Elects `id`: fires its timer, delivers the votes, checks it leads. Its appends stay queued. */
export const elect = (c: Cluster, id: NodeId) => {
  c.expire(id);
  c.deliverAll(isVote);
  if (c.status(id).role !== 'leader') throw new Error(`${id} did not win: ${JSON.stringify(c.status(id))}`);
};
