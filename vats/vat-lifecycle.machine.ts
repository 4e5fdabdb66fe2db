/**
 * Vat lifecycle: when a vat counts as running, and when it is to be killed.
 *
 *   starting ──worker.online──▶ loading ──load.succeeded──▶ running
 *      │                          │                           │
 *      │ start.timeout            │ load.failed               │ stop
 *      ▼                          ▼                           ▼
 *    crashed ◀──worker.exit──── failed                    stopping ──worker.exit──▶ stopped
 *      ▲                                                      │ stop.timeout (force)
 *      └─ heartbeat overdue / worker.error (any live state)   ▼
 *                                                          stopped
 *
 * The watchdog is pure: every `pingInterval` the machine asks for a ping and
 * counts it outstanding; a pong clears the count. A running vat whose event loop
 * is stuck (endless loop, endless microtask chain) cannot answer, so after
 * `maxMissed` unanswered pings it is terminated. While loading, the start timeout
 * bounds the vat instead (a `make()` that never returns ends there). No clock is read here; delays come from
 * XState's clock, which tests replace with a SimulatedClock.
 *
 * All effects are named actions the adapter (vats/supervisor.ts) provides.
 */
import { and, assign, setup, stateIn } from 'xstate';

export type TerminationCause = 'time-budget' | 'memory-budget' | 'crash' | 'start-timeout' | 'stopped';

export interface VatLifecycleInput {
  readonly name: string;
  /** Interval between liveness pings while the vat is alive. */
  readonly pingIntervalMs: number;
  /** Unanswered pings before the vat is declared stuck: the time budget is roughly their product. */
  readonly maxMissed: number;
  /**
   * Ceiling for memory outside the V8 heap (ArrayBuffers), reported with each pong.
   * The heap itself is bounded by the worker's resourceLimits; this closes the gap.
   */
  readonly externalBudgetBytes: number;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
}

export interface VatLifecycleContext extends VatLifecycleInput {
  outstandingPings: number;
  cause: TerminationCause | undefined;
  detail: string | undefined;
}

export type VatLifecycleEvent =
  | { type: 'worker.online' }
  | { type: 'load.succeeded' }
  | { type: 'load.failed'; detail: string }
  | { type: 'heartbeat.pong'; externalBytes?: number }
  | { type: 'worker.error'; cause: TerminationCause; detail: string }
  | { type: 'worker.exit'; code: number }
  | { type: 'stop' };

