/**
 * protocols/bridge/relay-client.ts over an in-memory hop link: meets, relayed
 * streams, ends; then two relay clients and one bridge service wired together,
 * with a secure path end to end through the bridge, and a bridge that tampers.
 */
import test, { type ExecutionContext } from 'ava';
import { type Control, decodeControl, decodeRelay, encodeControl, MAX_RELAY_CHUNK_BYTES, Op } from '../../protocols/bridge/codec.js';
import { makeBridgeService } from '../../protocols/bridge/bridge-service.js';
import {
  BridgeError,
  BridgeLimitError,
  BridgeMalformedError,
  BridgeRendezvousTimeoutError,
  NotABridgeError,
  RelayBackpressureError,
  RelayEndedError,
} from '../../protocols/bridge/errors.js';
import { makeRelayClient, MEET_TIMEOUT_MS, type RelayStream } from '../../protocols/bridge/relay-client.js';
import { Tag } from '../../protocols/framing/frames.js';
import { acceptPath, initiatePath } from '../../protocols/session/path.js';
import { BRIDGE_NONCE_BYTES } from '../../protocols/session/messages.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';
import { fakeHop, type FakeHop, vatIdOf } from '../helpers/hop-link.js';
import { manualTimers } from '../helpers/manual-timers.js';
import { closedWith, collect, makeIdentity, makeSimClock } from './session-fixtures.js';

const B = vatIdOf('m');
const C = vatIdOf('t');
const nonce = new Uint8Array(BRIDGE_NONCE_BYTES).fill(5);

const setup = (timeoutMs = 1000) => {
  const clock = manualTimers();
  const hop = fakeHop(B);
  const client = makeRelayClient(hop.link, { clock, timeoutMs });
  return { clock, hop, client };
};

const controls = (hop: FakeHop) => hop.controls();
const lastReq = (t: ExecutionContext, hop: FakeHop): number => {
  const c = controls(hop).at(-1);
  t.true(c?.op === Op.Provide || c?.op === Op.Accept, 'a Provide or Accept went out');
  return c && 'req' in c ? c.req : -1;
};

/** A meet answered with Ready for `route`: the stream. */
const opened = async (t: ExecutionContext, s: ReturnType<typeof setup>, route = 4): Promise<RelayStream> => {
  const meeting = s.client.meet(Op.Provide, C, nonce);
  s.client.control({ op: Op.Ready, req: lastReq(t, s.hop), route });
  const stream = await within(meeting, LOCAL_MS, 'the meet');
  s.hop.clear();
  return stream;
};

test('meet sends Provide/Accept with the peer and nonce, and resolves on Ready with a stream', async (t) => {
  const s = setup();
  const meeting = s.client.meet(Op.Provide, C, nonce);
  const accepting = s.client.meet(Op.Accept, C, nonce);
  const [p, a] = controls(s.hop);
  t.like(p, { op: Op.Provide, peer: C, nonce });
  t.like(a, { op: Op.Accept, peer: C, nonce });
  const reqP = p && 'req' in p ? p.req : 0;
  const reqA = a && 'req' in a ? a.req : 0;
  t.not(reqP, reqA, 'each meet has its own request id');
  t.not(reqP, 0);
  s.client.control({ op: Op.Ready, req: reqA, route: 7 });
  s.client.control({ op: Op.Ready, req: reqP, route: 9 });
  const [sp, sa] = await within(Promise.all([meeting, accepting]), LOCAL_MS, 'both meets');
  t.is(s.client.streams, 2);
  t.true(sp.remoteAddress.startsWith('via '));
  t.is(s.clock.pending(), 0, 'the meet timers were cleared');
  s.hop.clear();
  sp.write(Uint8Array.of(1));
  sa.write(Uint8Array.of(2));
  t.deepEqual(
    s.hop.relays().map((r) => [r.route, r.bytes[0]]),
    [
      [9, 1],
      [7, 2],
    ],
    'each stream writes on the route its Ready named',
  );
});

