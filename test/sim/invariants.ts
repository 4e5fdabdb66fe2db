/**
 * Raft's safety properties, checked continuously while a simulation runs, from
 * what the nodes show through their seams (status, storage writes, applies):
 *
 * - Election Safety: at most one leader per term, over every term ever seen.
 * - Terms never go back on a node (they are durable).
 * - Committed entries are never lost or changed: every index→(term, command)
 *   any node reported committed is recorded, with the reporter's term; a node
 *   reporting a commit index over a different entry, writing a different
 *   entry of that term or later at a committed index, truncating a committed
 *   entry it held with no conflict, or a leader of a later term lacking one
 *   (Leader Completeness) is a violation.
 * - State Machine Safety: every replica applies the same command at an index,
 *   each index at most once per incarnation, in increasing order, skipping
 *   only noops — so applied sequences are prefixes of one another.
 *
 * A violation is recorded with the simulated time (the run goes on, so the
 * log shows what followed); the first one is what a failing seed reports.
 */
import type { LogEntry, NodeId, RaftStatus, RaftStorage, Snapshot, StateMachine } from '../../protocols/raft/types.js';

interface Committed {
  readonly term: number;
  readonly key: string;
  /**
   * The term of the node that first reported it committed: never below the term of the leader that committed it
   * (that leader, or a node that learned it from it or a later one), so checks that use it never fire falsely.
   */
  readonly commitTerm: number;
}

interface Incarnation {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  commitChecked: number;
  lastApplied: number;
  started: boolean;
  role: string;
}

export interface SafetyStats {
  elections: number;
  maxTerm: number;
  maxCommit: number;
  snapshotsInstalled: number;
  applies: number;
}

export interface Invariants {
  readonly violations: string[];
  readonly stats: SafetyStats;
  /** Begins tracking a new incarnation of `id` on `storage` (the raw one, for reading); `started` once its start() returned. */
  readonly incarnation: (id: NodeId, storage: RaftStorage) => Incarnation;
  readonly wrapStorage: (inc: Incarnation, storage: RaftStorage) => RaftStorage;
  readonly wrapMachine: (inc: Incarnation, machine: StateMachine) => StateMachine;
  readonly onStatus: (inc: Incarnation, status: RaftStatus) => void;
  readonly started: (inc: Incarnation) => void;
}

const commandKey = (e: LogEntry): string => (e.command.type === 'noop' ? 'noop' : `data:${JSON.stringify(e.command.data)}`);
const show = (i: number, c: Committed | LogEntry): string => `${i}@t${c.term} ${'key' in c ? c.key : commandKey(c)}`;

