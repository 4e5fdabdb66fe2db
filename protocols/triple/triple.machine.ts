/**
 * The triple session machine: the state of one logical session over its
 * paths, as `tribe ps` and the visualizer will show it. It decides; the
 * adapter (triple-session.ts) does. Its input is the path summary the adapter
 * computes after every change (a path validated, graded, detached):
 *
 *                       ┌──────────────── connected ─────────────────┐
 *   starting ──live≥1──▶│ healthy ◀──▶ degraded ◀──▶ critical        │
 *      │ grace          │ (≥2 good)    (≥2 live,     (1 live)        │
 *      ▼                │               <2 good)                     │
 *     lost ◀── grace ── resuming ◀─────────── live = 0 ──────────────┘
 *    (final)            (0 live: sends buffered; a path back → connected)
 *
 *   any state ── session.abort / session.close ──▶ closed (final)
 *
 * `starting` and `resuming` both wait at most `graceMs` for a live path; the
 * timer lives only in them, so a path that comes and goes within `connected`
 * never touches it, and a summary that still says "no path" while resuming
 * does not restart it. `lost` is the grace running out (TripleSessionLostError),
 * `closed` everything else (an abort with its error, a protocol violation, a
 * new peer epoch, a local close). Effects come from the input (`effects`), so
 * one machine serves every session and pure `transition()` tests need none.
 */
import { assign, setup } from 'xstate';
import { TripleSessionLostError } from './errors.js';

export interface TripleEffects {
  /** The grace period ran out with no path: end the session with `error`. */
  lost(error: TripleSessionLostError): void;
  /** The session was aborted or closed: end it with `error`. */
  closed(error: Error): void;
}

export interface TripleMachineInput {
  readonly graceMs: number;
  readonly effects?: TripleEffects | undefined;
}

export interface TripleMachineContext extends TripleMachineInput {
  /** Validated paths not dead. */
  live: number;
  /** Of those, graded good. */
  good: number;
  error: Error | undefined;
}

export type TripleMachineEvent =
  | { type: 'paths.changed'; live: number; good: number }
  | { type: 'session.abort'; error: Error }
  | { type: 'session.close'; error: Error };

export type TripleState = 'starting' | 'healthy' | 'degraded' | 'critical' | 'resuming' | 'lost' | 'closed';

/** Where a summary leads: `prefix` reaches the connected states; `whenNone` is where no path leads (none: stay). */
const route = (prefix: '.' | '#triple.connected.', whenNone?: '#triple.resuming') =>
  [
    whenNone ? ({ guard: 'noPath', target: whenNone, actions: 'counts' } as const) : ({ guard: 'noPath', actions: 'counts' } as const),
    { guard: 'onePath', target: `${prefix}critical`, actions: 'counts' } as const,
    { guard: 'twoGood', target: `${prefix}healthy`, actions: 'counts' } as const,
    { target: `${prefix}degraded`, actions: 'counts' } as const,
  ] as const;

export const tripleMachine = setup({
  types: {
    context: {} as TripleMachineContext,
    input: {} as TripleMachineInput,
    events: {} as TripleMachineEvent,
  },
  actions: {
    counts: assign({
      live: ({ event }) => (event.type === 'paths.changed' ? event.live : 0),
      good: ({ event }) => (event.type === 'paths.changed' ? event.good : 0),
    }),
    noteError: assign({ error: ({ event }) => ('error' in event ? event.error : undefined) }),
    noteGraceOver: assign({
      error: ({ context }) => new TripleSessionLostError(`no path for ${context.graceMs} ms (the grace period)`),
    }),
    announceLost: ({ context }) => {
      if (context.error instanceof TripleSessionLostError) context.effects?.lost(context.error);
    },
    announceClosed: ({ context }) => context.effects?.closed(context.error ?? new TripleSessionLostError('closed')),
  },
  guards: {
    noPath: ({ event }) => event.type === 'paths.changed' && event.live === 0,
    onePath: ({ event }) => event.type === 'paths.changed' && event.live === 1,
    twoGood: ({ event }) => event.type === 'paths.changed' && event.good >= 2,
  },
  delays: {
    grace: ({ context }) => context.graceMs,
  },
}).createMachine({
  id: 'triple',
  context: ({ input }) => ({ graceMs: input.graceMs, effects: input.effects, live: 0, good: 0, error: undefined }),
  initial: 'starting',
  on: {
    'session.abort': { target: '.closed', actions: 'noteError' },
    'session.close': { target: '.closed', actions: 'noteError' },
  },
  states: {
    starting: {
      on: { 'paths.changed': route('#triple.connected.') },
      after: { grace: { target: 'lost', actions: 'noteGraceOver' } },
    },
    connected: {
      on: { 'paths.changed': route('.', '#triple.resuming') },
      initial: 'critical',
      states: {
        healthy: {},
        degraded: {},
        critical: {},
      },
    },
    resuming: {
      on: { 'paths.changed': route('#triple.connected.') },
      after: { grace: { target: 'lost', actions: 'noteGraceOver' } },
    },
    lost: { type: 'final', entry: 'announceLost' },
    closed: { type: 'final', entry: 'announceClosed' },
  },
});

/** The flat state name of a snapshot value ('connected.healthy' → 'healthy'). */
export const tripleStateOf = (value: unknown): TripleState => {
  if (typeof value === 'string') return value as TripleState;
  const inner = (value as { connected?: string }).connected;
  return (inner ?? 'closed') as TripleState;
};