test('bytes written come out as Relay frames on the route, chunked at MAX_RELAY_CHUNK_BYTES', async (t) => {
  const s = setup();
  const stream = await opened(t, s, 12);
  const big = Uint8Array.from({ length: 2 * MAX_RELAY_CHUNK_BYTES + 10 }, (_, i) => (i * 13) & 0xff);
  t.true(stream.write(big));
  const frames = s.hop.relays();
  t.deepEqual(
    frames.map((f) => [f.route, f.bytes.length]),
    [
      [12, MAX_RELAY_CHUNK_BYTES],
      [12, MAX_RELAY_CHUNK_BYTES],
      [12, 10],
    ],
  );
  t.deepEqual(Uint8Array.from(frames.flatMap((f) => [...f.bytes])), big, 'the chunks join to the bytes written');
  s.hop.clear();
  t.true(stream.writev!([Uint8Array.of(1, 2), Uint8Array.of(3)]));
  t.deepEqual(
    s.hop.relays().map((f) => [...f.bytes]),
    [[1, 2], [3]],
  );
  s.hop.clear();
  stream.write(new Uint8Array(MAX_RELAY_CHUNK_BYTES));
  t.is(s.hop.relays().length, 1, 'exactly one chunk is one frame');
  s.hop.backlog = 1234;
  t.is(stream.unsentBytes, 1234, "unsent bytes are the hop session's backlog");
});

test('Relay frames delivered before onData is set are held, in order, then delivered; unknown routes are refused', async (t) => {
  const s = setup();
  const stream = await opened(t, s, 6);
  const first = Uint8Array.of(1, 1);
  t.true(s.client.relay(6, first));
  t.true(s.client.relay(6, Uint8Array.of(2)));
  first.fill(9); // the caller's buffer is reused: what is held must be a copy
  t.false(s.client.relay(8, Uint8Array.of(0)), 'not our route');
  const got: number[][] = [];
  stream.onData((b) => got.push([...b]));
  t.deepEqual(got, [[1, 1], [2]]);
  s.client.relay(6, Uint8Array.of(3));
  t.deepEqual(got, [[1, 1], [2], [3]]);
});

test('Refused rejects the meet with the named error class', async (t) => {
  const cases: Array<[string, string]> = [
    ['not-a-bridge', NotABridgeError.name],
    ['bridge-limit', BridgeLimitError.name],
    ['rendezvous-timeout', BridgeRendezvousTimeoutError.name],
    ['relay-ended', RelayEndedError.name],
    ['relay-backpressure', RelayBackpressureError.name],
    ['bridge-malformed', BridgeMalformedError.name],
    ['something-new', BridgeError.name],
  ];
  for (const [code, name] of cases) {
    const s = setup();
    const meeting = s.client.meet(Op.Accept, C, nonce);
    s.client.control({ op: Op.Refused, req: lastReq(t, s.hop), code, message: 'no thanks' });
    const err = await t.throwsAsync(within(meeting, LOCAL_MS, 'the meet'), { instanceOf: BridgeError });
    t.is(err?.name, name, code);
    t.true(err?.message.startsWith(`${name}: `), err?.message);
    t.true(err?.message.includes('no thanks'), 'the bridge says why');
    t.true((err as BridgeError & { remote?: boolean }).remote, 'marked remote');
    t.is(s.clock.pending(), 0, 'the meet timer was cleared');
    t.is(s.client.streams, 0);
  }
});

test('no answer within timeoutMs rejects BridgeRendezvousTimeoutError; a late Ready is answered with End', async (t) => {
  const s = setup(1000);
  const meeting = s.client.meet(Op.Provide, C, nonce);
  meeting.catch(() => {});
  const req = lastReq(t, s.hop);
  let settled = false;
  meeting.then(
    () => (settled = true),
    () => (settled = true),
  );
  s.clock.advance(999);
  await Promise.resolve();
  await Promise.resolve();
  t.false(settled, 'not before timeoutMs');
  s.clock.advance(1);
  const err = await t.throwsAsync(within(meeting, LOCAL_MS, 'the meet'));
  t.is(err?.name, 'BridgeRendezvousTimeoutError');
  s.hop.clear();
  s.client.control({ op: Op.Ready, req, route: 14 });
  t.like(controls(s.hop), [{ op: Op.End, route: 14, code: 'relay-ended' }]);
  t.is(s.client.streams, 0, 'no stream for the unwanted route');
  t.false(s.client.relay(14, Uint8Array.of(1)));
  s.hop.clear();
  s.client.control({ op: Op.Refused, req, code: 'bridge-limit', message: '' });
  t.deepEqual(s.hop.sent, [], 'a late refusal needs no answer');
});

