/**
 * The path machine alone, with fake steps: pure transitions, a sweep of every
 * (state, frame tag) pair, timers under a simulated clock, and a check that the
 * machine file stays free of crypto and I/O; the one guard path.ts provides
 * (may a clear Abort still refuse us?) is checked on real paths.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { createActor, initialTransition, SimulatedClock, transition } from 'xstate';
import { Tag } from '../../protocols/framing/frames.js';
import { BadSignatureError, CookieError, NotMeError, PathClosedError } from '../../protocols/session/errors.js';
import { abortFrame, type HandshakeSteps, type SessionKeys, type StepName, type StepResult } from '../../protocols/session/handshake.js';
import { type PathEffects, type PathMachineEvent, type PathMachineInput, type PathRole, pathMachine } from '../../protocols/session/path.machine.js';
import type { VatId } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { closedWith, collect, connected } from './session-fixtures.js';

const STEP_NAMES: StepName[] = ['open', 'offered', 'accepted', 'hello', 'helloRetry', 'cookie', 'response', 'signature', 'refusal'];
const summary = { remoteId: 'a'.repeat(52) as VatId, sessionId: '00'.repeat(16), cipher: 'chacha20-poly1305' as const, encoder: 'msgpack' };
const bytes = (...b: number[]) => new Uint8Array(b);
const next = (...send: Uint8Array[]): StepResult => ({ kind: 'next', send });

const fakeSteps = (over: Partial<Record<StepName, StepResult>> = {}) => {
  const calls: StepName[] = [];
  const defaults: Record<StepName, StepResult> = {
    open: next(bytes(1), bytes(3)),
    accepted: next(),
    cookie: next(bytes(3)),
    response: { kind: 'established', send: [bytes(5)], summary },
    offered: next(bytes(2)),
    hello: next(bytes(4)),
    helloRetry: next(bytes(4)),
    signature: { kind: 'established', send: [], summary },
    refusal: { kind: 'refused', send: [], error: new NotMeError('the peer refused', { remote: true }) },
  };
  const steps = Object.fromEntries(
    STEP_NAMES.map((n) => [
      n,
      () => {
        calls.push(n);
        return over[n] ?? defaults[n];
      },
    ]),
  ) as unknown as HandshakeSteps;
  (steps as { takeKeys: () => SessionKeys }).takeKeys = () => {
    throw new Error('not in these tests');
  };
  return { steps, calls };
};

const input = (role: PathRole, steps: HandshakeSteps): PathMachineInput => ({ role, steps, handshakeTimeoutMs: 1000, idleMs: 100, deadMs: 300 });
const frame = (tag: number): PathMachineEvent => ({ type: 'frame.received', tag, payload: new Uint8Array(0) });
const actionTypes = (actions: ReadonlyArray<{ type: string }>) => actions.map((a) => a.type).filter((t) => !t.startsWith('xstate.'));

type Snap = ReturnType<typeof initialTransition<typeof pathMachine>>[0];

/** Drives the machine through `events` from the start; returns the snapshot and the step calls. */
const drive = (role: PathRole, events: PathMachineEvent[], over: Partial<Record<StepName, StepResult>> = {}) => {
  const fake = fakeSteps(over);
  let [snap, actions] = initialTransition(pathMachine, input(role, fake.steps));
  for (const ev of events) [snap, actions] = transition(pathMachine, snap, ev);
  return { snap, actions, calls: fake.calls };
};

const where = (s: Snap) => JSON.stringify(s.value);

test('initiator: opening writes ProtocolOffered ‖ Hello at once, then waits for ProtocolAccepted', (t) => {
  const { snap, actions, calls } = drive('initiator', []);
  t.deepEqual(calls, ['open']);
  t.true(snap.matches({ handshaking: { initiator: 'awaitingAccepted' } }), where(snap));
  const write = actions.find((a) => a.type === 'writeFrames') as { params?: { frames: Uint8Array[] } } | undefined;
  t.deepEqual(write?.params?.frames, [bytes(1), bytes(3)]);
});

test('initiator: Accepted → Response → established, writing Signature', (t) => {
  const { snap, actions, calls } = drive('initiator', [frame(Tag.ProtocolAccepted), frame(Tag.Response)]);
  t.deepEqual(calls, ['open', 'accepted', 'response']);
  t.true(snap.matches({ established: 'watching' }), where(snap));
  t.deepEqual(snap.context.session, summary);
  t.deepEqual(actionTypes(actions), ['writeFrames', 'announceEstablished']);
});