export const makeInvariants = (now: () => number, log?: (line: string) => void): Invariants => {
  const violations: string[] = [];
  const leaders = new Map<number, NodeId>();
  const lastTerm = new Map<NodeId, number>();
  const committed = new Map<number, Committed>();
  const applied = new Map<number, string>();
  const stats: SafetyStats = { elections: 0, maxTerm: 0, maxCommit: 0, snapshotsInstalled: 0, applies: 0 };
  const violate = (what: string): void => {
    const line = `t=${now()} ${what}`;
    violations.push(line);
    log?.(`${now()} VIOLATION ${what}`);
  };
  const learnCommitted = (inc: Incarnation, upTo: number, term: number): void => {
    for (let i = inc.commitChecked + 1; i <= upTo; i++) {
      const e = inc.storage.entry(i);
      if (!e) continue; // compacted into a snapshot: its content was checked when it was an entry
      const c = committed.get(i);
      if (!c) committed.set(i, { term: e.term, key: commandKey(e), commitTerm: term });
      else if (c.term !== e.term || c.key !== commandKey(e)) violate(`State Machine Safety: ${inc.id} committed ${show(i, e)} but ${show(i, c)} was committed before`);
    }
    inc.commitChecked = Math.max(inc.commitChecked, upTo);
    stats.maxCommit = Math.max(stats.maxCommit, upTo);
  };
  const checkCompleteness = (inc: Incarnation, term: number): void => {
    const from = (inc.storage.snapshot()?.index ?? 0) + 1;
    for (let i = from; i <= stats.maxCommit; i++) {
      const c = committed.get(i);
      // Leader Completeness binds leaders of later terms only: a leader of an older term can be elected late (its votes were delayed).
      if (!c || c.commitTerm >= term) continue;
      const e = inc.storage.entry(i);
      if (!e || e.term !== c.term || commandKey(e) !== c.key) {
        violate(`Leader Completeness: ${inc.id} leads term ${term} without committed ${show(i, c)} (holds ${e ? show(i, e) : 'nothing'})`);
        return;
      }
    }
  };
  const onStatus = (inc: Incarnation, s: RaftStatus): void => {
    const before = lastTerm.get(inc.id) ?? 0;
    if (s.term < before) violate(`term went back on ${inc.id}: ${before} → ${s.term}`);
    lastTerm.set(inc.id, s.term);
    stats.maxTerm = Math.max(stats.maxTerm, s.term);
    if (s.commitIndex > inc.commitChecked) {
      if (s.commitIndex > inc.storage.lastIndex()) violate(`${inc.id} commitIndex ${s.commitIndex} beyond its lastIndex ${inc.storage.lastIndex()}`);
      learnCommitted(inc, s.commitIndex, s.term);
    }
    if (s.role === 'leader') {
      const other = leaders.get(s.term);
      if (other !== undefined && other !== inc.id) violate(`Election Safety: ${inc.id} and ${other} both lead term ${s.term}`);
      if (other === undefined) {
        leaders.set(s.term, inc.id);
        stats.elections++;
        log?.(`${now()} ${inc.id} leads term ${s.term}`);
      }
      if (inc.role !== 'leader') checkCompleteness(inc, s.term);
    }
    inc.role = s.role;
  };
  const wrapStorage = (inc: Incarnation, storage: RaftStorage): RaftStorage => ({
    ...storage,
    truncateAndAppend: (from, entries) => {
      entries.forEach((e, k) => {
        if (e.index !== from + k) violate(`${inc.id} appends entry index ${e.index} at position ${from + k}`);
      });
      // A real conflict (an entry of another term where the new one goes) may take committed entries with it when the
      // sender is a stranded leader of a term older than their commit; truncating with no conflict never may.
      const conflict = entries.some((e, k) => {
        const old = storage.entry(from + k);
        return old !== undefined && old.term !== e.term;
      });
      const end = Math.min(stats.maxCommit, Math.max(storage.lastIndex(), from + entries.length - 1));
      for (let i = from; i <= end; i++) {
        const c = committed.get(i);
        if (!c) continue;
        const fresh = entries[i - from];
        const old = storage.entry(i);
        // An entry of a term before the commit may sit at a committed index (a stranded leader's own proposal): it never
        // commits. One of the commit's term or later must be the committed one (Leader Completeness, Log Matching).
        if (fresh && fresh.term >= c.commitTerm && (fresh.term !== c.term || commandKey(fresh) !== c.key)) violate(`${inc.id} writes ${show(i, fresh)} over committed ${show(i, c)}`);
        else if (!fresh && !conflict && old && old.term === c.term && commandKey(old) === c.key) violate(`${inc.id} truncates committed ${show(i, c)} with no conflict (truncateAndAppend from ${from} with ${entries.length} entries)`);
      }
      storage.truncateAndAppend(from, entries);
    },
    saveSnapshot: (snapshot: Snapshot) => {
      const c = committed.get(snapshot.index);
      if (c && c.term !== snapshot.term) violate(`${inc.id} saves a snapshot at ${snapshot.index}@t${snapshot.term} but ${show(snapshot.index, c)} is committed`);
      storage.saveSnapshot(snapshot);
    },
  });
  const wrapMachine = (inc: Incarnation, machine: StateMachine): StateMachine => ({
    apply: (data, index) => {
      stats.applies++;
      if (index <= inc.lastApplied) violate(`${inc.id} applies index ${index} after ${inc.lastApplied}`);
      for (let j = inc.lastApplied + 1; j < index; j++) {
        const e = inc.storage.entry(j);
        if (e && e.command.type !== 'noop') violate(`${inc.id} skips data entry ${show(j, e)} applying ${index}`);
      }
      inc.lastApplied = index;
      const key = `data:${JSON.stringify(data)}`;
      const seen = applied.get(index);
      if (seen === undefined) applied.set(index, key);
      else if (seen !== key) violate(`State Machine Safety: ${inc.id} applies ${key} at ${index}, another replica applied ${seen}`);
      const c = committed.get(index);
      if (c && c.key !== key) violate(`${inc.id} applies ${key} at ${index} where ${show(index, c)} is committed`);
      return machine.apply(data, index);
    },
    snapshot: () => machine.snapshot(),
    restore: (data, index) => {
      if (inc.started) stats.snapshotsInstalled++;
      inc.lastApplied = index;
      machine.restore(data, index);
    },
  });
  return {
    violations,
    stats,
    incarnation: (id, storage) => ({ id, storage, commitChecked: storage.snapshot()?.index ?? 0, lastApplied: 0, started: false, role: 'follower' }),
    wrapStorage,
    wrapMachine,
    onStatus,
    started: (inc) => {
      inc.started = true;
    },
  };
};
