/** Secure paths end to end over a memory stream: both suites, both ciphers, ordering, rekeying, close, keepalive. */
import test from 'ava';
import { MAX_FRAME_BYTES, Tag } from '../../protocols/framing/frames.js';
import { CIPHERS, type CryptoSuite } from '../../protocols/session/crypto.js';
import { nobleCrypto } from '../../protocols/session/crypto-noble.js';
import { makeLifetime } from '../../protocols/lifetime.js';
import { HostStoppingError } from '../../protocols/session/errors.js';
import { DEAD_MS, IDLE_MS, MAX_HANDSHAKE_FRAME_BYTES } from '../../protocols/session/path.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { closedWith, collect, connected, makeManualQueue, makePair, makeSimClock } from './session-fixtures.js';

const suites: Array<[string, CryptoSuite, CryptoSuite]> = [
  ['node', nodeCrypto, nodeCrypto],
  ['noble', nobleCrypto, nobleCrypto],
  ['node→noble', nodeCrypto, nobleCrypto],
];

for (const [suite, crypto, responderCrypto] of suites) {
  for (const cipher of CIPHERS) {
    test(`${suite}, ${cipher}: handshake, same session id, data both ways`, async (t) => {
      const p = await connected(crypto, { responderCrypto, initiator: { ciphers: [cipher] }, responder: { ciphers: [cipher] } });
      const { initiator: i, responder: r } = p;
      t.is(i.role, 'initiator');
      t.is(r.role, 'responder');
      t.is(i.cipher, cipher);
      t.is(r.cipher, cipher);
      t.is(i.encoder, 'json');
      t.regex(i.sessionId, /^[0-9a-f]{32}$/);
      t.is(i.sessionId, r.sessionId);
      t.is(i.remoteId, p.responderId.vatId);
      t.is(r.remoteId, p.initiatorId.vatId);
      t.is(i.localId, p.initiatorId.vatId);
      const atR = collect(r);
      const atI = collect(i);
      i.send(Tag.Deliver, new Uint8Array([1, 2, 3]));
      r.send(Tag.Return, new Uint8Array([4]));
      await Promise.all([atR.until(1), atI.until(1)]);
      t.deepEqual(atR.got, [[Tag.Deliver, new Uint8Array([1, 2, 3])]]);
      t.deepEqual(atI.got, [[Tag.Return, new Uint8Array([4])]]);
      i.close();
      await closedWith(r);
    });
  }
}

test('the responder prefers ChaCha20-Poly1305 when both are offered; its own order decides', async (t) => {
  const a = await connected(nodeCrypto, { initiator: { ciphers: ['aes-256-gcm', 'chacha20-poly1305'] } });
  t.is(a.initiator.cipher, 'chacha20-poly1305');
  const b = await connected(nodeCrypto, { responder: { ciphers: ['aes-256-gcm', 'chacha20-poly1305'] } });
  t.is(b.responder.cipher, 'aes-256-gcm');
  t.is(b.initiator.cipher, 'aes-256-gcm');
});

test('keys differ per direction: a frame sent back to its sender does not open', async (t) => {
  const turn = makeManualQueue();
  const p = await connected(nodeCrypto, { defer: turn.schedule });
  const captured: Uint8Array[] = [];
  p.a.link.tap((b) => captured.push(new Uint8Array(b)));
  p.initiator.send(Tag.Deliver, new Uint8Array([9]));
  turn.run();
  const closed = closedWith(p.initiator);
  // Reflect the initiator's own Encrypted frame back at it.
  p.b.link.inject(captured[0]!);
  t.is((await closed).name, 'AeadError');
});

test('1,000 messages each way arrive in order', async (t) => {
  const { initiator: i, responder: r } = await connected(nodeCrypto);
  const atR = collect(r);
  const atI = collect(i);
  for (let n = 0; n < 1000; n++) {
    i.send(Tag.Deliver, new TextEncoder().encode(`i${n}`));
    r.send(Tag.Deliver, new TextEncoder().encode(`r${n}`));
  }
  await Promise.all([atR.until(1000), atI.until(1000)]);
  t.deepEqual(
    atR.got.map(([, p]) => new TextDecoder().decode(p)),
    Array.from({ length: 1000 }, (_, n) => `i${n}`),
  );
  t.deepEqual(
    atI.got.map(([, p]) => new TextDecoder().decode(p)),
    Array.from({ length: 1000 }, (_, n) => `r${n}`),
  );
  t.is(i.stats().framesOut, 1000);
  t.is(r.stats().framesIn, 1000);
});

