/**
 * `RaftStorage` in memory, for the simulation and the tests. A "crash" is a
 * new node given the same storage object: everything written is still there,
 * as with a durable store whose writes returned. The extra methods read what
 * was written and count writes, for assertions; the node never calls them.
 */
import type { LogEntry, NodeId, RaftStorage, Snapshot } from './types.js';

export interface MemoryStorage extends RaftStorage {
  /** Every entry held (after the snapshot), in order. */
  readonly log: () => readonly LogEntry[];
  readonly votedFor: () => NodeId | undefined;
  /** Writes so far, by method: `saveTerm`, `truncateAndAppend`, `saveSnapshot`. */
  readonly writes: () => Readonly<Record<string, number>>;
}

const jsonBytes = (entry: LogEntry): number => JSON.stringify(entry)?.length ?? 0;

/** `initial` seeds a log (tests that start from the paper's figures): entries from index 1 (or after `snapshot`), a term and a vote. */
export const makeMemoryStorage = (initial: { term?: number; votedFor?: NodeId; entries?: readonly LogEntry[]; snapshot?: Snapshot } = {}): MemoryStorage => {
  let term = initial.term ?? 0;
  let votedFor = initial.votedFor;
  let snap = initial.snapshot;
  /** entries[k] has index base + k + 1, where base is the snapshot's index. */
  let entries: LogEntry[] = [...(initial.entries ?? [])];
  const writes: Record<string, number> = {};
  const wrote = (what: string) => {
    writes[what] = (writes[what] ?? 0) + 1;
  };
  const base = () => snap?.index ?? 0;
  const lastIndex = () => base() + entries.length;
  const entry = (index: number): LogEntry | undefined => (index > base() ? entries[index - base() - 1] : undefined);
  const termAt = (index: number): number | undefined => {
    if (index === 0) return 0;
    if (snap && index === snap.index) return snap.term;
    return entry(index)?.term;
  };
  for (const [k, e] of entries.entries()) {
    if (e.index !== base() + k + 1) throw new RangeError(`seeded entry ${k} has index ${e.index}, expected ${base() + k + 1}`);
  }

  return {
    load: () => ({ term, votedFor }),
    saveTerm: (t, v) => {
      term = t;
      votedFor = v;
      wrote('saveTerm');
    },
    lastIndex,
    termAt,
    entry,
    entries: (from, to, maxBytes) => {
      const out: LogEntry[] = [];
      let bytes = 0;
      for (let i = Math.max(from, base() + 1); i <= Math.min(to, lastIndex()); i++) {
        const e = entry(i)!;
        bytes += jsonBytes(e);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
      return out;
    },
    truncateAndAppend: (from, more) => {
      if (from <= base() || from > lastIndex() + 1) throw new RangeError(`truncateAndAppend from ${from} outside (${base()}, ${lastIndex() + 1}]`);
      entries = [...entries.slice(0, from - base() - 1), ...more];
      wrote('truncateAndAppend');
    },
    snapshot: () => snap,
    saveSnapshot: (s) => {
      if (s.index < base()) throw new RangeError(`saveSnapshot at ${s.index}, below the snapshot held at ${base()}`);
      // Keep what follows the snapshot only when this log holds its entry (the paper's InstallSnapshot rule 6); else the whole log goes.
      entries = termAt(s.index) === s.term && s.index <= lastIndex() ? entries.slice(s.index - base()) : [];
      snap = s;
      wrote('saveSnapshot');
    },
    log: () => [...entries],
    votedFor: () => votedFor,
    writes: () => ({ ...writes }),
  };
};
