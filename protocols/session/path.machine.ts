/**
 * The path machine: when each handshake step runs, what ends a path, and the
 * keepalive of an established one. It decides; it does nothing itself.
 *
 *   handshaking ─────────────────────────────────────────────────┐ timeout, bad bytes,
 *     initiator: opening → awaitingAccepted → awaitingResponse    │ unexpected frame,
 *                                  Cookie ↓          │ Response   │ EOF, refusal
 *                        awaitingCookieResponse ─────┤            │
 *     responder: awaitingOffer → awaitingHello ──────┼─▶ awaitingSignature
 *                       Cookie ↓ (stateless)  ▲      │            │
 *                        awaitingCookieHello ─┘      │ Signature  │
 *                                                    ▼            ▼
 *   established (watching: keepalive tick, a Ping each) ─────▶ closed (final)
 *                      Shutdown, close, abort, AEAD failure, EOF, dead peer
 *
 * Every step is a call into the `steps` object given as input (handshake.ts,
 * closing over the CryptoSuite); its outcome comes back as a raised `step.*`
 * event, so each state lists the frames it accepts and where each outcome goes.
 * A frame a state does not list falls through to its parent and ends the path
 * with UnexpectedFrameError. Effects (writing, closing, announcing, pinging) are
 * named actions that call the `effects` object of the path's input (path.ts
 * makes one per path), so one machine, built once at load, serves every path:
 * building a machine's implementations per path (`provide()`) cost more than
 * the handshake's cryptography. Without `effects` the actions do nothing (pure
 * `transition()` tests); tests may still `provide()` spies. Delays come from
 * XState's clock, which the adapter sets to the path's clock (a simulated one in
 * tests).
 *
 * Established data frames never pass through here: path.ts handles them in plain
 * code. The keepalive reads the adapter's inbound counter through the
 * `heardFromPeer` guard once per interval, not once per frame.
 */
import { and, assign, raise, setup } from 'xstate';
import { Tag, tagName } from '../framing/frames.js';
import {
  CookieError,
  HandshakeTimeoutError,
  PathClosedError,
  PathLostError,
  PathTimeoutError,
  UnexpectedFrameError,
} from './errors.js';
import type { HandshakeSteps, SessionSummary, StepName, StepResult } from './handshake.js';

export type PathRole = 'initiator' | 'responder';

/**
 * What a path does to the world, for one path: path.ts implements it over the
 * path's stream and cipher states. The machine calls these from its named
 * actions and guards and never keeps anything they return.
 */
export interface PathEffects {
  writeFrames(frames: Frames): void;
  /** An Abort in the clear with `error`'s code (handshake only; never after keys exist on both sides). */
  sendAbort(error: Error): void;
  /** An encrypted Shutdown with `error`'s code and message. */
  sendShutdown(error: PathClosedError): void;
  sendPing(): void;
  closeStream(): void;
  announceEstablished(summary: SessionSummary | undefined): void;
  announceClosed(error: Error | undefined): void;
  /** Remember the inbound counter `heardFromPeer` compares against. */
  markTraffic(): void;
  /** An Encrypted frame that reached the machine (only when a stream delivers synchronously): hand it to the data path. */
  deliverData(payload: Uint8Array): void;
  /** Something arrived since the last `markTraffic`. */
  heardFromPeer(): boolean;
  /**
   * An initiator that has not yet decrypted anything may still be refused in
   * the clear. After that, a clear frame can only be an on-path forgery and ends
   * the path as unexpected.
   */
  mayStillBeRefused(): boolean;
}

export interface PathMachineInput {
  readonly role: PathRole;
  readonly steps: HandshakeSteps;
  /** The path's effects; without them, effects do nothing and both adapter guards are false. */
  readonly effects?: PathEffects | undefined;
  readonly handshakeTimeoutMs: number;
  /** Keepalive interval: a Ping goes out every interval (it measures the round trip; silence counts towards deadMs). */
  readonly idleMs: number;
  /** Silence after which the peer is dead. */
  readonly deadMs: number;
}