test('rekeying at a small limit counts Encrypted frames: many of them, both sides agree on the count', async (t) => {
  const turn = makeManualQueue();
  const limits = { rekeyAfterMessages: 5 };
  const { initiator: i, responder: r } = await connected(nodeCrypto, { defer: turn.schedule, initiator: { limits }, responder: { limits } });
  const atR = collect(r);
  const atI = collect(i);
  // One message per turn: one Encrypted frame each.
  for (let n = 0; n < 503; n++) {
    i.send(Tag.Deliver, new Uint8Array([n & 0xff]));
    turn.run();
  }
  for (let n = 0; n < 12; n++) {
    r.send(Tag.Deliver, new Uint8Array([n]));
    turn.run();
  }
  // Then 40 messages in one turn: one Encrypted frame, so one more step of the counter.
  for (let n = 0; n < 40; n++) i.send(Tag.Deliver, new Uint8Array([n]));
  turn.run();
  await Promise.all([atR.until(543), atI.until(12)]);
  t.deepEqual(
    atR.got.map(([, p]) => p[0]),
    [...Array.from({ length: 503 }, (_, n) => n & 0xff), ...Array.from({ length: 40 }, (_, n) => n)],
  );
  t.is(i.stats().sealsOut, 504);
  t.is(i.stats().framesOut, 543);
  t.is(r.stats().sealsIn, 504);
  t.is(i.stats().rekeysOut, 100);
  t.is(r.stats().rekeysIn, 100);
  t.is(r.stats().rekeysOut, 2);
  t.is(i.stats().rekeysIn, 2);
});

test('limit: MAX_FRAME_BYTES after the handshake (a 1 MiB message passes; send refuses more than the limit)', async (t) => {
  const { initiator: i, responder: r } = await connected(nodeCrypto);
  t.true(MAX_HANDSHAKE_FRAME_BYTES < 1024 * 1024);
  const atR = collect(r);
  const big = new Uint8Array(1024 * 1024).map((_, n) => n & 0xff);
  i.send(Tag.Deliver, big);
  await atR.until(1);
  t.deepEqual(atR.got[0]![1], big);
  t.throws(() => i.send(Tag.Deliver, new Uint8Array(MAX_FRAME_BYTES)), { name: 'FrameTooLargeError' });
});

test('send refuses the tags the path owns, clear tags, and any use after close', async (t) => {
  const { initiator: i, responder: r } = await connected(nodeCrypto);
  for (const tag of [Tag.Ping, Tag.Pong, Tag.Shutdown, Tag.Hello, Tag.Encrypted, 32, -1, 1.5]) {
    t.throws(() => i.send(tag, new Uint8Array()), { instanceOf: RangeError }, `tag ${tag}`);
  }
  const closed = closedWith(i);
  i.close({ code: 'bye', message: 'done here' });
  t.true(i.lifetime.isClosed);
  t.throws(() => i.send(Tag.Deliver, new Uint8Array()), { name: 'PathClosedError' });
  const [mine, theirs] = await Promise.all([closed, closedWith(r)]);
  t.is(mine.name, 'PathClosedError');
  t.false((mine as { remote?: boolean }).remote);
  t.is(theirs.name, 'PathClosedError');
  t.is((theirs as { code?: string }).code, 'bye');
  t.true((theirs as { remote?: boolean }).remote);
  t.regex(theirs.message, /done here/);
});

test('close and abort are idempotent; every party on the lifetime hears the end once; a late one still hears the reason', async (t) => {
  const { initiator: i, responder: r, b } = await connected(nodeCrypto);
  let calls = 0;
  let others = 0;
  i.lifetime.onClose(() => calls++);
  // A second party does not replace the first (the single-slot onClose did).
  i.lifetime.onClose(() => others++);
  i.abort(new Error('first'));
  i.abort(new Error('second'));
  i.close();
  await closedWith(r);
  t.is(calls, 1);
  t.is(others, 1);
  t.is(i.lifetime.reason?.message, 'first');
  const late = await closedWith(i);
  t.is(late.message, 'first');
  t.true(b.isClosed);
});

