/**
 * The triple session (protocols/triple/triple-session.ts) on the in-memory
 * network: delivery in both modes, retransmission when a path dies or an ack
 * times out, the reorder-window and backpressure bounds, resumption within the
 * grace period and loss past it, a new peer epoch, and hostile frames, each
 * ending the session cleanly (named error, every path aborted, no timer left).
 */
import test from 'ava';
import { Tag } from '../../protocols/framing/frames.js';
import { ControlKind, encodeControl, encodeSequenced } from '../../protocols/triple/codec.js';
import { makeTripleSession, type TripleSession } from '../../protocols/triple/triple-session.js';
import { bytes, makePair, TEST_LIMITS, text } from './triple-fixtures.js';
import { CLEAN, makeHeapClock, makeLink } from './triple-network.js';
import { seededRandom } from '../../protocols/framing/memory-stream.js';

const sendAll = (s: TripleSession, prefix: string, n: number) => {
  for (let i = 0; i < n; i++) s.send(Tag.Deliver, bytes(`${prefix}${i}`));
};
const expected = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Ended with `name`, every path aborted, no timer left. */
const endedClean = (t: import('ava').ExecutionContext, s: TripleSession, name: string) => {
  t.true(s.lifetime.isClosed, 'the session ended');
  t.is(s.lifetime.reason?.name, name);
  const d = s.diagnostics();
  t.is(d.paths.length, 0, 'every path detached');
  t.is(d.timers, 0, 'no timer left');
  t.is(d.unackedFrames, 0, 'pending frames dropped');
};

for (const mode of ['all', 'standby'] as const) {
  test(`${mode}: frames arrive once, in order, both ways; acks free the buffer; healthy with three paths`, (t) => {
    const p = makePair({ mode });
    p.clock.advance(250);
    t.is(p.a.state, 'healthy');
    sendAll(p.a, 'a', 50);
    sendAll(p.b, 'b', 30);
    p.clock.advance(100);
    t.deepEqual(p.got.b, expected('a', 50));
    t.deepEqual(p.got.a, expected('b', 30));
    t.is(p.a.diagnostics().unackedFrames, 0);
    t.is(p.b.diagnostics().unackedFrames, 0);
    const dupes = p.b.diagnostics().duplicates;
    if (mode === 'all') t.true(dupes >= 90, `every frame came three times (${dupes} duplicates)`);
    else t.is(dupes, 0, 'standby writes each frame once');
  });

  test(`${mode}: a path cut with frames in flight: they go out again on another path at once`, (t) => {
    const p = makePair({ mode });
    p.clock.advance(250);
    for (const l of p.links) l.faults.delayMs = 20;
    sendAll(p.a, 'a', 10);
    // Every copy on the way is lost with the links; one link is left. (The standby
    // primary, the first link, goes last: its frames are resent once, on the third.)
    p.links[1]!.cut();
    p.links[0]!.cut();
    p.clock.advance(1);
    t.is(p.a.state, 'critical');
    // Sooner than the retransmit timeout (50 ms at least): the path's death itself resent them.
    p.clock.advance(30);
    t.deepEqual(p.got.b, expected('a', 10));
    t.is(p.a.diagnostics().retransmits, mode === 'all' ? 0 : 10, 'all: the third path had them already');
    p.clock.advance(30);
    t.is(p.a.diagnostics().unackedFrames, 0);
  });
}

test('standby: a primary that silently drops everything: the ack timeout sends the frames on another path', (t) => {
  const p = makePair({ mode: 'standby' });
  p.clock.advance(250);
  for (const l of p.links) l.faults.drop = 1;
  p.links[1]!.faults.drop = 0;
  p.links[2]!.faults.drop = 0;
  sendAll(p.a, 'a', 5);
  // Well before the path counts as dead (400 ms): the retransmit timeout, not detaching, saves them.
  p.clock.advance(300);
  t.deepEqual(p.got.b, expected('a', 5));
  t.true(p.a.diagnostics().retransmits >= 5);
});

