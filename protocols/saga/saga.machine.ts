/**
 * The sync saga's two machines: when each leg starts, how long it may take,
 * and how a saga ends. The adapter (runtime/saga/saga-runner.ts) provides the
 * legs as actors and does the I/O; these files decide only *when*.
 *
 * Initiator:
 *
 *   init ──ack (synced)──────────────────────────────▶ synced
 *     │ ack (gaps)
 *     ▼
 *   delta ◀─chunk.sent (the leg's timer starts again)
 *     │ delta.sent
 *     ▼
 *   commit ──committed──▶ committed
 *   any leg: error, legTimeout, abort ──▶ aborted
 *
 * Responder (created when an Init verified):
 *
 *   awaitInit ──turn.init (synced)──▶ synced
 *     │ turn.init (gaps)
 *     ▼
 *   receiving ◀─turn.delta (the timer starts again)
 *     │ turn.commit
 *     ▼
 *   committing ──done──▶ committed      (its transaction decides: nothing else ends it)
 *   any other state: turn.bad, abort, legTimeout, a turn it does not expect ──▶ aborted
 *
 * `aborted` runs `onAborted` (discard temp space, tell the peer, record the
 * outcome); `synced`/`committed` run `onFinished`. Pure: no clock read, no I/O.
 */
import { assign, fromCallback, fromPromise, setup } from 'xstate';

export interface SagaMachineInput {
  readonly legTimeoutMs: number;
}

export interface SagaMachineContext extends SagaMachineInput {
  /** The leg the saga is in or ended in. */
  leg: 'init' | 'ack' | 'delta' | 'commit' | 'done';
  chunks: number;
  entries: number;
  bytes: number;
  /** Why it aborted: the error's name and message. */
  errorName: string | undefined;
  error: string | undefined;
}

export type InitiatorEvent =
  | { type: 'chunk.sent'; entries: number; bytes: number }
  | { type: 'delta.sent' }
  | { type: 'leg.failed'; name: string; message: string }
  | { type: 'abort'; reason: string };

export type ResponderEvent =
  | { type: 'turn.init'; synced: boolean }
  | { type: 'turn.delta'; entries: number; bytes: number }
  | { type: 'turn.commit' }
  | { type: 'turn.bad'; name: string; message: string }
  | { type: 'abort'; reason: string };

const start = (input: SagaMachineInput): SagaMachineContext => ({
  ...input,
  leg: 'init',
  chunks: 0,
  entries: 0,
  bytes: 0,
  errorName: undefined,
  error: undefined,
});

const errorOf = (e: unknown): { errorName: string; error: string } => {
  const err = e as { name?: unknown; message?: unknown };
  return { errorName: typeof err?.name === 'string' ? err.name : 'Error', error: String(err?.message ?? e) };
};

const timeoutOf = (leg: string, ms: number) => ({ errorName: 'SagaTimeoutError', error: `SagaTimeoutError: no ${leg} within ${ms} ms` });

export const initiatorMachine = setup({
  types: {
    context: {} as SagaMachineContext,
    input: {} as SagaMachineInput,
    events: {} as InitiatorEvent,
  },
  actors: {
    /** Sends the Init; resolves with whether the Ack said the spaces match. */
    sendInit: fromPromise<{ synced: boolean }>(async () => {
      throw new Error('sendInit is provided by the adapter');
    }),
    /** Streams the Delta turns: sends back `chunk.sent` per answered turn, then `delta.sent` (or `leg.failed`). */
    sendDelta: fromCallback<InitiatorEvent>(() => {
      throw new Error('sendDelta is provided by the adapter');
    }),
    /** Sends the Commit; resolves once the Committed turn verified. */
    sendCommit: fromPromise<void>(async () => {
      throw new Error('sendCommit is provided by the adapter');
    }),
  },
  actions: {
    onAborted: () => {},
    onFinished: () => {},
    noteChunk: assign(({ context, event }) =>
      event.type === 'chunk.sent' ? { chunks: context.chunks + 1, entries: context.entries + event.entries, bytes: context.bytes + event.bytes } : {},
    ),
    noteFailure: assign(({ event }) =>
      event.type === 'leg.failed'
        ? { errorName: event.name, error: event.message }
        : event.type === 'abort'
          ? { errorName: 'SagaAbortedError', error: `SagaAbortedError: ${event.reason}` }
          : {},
    ),
  },
  guards: {
    inSync: ({ event }) => (event as unknown as { output: { synced: boolean } }).output.synced,
  },
  delays: {
    legTimeout: ({ context }) => context.legTimeoutMs,
  },
}).createMachine({
  id: 'saga-initiator',
  context: ({ input }) => start(input),
  initial: 'init',
  on: { abort: { target: '.aborted', actions: 'noteFailure' } },
  states: {
    init: {
      invoke: {
        src: 'sendInit',
        onDone: [{ guard: 'inSync', target: 'synced' }, { target: 'delta' }],
        onError: { target: 'aborted', actions: assign(({ event }) => errorOf(event.error)) },
      },
      after: { legTimeout: { target: 'aborted', actions: assign(({ context }) => timeoutOf('Ack', context.legTimeoutMs)) } },
    },
    delta: {
      entry: assign({ leg: 'delta' }),
      invoke: { src: 'sendDelta' },
      initial: 'waiting',
      states: {
        // A self-transition of the child re-enters only it: the timer starts again, the streaming actor runs on.
        waiting: {
          on: { 'chunk.sent': { target: 'waiting', reenter: true, actions: 'noteChunk' } },
          after: { legTimeout: { target: '#saga-initiator.aborted', actions: assign(({ context }) => timeoutOf('answer to a Delta turn', context.legTimeoutMs)) } },
        },
      },
      on: {
        'delta.sent': { target: 'commit' },
        'leg.failed': { target: 'aborted', actions: 'noteFailure' },
      },
    },
    commit: {
      entry: assign({ leg: 'commit' }),
      invoke: {
        src: 'sendCommit',
        onDone: { target: 'committed' },
        onError: { target: 'aborted', actions: assign(({ event }) => errorOf(event.error)) },
      },
      after: { legTimeout: { target: 'aborted', actions: assign(({ context }) => timeoutOf('Committed', context.legTimeoutMs)) } },
    },
    synced: { type: 'final', entry: [assign({ leg: 'done' }), 'onFinished'] },
    committed: { type: 'final', entry: [assign({ leg: 'done' }), 'onFinished'] },
    aborted: { type: 'final', entry: 'onAborted' },
  },
});

