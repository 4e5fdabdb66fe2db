/**
 * CapTP channels over one session (capabilities/session-mux.ts), on an
 * in-memory pair of frame paths: channel naming, the hosts' gateway channel,
 * closing one endpoint, losing the session, and hostile frames.
 */
import '@endo/init';
import test from 'ava';
import { E, Far } from '@endo/far';
import fc from 'fast-check';
import { checkRemoteCapTP } from '../../capabilities/captp-schema.js';
import { makeConnection } from '../../capabilities/connection.js';
import { makeSessionMux, type FramePath } from '../../capabilities/session-mux.js';
import { Tag } from '../../protocols/framing/frames.js';
import { channelBytes } from '../helpers/frames.js';
import { makeLifetime } from '../../protocols/lifetime.js';

/** Two frame paths joined back to back; frames arrive on a later microtask, in order. */
const pathPair = (): [FramePath & { sent: number }, FramePath & { sent: number }] => {
  const make = () => {
    let frameHandler: ((tag: number, payload: Uint8Array) => void) | undefined;
    const life = makeLifetime();
    const p = {
      other: undefined as any,
      sent: 0,
      lifetime: life.lifetime,
      send(tag: number, payload: Uint8Array) {
        if (life.lifetime.isClosed) throw new Error('closed');
        p.sent += 1;
        const o = p.other;
        queueMicrotask(() => o.frame(tag, payload));
      },
      frame: (tag: number, payload: Uint8Array) => !life.lifetime.isClosed && frameHandler?.(tag, payload),
      onFrame: (h: typeof frameHandler) => {
        frameHandler = h;
      },
      end: (reason: Error) => life.close(reason),
      abort(reason: Error) {
        p.end(reason);
        p.other.end(new Error(`peer aborted: ${reason.message}`));
      },
    };
    return p;
  };
  const a = make();
  const b = make();
  a.other = b;
  b.other = a;
  return [a, b];
};

/** One local endpoint as a CapTP connection on a mux channel. */
const endpoint = (mux: ReturnType<typeof makeSessionMux>, local: string, remote: string, bootstrap: unknown) => {
  let conn!: ReturnType<typeof makeConnection>;
  const closed: Error[] = [];
  const send = mux.open(local, remote, {
    deliver: (m) => conn.dispatch(m),
    close: (r) => {
      closed.push(r);
      conn.abort(r);
    },
  });
  conn = makeConnection({ name: `${local}->${remote}`, send, bootstrap });
  return { conn, closed };
};

test('the gateway channel connects the two hosts', async (t) => {
  const [pa, pb] = pathPair();
  const ma = makeSessionMux({ path: pa, name: 'a', gateway: Far('GwA', { who: () => 'a' }) });
  const mb = makeSessionMux({ path: pb, name: 'b', gateway: Far('GwB', { who: () => 'b' }) });
  t.is(await E(ma.gateway()).who(), 'b');
  t.is(await E(mb.gateway()).who(), 'a');
  t.is(ma.channels, 1);
});

test('a channel is named by its two endpoints, and both sides find it', async (t) => {
  const [pa, pb] = pathPair();
  const ma = makeSessionMux({ path: pa, name: 'a', gateway: Far('Gw', {}) });
  const mb = makeSessionMux({ path: pb, name: 'b', gateway: Far('Gw', {}) });
  const x = endpoint(ma, 'x', 'y', Far('X', { who: () => 'x' }));
  const y = endpoint(mb, 'y', 'x', Far('Y', { who: () => 'y', call: (o: any) => E(o).who() }));
  const yRoot = await x.conn.getBootstrap();
  t.is(await E(yRoot).who(), 'y');
  // A reference from x's side travels to y and is called back.
  t.is(await E(yRoot).call(Far('Other', { who: () => 'other-on-a' })), 'other-on-a');
  t.is(await E(await y.conn.getBootstrap()).who(), 'x');
  t.true(ma.has('x', 'y'));
  t.false(ma.has('y', 'x'));
  // Opening it again returns a sender for the same channel, not a second one:
  // what y sends next still reaches x's first end, not the second one.
  const misrouted: unknown[] = [];
  ma.open('x', 'y', {
    deliver: (m) => {
      misrouted.push(m);
      x.conn.dispatch(m); // so that a broken mux fails the assertion below rather than hanging the call
    },
    close: () => {},
  });
  t.is(ma.channels, 2);
  t.is(await E(await y.conn.getBootstrap()).who(), 'x');
  t.deepEqual(misrouted, [], 'the second open replaced the channel end');
});

test('closing an endpoint ends its channels on both sides with the reason', async (t) => {
  const [pa, pb] = pathPair();
  const ma = makeSessionMux({ path: pa, name: 'a', gateway: Far('Gw', {}) });
  const mb = makeSessionMux({ path: pb, name: 'b', gateway: Far('Gw', {}) });
  const x = endpoint(ma, 'x', 'y', Far('X', {}));
  const y = endpoint(mb, 'y', 'x', Far('Y', { never: () => new Promise(() => {}) }));
  const pending = E(await x.conn.getBootstrap()).never();
  class VatGoneError extends Error {
    override name = 'VatGoneError';
  }
  mb.closeEndpoint('y', new VatGoneError('vat y ended'));
  await t.throwsAsync(pending, { name: 'SessionLostError', message: /vat y ended/ });
  t.is(x.closed.length, 1);
  t.is(y.closed[0]?.name, 'VatGoneError');
  t.false(ma.has('x', 'y'));
  t.false(mb.has('y', 'x'));
});