test('a silent path is graded dead and detached; healthy → critical as paths go', (t) => {
  const p = makePair({ mode: 'all' });
  p.clock.advance(250);
  t.is(p.a.state, 'healthy');
  p.links[0]!.partitioned = true;
  p.clock.advance(600);
  t.true(p.links[0]!.lifetime.isClosed, 'the partitioned link was aborted');
  t.is(p.a.diagnostics().paths.length, 2);
  t.is(p.a.state, 'healthy');
  p.links[1]!.partitioned = true;
  p.clock.advance(600);
  t.is(p.a.state, 'critical');
  sendAll(p.a, 'a', 3);
  p.clock.advance(50);
  t.deepEqual(p.got.b, expected('a', 3));
});

test('a lossy path is degraded; a slow one too', (t) => {
  const p = makePair({ mode: 'all', paths: 2 });
  p.clock.advance(300);
  t.is(p.a.state, 'healthy');
  p.links[0]!.faults.drop = 0.3;
  p.clock.advance(1_000);
  t.is(p.a.state, 'degraded');
  t.deepEqual(
    p.a.diagnostics().paths.map((x) => x.grade),
    ['degraded', 'good'],
  );
  p.links[0]!.faults.drop = 0;
  p.links[0]!.faults.delayMs = 150;
  p.clock.advance(3_000);
  t.is(p.a.diagnostics().paths[0]?.grade, 'degraded', 'slower than 3× the best path');
});

test('reorder window: an honest sender keeps at most `reorderWindow` frames past the ack in flight', (t) => {
  const p = makePair({ paths: 1, limits: { reorderWindow: 4 } });
  p.clock.advance(150);
  const seqs: number[] = [];
  const end = p.links[0]!.a;
  const send = end.send.bind(end);
  end.send = (tag, payload) => {
    if (tag === Tag.Sequenced) seqs.push(new DataView(payload.buffer, payload.byteOffset).getUint32(4));
    send(tag, payload);
  };
  p.links[0]!.faults.drop = 1;
  sendAll(p.a, 'a', 10);
  p.clock.advance(300);
  t.true(Math.max(...seqs) <= 4, `sent up to seq ${Math.max(...seqs)}`);
  p.links[0]!.faults.drop = 0;
  p.clock.advance(2_000);
  t.deepEqual(p.got.b, expected('a', 10));
});

/** B alone, with a raw link whose other end the test drives by hand. */
const hostile = (limits = {}) => {
  const p = makePair({ paths: 0, limits });
  const l = makeLink(p.clock, p.random);
  p.b.attach(l.b, 'hostile');
  const raw = (tag: number, payload: Uint8Array) => l.a.send(tag, payload);
  const control = (kind: number, o: { epoch?: number; ack?: number; id?: number } = {}) =>
    raw(Tag.TripleControl, encodeControl({ kind: kind as 1, epoch: o.epoch ?? 11, counter: 1, ack: o.ack ?? 0, id: o.id ?? 1, window: 1024 }));
  return { ...p, l, raw, control };
};

test('hostile: a seq far past the reorder window aborts with TripleProtocolError', (t) => {
  const h = hostile({ reorderWindow: 8 });
  h.control(ControlKind.Beat);
  h.raw(Tag.Sequenced, encodeSequenced(9, 0, Tag.Deliver, bytes('x')));
  h.clock.advance(5);
  endedClean(t, h.b, 'TripleProtocolError');
  t.regex(h.b.lifetime.reason!.message, /beyond the reorder window/);
  t.true(h.l.lifetime.isClosed, 'the path was aborted');
});

test('hostile: more out-of-order bytes than the bound aborts (the window in bytes)', (t) => {
  const h = hostile({ maxUnackedBytes: 4096, maxPayloadBytes: 1024 });
  h.control(ControlKind.Beat);
  for (let seq = 2; seq <= 6; seq++) h.raw(Tag.Sequenced, encodeSequenced(seq, 0, Tag.Deliver, new Uint8Array(1000)));
  h.clock.advance(5);
  endedClean(t, h.b, 'TripleProtocolError');
  t.regex(h.b.lifetime.reason!.message, /held out of order/);
});