test('initiator: a Cookie is answered once; a second one is CookieError', (t) => {
  const once = drive('initiator', [frame(Tag.ProtocolAccepted), frame(Tag.Cookie)]);
  t.true(once.snap.matches({ handshaking: { initiator: 'awaitingCookieResponse' } }));
  const twice = transition(pathMachine, once.snap, frame(Tag.Cookie));
  t.true(twice[0].matches('closed'));
  t.true(twice[0].context.error instanceof CookieError);
  t.deepEqual(actionTypes(twice[1]), ['sendAbort', 'closeStream', 'announceClosed']);
  const done = transition(pathMachine, once.snap, frame(Tag.Response));
  t.true(done[0].matches('established'));
});

test('responder: Offered → Hello → Signature → established; a cookie retry goes through awaitingCookieHello', (t) => {
  const plain = drive('responder', [frame(Tag.ProtocolOffered), frame(Tag.Hello), frame(Tag.Signature)]);
  t.deepEqual(plain.calls, ['offered', 'hello', 'signature']);
  t.true(plain.snap.matches('established'));
  const retry = drive('responder', [frame(Tag.ProtocolOffered), frame(Tag.Hello)], { hello: { kind: 'retry', send: [bytes(9)] } });
  t.true(retry.snap.matches({ handshaking: { responder: 'awaitingCookieHello' } }), where(retry.snap));
  t.deepEqual((retry.actions.find((a) => a.type === 'writeFrames') as { params?: unknown })?.params, { frames: [bytes(9)] });
  const [after] = transition(pathMachine, retry.snap, frame(Tag.Hello));
  t.true(after.matches({ handshaking: { responder: 'awaitingSignature' } }));
});

test('a refused step writes its frames and closes with its error, without an extra Abort', (t) => {
  const err = new CookieError('bad');
  const { snap, actions } = drive('responder', [frame(Tag.ProtocolOffered), frame(Tag.Hello)], {
    hello: { kind: 'refused', send: [bytes(10)], error: err },
  });
  t.true(snap.matches('closed'));
  t.is(snap.status, 'done');
  t.is(snap.context.error, err);
  t.deepEqual(actionTypes(actions), ['writeFrames', 'closeStream', 'announceClosed']);
});

/** Every state a path can wait in, how to get there, and the tags it takes (→ the step each runs). */
const STATES: Array<{ role: PathRole; name: string; path: number[]; takes: Record<number, StepName | 'deliver' | 'cookie-twice'> }> = [
  { role: 'initiator', name: 'awaitingAccepted', path: [], takes: { [Tag.ProtocolAccepted]: 'accepted' } },
  { role: 'initiator', name: 'awaitingResponse', path: [Tag.ProtocolAccepted], takes: { [Tag.Response]: 'response', [Tag.Cookie]: 'cookie' } },
  {
    role: 'initiator',
    name: 'awaitingCookieResponse',
    path: [Tag.ProtocolAccepted, Tag.Cookie],
    takes: { [Tag.Response]: 'response', [Tag.Cookie]: 'cookie-twice' },
  },
  { role: 'initiator', name: 'established', path: [Tag.ProtocolAccepted, Tag.Response], takes: { [Tag.Encrypted]: 'deliver' } },
  { role: 'responder', name: 'awaitingOffer', path: [], takes: { [Tag.ProtocolOffered]: 'offered' } },
  { role: 'responder', name: 'awaitingHello', path: [Tag.ProtocolOffered], takes: { [Tag.Hello]: 'hello' } },
  { role: 'responder', name: 'awaitingSignature', path: [Tag.ProtocolOffered, Tag.Hello], takes: { [Tag.Signature]: 'signature' } },
  { role: 'responder', name: 'established', path: [Tag.ProtocolOffered, Tag.Hello, Tag.Signature], takes: { [Tag.Encrypted]: 'deliver' } },
];