test('frames that arrive before onFrame is set are held and delivered in order', async (t) => {
  const q = makeManualQueue();
  const pending = connected(nodeCrypto, { stream: { schedule: q.schedule } });
  q.run();
  const { initiator: i, responder: r } = await pending;
  for (let n = 0; n < 5; n++) i.send(Tag.Deliver, new Uint8Array([n]));
  q.run();
  t.is(r.stats().framesIn, 5, 'all five are in');
  const atR = collect(r);
  t.deepEqual(
    atR.got.map(([, p]) => p[0]),
    [0, 1, 2, 3, 4],
  );
  i.send(Tag.Deliver, new Uint8Array([5]));
  q.run();
  t.is(atR.got.length, 6);
});

test('limit: maxUnclaimedBytes — a flood before onFrame is set ends the path (PathOverflowError)', async (t) => {
  const q = makeManualQueue();
  const limits = { maxUnclaimedBytes: 1000 };
  const pending = connected(nodeCrypto, { stream: { schedule: q.schedule }, responder: { limits } });
  q.run();
  const { initiator: i, responder: r } = await pending;
  const closed = closedWith(r);
  i.send(Tag.Deliver, new Uint8Array(600));
  q.run();
  t.false(r.lifetime.isClosed);
  i.send(Tag.Deliver, new Uint8Array(600));
  q.run();
  t.is((await closed).name, 'PathOverflowError');
});

test('a frame handler that throws aborts the path with that error', async (t) => {
  const { initiator: i, responder: r } = await connected(nodeCrypto);
  r.onFrame(() => {
    throw new TypeError('handler bug');
  });
  const closed = closedWith(r);
  i.send(Tag.Deliver, new Uint8Array([1]));
  const err = await closed;
  t.is(err.name, 'TypeError');
  t.is((await closedWith(i)).name, 'PathLostError');
});

// HANDSHAKE_TIMEOUT_MS and MAX_HANDSHAKE_FRAME_BYTES are checked at their defaults in session-faults.test.ts.
test('limits: IDLE_MS and DEAD_MS by default — a quiet path pings at IDLE_MS, a silent peer is dead at DEAD_MS', async (t) => {
  const q = makeManualQueue();
  const clock = makeSimClock();
  const pending = connected(nodeCrypto, { clock, stream: { schedule: q.schedule } });
  q.run();
  const p = await pending;
  const closed = closedWith(p.initiator);
  // From here on the initiator hears nothing from the responder.
  p.b.link.hold();
  const advance = (ms: number) => {
    clock.advance(ms);
    q.run();
  };
  const pings = () => p.initiator.stats().framesOut;
  t.is(pings(), 0);
  advance(IDLE_MS - 1);
  t.is(pings(), 0, 'no Ping before IDLE_MS of quiet');
  advance(1);
  t.is(pings(), 1, 'a Ping at IDLE_MS');
  advance(DEAD_MS - IDLE_MS - 1);
  t.false(p.initiator.lifetime.isClosed, 'still up 1 ms before DEAD_MS');
  advance(1);
  t.true(p.initiator.lifetime.isClosed, 'dead at DEAD_MS');
  t.is((await closed).name, 'PathTimeoutError');
  q.run();
  t.is(clock.pending, 0, 'no timers left');
});

test('keepalive: an idle path pings, stays up for hours of simulated time, and measures the round trip', async (t) => {
  const q = makeManualQueue();
  const clock = makeSimClock();
  const p = await (async () => {
    const pending = connected(nodeCrypto, { clock, stream: { schedule: q.schedule } });
    q.run();
    return pending;
  })();
  for (let n = 0; n < 3 * 60 * 60; n++) {
    clock.advance(1000);
    q.run();
  }
  t.false(p.initiator.lifetime.isClosed);
  t.false(p.responder.lifetime.isClosed);
  t.true(p.initiator.stats().framesOut > 0, 'pings went out');
  t.is(typeof p.initiator.stats().rttMs, 'number');
  p.initiator.close();
  q.run();
  t.true(p.responder.lifetime.isClosed);
  t.is(clock.pending, 0, 'no timers left');
});