test('the default meet timeout is MEET_TIMEOUT_MS', async (t) => {
  const clock = manualTimers();
  const hop = fakeHop(B);
  const client = makeRelayClient(hop.link, { clock });
  const meeting = client.meet(Op.Provide, C, nonce);
  meeting.catch(() => {});
  clock.advance(MEET_TIMEOUT_MS - 1);
  t.is(clock.pending(), 1);
  clock.advance(1);
  t.is((await t.throwsAsync(meeting))?.name, 'BridgeRendezvousTimeoutError');
});

test('End from the bridge closes the stream with the named error; ended resolves with it', async (t) => {
  const s = setup();
  const stream = await opened(t, s, 10);
  const closes: Array<Error | undefined> = [];
  stream.onClose((e) => closes.push(e));
  s.client.control({ op: Op.End, route: 10, code: 'relay-backpressure', message: 'too much' });
  const why = await within(stream.ended, LOCAL_MS, 'ended');
  t.is(why?.name, 'RelayBackpressureError');
  t.is(closes.length, 1);
  t.is(closes[0], why);
  t.false(stream.write(Uint8Array.of(1)), 'no writes after the end');
  t.deepEqual(s.hop.sent, [], 'nothing sent: not the bytes, and no End back');
  t.is(s.client.streams, 0);
  t.false(s.client.relay(10, Uint8Array.of(1)));
  s.client.control({ op: Op.End, route: 10, code: 'relay-ended', message: '' });
  t.is(closes.length, 1, 'onClose fires once');
  // A handler set after the end hears it too.
  let late: Error | undefined;
  stream.onClose((e) => (late = e));
  t.is(late, why);
  stream.close();
  t.deepEqual(s.hop.sent, [], 'closing an ended stream sends nothing');
});

test('close() sends End; ended resolves undefined; a second close sends nothing', async (t) => {
  const s = setup();
  const stream = await opened(t, s, 16);
  const closes: Array<Error | undefined> = [];
  stream.onClose((e) => closes.push(e));
  stream.close();
  t.like(controls(s.hop), [{ op: Op.End, route: 16, code: 'relay-ended' }]);
  t.is(await within(stream.ended, LOCAL_MS, 'ended'), undefined);
  t.deepEqual(closes, [undefined]);
  stream.close();
  t.is(s.hop.sent.length, 1);
  t.is(s.client.streams, 0);
});

test("the link's end rejects pending meets and ends streams with RelayEndedError; later meets reject at once", async (t) => {
  const s = setup();
  const stream = await opened(t, s, 2);
  const meeting = s.client.meet(Op.Accept, C, nonce);
  meeting.catch(() => {});
  s.hop.clear();
  s.hop.close(new Error('the hop session ended'));
  t.is((await t.throwsAsync(within(meeting, LOCAL_MS, 'the meet')))?.name, 'RelayEndedError');
  t.is((await within(stream.ended, LOCAL_MS, 'ended'))?.name, 'RelayEndedError');
  t.is(s.clock.pending(), 0, 'no meet timer left');
  t.is(s.client.streams, 0);
  stream.close();
  t.deepEqual(s.hop.sent, [], 'nothing sent on the closed link');
  t.is((await t.throwsAsync(s.client.meet(Op.Provide, C, nonce)))?.name, 'RelayEndedError');
  t.deepEqual(s.hop.sent, []);
});

