/**
 * The seam between the saga and where spaces live: one interface, implemented
 * on SQLite by runtime/saga/space-store.ts. Failure semantics: every method is
 * synchronous and either does all it says or throws (a failed `commit` or
 * `stage` changes nothing); the runner aborts the saga on a throw.
 */
import type { SealedTurn } from './codec.js';
import type { DigestedEntry, SyncEntry } from './space.js';

export type SagaRole = 'initiator' | 'responder';
export type SagaState = 'open' | 'synced' | 'committed' | 'aborted';

export interface SagaRecord {
  readonly saga: string;
  readonly peer: string;
  readonly space: string;
  readonly role: SagaRole;
  readonly state: SagaState;
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly outcome?: string;
  readonly errorName?: string;
  readonly chunks: number;
  readonly entries: number;
  readonly bytes: number;
  readonly applied: number;
}

export interface SpaceSummary {
  readonly root: string;
  readonly count: number;
  readonly bits: number;
  /** 2^bits coarse bucket digests, SHORT_DIGEST_CHARS each. */
  readonly buckets: string[];
}

export interface StoredTurn {
  readonly saga: string;
  readonly seq: number;
  readonly kind: string;
  readonly sender: string;
  readonly hash: string;
  readonly prev: string;
  readonly bytes: Uint8Array;
}

export interface SpaceStore {
  /** A local write: the entry gets the next clock of this store and `origin`. */
  put(space: string, key: string, value: string, origin: string): DigestedEntry;
  /** A local delete: a tombstone, so the deletion syncs too. */
  remove(space: string, key: string, origin: string): void;
  /** The live value (not a tombstone). */
  get(space: string, key: string): SyncEntry | undefined;
  /** Live entries of a space whose key starts with `prefix`, in key order of their buckets. */
  entries(space: string, prefix?: string): SyncEntry[];
  /** Entries of the space, tombstones included. */
  count(space: string): number;
  /** The spaces that hold entries, with their counts (tombstones included). */
  spaces(): { space: string; count: number }[];
  root(space: string): string;
  summary(space: string, bits: number): SpaceSummary;
  /** Entries of fine buckets [lo, hi) after (bucket, key), in (bucket, key) order. */
  page(space: string, lo: number, hi: number, after: readonly [number, string] | undefined, limit: number): DigestedEntry[];
  /** How many entries fine buckets [lo, hi) hold. */
  countIn(space: string, lo: number, hi: number): number;
  /** The next clock of a local write (greater than any clock this store holds, and than the last one given). */
  clock(): number;
  /** Writes many entries as they are, clocks included, in one transaction (imports, tests, benches). */
  putMany(space: string, entries: readonly SyncEntry[]): void;

  seen(saga: string): boolean;
  begin(saga: string, peer: string, space: string, role: SagaRole): void;
  /** Stages a chunk in the saga's temp space (one transaction); `first` is how many entries the saga staged before it. */
  stage(saga: string, entries: readonly DigestedEntry[], first: number): void;
  staged(saga: string): { entries: number; bytes: number };
  /** Records turns of the chain (and the saga's progress counters). */
  record(saga: string, turns: readonly SealedTurn[], progress?: { chunks: number; entries: number; bytes: number }): void;
  /**
   * Moves the temp space into durable space (last-writer-wins per key), records
   * `final` (this side's last turns), sets the chain head and ends the saga: one
   * transaction. Answers how many entries won and the space's new root.
   */
  commit(saga: string, space: string, final: (done: { applied: number; root: string; count: number }) => readonly SealedTurn[], head: { peer: string; role: SagaRole }): { applied: number; root: string; count: number };
  /** Ends a saga without touching durable space: its temp rows go; `head` moves the chain head when it ended well. */
  end(saga: string, state: Exclude<SagaState, 'open'>, outcome: string, opts?: { errorName?: string; applied?: number; head?: { peer: string; role: SagaRole; hash: string } }): void;
  head(peer: string, space: string, role: SagaRole): string;
  sagas(opts?: { peer?: string; limit?: number }): SagaRecord[];
  turns(saga: string): StoredTurn[];
  /** Rows in temp space (all sagas). */
  tempRows(): number;
  /** Sagas found open at start (their process died): marked aborted. */
  readonly recovered: number;
  close(): void;
}