test('losing the session closes every channel with SessionLostError', async (t) => {
  const [pa, pb] = pathPair();
  const ma = makeSessionMux({ path: pa, name: 'a', gateway: Far('Gw', {}) });
  makeSessionMux({ path: pb, name: 'b', gateway: Far('Gw', {}) });
  const x = endpoint(ma, 'x', 'y', Far('X', {}));
  const gw = ma.gateway();
  pa.abort(new Error('wire cut'));
  t.is(x.closed[0]?.name, 'SessionLostError');
  t.regex(x.closed[0]!.message, /wire cut/);
  await t.throwsAsync(gw, { name: 'SessionLostError' });
  t.throws(() => ma.open('p', 'q', { deliver: () => {}, close: () => {} }), { name: 'SessionLostError' });
});

test('frames for channels never opened are dropped and counted, not fatal', async (t) => {
  const [pa, pb] = pathPair();
  const ma = makeSessionMux({ path: pa, name: 'a', gateway: Far('Gw', {}) });
  makeSessionMux({ path: pb, name: 'b', gateway: Far('Gw', {}) });
  pb.send(Tag.Bootstrap, channelBytes(['nobody', 'x', { type: 'CTP_BOOTSTRAP', questionID: 'q-1' }]));
  await new Promise((r) => setImmediate(r));
  t.is(ma.dropped, 1);
  t.false(pa.lifetime.isClosed);
});

const text = (s: string) => new TextEncoder().encode(s);
const hostile: Array<[string, number, Uint8Array]> = [
  ['bytes that are not UTF-8', Tag.Deliver, new Uint8Array([0x5b, 0x22, 0xff, 0xfe])],
  ['a message that is not JSON', Tag.Deliver, text('["@gw","@gw",{type:1}]')],
  ['not a triple', Tag.Deliver, channelBytes([1, 2])],
  ['no closing bracket', Tag.Bootstrap, text('["@gw","@gw",{"type":"CTP_BOOTSTRAP","questionID":"q-1"}')],
  ['an escaped endpoint', Tag.Bootstrap, text('["\\u0040gw","@gw",{"type":"CTP_BOOTSTRAP","questionID":"q-1"}]')],
  ['a bad endpoint', Tag.Bootstrap, channelBytes(['', 'x', { type: 'CTP_BOOTSTRAP', questionID: 'q-1' }])],
  ['an endpoint too long', Tag.Bootstrap, channelBytes(['x'.repeat(200), 'x', { type: 'CTP_BOOTSTRAP', questionID: 'q-1' }])],
  ['an unknown CapTP type', Tag.Deliver, channelBytes(['@gw', '@gw', { type: 'CTP_NOPE' }])],
  ['a tag that is not the message', Tag.Resolve, channelBytes(['@gw', '@gw', { type: 'CTP_BOOTSTRAP', questionID: 'q-1' }])],
  ['an inner tag that is not a CapTP kind', Tag.ChannelOpen, channelBytes(['@gw', '@gw', { type: 'CTP_BOOTSTRAP', questionID: 'q-1' }])],
];
for (const [what, tag, payload] of hostile) {
  test(`a frame with ${what} aborts the session with ProtocolViolationError`, async (t) => {
    const [pa, pb] = pathPair();
    const reasons: Error[] = [];
    pa.lifetime.onClose((r) => reasons.push(r));
    makeSessionMux({ path: pa, name: 'a', gateway: Far('Gw', {}) });
    pb.send(tag, payload);
    await new Promise((r) => setImmediate(r));
    t.true(pa.lifetime.isClosed);
    t.is(reasons[0]?.name, 'ProtocolViolationError');
  });
}

test('captp schema: well-formed messages of every allowed type pass', (t) => {
  const capdata = { body: '#[]', slots: [] };
  for (const m of [
    { type: 'CTP_BOOTSTRAP', questionID: 'q-1', epoch: 0 },
    { type: 'CTP_CALL', questionID: 'q-2', target: 'o-1', method: capdata },
    { type: 'CTP_RETURN', answerID: 'q-2', result: capdata },
    { type: 'CTP_RETURN', answerID: 'q-2', exception: capdata },
    { type: 'CTP_RESOLVE', promiseID: 'p+1', res: capdata },
    { type: 'CTP_DROP', slotID: 'o-1', decRefs: 2 },
    { type: 'CTP_DISCONNECT', reason: { name: 'X', message: 'y' } },
  ]) {
    t.is(checkRemoteCapTP(m), undefined, m.type);
  }
});

test('captp schema: random objects are refused or accepted, never thrown on', (t) => {
  fc.assert(
    fc.property(fc.anything(), (v) => {
      const r = checkRemoteCapTP(v);
      return r === undefined || typeof r === 'string';
    }),
  );
  t.truthy(checkRemoteCapTP({ type: 'CTP_RETURN', answerID: 'q', result: { body: '#1', slots: [] }, exception: { body: '#1', slots: [] } }));
  t.truthy(checkRemoteCapTP({ type: 'CTP_CALL', questionID: 'q', target: 'o-1', method: { body: '#1', slots: [1] } }));
  t.truthy(checkRemoteCapTP({ type: 'CTP_CALL', questionID: 'q', target: 'o-1', method: { body: '#1', slots: [] }, trap: true }));
  t.truthy(checkRemoteCapTP({ type: 'CTP_DROP', slotID: 'o-1', decRefs: -1 }));
  t.truthy(checkRemoteCapTP({ type: 'CTP_BOOTSTRAP', questionID: 'q'.repeat(65) }));
});