test('endAll ends every meet and stream with its reason, and the client goes on', async (t) => {
  const s = setup();
  const one = await opened(t, s, 2);
  const two = await opened(t, s, 4);
  const meeting = s.client.meet(Op.Accept, C, nonce);
  meeting.catch(() => {});
  const reason = new RelayEndedError('lost its paths');
  s.client.endAll(reason);
  t.is(await t.throwsAsync(meeting), reason);
  t.is(await one.ended, reason);
  t.is(await two.ended, reason);
  t.is(s.client.streams, 0);
  t.is(s.clock.pending(), 0);
  // The hop session lives on: a new meet works.
  const three = await opened(t, s, 6);
  t.true(three.write(Uint8Array.of(1)));
});

// --- two relay clients and one bridge service, through in-memory hops ---

/**
 * Host A and host C, each with a hop session to bridge B. Every send is handed
 * on a microtask later, in order, as a session would. `tamper` sees each Relay
 * frame on its way from the bridge to C and may replace it.
 */
const wire = (a: ReturnType<typeof makeIdentity>['vatId'], c: ReturnType<typeof makeIdentity>['vatId'], tamper?: (payload: Uint8Array) => Uint8Array) => {
  const clock = manualTimers();
  const service = makeBridgeService({ self: B, clock });
  const hop = (peer: typeof a) => {
    const host = fakeHop(B);
    const atBridge = fakeHop(peer);
    host.link.lifetime.onClose((why) => atBridge.close(why));
    atBridge.link.lifetime.onClose((why) => host.close(why));
    const client = makeRelayClient(host.link, { clock });
    host.deliver = (tag, p) =>
      queueMicrotask(() => {
        if (atBridge.link.lifetime.isClosed) return;
        if (tag === Tag.BridgeControl) service.control(atBridge.link, decodeControl(p));
        else service.relay(atBridge.link, p);
      });
    atBridge.deliver = (tag, p) =>
      queueMicrotask(() => {
        if (host.link.lifetime.isClosed) return;
        if (tag === Tag.BridgeControl) return client.control(decodeControl(p));
        const bytes = tamper && peer === c ? tamper(p) : p;
        const { route, bytes: chunk } = decodeRelay(bytes);
        client.relay(route, chunk);
      });
    return { host, atBridge, client };
  };
  return { clock, service, A: hop(a), C: hop(c) };
};

const meetThrough = async (w: ReturnType<typeof wire>, a: string, c: string) => {
  const n = nonceOf(0x42);
  const [sa, sc] = await within(
    Promise.all([w.A.client.meet(Op.Provide, c as never, n), w.C.client.meet(Op.Accept, a as never, n)]),
    LOCAL_MS,
    'both meets',
  );
  return { sa, sc };
};
const nonceOf = (b: number) => new Uint8Array(BRIDGE_NONCE_BYTES).fill(b);

/** Every hop delivery is a microtask: one macrotask turn later, all that was sent has arrived. */
const allDelivered = () => new Promise<void>((resolve) => setImmediate(resolve));

const readAll = (s: RelayStream) => {
  const got: number[] = [];
  s.onData((b) => got.push(...b));
  return got;
};

test('through a bridge: A provides, C accepts, and bytes cross both ways', async (t) => {
  const a = vatIdOf('a');
  const c = vatIdOf('t');
  const w = wire(a, c);
  const { sa, sc } = await meetThrough(w, a, c);
  const atC = readAll(sc);
  const atA = readAll(sa);
  const big = Uint8Array.from({ length: MAX_RELAY_CHUNK_BYTES + 100 }, (_, i) => i & 0xff);
  sa.write(Uint8Array.of(1, 2, 3));
  sa.write(big);
  sc.write(Uint8Array.of(9));
  await allDelivered();
  t.deepEqual(atC, [1, 2, 3, ...big]);
  t.deepEqual(atA, [9]);
  t.like(w.service.stats(), { routes: 2, relayedFrames: 4 });
  // C closes: A hears it by name.
  sc.close();
  t.is((await within(sa.ended, LOCAL_MS, "A's stream to end"))?.name, 'RelayEndedError');
  t.is(await sc.ended, undefined);
  t.is(w.service.stats().routes, 0);
});

