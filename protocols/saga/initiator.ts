/**
 * The initiator's side of a saga: summarizes a space, sends what the
 * responder asks for in Delta turns, commits. Its own durable space never
 * changes (a saga pushes); what it records is the chain.
 *
 * Failure semantics: `runInitiator` settles once the machine ends: with the
 * outcome when the responder committed (or was in sync already), else it
 * rejects with the named error that aborted it (SagaTimeoutError for a silent
 * leg, the responder's refusal, the transport's loss). An abort turn is sent
 * best effort; the responder discards its temp space either way.
 */
import { createActor, fromCallback, fromPromise } from 'xstate';
import type { SagaParty, SagaEndpoint } from './endpoint.js';
import { type CommittedBody, openTurn, sealTurn, type SealedTurn, type Turn, type TurnKind, TURN_VERSION, toWire, type WireEntry, wireSize, type AckBody } from './codec.js';
import { SagaAbortedError, type SagaError, SagaMalformedError, SagaOrderError, SagaTimeoutError } from './errors.js';
import { ENTRIES_PER_BUCKET, SHORT_DIGEST_CHARS } from './limits.js';
import { initiatorMachine, type InitiatorEvent } from './saga.machine.js';
import { fineRange, summaryBits, toHex } from './space.js';

export interface SagaPeerRef {
  readonly vatId: string;
  /** Its identity key as this side knows it (a sister record), never as the peer offers it. */
  readonly key: Uint8Array;
}

export interface SagaOutcome {
  readonly saga: string;
  readonly state: 'synced' | 'committed';
  readonly chunks: number;
  /** Entries sent in Delta turns. */
  readonly entries: number;
  readonly bytes: number;
  /** Of those, how many changed the responder's space. */
  readonly applied: number;
  /** The responder's root after the saga. */
  readonly root: string;
}

/** Entries read from the space per query while streaming a Delta. */
const PAGE = 512;

const ERRORS: Record<string, new (m: string) => SagaError> = { SagaTimeoutError, SagaAbortedError, SagaOrderError, SagaMalformedError };

