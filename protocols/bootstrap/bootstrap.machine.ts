/**
 * A host's Sister bootstrap: the steps from a bare process to a member of a
 * live tribe, and its health afterwards.
 *
 *   identity ─▶ store ─▶ listen ─▶ discover ─▶ spawn ─▶ connect ─▶ sync ─▶ ready ◀──▶ degraded
 *                                                │          │           │                 │
 *                                                └─spawnWait┴connectWait┴─syncWait────────┘
 *   any live state ──failed──▶ failed ──status (healthy)──▶ ready;   stop ──▶ stopped
 *
 * The host sends the first three as it does them (its identity key loaded, its
 * store open, its listener up); the Sister actor sends `discovered` once it has
 * read the registry, then a `status` each round of supervision: how many sisters
 * of this machine's core are alive, how many sisters it expects to be connected
 * to and how many it is. `spawn` waits for a full core, `connect` for every
 * sister connected, `sync` for every connected sister to hold this host's
 * system spaces (registry, names: pushed by sync sagas both ways); each gives
 * up after its wait and goes on `degraded`, which turns `ready` by itself once
 * a status says the tribe is whole and in sync again. Repeated
 * spawn failures make it `failed` (the core cannot be restored from here); a
 * healthy status recovers it. Pure: no clock read, no I/O; delays are XState's.
 */
import { assign, setup } from 'xstate';

export interface BootstrapInput {
  readonly coreSize: number;
  /** How long `spawn` waits for a full core before going on degraded. */
  readonly spawnWaitMs: number;
  /** How long `connect` waits for every sister before going on degraded. */
  readonly connectWaitMs: number;
  /** How long `sync` waits for the connected sisters' spaces to match before going on degraded. */
  readonly syncWaitMs: number;
  /** Spawn failures in a row that make the bootstrap `failed`. */
  readonly maxSpawnFailures: number;
}

export interface BootstrapStatus {
  /** Live sisters of this machine's core (this host included when it is in the core). */
  readonly alive: number;
  /** Sisters this host should have a session with (every other known sister). */
  readonly expected: number;
  /** Of those, how many answer. */
  readonly connected: number;
  /** Whether this host is the one that spawns for its machine. */
  readonly spawner: boolean;
  /** Whether every connected sister's system spaces have this host's roots (the sync step's condition). */
  readonly synced: boolean;
}

export interface BootstrapContext extends BootstrapInput, BootstrapStatus {
  spawnFailures: number;
  /** Why the tribe is degraded or failed, for people. */
  reason: string | undefined;
}

export type BootstrapEvent =
  | { type: 'identity.loaded' }
  | { type: 'store.opened' }
  | { type: 'listening' }
  | { type: 'discovered'; sisters: number }
  | ({ type: 'status' } & BootstrapStatus)
  | { type: 'spawn.failed'; detail: string }
  | { type: 'failed'; detail: string }
  | { type: 'stop' };

const whole = (c: BootstrapStatus & { coreSize: number }) => c.alive >= c.coreSize && c.connected >= c.expected;
const UNSYNCED = "the sisters' registry and names are not in sync yet";