test('keepalive: a path that traffic keeps busy still measures its round trip within one interval', async (t) => {
  const q = makeManualQueue();
  const clock = makeSimClock();
  const limits = { idleMs: 1000, deadMs: 3000 };
  const pending = connected(nodeCrypto, { clock, stream: { schedule: q.schedule }, initiator: { limits }, responder: { limits } });
  q.run();
  const p = await pending;
  collect(p.initiator);
  collect(p.responder);
  // Both sides send every 50 ms: no keepalive tick ever finds the path quiet.
  const busy = (ms: number) => {
    for (let at = 0; at < ms; at += 50) {
      p.initiator.send(Tag.Deliver, new Uint8Array([1]));
      p.responder.send(Tag.Deliver, new Uint8Array([2]));
      q.run();
      clock.advance(50);
      q.run();
    }
  };
  busy(950);
  t.is(p.initiator.stats().rttMs, undefined, 'no round trip before the first tick');
  busy(100);
  t.is(typeof p.initiator.stats().rttMs, 'number', 'measured at the first tick, busy as the path is');
  t.is(typeof p.responder.stats().rttMs, 'number', 'on both sides');
  p.initiator.close();
  q.run();
  t.is(clock.pending, 0, 'no timers left');
});

test('keepalive: a peer that goes silent is dead after DEAD_MS (PathTimeoutError), with no timers left', async (t) => {
  const q = makeManualQueue();
  const clock = makeSimClock();
  const limits = { idleMs: 1000, deadMs: 3000 };
  const pending = connected(nodeCrypto, { clock, stream: { schedule: q.schedule }, initiator: { limits }, responder: { limits } });
  q.run();
  const p = await pending;
  const closed = closedWith(p.initiator);
  // The responder's bytes no longer reach the initiator; the initiator's still reach it.
  p.b.link.hold();
  let diedAt = -1;
  for (let ms = 0; ms <= 5000 && !p.initiator.lifetime.isClosed; ms += 100) {
    clock.advance(100);
    q.run();
    if (p.initiator.lifetime.isClosed) diedAt = ms + 100;
  }
  t.true(diedAt >= 3000 && diedAt <= 4000, `died at ${diedAt}`);
  t.is((await closed).name, 'PathTimeoutError');
  t.true(p.a.isClosed);
  q.run();
  t.true(p.responder.lifetime.isClosed, 'the responder sees the stream end');
  t.is(clock.pending, 0, 'no timers left');
});

test('inspect sees the machine (handshake states, then established); its context holds no key material', async (t) => {
  const events: Array<{ type: string; snapshot?: { value?: unknown; context?: Record<string, unknown> } }> = [];
  const p = await connected(nodeCrypto, { responder: { inspect: (ev) => events.push(ev as (typeof events)[number]) } });
  const values = events.filter((e) => e.type === '@xstate.snapshot').map((e) => JSON.stringify(e.snapshot?.value));
  t.true(values.includes(JSON.stringify({ handshaking: { responder: 'awaitingSignature' } })), values.join(' '));
  t.true(values.includes(JSON.stringify({ established: 'watching' })));
  const last = events.filter((e) => e.type === '@xstate.snapshot').at(-1)?.snapshot?.context ?? {};
  t.deepEqual(Object.keys(last).sort(), ['deadMs', 'effects', 'error', 'handshakeTimeoutMs', 'idleMs', 'role', 'session', 'silentTicks', 'steps']);
  t.deepEqual(JSON.parse(JSON.stringify(last['steps'])), {}, 'the steps object serializes to nothing');
  t.deepEqual(JSON.parse(JSON.stringify(last['effects'])), {}, 'the effects object serializes to nothing');
  t.is((last['session'] as { sessionId?: string }).sessionId, p.responder.sessionId);
});