export const runInitiator = async (party: SagaParty, peer: SagaPeerRef, space: string, endpoint: SagaEndpoint): Promise<SagaOutcome> => {
  const { crypto, key, self, store, limits } = party;
  const saga = toHex(crypto.randomBytes(16));
  store.begin(saga, peer.vatId, space, 'initiator');
  const startedAt = party.now();
  let last: SealedTurn | undefined;
  let seq = 0;
  let ack: AckBody | undefined;
  let bits = 0;
  let total = 0;
  let committed: CommittedBody | undefined;
  let failure: unknown;
  const progress = { chunks: 0, entries: 0, bytes: 0 };

  const seal = <K extends TurnKind>(k: K, b: Turn<K>['b']): SealedTurn<K> => {
    const t = sealTurn(crypto, key, { v: TURN_VERSION, k, saga, seq: seq++, from: self, to: peer.vatId, space, prev: last?.hash ?? store.head(peer.vatId, space, 'initiator'), at: party.now(), b } as Turn<K>);
    last = t;
    return t;
  };
  const open = (bytes: Uint8Array, kind: TurnKind): SealedTurn => {
    const t = openTurn(crypto, bytes, { key: peer.key, from: peer.vatId, to: self, saga, space, seq, prev: last!.hash, kinds: [kind] }, limits);
    seq++;
    last = t;
    store.record(saga, [t]);
    return t;
  };
  const note = (state: string) => party.book.set({ saga, peer: peer.vatId, space, role: 'initiator', state, startedAt, ...progress, total });
  const fail = (err: unknown) => {
    failure ??= err;
    throw err;
  };

  const sendInit = fromPromise<{ synced: boolean }>(async () => {
    try {
      bits = summaryBits(store.count(space), ENTRIES_PER_BUCKET);
      const summary = store.summary(space, bits);
      const init = seal('init', { root: summary.root, count: summary.count, bits, buckets: summary.buckets, head: last?.hash ?? store.head(peer.vatId, space, 'initiator') });
      store.record(saga, [init]);
      const answer = open(await endpoint.init(init.bytes), 'ack') as SealedTurn<'ack'>;
      ack = answer.turn.b;
      if (ack.synced && ack.root !== summary.root) throw new SagaOrderError('the Ack says in sync with another root');
      for (const [c] of ack.want) if (c >= 1 << bits) throw new SagaMalformedError(`the Ack asks for bucket ${c} of ${1 << bits}`);
      for (const [c] of ack.want) {
        const [lo, hi] = fineRange(c, bits);
        total += store.countIn(space, lo, hi);
      }
      return { synced: ack.synced };
    } catch (err) {
      return fail(err);
    }
  });

  const sendDelta = fromCallback<InitiatorEvent>(({ sendBack }) => {
    let stopped = false;
    const stream = async () => {
      const inflight: Promise<void>[] = [];
      let chunk: WireEntry[] = [];
      let size = 0;
      const flush = async () => {
        if (chunk.length === 0) return;
        const t = seal('delta', { total, entries: chunk });
        const n = chunk.length;
        const bytes = size;
        chunk = [];
        size = 0;
        store.record(saga, [t]);
        const answered = endpoint.delta(t.bytes).then(() => {
          if (stopped) return;
          progress.chunks++;
          progress.entries += n;
          progress.bytes += bytes;
          note('delta');
          sendBack({ type: 'chunk.sent', entries: n, bytes });
        });
        answered.catch(() => {});
        inflight.push(answered);
        while (inflight.length >= limits.window) await inflight.shift();
      };
      for (const [c, have] of ack!.want) {
        const listed = new Map(have ?? []);
        const [lo, hi] = fineRange(c, bits);
        let after: [number, string] | undefined;
        for (;;) {
          if (stopped) return;
          const page = store.page(space, lo, hi, after, PAGE);
          if (page.length === 0) break;
          for (const e of page) {
            if (listed.get(e.key) === e.digest.slice(0, SHORT_DIGEST_CHARS)) continue;
            const s = wireSize(e);
            if (size + s > limits.chunkBytes) await flush();
            chunk.push(toWire(e));
            size += s;
          }
          const tail = page[page.length - 1]!;
          after = [tail.bucket, tail.key];
        }
      }
      await flush();
      while (inflight.length > 0) await inflight.shift();
      if (!stopped) sendBack({ type: 'delta.sent' });
    };
    stream().catch((err: unknown) => {
      failure ??= err;
      const e = err as Error;
      if (!stopped) sendBack({ type: 'leg.failed', name: e?.name ?? 'Error', message: String(e?.message ?? err) });
    });
    return () => {
      stopped = true;
    };
  });

  const sendCommit = fromPromise<void>(async () => {
    try {
      const t = seal('commit', { chunks: progress.chunks, entries: progress.entries });
      store.record(saga, [t], progress);
      note('commit');
      committed = (open(await endpoint.commit(t.bytes), 'committed') as SealedTurn<'committed'>).turn.b;
    } catch (err) {
      fail(err);
    }
  });

  const machine = initiatorMachine.provide({
    actors: { sendInit, sendDelta, sendCommit },
    actions: {
      onFinished: () => {
        const how = committed ? `committed: ${committed.applied} of ${progress.entries} entries sent changed the responder's space` : 'in sync: ended after the Ack';
        store.end(saga, committed ? 'committed' : 'synced', how, { applied: committed?.applied ?? 0, head: { peer: peer.vatId, role: 'initiator', hash: last!.hash } });
      },
      onAborted: ({ context }) => {
        store.record(saga, [], progress);
        store.end(saga, 'aborted', context.error ?? 'aborted', { errorName: context.errorName ?? 'SagaAbortedError' });
        try {
          endpoint.abort(seal('abort', { reason: String(context.error ?? 'aborted').slice(0, 500) }).bytes).catch(() => {});
        } catch {}
      },
    },
  });
  const inspect = party.inspect?.('initiator', peer.vatId, space);
  const actor = createActor(machine, { input: { legTimeoutMs: limits.legTimeoutMs }, ...(inspect ? { inspect } : {}), ...(party.clock ? { clock: party.clock } : {}) });
  note('init');
  const ended = new Promise<void>((resolve) => actor.subscribe({ complete: () => resolve(), error: () => resolve() }));
  actor.start();
  await ended;
  party.book.delete(saga);
  const snap = actor.getSnapshot();
  if (snap.value === 'aborted') {
    const { errorName, error } = snap.context;
    if (failure instanceof Error && failure.name === errorName) throw failure;
    const Make = ERRORS[errorName ?? ''] ?? SagaAbortedError;
    throw new Make(error ?? 'aborted');
  }
  return {
    saga,
    state: committed ? 'committed' : 'synced',
    ...progress,
    applied: committed?.applied ?? 0,
    root: committed?.root ?? ack!.root,
  };
};