test('hostile: an ack of a seq never sent aborts with TripleProtocolError (control and piggybacked)', (t) => {
  const h = hostile();
  h.control(ControlKind.Ack, { ack: 5 });
  h.clock.advance(5);
  endedClean(t, h.b, 'TripleProtocolError');
  t.regex(h.b.lifetime.reason!.message, /ack of seq 5/);
  const h2 = hostile();
  h2.control(ControlKind.Beat);
  h2.raw(Tag.Sequenced, encodeSequenced(1, 3, Tag.Deliver, bytes('x')));
  h2.clock.advance(5);
  endedClean(t, h2.b, 'TripleProtocolError');
});

const malformed: Array<[string, (h: ReturnType<typeof hostile>) => void]> = [
  ['a control frame of the wrong length', (h) => h.raw(Tag.TripleControl, new Uint8Array(10))],
  ['an unknown control kind', (h) => h.control(9)],
  ['epoch 0', (h) => h.control(ControlKind.Beat, { epoch: 0 })],
  ['an inner tag that is no triple frame', (h) => h.raw(Tag.Deliver, bytes('raw'))],
  ['a Sequenced frame cut short', (h) => h.raw(Tag.Sequenced, new Uint8Array(12))],
  ['seq 0', (h) => h.raw(Tag.Sequenced, encodeSequenced(0, 0, Tag.Deliver, bytes('x')))],
  ['a Sequenced frame carrying Ping', (h) => h.raw(Tag.Sequenced, encodeSequenced(1, 0, Tag.Ping, bytes('x')))],
  ['a seq of 2^53 or more', (h) => h.raw(Tag.Sequenced, new Uint8Array([0, 0x20, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, Tag.Deliver]))],
];
for (const [what, act] of malformed) {
  test(`hostile: ${what} aborts with TripleMalformedError`, (t) => {
    const h = hostile();
    act(h);
    h.clock.advance(5);
    endedClean(t, h.b, 'TripleMalformedError');
  });
}

test('hostile: an Echo that answers no Beat is ignored (a replay validates nothing)', (t) => {
  const h = hostile();
  h.control(ControlKind.Echo, { id: 77 });
  h.clock.advance(50);
  t.false(h.b.lifetime.isClosed);
  t.is(h.b.diagnostics().paths[0]?.grade, 'attaching');
});

test('data on a path before the peer epoch was seen there is dropped, not delivered', (t) => {
  const h = hostile();
  h.raw(Tag.Sequenced, encodeSequenced(1, 0, Tag.Deliver, bytes('early')));
  h.clock.advance(5);
  t.deepEqual(h.got.b, []);
  t.is(h.b.diagnostics().early, 1);
  h.control(ControlKind.Beat);
  h.raw(Tag.Sequenced, encodeSequenced(1, 0, Tag.Deliver, bytes('after')));
  h.clock.advance(5);
  t.deepEqual(h.got.b, ['after']);
});

test('backpressure: a send past maxUnackedBytes aborts with TripleBackpressureError (send does not throw)', (t) => {
  const p = makePair({ paths: 1, limits: { maxUnackedBytes: 4096, maxPayloadBytes: 1024 } });
  p.clock.advance(150);
  p.links[0]!.partitioned = true;
  // 4 × (1000 + 17 header bytes) = 4068 ≤ 4096.
  for (let i = 0; i < 4; i++) p.a.send(Tag.Deliver, new Uint8Array(1000));
  t.false(p.a.lifetime.isClosed, '4 frames fit');
  t.notThrows(() => p.a.send(Tag.Deliver, new Uint8Array(1000)));
  endedClean(t, p.a, 'TripleBackpressureError');
  t.throws(() => p.a.send(Tag.Deliver, bytes('late')), { name: 'TripleSessionClosedError' });
});

test('resume within the grace period: every path down, sends buffered, a new path delivers them once, in order', (t) => {
  const p = makePair({ paths: 2 });
  p.clock.advance(250);
  sendAll(p.a, 'a', 5);
  p.clock.advance(50);
  for (const l of p.links) l.cut();
  t.is(p.a.state, 'resuming');
  sendAll(p.a, 'b', 20);
  sendAll(p.b, 'x', 7);
  p.clock.advance(4_000);
  t.is(p.a.state, 'resuming');
  p.link();
  p.clock.advance(300);
  t.is(p.a.state, 'critical');
  t.deepEqual(p.got.b, [...expected('a', 5), ...expected('b', 20)]);
  t.deepEqual(p.got.a, expected('x', 7));
  t.false(p.a.lifetime.isClosed);
  t.is(p.a.diagnostics().unackedFrames, 0);
});