export const bootstrapMachine = setup({
  types: {
    context: {} as BootstrapContext,
    input: {} as BootstrapInput,
    events: {} as BootstrapEvent,
  },
  actions: {
    noteStatus: assign(({ event }) =>
      event.type === 'status'
        ? { alive: event.alive, expected: event.expected, connected: event.connected, spawner: event.spawner, synced: event.synced }
        : {},
    ),
    noteSpawnFailure: assign(({ context, event }) =>
      event.type === 'spawn.failed' ? { spawnFailures: context.spawnFailures + 1, reason: event.detail } : {},
    ),
    clearSpawnFailures: assign({ spawnFailures: 0 }),
    noteFailure: assign(({ event }) => (event.type === 'failed' ? { reason: event.detail } : {})),
    noteShortCore: assign({
      reason: ({ context }) =>
        context.alive < context.coreSize
          ? `${context.alive} of ${context.coreSize} sisters alive`
          : context.connected < context.expected
            ? `${context.connected} of ${context.expected} sisters connected`
            : UNSYNCED,
    }),
    noteUnsynced: assign({ reason: UNSYNCED }),
    clearReason: assign({ reason: undefined }),
  },
  guards: {
    isCoreFull: ({ context }) => context.alive >= context.coreSize,
    isConnected: ({ context }) => context.connected >= context.expected,
    isSynced: ({ context }) => context.synced,
    isWhole: ({ context }) => whole(context),
    // Back to ready from degraded takes the sync step's condition too (a sister that came back
    // has synced); a difference that appears while ready (a name just published) degrades nothing.
    isWholeAndSynced: ({ context }) => whole(context) && context.synced,
    isBroken: ({ context }) => !whole(context),
    // Guards run before the transition's actions: this failure is not counted yet, so count it here.
    isOutOfTries: ({ context }) => context.spawnFailures + 1 >= context.maxSpawnFailures,
    // The same: judge the status being received, not the one noted before it.
    isWholeStatus: ({ context, event }) => event.type === 'status' && whole({ ...event, coreSize: context.coreSize }),
  },
  delays: {
    spawnWait: ({ context }) => context.spawnWaitMs,
    connectWait: ({ context }) => context.connectWaitMs,
    syncWait: ({ context }) => context.syncWaitMs,
  },
}).createMachine({
  id: 'bootstrap',
  context: ({ input }) => ({
    ...input,
    alive: 0,
    expected: 0,
    connected: 0,
    spawner: false,
    synced: false,
    spawnFailures: 0,
    reason: undefined,
  }),
  initial: 'identity',
  on: {
    failed: { target: '.failed', actions: 'noteFailure' },
    stop: { target: '.stopped' },
  },
  states: {
    identity: { on: { 'identity.loaded': 'store' } },
    store: { on: { 'store.opened': 'listen' } },
    listen: { on: { listening: 'discover' } },
    discover: { on: { discovered: 'spawn' } },
    spawn: {
      always: { guard: 'isCoreFull', target: 'connect' },
      after: { spawnWait: { target: 'degraded', actions: 'noteShortCore' } },
      on: {
        status: { actions: 'noteStatus' },
        'spawn.failed': [
          { guard: 'isOutOfTries', target: 'failed', actions: 'noteSpawnFailure' },
          { actions: 'noteSpawnFailure' },
        ],
      },
    },
    connect: {
      always: { guard: 'isConnected', target: 'sync' },
      after: { connectWait: { target: 'degraded', actions: 'noteShortCore' } },
      on: { status: { actions: 'noteStatus' } },
    },
    sync: {
      always: { guard: 'isSynced', target: 'ready' },
      after: { syncWait: { target: 'degraded', actions: 'noteUnsynced' } },
      on: { status: { actions: 'noteStatus' } },
    },
    ready: {
      entry: ['clearReason', 'clearSpawnFailures'],
      always: { guard: 'isBroken', target: 'degraded', actions: 'noteShortCore' },
      on: { status: { actions: 'noteStatus' }, 'spawn.failed': { actions: 'noteSpawnFailure' } },
    },
    degraded: {
      always: { guard: 'isWholeAndSynced', target: 'ready' },
      on: {
        status: { actions: ['noteStatus', 'noteShortCore'] },
        'spawn.failed': [
          { guard: 'isOutOfTries', target: 'failed', actions: 'noteSpawnFailure' },
          { actions: 'noteSpawnFailure' },
        ],
      },
    },
    failed: {
      on: { status: [{ guard: 'isWholeStatus', target: 'ready', actions: 'noteStatus' }, { actions: 'noteStatus' }] },
    },
    stopped: { type: 'final' },
  },
});