test('Signature and the first data frames in one chunk: the limit switches mid-chunk and nothing is lost', async (t) => {
  let writes = 0;
  const turn = makeManualQueue();
  const p = makePair(nodeCrypto, {
    defer: turn.schedule,
    prepare: (a) =>
      a.link.tap(() => {
        // Hold everything after the first flight: the Signature and what follows it.
        if (++writes === 1) queueMicrotask(() => a.link.hold());
      }),
  });
  const initiator = await p.initiating;
  const big = new Uint8Array(MAX_HANDSHAKE_FRAME_BYTES + 4096).fill(7);
  initiator.send(Tag.Deliver, big);
  initiator.send(Tag.Deliver, new Uint8Array([1]));
  turn.run();
  const held = p.a.link.takeHeld();
  t.is(held.length, 2, 'Signature, and one Encrypted frame with both messages (sent in one turn)');
  p.a.link.release();
  p.a.link.inject(new Uint8Array(held.flatMap((c) => [...c])));
  const responder = await p.accepting;
  const got = collect(responder);
  await got.until(2);
  t.deepEqual(got.got[0]![1], big);
  t.deepEqual([...got.got[1]![1]], [1]);
});

test('a cancel lifetime that ends mid-handshake aborts it at once with its reason, which the peer reads; once established it has no effect', async (t) => {
  const q = makeManualQueue();
  const clock = makeSimClock();
  const cancel = makeLifetime();
  const p = makePair(nodeCrypto, { clock, stream: { schedule: q.schedule }, initiator: { cancel: cancel.lifetime } });
  q.run(1); // the responder has the Offer and Hello, nothing more
  cancel.close(new HostStoppingError('the host is stopping'));
  t.true(p.a.isClosed, 'the stream closed in the same turn');
  t.is(clock.pending, 1, "the initiator's handshake timer went with it (the responder's is still armed)");
  const err = await t.throwsAsync(p.initiating);
  t.is(err?.name, 'HostStoppingError');
  q.run();
  const theirs = await t.throwsAsync(p.accepting);
  t.is(theirs?.name, 'HostStoppingError', 'the Abort carried the code');
  t.true((theirs as { remote?: boolean }).remote);
  t.is(clock.pending, 0);

  const still = makeLifetime();
  const up = await connected(nodeCrypto, { initiator: { cancel: still.lifetime } });
  still.close(new HostStoppingError('too late'));
  t.false(up.initiator.lifetime.isClosed, 'an established path is its owner’s to close');
  up.initiator.close();
  await closedWith(up.responder);
});

// path.machine.ts is built once and shared; each path's effects travel in its own input.
test('one machine, many paths: two handshakes interleaved each write, deliver and close only their own', async (t) => {
  const one = makePair(nodeCrypto);
  const two = makePair(nodeCrypto);
  const [i1, r1, i2, r2] = await Promise.all([one.initiating, one.accepting, two.initiating, two.accepting]);
  t.is(i1.remoteId, one.responderId.vatId);
  t.is(r1.remoteId, one.initiatorId.vatId);
  t.is(i2.remoteId, two.responderId.vatId);
  t.is(r2.remoteId, two.initiatorId.vatId);
  t.is(i1.sessionId, r1.sessionId);
  t.is(i2.sessionId, r2.sessionId);
  t.not(i1.sessionId, i2.sessionId);
  const at1 = collect(r1);
  const at2 = collect(r2);
  i1.send(Tag.Deliver, new Uint8Array([1]));
  i2.send(Tag.Deliver, new Uint8Array([2]));
  i1.send(Tag.Deliver, new Uint8Array([3]));
  await Promise.all([at1.until(2), at2.until(1)]);
  t.deepEqual(at1.got, [
    [Tag.Deliver, new Uint8Array([1])],
    [Tag.Deliver, new Uint8Array([3])],
  ]);
  t.deepEqual(at2.got, [[Tag.Deliver, new Uint8Array([2])]]);
  // Closing the first pair ends it alone; the second still carries data.
  const ended = closedWith(r1);
  i1.close({ code: 'bye', message: 'first pair only' });
  const reason = (await ended) as Error & { code?: string; remote?: boolean };
  t.is(reason.name, 'PathClosedError');
  t.is(reason.code, 'bye');
  t.true(reason.remote);
  t.true(one.a.isClosed);
  t.false(two.a.isClosed);
  t.false(i2.lifetime.isClosed);
  t.false(r2.lifetime.isClosed);
  const back = collect(i2);
  r2.send(Tag.Return, new Uint8Array([4]));
  await back.until(1);
  t.deepEqual(back.got, [[Tag.Return, new Uint8Array([4])]]);
  i2.close();
  await closedWith(r2);
});