test('resume: frames in flight when every path died are not lost and not delivered twice', (t) => {
  const p = makePair({ paths: 3 });
  p.clock.advance(250);
  for (const l of p.links) l.faults.delayMs = 30;
  sendAll(p.a, 'a', 10);
  p.clock.advance(31);
  // Delivered at B, but B's acks die with the links: A keeps all ten.
  for (const l of p.links) l.cut();
  t.is(p.a.diagnostics().unackedFrames, 10);
  p.clock.advance(1_000);
  p.link();
  p.clock.advance(300);
  t.deepEqual(p.got.b, expected('a', 10));
  t.is(p.a.diagnostics().unackedFrames, 0);
});

test('past the grace period the session ends with TripleSessionLostError and drops what was pending', (t) => {
  const p = makePair({ paths: 2 });
  p.clock.advance(250);
  for (const l of p.links) l.cut();
  sendAll(p.a, 'a', 3);
  p.clock.advance(4_999);
  t.false(p.a.lifetime.isClosed);
  p.clock.advance(2);
  endedClean(t, p.a, 'TripleSessionLostError');
  endedClean(t, p.b, 'TripleSessionLostError');
  t.is(p.a.state, 'lost');
  t.throws(() => p.a.attach(makeLink(p.clock, p.random).a), { name: 'TripleSessionClosedError' });
  p.clock.advance(10_000);
  t.is(p.clock.pending, 0, 'nothing left on the clock');
});

test('a never-connected session is lost after the grace period too', (t) => {
  const p = makePair({ paths: 0 });
  t.is(p.a.state, 'starting');
  p.clock.advance(5_001);
  endedClean(t, p.a, 'TripleSessionLostError');
});

test('a peer with a new epoch (it restarted) ends the old session at once, without the grace period', (t) => {
  const p = makePair({ paths: 2 });
  p.clock.advance(250);
  for (const l of p.links) l.cut();
  // A restarts: a new session with a new epoch reaches B over a new path.
  const a2 = makeTripleSession({ name: 'A2', clock: p.clock, epoch: 33, limits: TEST_LIMITS });
  const l = makeLink(p.clock, p.random);
  a2.attach(l.a);
  p.b.attach(l.b);
  p.clock.advance(5);
  endedClean(t, p.b, 'TripleEpochChangedError');
  t.true(p.b.lifetime.reason instanceof Error && p.b.lifetime.reason.name === 'TripleEpochChangedError');
  a2.abort(new Error('test over'));
});

test('a fifth path replaces the worst of four (three through bridges and the direct one)', (t) => {
  const p = makePair({ paths: 4 });
  p.clock.advance(250);
  // Slow, not dead: graded degraded, the worst of the four.
  p.links[1]!.faults.delayMs = 60;
  p.clock.advance(500);
  t.is(p.a.diagnostics().paths.length, 4, 'four paths are held');
  p.link();
  t.true(p.links[1]!.lifetime.isClosed, 'the slow link went');
  t.false(p.links[0]!.lifetime.isClosed || p.links[2]!.lifetime.isClosed || p.links[3]!.lifetime.isClosed);
  t.is(p.a.diagnostics().paths.length, 4);
});

