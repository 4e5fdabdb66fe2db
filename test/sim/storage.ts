/**
 * Storage for simulated nodes: a map that survives a simulated crash (the
 * simulation keeps the object and hands it to the next incarnation), with the
 * RaftStorage contract of protocols/raft/types.ts. Written here rather than
 * borrowed so the simulation can also wrap it into broken (mutant) storage.
 */
import type { LogEntry, NodeId, RaftStorage, Snapshot } from '../../protocols/raft/types.js';

export const makeSimStorage = (): RaftStorage => {
  let term = 0;
  let votedFor: NodeId | undefined;
  let snap: Snapshot | undefined;
  /** log[k] is the entry at index base + 1 + k, base being the snapshot's index. */
  let log: LogEntry[] = [];
  const base = (): number => snap?.index ?? 0;
  const entry = (i: number): LogEntry | undefined => (i > base() ? log[i - base() - 1] : undefined);
  return {
    load: () => ({ term, votedFor }),
    saveTerm: (t, v) => {
      term = t;
      votedFor = v;
    },
    lastIndex: () => base() + log.length,
    termAt: (i) => (i === 0 ? 0 : i === base() ? snap?.term : entry(i)?.term),
    entry,
    entries: (from, to, maxBytes) => {
      const out: LogEntry[] = [];
      let bytes = 0;
      for (let i = Math.max(from, base() + 1); i <= to; i++) {
        const e = entry(i);
        if (!e) break;
        bytes += JSON.stringify(e).length;
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
      return out;
    },
    truncateAndAppend: (from, entries) => {
      if (from <= base()) throw new RangeError(`truncateAndAppend at ${from}, inside the snapshot (≤ ${base()})`);
      if (from > base() + log.length + 1) throw new RangeError(`truncateAndAppend at ${from}, past the end (${base() + log.length})`);
      log = log.slice(0, from - base() - 1).concat(entries);
    },
    snapshot: () => snap,
    saveSnapshot: (s) => {
      const kept = entry(s.index)?.term === s.term ? log.slice(s.index - base()) : [];
      snap = s;
      log = kept;
    },
  };
};