test('sweep: every (state, frame tag) pair either runs its step or ends in a clean abort', (t) => {
  let checked = 0;
  for (const st of STATES) {
    for (let tag = 0; tag <= 31; tag++) {
      const { snap: before } = drive(st.role, st.path.map(frame));
      const fake = fakeSteps();
      // Same snapshot, but count the calls this event makes.
      const snapWithSpy = { ...before, context: { ...before.context, steps: fake.steps } } as Snap;
      const [after, actions] = transition(pathMachine, snapWithSpy, frame(tag));
      const label = `${st.role}.${st.name} + tag ${tag}`;
      // Once established, a clear Abort is a refusal only while `mayStillBeRefused` (false here; see the test below).
      const refusal =
        (tag === Tag.Abort && st.name !== 'established') ||
        (st.role === 'initiator' && st.name !== 'established' && (tag === Tag.NotMe || tag === Tag.DuplicateConnection));
      const expected = st.takes[tag];
      if (expected === 'deliver') {
        t.true(after.matches('established'), label);
        t.deepEqual(actionTypes(actions), ['deliverData'], label);
      } else if (expected === 'cookie-twice') {
        t.is(after.context.error?.name, 'CookieError', label);
      } else if (expected) {
        t.deepEqual(fake.calls, [expected], label);
      } else if (refusal) {
        t.deepEqual(fake.calls, ['refusal'], label);
        t.true(after.matches('closed'), label);
        t.is(after.context.error?.name, 'NotMeError', label);
        t.false(actionTypes(actions).includes('sendAbort'), `${label}: no Abort answers a refusal`);
      } else {
        t.deepEqual(fake.calls, [], `${label}: no step runs`);
        t.true(after.matches('closed'), label);
        t.is(after.status, 'done', label);
        t.is(after.context.error?.name, 'UnexpectedFrameError', label);
        const types = actionTypes(actions);
        t.deepEqual(types, st.name === 'established' ? ['closeStream', 'announceClosed'] : ['sendAbort', 'closeStream', 'announceClosed'], label);
      }
      checked++;
    }
  }
  t.is(checked, STATES.length * 32);
});

test('every failure event ends the handshake in closed, once, with a named error', (t) => {
  const events: Array<[PathMachineEvent, string]> = [
    [{ type: 'frame.invalid', error: Object.assign(new Error('x'), { name: 'MalformedMessageError' }) }, 'MalformedMessageError'],
    [{ type: 'stream.closed' }, 'PathLostError'],
    [{ type: 'path.abort', error: new RangeError('stop') }, 'RangeError'],
    [{ type: 'path.close', error: new PathClosedError('bye', 'closed (bye): m') }, 'PathClosedError'],
  ];
  for (const role of ['initiator', 'responder'] as const) {
    for (const [ev, name] of events) {
      const { snap } = drive(role, []);
      const [after, actions] = transition(pathMachine, snap, ev);
      t.true(after.matches('closed'), `${role} ${ev.type}`);
      t.is(after.context.error?.name, name);
      const types = actionTypes(actions);
      t.is(types.filter((x) => x === 'announceClosed').length, 1);
      t.is(types.includes('sendAbort'), ev.type !== 'stream.closed', `${ev.type}: Abort unless the stream is gone`);
      // Closed is final: nothing moves it again.
      const [again, more] = transition(pathMachine, after, { type: 'stream.closed' });
      t.true(again.matches('closed'));
      t.deepEqual(actionTypes(more), []);
    }
  }
});

test('established: Shutdown from the peer, a local close (with Shutdown), AEAD failure, EOF', (t) => {
  const { snap } = drive('initiator', [frame(Tag.ProtocolAccepted), frame(Tag.Response)]);
  const cases: Array<[PathMachineEvent, string, string[]]> = [
    [{ type: 'peer.shutdown', code: 'bye', message: 'm' }, 'PathClosedError', ['closeStream', 'announceClosed']],
    [{ type: 'path.close', error: new PathClosedError('bye', 'closed (bye): m') }, 'PathClosedError', ['sendShutdown', 'closeStream', 'announceClosed']],
    [{ type: 'frame.invalid', error: Object.assign(new Error('x'), { name: 'AeadError' }) }, 'AeadError', ['closeStream', 'announceClosed']],
    [{ type: 'stream.closed' }, 'PathLostError', ['closeStream', 'announceClosed']],
  ];
  for (const [ev, name, actions] of cases) {
    const [after, acts] = transition(pathMachine, snap, ev);
    t.is(after.context.error?.name, name, ev.type);
    t.deepEqual(actionTypes(acts), actions, ev.type);
  }
  const peer = transition(pathMachine, snap, { type: 'peer.shutdown', code: 'bye', message: 'm' })[0];
  t.true((peer.context.error as { remote?: boolean }).remote);
});

/** A running actor on a simulated clock, with spies for the effects (in its input, as path.ts gives them). */
const live = (role: PathRole, heard: () => boolean = () => false) => {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const spy = (name: string) => () => void log.push(name);
  const effects: PathEffects = {
    writeFrames: spy('writeFrames'),
    sendAbort: spy('sendAbort'),
    sendShutdown: spy('sendShutdown'),
    sendPing: spy('sendPing'),
    closeStream: spy('closeStream'),
    announceEstablished: spy('announceEstablished'),
    announceClosed: spy('announceClosed'),
    markTraffic: spy('markTraffic'),
    deliverData: spy('deliverData'),
    heardFromPeer: heard,
    mayStillBeRefused: () => false,
  };
  const actor = createActor(pathMachine, { input: { ...input(role, fakeSteps().steps), effects }, clock });
  actor.start();
  return { clock, log, actor };
};