test('standby: a frame that times out on the primary moves later frames to another path at once, until the primary echoes again', (t) => {
  const p = makePair({ mode: 'standby' });
  p.clock.advance(250);
  const primary = p.links[0]!;
  primary.faults.drop = 1;
  p.a.send(Tag.Deliver, bytes('first'));
  // The retransmit timeout (50 ms at least here) sends it on another path.
  p.clock.advance(120);
  t.deepEqual(p.got.b, ['first']);
  const retransmits = p.a.diagnostics().retransmits;
  const sentOnPrimary = primary.a.sent;
  // Later frames skip the suspect primary: delivered well within a retransmit timeout, none sent again.
  sendAll(p.a, 'b', 5);
  p.clock.advance(20);
  t.deepEqual(p.got.b, ['first', ...expected('b', 5)]);
  t.is(p.a.diagnostics().retransmits, retransmits, 'no frame waited for a timeout');
  t.true(primary.a.sent - sentOnPrimary <= 1, `at most a heartbeat went on the primary (${primary.a.sent - sentOnPrimary} frames)`);
  // The primary heals and echoes a Beat sent after it was passed over: it is the best path again.
  primary.faults.drop = 0;
  p.clock.advance(250);
  const before = primary.a.sent;
  sendAll(p.a, 'c', 5);
  p.clock.advance(20);
  t.deepEqual(p.got.b.slice(6), expected('c', 5));
  t.true(primary.a.sent - before >= 5, 'the healed primary carries frames again');
});

test('a frame handler that throws aborts the session with its error', (t) => {
  const p = makePair({ paths: 1 });
  p.b.onFrame(() => {
    throw new RangeError('handler broke');
  });
  p.clock.advance(150);
  p.a.send(Tag.Deliver, bytes('x'));
  p.clock.advance(5);
  endedClean(t, p.b, 'RangeError');
});

test('abort is idempotent and ends the paths; send after it throws', (t) => {
  const p = makePair({ paths: 2 });
  p.clock.advance(150);
  p.a.abort(new Error('first'));
  p.a.abort(new Error('second'));
  t.is(p.a.lifetime.reason?.message, 'first');
  t.true(p.links.every((l) => l.lifetime.isClosed));
  t.is(p.a.state, 'closed');
  t.throws(() => p.a.send(Tag.Deliver, bytes('x')), { name: 'TripleSessionClosedError' });
  t.is(text(bytes('ok')), 'ok');
});

/** A and B over a direct link and one through a bridge (attached as relayed), with these one-way delays. */
const directAndRelayed = (directMs: number, relayedMs: number) => {
  const clock = makeHeapClock();
  const random = seededRandom(7);
  const a = makeTripleSession({ name: 'A', clock, epoch: 11, mode: 'standby', limits: TEST_LIMITS });
  const b = makeTripleSession({ name: 'B', clock, epoch: 22, mode: 'standby', limits: TEST_LIMITS });
  const got: string[] = [];
  b.onFrame((_t, p) => got.push(text(p)));
  const direct = makeLink(clock, random, { ...CLEAN, delayMs: directMs });
  const relayed = makeLink(clock, random, { ...CLEAN, delayMs: relayedMs });
  a.attach(direct.a, 'direct', false);
  b.attach(direct.b, 'direct', false);
  a.attach(relayed.a, 'via bridge', true);
  b.attach(relayed.b, 'via bridge', true);
  // Heartbeats measure both paths' round trips.
  clock.advance(2_000);
  return { clock, a, got, direct, relayed };
};

test('standby: the direct path leads over a faster relayed one of the same grade (RTT noise never makes a bridge the lead)', (t) => {
  const s = directAndRelayed(2, 1);
  const [d, r] = [s.direct.a.sent, s.relayed.a.sent];
  sendAll(s.a, 'x', 20);
  s.clock.advance(50);
  t.deepEqual(s.got, expected('x', 20));
  t.true(s.direct.a.sent - d >= 20, `the frames went direct (${s.direct.a.sent - d} direct, ${s.relayed.a.sent - r} relayed)`);
  t.true(s.relayed.a.sent - r < 5, 'not through the bridge');
});

test('standby: a relayed path leads once the direct one is graded degraded (much slower than the best)', (t) => {
  const s = directAndRelayed(30, 1);
  const [d, r] = [s.direct.a.sent, s.relayed.a.sent];
  sendAll(s.a, 'x', 20);
  s.clock.advance(100);
  t.deepEqual(s.got, expected('x', 20));
  t.true(s.relayed.a.sent - r >= 20, `the frames went through the bridge (${s.relayed.a.sent - r} relayed, ${s.direct.a.sent - d} direct)`);
});