export interface PathMachineContext extends PathMachineInput {
  session: SessionSummary | undefined;
  error: Error | undefined;
  /** Keepalive intervals in a row without anything received. */
  silentTicks: number;
}

type Frames = readonly Uint8Array[];

export type PathMachineEvent =
  | { type: 'frame.received'; tag: number; payload: Uint8Array }
  /** Bytes that are not a frame, an oversized frame, or (established) an Encrypted frame that fails to open or parse. */
  | { type: 'frame.invalid'; error: Error }
  | { type: 'stream.closed'; error?: Error | undefined }
  | { type: 'peer.shutdown'; code: string; message: string }
  /**
   * The local side closes, with the reason it gives (its code and detail go out
   * in the Shutdown). The adapter makes the error where close() is called: a
   * stack captured there, not inside XState's, costs a fraction (under SES every
   * Error records its whole stack, twice).
   */
  | { type: 'path.close'; error: PathClosedError }
  | { type: 'path.abort'; error: Error }
  // raised by runStep
  | { type: 'step.next'; send: Frames }
  | { type: 'step.retry'; send: Frames }
  | { type: 'step.established'; send: Frames; summary: SessionSummary }
  | { type: 'step.refused'; send: Frames; error: Error };

const EMPTY = new Uint8Array(0);

const stepEvent = (r: StepResult): PathMachineEvent => {
  switch (r.kind) {
    case 'next':
      return { type: 'step.next', send: r.send };
    case 'retry':
      return { type: 'step.retry', send: r.send };
    case 'established':
      return { type: 'step.established', send: r.send, summary: r.summary };
    case 'refused':
      return { type: 'step.refused', send: r.send, error: r.error };
  }
};

const describeTag = (tag: number) => `${tagName(tag) ?? 'unknown'} (tag ${tag})`;

/** The frame tags a guard lets through. */
const frame = (...tags: number[]) => ({ type: 'isFrame', params: { tags } }) as const;
const step = (name: StepName) => ({ type: 'runStep', params: { step: name } }) as const;
const write = { type: 'writeFrames', params: ({ event }: { event: PathMachineEvent }) => ({ frames: 'send' in event ? event.send : [] }) } as const;

