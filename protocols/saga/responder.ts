/**
 * The responder's side of sagas: answers an Init with what it lacks, stages
 * Delta turns in temp space, and commits them to durable space in one
 * transaction when the Commit arrives.
 *
 * Failure semantics: a turn that does not open (malformed, wrong signature,
 * out of order, replayed) is refused with its named error and aborts its saga
 * — its temp space is discarded, nothing is committed. So do a peer's abort
 * turn, a leg past its timeout, an entry outside the buckets asked for or
 * refused by the space's check, and temp space past maxSagaBytes. Turns of no
 * saga in flight are refused (SagaReplayError when the saga ran before).
 */
import { createActor, fromPromise, type Actor } from 'xstate';
import type { SagaEndpoint, SagaParty } from './endpoint.js';
import { type CommitBody, fromWire, openTurn, parseTurn, sealTurn, type SealedTurn, type Turn, type TurnKind, TURN_VERSION, type Want, jsonBytes } from './codec.js';
import { SagaAbortedError, SagaMalformedError, SagaOrderError, SagaRefusedError, SagaReplayError } from './errors.js';
import { FINE_BITS, SHORT_DIGEST_CHARS } from './limits.js';
import { responderMachine } from './saga.machine.js';
import { digestEntry, type DigestedEntry, fineRange, type SyncEntry } from './space.js';

export interface ResponderOptions {
  /** The identity key this side knows for `vatId` (a sister record), or undefined: its sagas are refused. */
  keyOf(vatId: string): Uint8Array | undefined;
  /** Whether `peer` may push to `space` here. */
  accepts(space: string, peer: string): boolean;
  /** A reason to refuse this entry of `space` (e.g. a registry record that does not verify), or undefined. */
  checkEntry?(space: string, entry: SyncEntry): string | undefined;
  /** Sagas this side answers at once; more are refused. */
  readonly maxActive: number;
}

export interface Responder extends SagaEndpoint {
  /** Aborts every saga in flight (the host stops). */
  close(reason: string): void;
  /** Sagas in flight here. */
  readonly active: number;
}

/** Pairs an Ack may list per page read. */
const PAGE = 512;

interface Active {
  readonly saga: string;
  readonly peer: string;
  readonly key: Uint8Array;
  readonly space: string;
  readonly bits: number;
  readonly wanted: ReadonlySet<number>;
  readonly startedAt: number;
  readonly actor: Actor<typeof responderMachine>;
  readonly ended: Promise<void>;
  seq: number;
  last: SealedTurn;
  chunks: number;
  entries: number;
  bytes: number;
  total: number;
  committedTurn?: SealedTurn;
  error?: unknown;
}