export const vatLifecycleMachine = setup({
  types: {
    context: {} as VatLifecycleContext,
    input: {} as VatLifecycleInput,
    events: {} as VatLifecycleEvent,
  },
  actions: {
    // Effects, provided by the supervisor.
    sendPing: () => {},
    terminateWorker: () => {},
    requestStop: () => {},
    startLoading: () => {},
    announceRunning: () => {},
    announceEnded: (_, _params: { final: 'failed' | 'crashed' | 'stopped' }) => {},
    countPing: assign({ outstandingPings: ({ context }) => context.outstandingPings + 1 }),
    clearPings: assign({ outstandingPings: 0 }),
    noteExternalMemory: assign(({ context, event }) => ({
      cause: 'memory-budget' as TerminationCause,
      detail: `vat "${context.name}" holds ${event.type === 'heartbeat.pong' ? Math.round((event.externalBytes ?? 0) / 2 ** 20) : '?'} MiB outside its heap; its memory budget is ${Math.round(context.externalBudgetBytes / 2 ** 20)} MiB`,
    })),
    noteStuck: assign({
      cause: 'time-budget' as TerminationCause,
      detail: ({ context }) =>
        `vat "${context.name}" did not yield for ${context.pingIntervalMs * context.maxMissed} ms (time budget)`,
    }),
    noteError: assign(({ event }) =>
      event.type === 'worker.error' ? { cause: event.cause, detail: event.detail } : {},
    ),
    noteLoadFailure: assign(({ event }) => (event.type === 'load.failed' ? { detail: event.detail } : {})),
    noteUnexpectedExit: assign(({ context, event }) => ({
      cause: context.cause ?? ('crash' as TerminationCause),
      detail:
        context.detail ??
        `vat "${context.name}" worker exited unexpectedly (code ${event.type === 'worker.exit' ? event.code : '?'})`,
    })),
    noteStartTimeout: assign(({ context }) => ({
      cause: 'start-timeout' as TerminationCause,
      detail: `vat "${context.name}" did not start within ${context.startTimeoutMs} ms`,
    })),
    noteStopped: assign({ cause: 'stopped' as TerminationCause }),
  },
  guards: {
    isStuck: ({ context }) => context.outstandingPings >= context.maxMissed,
    isOverExternalBudget: ({ context, event }) =>
      event.type === 'heartbeat.pong' && (event.externalBytes ?? 0) > context.externalBudgetBytes,
  },
  delays: {
    pingInterval: ({ context }) => context.pingIntervalMs,
    startTimeout: ({ context }) => context.startTimeoutMs,
    stopTimeout: ({ context }) => context.stopTimeoutMs,
  },
}).createMachine({
  id: 'vat',
  context: ({ input }) => ({ ...input, outstandingPings: 0, cause: undefined, detail: undefined }),
  initial: 'starting',
  states: {
    starting: {
      after: { startTimeout: { target: 'crashed', actions: ['noteStartTimeout', 'terminateWorker'] } },
      on: {
        'worker.online': { target: 'alive' },
        'worker.error': { target: 'crashed', actions: ['noteError', 'terminateWorker'] },
        'worker.exit': { target: 'crashed', actions: 'noteUnexpectedExit' },
        stop: { target: 'stopped', actions: ['noteStopped', 'terminateWorker'] },
      },
    },
    // Two regions: the phase (loading → running) and the watchdog, so that a
    // tick of the watchdog re-enters only its own region. Loading is watched
    // too: `make()` can loop forever as well as any method.
    alive: {
      type: 'parallel',
      entry: 'clearPings',
      on: {
        'heartbeat.pong': [
          { guard: 'isOverExternalBudget', target: 'crashed', actions: ['noteExternalMemory', 'terminateWorker'] },
          { actions: 'clearPings' },
        ],
        'worker.error': { target: 'crashed', actions: ['noteError', 'terminateWorker'] },
        'worker.exit': { target: 'crashed', actions: 'noteUnexpectedExit' },
        stop: { target: 'stopping' },
      },
      states: {
        phase: {
          initial: 'loading',
          states: {
            // Loading is bounded by the start timeout, not the turn budget:
            // lockdown, TypeScript stripping and module evaluation legitimately
            // keep a cold worker busy for a while, and more so on a loaded machine.
            loading: {
              entry: 'startLoading',
              after: { startTimeout: { target: '#vat.crashed', actions: ['noteStartTimeout', 'terminateWorker'] } },
              on: {
                // Pings that went unanswered during a long load must not count against the first turn.
                'load.succeeded': { target: 'running', actions: 'clearPings' },
                'load.failed': { target: '#vat.failed', actions: ['noteLoadFailure', 'terminateWorker'] },
              },
            },
            running: { entry: 'announceRunning' },
          },
        },
        watchdog: {
          initial: 'watching',
          states: {
            watching: {
              after: {
                pingInterval: [
                  {
                    guard: and([stateIn({ alive: { phase: 'running' } }), 'isStuck']),
                    target: '#vat.crashed',
                    actions: ['noteStuck', 'terminateWorker'],
                  },
                  { target: 'watching', reenter: true, actions: ['countPing', 'sendPing'] },
                ],
              },
            },
          },
        },
      },
    },
    stopping: {
      entry: ['noteStopped', 'requestStop'],
      after: { stopTimeout: { target: 'stopped', actions: 'terminateWorker' } },
      on: { 'worker.exit': { target: 'stopped' } },
    },
    failed: { type: 'final', entry: { type: 'announceEnded', params: { final: 'failed' } } },
    crashed: { type: 'final', entry: { type: 'announceEnded', params: { final: 'crashed' } } },
    stopped: { type: 'final', entry: { type: 'announceEnded', params: { final: 'stopped' } } },
  },
});