export const pathMachine = setup({
  types: {
    context: {} as PathMachineContext,
    input: {} as PathMachineInput,
    events: {} as PathMachineEvent,
  },
  actions: {
    // Effects: the path's own, from its input (PathEffects says what each does).
    writeFrames: ({ context }, params: { frames: Frames }) => context.effects?.writeFrames(params.frames),
    sendAbort: ({ context }) => {
      if (context.error) context.effects?.sendAbort(context.error);
    },
    sendShutdown: ({ context }) => {
      if (context.error instanceof PathClosedError) context.effects?.sendShutdown(context.error);
    },
    sendPing: ({ context }) => context.effects?.sendPing(),
    closeStream: ({ context }) => context.effects?.closeStream(),
    announceEstablished: ({ context }) => context.effects?.announceEstablished(context.session),
    announceClosed: ({ context }) => context.effects?.announceClosed(context.error),
    markTraffic: ({ context }) => context.effects?.markTraffic(),
    deliverData: ({ context }, params: { payload: Uint8Array }) => context.effects?.deliverData(params.payload),
    // The step runner: the outcome comes back as an event.
    runStep: raise(({ context, event }, params: { step: StepName }) =>
      stepEvent(
        event.type === 'frame.received'
          ? context.steps[params.step](event.tag, event.payload)
          : context.steps[params.step](0, EMPTY),
      ),
    ),
    // Bookkeeping.
    keepSummary: assign({ session: ({ event }) => (event.type === 'step.established' ? event.summary : undefined) }),
    noteError: assign({
      error: ({ event }) => ('error' in event && event.error ? event.error : new Error(`path failed on ${event.type}`)),
    }),
    noteUnexpected: assign({
      error: ({ context, event }) =>
        new UnexpectedFrameError(
          event.type === 'frame.received'
            ? `${describeTag(event.tag)} is not expected by the ${context.role} ${context.session ? 'after the handshake' : 'at this point of the handshake'}`
            : `unexpected ${event.type}`,
        ),
    }),
    noteTimeout: assign({
      error: ({ context }) => new HandshakeTimeoutError(`no handshake within ${context.handshakeTimeoutMs} ms`),
    }),
    noteCookieTwice: assign({ error: () => new CookieError('the responder demanded a cookie twice') }),
    noteLost: assign({
      error: ({ context, event }) =>
        new PathLostError(
          context.session ? 'the stream ended without a Shutdown' : 'the stream ended during the handshake',
          event.type === 'stream.closed' && event.error ? { cause: event.error } : {},
        ),
    }),
    notePeerShutdown: assign({
      error: ({ event }) =>
        event.type === 'peer.shutdown'
          ? new PathClosedError(event.code, `peer closed the path (${event.code}): ${event.message}`, { remote: true, detail: event.message })
          : undefined,
    }),
    noteDead: assign({
      error: ({ context }) =>
        new PathTimeoutError(`nothing received from the peer for ${(context.silentTicks + 1) * context.idleMs} ms`),
    }),
    resetSilence: assign({ silentTicks: 0 }),
    countSilence: assign({ silentTicks: ({ context }) => context.silentTicks + 1 }),
  },
  guards: {
    isInitiator: ({ context }) => context.role === 'initiator',
    isFrame: ({ event }, params: { tags: readonly number[] }) =>
      event.type === 'frame.received' && params.tags.includes(event.tag),
    heardFromPeer: ({ context }) => context.effects?.heardFromPeer() ?? false,
    mayStillBeRefused: ({ context }) => context.effects?.mayStillBeRefused() ?? false,
    silentTooLong: ({ context }) => (context.silentTicks + 1) * context.idleMs >= context.deadMs,
  },
  delays: {
    handshakeTimeout: ({ context }) => context.handshakeTimeoutMs,
    keepaliveInterval: ({ context }) => context.idleMs,
  },
}).createMachine({
  id: 'path',
  // Field by field: a spread of the input cost several µs a path here (under lockdown).
  context: ({ input }) => ({
    role: input.role,
    steps: input.steps,
    effects: input.effects,
    handshakeTimeoutMs: input.handshakeTimeoutMs,
    idleMs: input.idleMs,
    deadMs: input.deadMs,
    session: undefined,
    error: undefined,
    silentTicks: 0,
  }),
  initial: 'handshaking',
  states: {
    handshaking: {
      after: { handshakeTimeout: { target: 'closed', actions: ['noteTimeout', 'sendAbort'] } },
      on: {
        'frame.received': [
          { guard: frame(Tag.Abort), actions: step('refusal') },
          { target: 'closed', actions: ['noteUnexpected', 'sendAbort'] },
        ],
        'step.refused': { target: 'closed', actions: [write, 'noteError'] },
        'frame.invalid': { target: 'closed', actions: ['noteError', 'sendAbort'] },
        'stream.closed': { target: 'closed', actions: 'noteLost' },
        'path.abort': { target: 'closed', actions: ['noteError', 'sendAbort'] },
        'path.close': { target: 'closed', actions: ['noteError', 'sendAbort'] },
      },
      initial: 'starting',
      states: {
        starting: { always: [{ guard: 'isInitiator', target: 'initiator' }, { target: 'responder' }] },
        initiator: {
          on: { 'frame.received': { guard: frame(Tag.NotMe, Tag.DuplicateConnection), actions: step('refusal') } },
          initial: 'opening',
          states: {
            // ProtocolOffered and Hello in one write: the version is not waited for.
            opening: {
              entry: step('open'),
              on: { 'step.next': { target: 'awaitingAccepted', actions: write } },
            },
            awaitingAccepted: {
              on: {
                'frame.received': { guard: frame(Tag.ProtocolAccepted), actions: step('accepted') },
                'step.next': { target: 'awaitingResponse', actions: write },
              },
            },
            awaitingResponse: {
              on: {
                'frame.received': [
                  { guard: frame(Tag.Response), actions: step('response') },
                  { guard: frame(Tag.Cookie), actions: step('cookie') },
                ],
                'step.next': { target: 'awaitingCookieResponse', actions: write },
                'step.established': { target: '#path.established', actions: [write, 'keepSummary'] },
              },
            },
            awaitingCookieResponse: {
              on: {
                'frame.received': [
                  { guard: frame(Tag.Response), actions: step('response') },
                  { guard: frame(Tag.Cookie), target: '#path.closed', actions: ['noteCookieTwice', 'sendAbort'] },
                ],
                'step.established': { target: '#path.established', actions: [write, 'keepSummary'] },
              },
            },
          },
        },
        responder: {
          initial: 'awaitingOffer',
          states: {
            awaitingOffer: {
              on: {
                'frame.received': { guard: frame(Tag.ProtocolOffered), actions: step('offered') },
                'step.next': { target: 'awaitingHello', actions: write },
              },
            },
            awaitingHello: {
              on: {
                'frame.received': { guard: frame(Tag.Hello), actions: step('hello') },
                'step.next': { target: 'awaitingSignature', actions: write },
                // The Cookie went out; nothing of the first Hello is kept.
                'step.retry': { target: 'awaitingCookieHello', actions: write },
              },
            },
            awaitingCookieHello: {
              on: {
                'frame.received': { guard: frame(Tag.Hello), actions: step('helloRetry') },
                'step.next': { target: 'awaitingSignature', actions: write },
              },
            },
            awaitingSignature: {
              on: {
                'frame.received': { guard: frame(Tag.Signature), actions: step('signature') },
                'step.established': { target: '#path.established', actions: [write, 'keepSummary'] },
              },
            },
          },
        },
      },
    },
    established: {
      entry: 'announceEstablished',
      on: {
        'frame.received': [
          {
            guard: frame(Tag.Encrypted),
            actions: {
              type: 'deliverData',
              params: ({ event }) => ({ payload: event.type === 'frame.received' ? event.payload : EMPTY }),
            },
          },
          // The initiator is established once it has sent Signature; the responder
          // may still refuse it (bad signature, …) with a clear Abort, until its
          // first encrypted frame shows it accepted.
          { guard: and([frame(Tag.Abort), 'mayStillBeRefused']), actions: step('refusal') },
          { target: 'closed', actions: 'noteUnexpected' },
        ],
        'step.refused': { target: 'closed', actions: 'noteError' },
        'frame.invalid': { target: 'closed', actions: 'noteError' },
        'stream.closed': { target: 'closed', actions: 'noteLost' },
        'peer.shutdown': { target: 'closed', actions: 'notePeerShutdown' },
        'path.close': { target: 'closed', actions: ['noteError', 'sendShutdown'] },
        'path.abort': { target: 'closed', actions: 'noteError' },
      },
      initial: 'watching',
      states: {
        watching: {
          after: {
            keepaliveInterval: [
              // A Ping each interval, heard from or not: a busy path measures its round trip too
              // (one 8-byte frame per interval; without it, a path that traffic keeps busy never pings).
              { guard: 'heardFromPeer', target: 'watching', reenter: true, actions: ['markTraffic', 'resetSilence', 'sendPing'] },
              { guard: 'silentTooLong', target: '#path.closed', actions: 'noteDead' },
              { target: 'watching', reenter: true, actions: ['countSilence', 'sendPing'] },
            ],
          },
        },
      },
    },
    closed: { type: 'final', entry: ['closeStream', 'announceClosed'] },
  },
});

export type PathMachine = typeof pathMachine;