export const makeResponder = (party: SagaParty, opts: ResponderOptions): Responder => {
  const { crypto, key, self, store, limits } = party;
  const active = new Map<string, Active>();

  const seal = <K extends TurnKind>(a: Pick<Active, 'saga' | 'peer' | 'space' | 'seq' | 'last'>, k: K, b: Turn<K>['b']): SealedTurn<K> =>
    sealTurn(crypto, key, { v: TURN_VERSION, k, saga: a.saga, seq: a.seq, from: self, to: a.peer, space: a.space, prev: a.last.hash, at: party.now(), b } as Turn<K>);

  const note = (a: Active) =>
    party.book.set({ saga: a.saga, peer: a.peer, space: a.space, role: 'responder', state: a.actor.getSnapshot().matches('receiving') ? 'delta' : String(a.actor.getSnapshot().value), startedAt: a.startedAt, chunks: a.chunks, entries: a.entries, bytes: a.bytes, total: a.total });

  /** The listing of the responder's entries in coarse bucket `c`, within `budget` bytes, or null ("send it all"). */
  const listing = (space: string, c: number, bits: number, budget: { left: number }): (readonly [string, string])[] | null => {
    const [lo, hi] = fineRange(c, bits);
    const out: (readonly [string, string])[] = [];
    let after: [number, string] | undefined;
    for (;;) {
      const page = store.page(space, lo, hi, after, PAGE);
      if (page.length === 0) return out;
      for (const e of page) {
        budget.left -= jsonBytes(e.key) + SHORT_DIGEST_CHARS + 6;
        if (budget.left < 0) return null;
        out.push([e.key, e.digest.slice(0, SHORT_DIGEST_CHARS)]);
      }
      const tail = page[page.length - 1]!;
      after = [tail.bucket, tail.key];
    }
  };

  /** The saga a turn names, read without checking the turn (to end that saga when the turn is malformed). */
  const sagaNamed = (bytes: Uint8Array): string | undefined => {
    if (!(bytes instanceof Uint8Array) || bytes.length > limits.maxTurnBytes) return undefined;
    try {
      const saga = (JSON.parse(new TextDecoder().decode(bytes.subarray(64))) as { saga?: unknown } | null)?.saga;
      return typeof saga === 'string' ? saga : undefined;
    } catch {
      return undefined;
    }
  };

  const find = (bytes: Uint8Array): { a: Active; turn: Turn } => {
    let turn: Turn;
    try {
      turn = parseTurn(bytes, limits).turn;
    } catch (err) {
      // A malformed turn of a saga in flight ends it, as every turn that does not open does.
      const a = active.get(sagaNamed(bytes) ?? '');
      if (a) abortWith(a, err);
      throw err;
    }
    const a = active.get(turn.saga);
    if (!a) {
      if (store.seen(turn.saga)) throw new SagaReplayError(`saga ${turn.saga} is over: a ${turn.k} turn of it again`);
      throw new SagaOrderError(`a ${turn.k} turn of saga ${turn.saga}, which is not in flight here`);
    }
    return { a, turn };
  };

  /** Opens the next turn of `a`; a turn that does not open aborts the saga. */
  const next = (a: Active, bytes: Uint8Array, kinds: TurnKind[]): SealedTurn => {
    try {
      const t = openTurn(crypto, bytes, { key: a.key, from: a.peer, to: self, saga: a.saga, space: a.space, seq: a.seq, prev: a.last.hash, kinds }, limits);
      a.seq++;
      a.last = t;
      return t;
    } catch (err) {
      abortWith(a, err);
      throw err;
    }
  };

  const abortWith = (a: Active, err: unknown) => {
    a.error ??= err;
    const e = err as Error;
    if (a.actor.getSnapshot().status !== 'active') return;
    a.actor.send({ type: 'turn.bad', name: e?.name ?? 'Error', message: String(e?.message ?? err) });
  };

  const failure = (a: Active): Error => {
    if (a.error instanceof Error) return a.error;
    const { error } = a.actor.getSnapshot().context;
    return new SagaAbortedError(error ?? 'the saga was aborted');
  };

  const start = (init: SealedTurn<'init'>, peerKey: Uint8Array): { a: Active; synced: boolean; ack: SealedTurn<'ack'> } => {
    const { saga, from: peer, space } = init.turn;
    const { bits } = init.turn.b;
    store.begin(saga, peer, space, 'responder');
    store.record(saga, [init]);
    const mine = store.summary(space, bits);
    const synced = mine.root === init.turn.b.root;
    const want: Want[] = [];
    if (!synced) {
      const budget = { left: limits.ackListingBytes };
      for (let c = 0; c < 1 << bits; c++) {
        if (mine.buckets[c] === init.turn.b.buckets[c]) continue;
        want.push([c, budget.left > 0 ? listing(space, c, bits, budget) : null]);
      }
    }
    const ack = seal({ saga, peer, space, seq: 1, last: init }, 'ack', { root: mine.root, count: mine.count, head: store.head(peer, space, 'responder'), synced, want });
    store.record(saga, [ack]);
    let a!: Active;
    const commitSpace = fromPromise<void>(async () => {
      try {
        store.commit(
          saga,
          space,
          (done) => {
            a.committedTurn = seal(a, 'committed', done);
            return [a.last, a.committedTurn];
          },
          { peer, role: 'responder' },
        );
      } catch (err) {
        a.error ??= err;
        throw err;
      }
    });
    const machine = responderMachine.provide({
      actors: { commitSpace },
      actions: {
        onFinished: () => {
          active.delete(saga);
          party.book.delete(saga);
          if (!a.committedTurn) store.end(saga, 'synced', 'in sync: ended after the Ack', { head: { peer, role: 'responder', hash: ack.hash } });
        },
        onAborted: ({ context }) => {
          active.delete(saga);
          party.book.delete(saga);
          store.record(saga, [], { chunks: a.chunks, entries: a.entries, bytes: a.bytes });
          store.end(saga, 'aborted', context.error ?? 'aborted', { errorName: context.errorName ?? 'SagaAbortedError' });
        },
      },
    });
    const inspect = party.inspect?.('responder', peer, space);
    const actor = createActor(machine, { input: { legTimeoutMs: limits.legTimeoutMs }, ...(inspect ? { inspect } : {}), ...(party.clock ? { clock: party.clock } : {}) });
    const ended = new Promise<void>((resolve) => actor.subscribe({ complete: () => resolve(), error: () => resolve() }));
    const wanted = new Set(want.map(([c]) => c));
    a = { saga, peer, key: peerKey, space, bits, wanted, startedAt: party.now(), actor, ended, seq: 2, last: ack, chunks: 0, entries: 0, bytes: 0, total: 0 };
    active.set(saga, a);
    actor.start();
    return { a, synced, ack };
  };

  return {
    get active() {
      return active.size;
    },
    async init(bytes) {
      const { turn } = parseTurn(bytes, limits);
      const peerKey = opts.keyOf(turn.from);
      if (!peerKey) throw new SagaRefusedError(`no key is known here for ${turn.from.slice(0, 8)}: its sagas are refused`);
      if (!opts.accepts(turn.space, turn.from)) throw new SagaRefusedError(`space ${JSON.stringify(turn.space)} is not synced with ${turn.from.slice(0, 8)} here`);
      const init = openTurn(crypto, bytes, { key: peerKey, from: turn.from, to: self, seq: 0, kinds: ['init'], seen: (s) => store.seen(s) || active.has(s) }, limits) as SealedTurn<'init'>;
      if (active.size >= opts.maxActive) throw new SagaRefusedError(`${active.size} sagas are in flight here already`);
      const { a, synced, ack } = start(init, peerKey);
      a.actor.send({ type: 'turn.init', synced });
      if (!synced) note(a);
      return ack.bytes;
    },
    async delta(bytes) {
      const { a } = find(bytes);
      const t = next(a, bytes, ['delta']) as SealedTurn<'delta'>;
      if (!a.actor.getSnapshot().matches('receiving')) throw failure(a);
      let staged: DigestedEntry[];
      let bytesIn = 0;
      try {
        staged = t.turn.b.entries.map((w) => {
          const e = digestEntry(crypto, fromWire(w));
          if (!a.wanted.has(e.bucket >>> (FINE_BITS - a.bits))) throw new SagaMalformedError(`entry ${JSON.stringify(e.key.slice(0, 40))} is in a bucket this side did not ask for`);
          const why = opts.checkEntry?.(a.space, e);
          if (why) throw new SagaMalformedError(`entry ${JSON.stringify(e.key.slice(0, 40))} refused: ${why}`);
          bytesIn += e.key.length + e.value.length;
          return e;
        });
        if (a.bytes + bytesIn > limits.maxSagaBytes) throw new SagaRefusedError(`the saga's temp space would pass ${limits.maxSagaBytes} bytes`);
        store.stage(a.saga, staged, a.entries);
        a.chunks++;
        a.entries += staged.length;
        a.bytes += bytesIn;
        a.total = t.turn.b.total;
        store.record(a.saga, [t], { chunks: a.chunks, entries: a.entries, bytes: a.bytes });
      } catch (err) {
        abortWith(a, err);
        throw err;
      }
      a.actor.send({ type: 'turn.delta', entries: staged.length, bytes: bytesIn });
      note(a);
      return a.entries;
    },
    async commit(bytes) {
      const { a } = find(bytes);
      const t = next(a, bytes, ['commit']) as SealedTurn<'commit'>;
      const b: CommitBody = t.turn.b;
      if (b.chunks !== a.chunks || b.entries !== a.entries) {
        const err = new SagaOrderError(`the Commit counts ${b.chunks} chunks of ${b.entries} entries, this side staged ${a.chunks} of ${a.entries}`);
        abortWith(a, err);
        throw err;
      }
      a.actor.send({ type: 'turn.commit' });
      await a.ended;
      if (a.actor.getSnapshot().value !== 'committed' || !a.committedTurn) throw failure(a);
      return a.committedTurn.bytes;
    },
    async abort(bytes) {
      const { a, turn } = find(bytes);
      if (turn.k !== 'abort') throw new SagaOrderError(`a ${turn.k} turn sent as an abort`);
      // Signed by the peer, of this saga: an abort nobody else can forge.
      openTurn(crypto, bytes, { key: a.key, from: a.peer, to: self, saga: a.saga, seq: a.seq, kinds: ['abort'] }, limits);
      a.actor.send({ type: 'abort', reason: `the initiator aborted: ${(turn.b as { reason: string }).reason}` });
    },
    close(reason) {
      for (const a of [...active.values()]) if (a.actor.getSnapshot().status === 'active') a.actor.send({ type: 'abort', reason });
    },
  };
};