test("through a bridge: A's hop session ending ends C's stream", async (t) => {
  const a = vatIdOf('a');
  const c = vatIdOf('t');
  const w = wire(a, c);
  const { sa, sc } = await meetThrough(w, a, c);
  const atC: { ended?: Error | undefined; done: boolean } = { done: false };
  sc.ended.then((why) => Object.assign(atC, { ended: why, done: true }));
  w.A.host.close(new Error('A went away'));
  t.is((await sa.ended)?.name, 'RelayEndedError');
  await allDelivered();
  t.is(atC.done ? atC.ended?.name : 'still open', 'RelayEndedError', "C's stream is ended by the bridge's End");
});

test('a secure path end to end through the bridge; a bridge that flips one byte ends it with AeadError and the frame is not delivered', async (t) => {
  const idA = makeIdentity(nodeCrypto);
  const idC = makeIdentity(nodeCrypto);
  let armed = false;
  let tampered = 0;
  const w = wire(idA.vatId, idC.vatId, (payload) => {
    if (!armed) return payload;
    armed = false;
    tampered += 1;
    const bent = new Uint8Array(payload);
    bent[bent.length - 1]! ^= 0x01; // the last byte of the chunk: its AEAD tag
    return bent;
  });
  const { sa, sc } = await meetThrough(w, idA.vatId, idC.vatId);
  const clock = makeSimClock();
  const initiating = initiatePath({ stream: sa, identity: idA, crypto: nodeCrypto, clock, wanted: idC.vatId });
  const accepting = acceptPath({ stream: sc, identity: idC, crypto: nodeCrypto, clock });
  const [i, r] = await within(Promise.all([initiating, accepting]), LOCAL_MS, 'the handshake through the bridge');
  t.is(i.sessionId, r.sessionId);
  t.is(i.remoteId, idC.vatId);
  t.is(r.remoteId, idA.vatId);
  const atR = collect(r);
  const atI = collect(i);
  i.send(Tag.Deliver, Uint8Array.of(1, 2, 3));
  r.send(Tag.Return, Uint8Array.of(4));
  await Promise.all([atR.until(1), atI.until(1)]);
  t.deepEqual(atR.got, [[Tag.Deliver, Uint8Array.of(1, 2, 3)]]);
  t.deepEqual(atI.got, [[Tag.Return, Uint8Array.of(4)]]);
  t.true(w.service.stats().relayedBytes > 0);

  const closed = closedWith(r);
  armed = true;
  i.send(Tag.Deliver, Uint8Array.of(6, 6, 6));
  const why = await closed;
  t.is(tampered, 1);
  t.true(['AeadError', 'MalformedMessageError'].includes(why.name), why.message);
  t.deepEqual(atR.got, [[Tag.Deliver, Uint8Array.of(1, 2, 3)]], 'the tampered frame was never delivered');
  // The receiver closed its stream; the bridge tells the sender's end.
  t.truthy(await within(sa.ended, LOCAL_MS, "the initiator's relayed stream to end"));
  await closedWith(i);
});

// Control frames a hostile bridge might send are typed: an unknown route or request changes nothing.
test('Ready, Refused or End for requests and routes the client does not know change nothing', async (t) => {
  const s = setup();
  const stream = await opened(t, s, 2);
  const stray: Control[] = [
    { op: Op.Refused, req: 99, code: 'bridge-limit', message: '' },
    { op: Op.End, route: 98, code: 'relay-ended', message: '' },
  ];
  for (const c of stray) s.client.control(c);
  t.deepEqual(s.hop.sent, []);
  t.is(s.client.streams, 1);
  t.true(stream.write(Uint8Array.of(1)));
  // Provide/Accept sent to a client are not its business.
  s.client.control(decodeControl(encodeControl({ op: Op.Provide, req: 1, peer: C, nonce })));
  t.is(s.client.streams, 1);
});