test('handshake timeout: HandshakeTimeoutError with an Abort, exactly at the limit', (t) => {
  const { clock, log, actor } = live('responder');
  clock.increment(999);
  t.true(actor.getSnapshot().matches('handshaking'));
  clock.increment(1);
  t.is(actor.getSnapshot().context.error?.name, 'HandshakeTimeoutError');
  t.deepEqual(log, ['sendAbort', 'closeStream', 'announceClosed']);
  t.is(actor.getSnapshot().status, 'done');
});

test('keepalive: a ping per silent interval, dead after deadMs; traffic resets the count', (t) => {
  let heard = false;
  const { clock, log, actor } = live('initiator', () => heard);
  actor.send(frame(Tag.ProtocolAccepted));
  actor.send(frame(Tag.Response));
  log.length = 0;
  clock.increment(100);
  clock.increment(100);
  t.deepEqual(log, ['sendPing', 'sendPing']);
  heard = true;
  clock.increment(100);
  heard = false;
  t.is(actor.getSnapshot().context.silentTicks, 0, 'traffic resets the silence');
  clock.increment(100);
  clock.increment(100);
  t.true(actor.getSnapshot().matches('established'));
  clock.increment(100);
  t.is(actor.getSnapshot().context.error?.name, 'PathTimeoutError');
  t.deepEqual(log.slice(-2), ['closeStream', 'announceClosed']);
});

test('keepalive: a tick that heard the peer pings too (a busy path still measures its round trip)', (t) => {
  const { clock, log, actor } = live('initiator', () => true);
  actor.send(frame(Tag.ProtocolAccepted));
  actor.send(frame(Tag.Response));
  log.length = 0;
  clock.increment(99);
  t.deepEqual(log, [], 'nothing before the interval');
  clock.increment(1);
  t.deepEqual(log, ['markTraffic', 'sendPing']);
  clock.increment(100);
  t.deepEqual(log, ['markTraffic', 'sendPing', 'markTraffic', 'sendPing'], 'one Ping per interval');
  t.is(actor.getSnapshot().context.silentTicks, 0);
});

test('the machine file imports no crypto and no platform module, and calls no I/O', (t) => {
  const source = readFileSync(fileURLToPath(new URL('../../../protocols/session/path.machine.ts', import.meta.url)), 'utf8');
  const imports = [...source.matchAll(/^import\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => ({ typeOnly: !!m[1], spec: m[2]! }));
  const runtime = imports.filter((i) => !i.typeOnly).map((i) => i.spec);
  t.deepEqual(runtime.sort(), ['../framing/frames.js', './errors.js', 'xstate']);
  t.true(imports.filter((i) => i.spec === './handshake.js').every((i) => i.typeOnly), 'steps enter as a type only');
  for (const word of ['crypto', 'node:', 'setTimeout', 'Date.now', 'write(', 'fetch(']) {
    t.false(new RegExp(`\\b${word.replace(/[.(]/g, '\\$&')}`).test(source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')), word);
  }
});

// The guard `mayStillBeRefused` is path.ts's (it counts decrypted frames), so this
// one drives real paths over a memory stream rather than the machine with fakes.
test('an established initiator takes a clear Abort only before it has decrypted anything', async (t) => {
  const forgedRefusal = () => abortFrame(new BadSignatureError('your signature does not verify'));
  // Before: the initiator is established once its Signature is out ("0.5-RTT"), and
  // the responder may still refuse it in the clear. The Abort is taken, with its reason.
  const early = await connected(nodeCrypto);
  const refused = closedWith(early.initiator);
  early.b.link.inject(forgedRefusal());
  const reason = await refused;
  t.is(reason.name, 'BadSignatureError', reason.message);
  t.true((reason as { remote?: boolean }).remote, 'heard from the peer');
  // After: one Encrypted frame from the responder was decrypted, so it accepted us; a
  // clear Abort now can only be an on-path forgery and ends the path as unexpected.
  const late = await connected(nodeCrypto);
  const got = collect(late.initiator);
  late.responder.send(Tag.Deliver, bytes(1));
  await got.until(1);
  t.is(late.initiator.stats().framesIn, 1);
  const ended = closedWith(late.initiator);
  late.b.link.inject(forgedRefusal());
  t.is((await ended).name, 'UnexpectedFrameError');
  // A responder never takes one once established, decrypted or not.
  const responder = await connected(nodeCrypto);
  const responderEnded = closedWith(responder.responder);
  responder.a.link.inject(forgedRefusal());
  t.is((await responderEnded).name, 'UnexpectedFrameError');
});
