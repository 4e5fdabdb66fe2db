/**
 * The saga's transport seam and the parties' shared equipment.
 *
 * A SagaEndpoint is the responder as the initiator reaches it: one call per
 * turn, each answering the responder's turn or count. Failure semantics: a
 * call rejects with the responder's named error when it refused the turn (and
 * so aborted the saga: nothing of it is committed), or with the transport's
 * error when the turn or its answer was lost; the initiator aborts on either.
 * Over CapTP it is a Far object exported at a sturdy ref (runtime/saga/);
 * tests use it in memory with faults between the parties.
 */
import type { CryptoSuite, SigningKey } from '../session/crypto.js';
import type { SagaLimits } from './limits.js';
import type { SagaRole, SpaceStore } from './spaces.js';

export interface SagaEndpoint {
  /** Delivers the Init; answers the responder's Ack turn. */
  init(turn: Uint8Array): Promise<Uint8Array>;
  /** Delivers one Delta turn; answers how many entries the responder has staged for this saga so far. */
  delta(turn: Uint8Array): Promise<number>;
  /** Delivers the Commit; answers the Committed turn once the responder's durable space holds the saga. */
  commit(turn: Uint8Array): Promise<Uint8Array>;
  /** Delivers an abort turn (best effort: the responder also aborts on its own timeout). */
  abort(turn: Uint8Array): Promise<void>;
}

/** A saga in flight, as `tribe sync --status` shows it. */
export interface SagaProgress {
  readonly saga: string;
  readonly peer: string;
  readonly space: string;
  readonly role: SagaRole;
  /** The machine's state. */
  readonly state: string;
  readonly startedAt: number;
  readonly chunks: number;
  readonly entries: number;
  readonly bytes: number;
  /** Entries the initiator may send at most (0 until the Ack). */
  readonly total: number;
}

/** The sagas in flight on one host, both roles. */
export interface SagaBook {
  set(p: SagaProgress): void;
  delete(saga: string): void;
  list(): SagaProgress[];
}

export const makeSagaBook = (): SagaBook => {
  const inFlight = new Map<string, SagaProgress>();
  return {
    set: (p) => void inFlight.set(p.saga, p),
    delete: (saga) => void inFlight.delete(saga),
    list: () => [...inFlight.values()],
  };
};

/** What either party of a saga works with: its identity, its spaces, its clock. */
export interface SagaParty {
  readonly crypto: CryptoSuite;
  readonly key: SigningKey;
  readonly self: string;
  readonly store: SpaceStore;
  readonly limits: SagaLimits;
  /** Wall clock (ms), for the turns' `at` and the records. */
  now(): number;
  readonly book: SagaBook;
  /** The machines' timers (XState's `clock`): tests give a simulated one; default the real timers. */
  readonly clock?: { setTimeout(fn: (...args: any[]) => void, ms: number): any; clearTimeout(id: any): void };
  /** An XState `inspect` for the machine of saga `saga` (the host's inspector), if any. */
  inspect?(role: SagaRole, peer: string, space: string): ((ev: unknown) => void) | undefined;
}