export const responderMachine = setup({
  types: {
    context: {} as SagaMachineContext,
    input: {} as SagaMachineInput,
    events: {} as ResponderEvent,
  },
  actors: {
    /** Moves the staged entries to durable space in one transaction. */
    commitSpace: fromPromise<void>(async () => {
      throw new Error('commitSpace is provided by the adapter');
    }),
  },
  actions: {
    onAborted: () => {},
    onFinished: () => {},
    noteChunk: assign(({ context, event }) =>
      event.type === 'turn.delta' ? { chunks: context.chunks + 1, entries: context.entries + event.entries, bytes: context.bytes + event.bytes } : {},
    ),
    unexpected: assign(({ event }) => ({
      errorName: 'SagaOrderError',
      error: `SagaOrderError: a ${event.type.replace(/^turn\./, '')} turn where it was not expected`,
    })),
    noteFailure: assign(({ event }) =>
      event.type === 'turn.bad'
        ? { errorName: event.name, error: event.message }
        : event.type === 'abort'
          ? { errorName: 'SagaAbortedError', error: `SagaAbortedError: ${event.reason}` }
          : {},
    ),
  },
  guards: {
    inSync: ({ event }) => event.type === 'turn.init' && event.synced,
  },
  delays: {
    legTimeout: ({ context }) => context.legTimeoutMs,
  },
}).createMachine({
  id: 'saga-responder',
  context: ({ input }) => start(input),
  initial: 'awaitInit',
  on: {
    'turn.bad': { target: '.aborted', actions: 'noteFailure' },
    abort: { target: '.aborted', actions: 'noteFailure' },
  },
  states: {
    awaitInit: {
      on: {
        'turn.init': [{ guard: 'inSync', target: 'synced' }, { target: 'receiving' }],
        'turn.delta': { target: 'aborted', actions: 'unexpected' },
        'turn.commit': { target: 'aborted', actions: 'unexpected' },
      },
      after: { legTimeout: { target: 'aborted', actions: assign(({ context }) => timeoutOf('Init', context.legTimeoutMs)) } },
    },
    receiving: {
      entry: assign({ leg: 'delta' }),
      initial: 'waiting',
      states: {
        waiting: {
          on: { 'turn.delta': { target: 'waiting', reenter: true, actions: 'noteChunk' } },
          after: { legTimeout: { target: '#saga-responder.aborted', actions: assign(({ context }) => timeoutOf('Delta or Commit turn', context.legTimeoutMs)) } },
        },
      },
      on: {
        'turn.commit': { target: 'committing' },
        'turn.init': { target: 'aborted', actions: 'unexpected' },
      },
    },
    committing: {
      entry: assign({ leg: 'commit' }),
      invoke: {
        src: 'commitSpace',
        onDone: { target: 'committed' },
        onError: { target: 'aborted', actions: assign(({ event }) => errorOf(event.error)) },
      },
      // The commit is one transaction, already under way (or done) when this state is entered: nothing that
      // arrives now can undo it, so nothing ends the saga but the transaction's own outcome. What arrives is
      // refused to its sender by the adapter; aborting here would record a committed saga as aborted.
      on: {
        'turn.init': {},
        'turn.delta': {},
        'turn.commit': {},
        'turn.bad': {},
        abort: {},
      },
    },
    synced: { type: 'final', entry: [assign({ leg: 'done' }), 'onFinished'] },
    committed: { type: 'final', entry: [assign({ leg: 'done' }), 'onFinished'] },
    aborted: { type: 'final', entry: 'onAborted' },
  },
});
