/**
 * Write backpressure on a secure path (PathLimits.maxUnsentBytes) over the
 * in-memory stream pair, with a peer that stops reading (`link.stall()`): the
 * path writes up to the bound, aborts with PathBackpressureError at the first
 * frame past it, writes nothing more, and leaves no timers behind. Then the
 * same through the CapTP channel mux, with a vat-like endpoint answering big
 * values to a peer that asked for many and stopped reading.
 */
import '@endo/init';
import test from 'ava';
import { E, Far } from '@endo/far';
import { makeConnection } from '../../capabilities/connection.js';
import { makeSessionMux } from '../../capabilities/session-mux.js';
import { HEADER_BYTES, MAX_FRAME_BYTES, Tag } from '../../protocols/framing/frames.js';
import { DEFAULT_PATH_LIMITS, MAX_UNSENT_BYTES, type PathLimits } from '../../protocols/session/path.js';
import { ENCRYPTION_OVERHEAD_BYTES } from '../../protocols/session/cipher-state.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { closedWith, collect, connected, makeManualQueue, makePair, makeSimClock } from './session-fixtures.js';

const BOUND = 5000;
const limits: Partial<PathLimits> = { maxFrameBytes: 4000, maxUnsentBytes: BOUND, idleMs: 1000, deadMs: 3000 };

/** An initiator with the small bound over a deterministic memory pair; the responder keeps the defaults. */
const stalledPair = async () => {
  const q = makeManualQueue();
  const clock = makeSimClock();
  const pending = connected(nodeCrypto, { clock, stream: { schedule: q.schedule }, initiator: { limits } });
  q.run();
  const p = await pending;
  const atR = collect(p.responder);
  // The responder stops reading what the initiator writes.
  p.a.link.stall();
  return { ...p, q, clock, atR, writtenBeforeStall: p.a.link.written };
};

/** Sends one frame whose Encrypted wire form is exactly `wire` bytes. */
const sendWire = (path: { send(tag: number, payload: Uint8Array): void }, wire: number) =>
  path.send(Tag.Deliver, new Uint8Array(wire - ENCRYPTION_OVERHEAD_BYTES));

test('limit: MAX_UNSENT_BYTES is four largest frames; a bound below one largest frame is refused', async (t) => {
  t.is(MAX_UNSENT_BYTES, 4 * MAX_FRAME_BYTES);
  t.is(DEFAULT_PATH_LIMITS.maxUnsentBytes, MAX_UNSENT_BYTES);
  const tooSmall = makePair(nodeCrypto, { initiator: { limits: { maxFrameBytes: 4000, maxUnsentBytes: 4000 + HEADER_BYTES - 1 } } });
  await t.throwsAsync(tooSmall.initiating, { instanceOf: RangeError, message: /maxUnsentBytes must hold one largest frame \(4005 bytes\)/ });
  t.true(tooSmall.a.isClosed);
  // Exactly one largest frame is enough, and that frame goes out on an empty stream.
  const { initiator: i, responder: r } = await connected(nodeCrypto, {
    initiator: { limits: { maxFrameBytes: 4000, maxUnsentBytes: 4000 + HEADER_BYTES } },
  });
  const atR = collect(r);
  i.send(Tag.Deliver, new Uint8Array(4000 - HEADER_BYTES - 16));
  await atR.until(1);
  t.false(i.lifetime.isClosed);
  i.close();
});

// The boundary, byte for byte: fill to `fill`, then one empty frame (26 bytes on the wire).
for (const [fill, passes] of [
  [BOUND - ENCRYPTION_OVERHEAD_BYTES - 1, false], // ends at bound − 1
  [BOUND - ENCRYPTION_OVERHEAD_BYTES, false], // ends exactly at the bound
  [BOUND - ENCRYPTION_OVERHEAD_BYTES + 1, true], // would end at bound + 1
] as const) {
  const after = fill + ENCRYPTION_OVERHEAD_BYTES;
  const at = after < BOUND ? 'bound − 1' : after === BOUND ? 'exactly the bound' : 'bound + 1';
  test(`limit: maxUnsentBytes — a peer that stops reading; unsent would be ${at}: ${passes ? 'aborts (PathBackpressureError)' : 'stays up'}`, async (t) => {
    const p = await stalledPair();
    const { initiator: i, a, q, clock } = p;
    const closed = closedWith(i);
    sendWire(i, 2500);
    sendWire(i, fill - 2500);
    q.run();
    t.is(a.unsentBytes, fill);
    t.false(i.lifetime.isClosed);
    i.send(Tag.Deliver, new Uint8Array(0));
    q.run();
    if (!passes) {
      t.false(i.lifetime.isClosed, `${after} unsent bytes are within the bound`);
      t.is(i.stats().unsentBytes, after);
      // One more frame now passes it.
      i.send(Tag.Deliver, new Uint8Array(0));
      q.run();
    }
    const stuck = passes ? fill : after;
    const reason = await closed;
    t.is(reason.name, 'PathBackpressureError');
    t.is((reason as { code?: string }).code, 'backpressure');
    t.regex(reason.message, new RegExp(`${stuck} bytes unsent and 26 more would pass the bound of ${BOUND}`));
    t.true(i.lifetime.isClosed);
    t.is(a.unsentBytes, stuck, 'the frame past the bound was not written');
    // Writes after the abort are dropped: the application's are refused, the path's own (pings) never happen.
    t.throws(() => i.send(Tag.Deliver, new Uint8Array(1)), { name: 'PathClosedError' });
    clock.advance(limits.deadMs! * 3);
    q.run();
    t.is(a.unsentBytes, stuck);
    t.is(a.link.written - p.writtenBeforeStall, stuck, 'nothing more was written');
    // The peer reads again: it gets what was written before the abort, then the stream ends.
    a.link.unstall();
    q.run();
    t.is(p.atR.got.length, passes ? 2 : 3);
    t.is((await closedWith(p.responder)).name, 'PathLostError');
    t.is(clock.pending, 0, 'no timers left on either side');
  });
}

