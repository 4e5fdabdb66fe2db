/**
 * The rendezvous machine: one per handed-on reference a party of this host
 * claims (a vat, or the host itself), run by the recipient's host. It decides
 * how long finding the owner may take and when the claim has failed; the host
 * does the work (runtime/handoffs.ts).
 *
 *   locating ──located──▶ claiming ──claim.settled(direct)──▶ direct (final)
 *      │ owner unknown,       │ claim.settled(proxied): refused, expired,
 *      │ unreachable,         │ owner gone; or no answer in time
 *      │ or too slow          ▼
 *      └────────────────▶ proxied (final): the reference stays a proxy through its donor
 *
 * `locating` finds or makes the recipient's link to the owner: a channel the
 * host hands two of its vats, or a channel over a session with the owner's host
 * (dialled with the note's hints when there is none). `claiming` waits for the
 * recipient's `acceptFrom` at the owner to answer; the owner bounds its own
 * wait, so `claimTimeout` only catches a recipient that never reports.
 *
 * The nonce is not in the context: the visualizer shows contexts, and a nonce
 * is a bearer secret until claimed.
 */
import { assign, fromPromise, setup } from 'xstate';

export interface HandoffMachineInput {
  /** Full ids (`<VatId>/<endpoint>`) of the three parties. */
  readonly recipient: string;
  readonly owner: string;
  readonly donor: string;
  /** Addresses of the owner's host the donor's host knew ('host:port'); not secret. */
  readonly hints: readonly string[];
  readonly locateMs: number;
  readonly claimMs: number;
}

export interface HandoffMachineContext extends HandoffMachineInput {
  /** Why the reference stayed a proxy, once it did. */
  why: string | undefined;
}

/** What `locate` gets: where the owner is and who needs the link. */
export interface LocateInput {
  readonly owner: string;
  readonly recipient: string;
  readonly hints: readonly string[];
}

export type HandoffMachineEvent = { type: 'claim.settled'; outcome: 'direct' | 'proxied'; why?: string };

const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

export const handoffMachine = setup({
  types: {
    context: {} as HandoffMachineContext,
    input: {} as HandoffMachineInput,
    events: {} as HandoffMachineEvent,
  },
  actors: {
    /** Provided by the host: resolves once the recipient has a link to the owner. */
    locate: fromPromise<void, LocateInput>(async () => {
      throw new Error('locate is provided by the host');
    }),
  },
  delays: {
    locateTimeout: ({ context }) => context.locateMs,
    claimTimeout: ({ context }) => context.claimMs,
  },
  guards: {
    claimedDirectly: ({ event }) => event.outcome === 'direct',
  },
}).createMachine({
  id: 'handoff',
  context: ({ input }) => ({ ...input, why: undefined }),
  initial: 'locating',
  states: {
    locating: {
      invoke: {
        src: 'locate',
        input: ({ context }) => ({ owner: context.owner, recipient: context.recipient, hints: context.hints }),
        onDone: 'claiming',
        onError: { target: 'proxied', actions: assign({ why: ({ event }) => `owner unreachable: ${describe(event.error)}` }) },
      },
      after: {
        locateTimeout: { target: 'proxied', actions: assign({ why: ({ context }) => `owner not reached within ${context.locateMs} ms` }) },
      },
    },
    claiming: {
      on: {
        'claim.settled': [
          { guard: 'claimedDirectly', target: 'direct' },
          { target: 'proxied', actions: assign({ why: ({ event }) => event.why ?? 'claim failed' }) },
        ],
      },
      after: {
        claimTimeout: { target: 'proxied', actions: assign({ why: ({ context }) => `no answer to the claim within ${context.claimMs} ms` }) },
      },
    },
    direct: { type: 'final' },
    proxied: { type: 'final' },
  },
});