test('limit: maxUnsentBytes covers the path’s own frames: a keepalive Ping past the bound aborts, no timers left', async (t) => {
  const { initiator: i, responder: r, a, q, clock } = await stalledPair();
  const closed = closedWith(i);
  sendWire(i, BOUND / 2);
  sendWire(i, BOUND / 2);
  q.run();
  t.false(i.lifetime.isClosed);
  clock.advance(limits.idleMs!);
  q.run();
  t.is((await closed).name, 'PathBackpressureError');
  t.is(a.unsentBytes, BOUND);
  a.link.unstall();
  q.run();
  await closedWith(r);
  t.is(clock.pending, 0, 'no timers left on either side');
});

test('a graceful close at the bound: the Shutdown does not fit, the path still closes as asked', async (t) => {
  const { initiator: i, responder: r, a, q, clock } = await stalledPair();
  const closed = closedWith(i);
  sendWire(i, BOUND / 2);
  sendWire(i, BOUND / 2);
  i.close({ code: 'bye', message: 'done' });
  q.run();
  const reason = await closed;
  t.is(reason.name, 'PathClosedError');
  t.is(a.unsentBytes, BOUND, 'nothing written past the bound');
  t.true(a.isClosed);
  a.link.unstall();
  q.run();
  // Without its Shutdown the peer sees the stream end.
  t.is((await closedWith(r)).name, 'PathLostError');
  t.is(clock.pending, 0, 'no timers left on either side');
});

test('a peer that reads slowly but keeps up stays within the bound: no abort', async (t) => {
  const { initiator: i, a, q, atR } = await stalledPair();
  for (let n = 0; n < 20; n++) {
    sendWire(i, 2000);
    sendWire(i, 2000);
    q.run();
    // The peer catches up after every two frames.
    a.link.unstall();
    q.run();
    a.link.stall();
  }
  t.false(i.lifetime.isClosed);
  t.is(atR.got.length, 40);
});

test('through the mux: a channel answering big values to a peer that stopped reading ends the session with PathBackpressureError', async (t) => {
  const { initiator, responder, b } = await connected(nodeCrypto, {
    responder: { limits: { maxFrameBytes: 32 * 1024, maxUnsentBytes: 64 * 1024 } },
  });
  const BIG = 'x'.repeat(10_000);
  const asker = makeSessionMux({ path: initiator, name: 'asker', gateway: Far('Gw', {}) });
  const answerer = makeSessionMux({ path: responder, name: 'answerer', gateway: Far('Gw', {}) });
  const channelEnds: Error[] = [];
  let channelEnded!: (reason: Error) => void;
  const channelEnd = new Promise<Error>((r) => (channelEnded = r));
  let answerConn!: ReturnType<typeof makeConnection>;
  const answerSend = answerer.open('vat', '@host', {
    deliver: (m) => answerConn.dispatch(m),
    close: (reason) => {
      channelEnds.push(reason);
      channelEnded(reason);
      answerConn.abort(reason);
    },
  });
  answerConn = makeConnection({ name: 'vat', send: answerSend, bootstrap: Far('Big', { big: () => BIG }) });
  let askConn!: ReturnType<typeof makeConnection>;
  askConn = makeConnection({
    name: 'asker',
    send: asker.open('@host', 'vat', { deliver: (m) => askConn.dispatch(m), close: (r) => askConn.abort(r) }),
  });
  const root = askConn.getBootstrap();
  t.is((await E(root).big()).length, BIG.length, 'answers arrive while the asker reads');
  // The asker stops reading, then asks for 100 answers of 10 kB (1 MB in all).
  b.link.stall();
  const answers = Array.from({ length: 100 }, () => E(root).big());
  for (const p of answers) p.catch(() => {});
  // (The mux holds the path's one close handler; the channel's end carries the path's reason as its cause.)
  const ended = await channelEnd;
  t.true(responder.lifetime.isClosed);
  t.is(ended.name, 'SessionLostError');
  t.is((ended.cause as Error).name, 'PathBackpressureError');
  t.true(b.unsentBytes <= 64 * 1024, `${b.unsentBytes} unsent`);
  // The answers of one turn wait to go out together; the bound counts them, and the abort drops them.
  const [unsent, waiting, more] = ((ended.cause as Error).message.match(/\d+/g) ?? []).map(Number) as [number, number, number];
  t.is(unsent, b.unsentBytes);
  t.true(unsent + waiting <= 64 * 1024 && unsent + waiting + more > 64 * 1024, (ended.cause as Error).message);
  t.true(unsent + waiting > 64 * 1024 - 10_100, `${unsent} unsent and ${waiting} waiting: the bound was nearly reached`);
  t.is(channelEnds.length, 1);
  // Later answers are dropped at the mux, not thrown, and nothing more is written.
  const stuck = b.unsentBytes;
  t.notThrows(() => answerSend({ type: 'CTP_RESOLVE', exportID: 'p-1', rejection: { body: '#null', slots: [] } } as any));
  t.is(b.unsentBytes, stuck);
  t.is(answerer.channels, 0);
});
