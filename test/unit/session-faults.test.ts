/**
 * The negative matrix of one path: every refusal, violation and fault ends the
 * handshake or the session with a named error on the side that detects it, closes
 * the stream, and leaves no timer behind.
 */
import test, { type ExecutionContext } from 'ava';
import { encodeFrame, encodePayload, HEADER_BYTES, Tag } from '../../protocols/framing/frames.js';
import { encodeMessage } from '../helpers/frames.js';
import { makeMemoryStreamPair, type MemoryStream } from '../../protocols/framing/memory-stream.js';
import type { CryptoSuite } from '../../protocols/session/crypto.js';
import { makeInitiatorSteps, PROTOCOL_VERSION } from '../../protocols/session/handshake.js';
import { decodeHello, decodeReason, decodeResponse, decodeResponseBody, encodeHello } from '../../protocols/session/messages.js';
import { OutboundCipherState, REKEY_AFTER_MESSAGES } from '../../protocols/session/cipher-state.js';
import { acceptPath, HANDSHAKE_TIMEOUT_MS, initiatePath, MAX_HANDSHAKE_FRAME_BYTES, type SecurePath } from '../../protocols/session/path.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import {
  badSigner,
  closedWith,
  collect,
  connected,
  makeIdentity,
  makeManualQueue,
  makePair,
  makeRelay,
  makeSimClock,
  rawPeer,
  type SimClock,
} from './session-fixtures.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';

const crypto: CryptoSuite = nodeCrypto;

/** How a path attempt ended: the handshake's rejection, or the established path's close reason. */
const endOf = (attempt: Promise<SecurePath>): Promise<Error> => attempt.then(closedWith, (err: Error) => err);

const expectEnd = async (t: ExecutionContext, attempt: Promise<SecurePath>, name: string, stream: MemoryStream) => {
  const err = await within(endOf(attempt), LOCAL_MS, `the path attempt to end with ${name}`);
  t.is(err.name, name, err.message);
  t.true(stream.isClosed, 'the stream is closed');
  return err;
};

const noTimers = (t: ExecutionContext, clock: SimClock) => t.is(clock.pending, 0, 'no timers left');

/** A raw initiator: a real first flight (ProtocolOffered + Hello) it can replay, bend or follow with anything. */
const rawInitiator = (wanted: string | null = null) => {
  const id = makeIdentity(crypto);
  const steps = makeInitiatorSteps({ crypto, identity: id, domain: 'tribe', ciphers: ['chacha20-poly1305'], wanted: wanted as never });
  const [offered, hello] = steps.open(0, new Uint8Array(0)).send as [Uint8Array, Uint8Array];
  return { id, steps, offered, hello };
};

const responderOnRaw = (o: Parameters<typeof acceptPath>[0] extends infer T ? Partial<T> : never = {}) => {
  const clock = makeSimClock();
  const [a, b] = makeMemoryStreamPair();
  const identity = makeIdentity(crypto);
  const accepting = acceptPath({ stream: b, identity, crypto, clock, ...o });
  accepting.catch(() => {});
  return { clock, raw: rawPeer(a), b, identity, accepting };
};

const initiatorOnRaw = (wanted?: string) => {
  const clock = makeSimClock();
  const [a, b] = makeMemoryStreamPair();
  const initiating = initiatePath({ stream: a, identity: makeIdentity(crypto), crypto, clock, ...(wanted ? { wanted: wanted as never } : {}) });
  initiating.catch(() => {});
  return { clock, raw: rawPeer(b), a, initiating };
};

const abortCode = (f: { tag: number; payload: Uint8Array } | undefined) =>
  f?.tag === Tag.Abort ? decodeReason(f.payload, 'Abort').code : `not an Abort: ${f?.tag}`;

// --- version ---

test('wrong version: the responder aborts with UnsupportedVersionError and tells the peer', async (t) => {
  const r = responderOnRaw();
  r.raw.send(Tag.ProtocolOffered, { versions: ['tribe/0', 'other/9'] });
  await expectEnd(t, r.accepting, 'UnsupportedVersionError', r.b);
  t.is(abortCode(await r.raw.next()), 'unsupported-version');
  await r.raw.closed;
  noTimers(t, r.clock);
});

test('wrong version, initiator side: an Abort unsupported-version is UnsupportedVersionError', async (t) => {
  const i = initiatorOnRaw();
  t.is((await i.raw.next())?.tag, Tag.ProtocolOffered);
  i.raw.send(Tag.Abort, { code: 'unsupported-version', message: 'only tribe/0 here' });
  const err = await expectEnd(t, i.initiating, 'UnsupportedVersionError', i.a);
  t.true((err as { remote?: boolean }).remote);
  noTimers(t, i.clock);
});

// --- identity ---

test('NotMe: wanted is not the responder; both sides name NotMeError', async (t) => {
  const p = makePair(crypto, { initiator: { wanted: makeIdentity(crypto).vatId } });
  await expectEnd(t, p.initiating, 'NotMeError', p.a);
  await expectEnd(t, p.accepting, 'NotMeError', p.b);
  noTimers(t, p.clock);
});

test('NotMe: a responder whose key does not hash to wanted (a man in the middle redirected the dial)', async (t) => {
  const responderId = makeIdentity(crypto);
  const clock = makeSimClock();
  const [a, b] = makeRelay((dir, tag, payload) =>
    dir === 'toResponder' && tag === Tag.Hello ? encodeHello({ ...decodeHello(payload), wanted: responderId.vatId }) : undefined,
  );
  const initiating = initiatePath({ stream: a, identity: makeIdentity(crypto), crypto, clock, wanted: makeIdentity(crypto).vatId });
  const accepting = acceptPath({ stream: b, identity: responderId, crypto, clock });
  await expectEnd(t, initiating, 'NotMeError', a);
  const theirs = await expectEnd(t, accepting, 'NotMeError', b);
  t.true((theirs as { remote?: boolean }).remote, 'the responder heard it from the initiator');
  noTimers(t, clock);
});

test("bad signature (responder's): the initiator names BadSignatureError, the responder hears it", async (t) => {
  const responderId = makeIdentity(crypto);
  const p = makePair(crypto, { responder: { identity: { ...responderId, key: badSigner(responderId.key) } }, initiator: { wanted: responderId.vatId } });
  t.false(((await expectEnd(t, p.initiating, 'BadSignatureError', p.a)) as { remote?: boolean }).remote);
  t.true(((await expectEnd(t, p.accepting, 'BadSignatureError', p.b)) as { remote?: boolean }).remote);
  noTimers(t, p.clock);
});

test("bad signature (initiator's): the responder names BadSignatureError; the initiator's early path closes with it", async (t) => {
  const initiatorId = makeIdentity(crypto);
  const p = makePair(crypto, { initiator: { identity: { ...initiatorId, key: badSigner(initiatorId.key) } } });
  await expectEnd(t, p.accepting, 'BadSignatureError', p.b);
  const err = await expectEnd(t, p.initiating, 'BadSignatureError', p.a);
  t.true((err as { remote?: boolean }).remote);
  noTimers(t, p.clock);
});

const frameAt = (bytes: Uint8Array, at: number) => {
  const len = (((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0) as number;
  return { tag: bytes[at]! & 0x1f, payload: bytes.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len), next: at + HEADER_BYTES + len };
};

test('tampered transcript: a byte of the Hello flipped in transit fails the signature check', async (t) => {
  let flipped = false;
  const p = makePair(crypto, {
    prepare: (a) =>
      a.link.tap((bytes) => {
        if (flipped) return;
        flipped = true;
        // First write: ProtocolOffered ‖ Hello. Flip a bit inside the Hello's ephemeral key.
        const hello = frameAt(bytes, frameAt(bytes, 0).next);
        t.is(hello.tag, Tag.Hello);
        const at = indexOf(bytes, decodeHello(hello.payload).ephemeralKey);
        a.link.corruptAt(a.link.written + at + 3, 0x01);
      }),
  });
  // The initiator detects it (the responder signed what it saw) and tells the responder.
  t.false(((await expectEnd(t, p.initiating, 'BadSignatureError', p.a)) as { remote?: boolean }).remote);
  t.true(((await expectEnd(t, p.accepting, 'BadSignatureError', p.b)) as { remote?: boolean }).remote);
  t.true(flipped);
  noTimers(t, p.clock);
});

test('tampered transcript: a byte of the Response flipped in transit fails the signature check', async (t) => {
  let flipped = false;
  const p = makePair(crypto, {
    prepare: (_a, b) =>
      b.link.tap((bytes) => {
        const f = frameAt(bytes, 0);
        if (f.tag !== Tag.Response) return;
        flipped = true;
        const at = indexOf(bytes, decodeResponseBody(decodeResponse(f.payload).body).ephemeralKey);
        b.link.corruptAt(b.link.written + at + 7, 0x80);
      }),
  });
  // The initiator detects it (the responder signed what it saw) and tells the responder.
  t.false(((await expectEnd(t, p.initiating, 'BadSignatureError', p.a)) as { remote?: boolean }).remote);
  t.true(((await expectEnd(t, p.accepting, 'BadSignatureError', p.b)) as { remote?: boolean }).remote);
  t.true(flipped);
  noTimers(t, p.clock);
});

test('a recorded Hello + Signature replayed into a new responder fails (BadSignatureError)', async (t) => {
  const recorded: Uint8Array[] = [];
  const first = makePair(crypto, { prepare: (a) => a.link.tap((b) => recorded.push(new Uint8Array(b))) });
  const [i] = await Promise.all([first.initiating, first.accepting]);
  t.is(recorded.length, 2, 'ProtocolOffered ‖ Hello, then Signature');
  i.close();
  // The same responder identity, a new connection, the recorded bytes.
  const clock = makeSimClock();
  const [a, b] = makeMemoryStreamPair();
  const raw = rawPeer(a);
  const accepting = acceptPath({ stream: b, identity: first.responderId, crypto, clock });
  accepting.catch(() => {});
  raw.write(recorded[0]!);
  t.is((await raw.next())?.tag, Tag.ProtocolAccepted);
  t.is((await raw.next())?.tag, Tag.Response);
  raw.write(recorded[1]!);
  await expectEnd(t, accepting, 'BadSignatureError', b);
  t.is(abortCode(await raw.next()), 'bad-signature');
  noTimers(t, clock);
});

test('a low-order ephemeral key is WeakKeyError', async (t) => {
  const r = responderOnRaw();
  const flight = rawInitiator(null);
  r.raw.write(flight.offered);
  r.raw.write(encodeFrame(Tag.Hello, encodeHello({ ...decodeHello(flight.hello.subarray(HEADER_BYTES)), ephemeralKey: new Uint8Array(32) })));
  await expectEnd(t, r.accepting, 'WeakKeyError', r.b);
  noTimers(t, r.clock);
});

// --- frames out of state ---

const outOfState: Array<[string, (f: ReturnType<typeof rawInitiator>) => Uint8Array[]]> = [
  ['Signature before Hello', (f) => [f.offered, encodeMessage(Tag.Signature, { signature: new Uint8Array(64), nonces: [] })]],
  ['Response sent to a responder', (f) => [f.offered, encodeMessage(Tag.Response, { body: new Uint8Array(1), signature: new Uint8Array(64) })]],
  ['Encrypted before established', (f) => [f.offered, encodeFrame(Tag.Encrypted, new Uint8Array(40))]],
  ['a second Hello', (f) => [f.offered, f.hello, f.hello]],
  ['Hello before ProtocolOffered', (f) => [f.hello]],
  ['a second ProtocolOffered', (f) => [f.offered, f.offered]],
  ['an inner tag in the clear', (f) => [f.offered, encodeFrame(Tag.Deliver, new Uint8Array(3))]],
  ['tag 0', () => [encodeFrame(0, new Uint8Array(0))]],
];

for (const [what, frames] of outOfState) {
  test(`out of state: ${what} → UnexpectedFrameError and an Abort`, async (t) => {
    const r = responderOnRaw();
    for (const f of frames(rawInitiator(null))) r.raw.write(f);
    await expectEnd(t, r.accepting, 'UnexpectedFrameError', r.b);
    await r.raw.closed;
    t.is(abortCode(r.raw.frames.find((f) => f.tag === Tag.Abort)), 'unexpected-frame');
    noTimers(t, r.clock);
  });
}

test('out of state, initiator side: Encrypted before Response → UnexpectedFrameError', async (t) => {
  const i = initiatorOnRaw();
  await i.raw.next();
  i.raw.send(Tag.ProtocolAccepted, { version: PROTOCOL_VERSION });
  i.raw.write(encodeFrame(Tag.Encrypted, new Uint8Array(40)));
  await expectEnd(t, i.initiating, 'UnexpectedFrameError', i.a);
  noTimers(t, i.clock);
});

// --- broken bytes ---

test('EOF mid-handshake, at every byte of the initiator flight: both sides end with PathLostError', async (t) => {
  const writes: number[] = [];
  const probe = makePair(crypto, { prepare: (a) => a.link.tap((b) => writes.push(b.length)) });
  await Promise.all([probe.initiating, probe.accepting]);
  const flightLength = writes[0]!;
  t.true(flightLength > 100);
  for (let cut = 0; cut < flightLength; cut += 7) {
    const p = makePair(crypto);
    p.a.link.truncateAfter(cut);
    await expectEnd(t, p.initiating, 'PathLostError', p.a);
    await expectEnd(t, p.accepting, 'PathLostError', p.b);
    noTimers(t, p.clock);
  }
});

test('EOF mid-handshake on the responder side (inside its Response): both sides end with PathLostError', async (t) => {
  for (const cut of [0, 3, 12, 60, 150]) {
    const p = makePair(crypto);
    p.b.link.truncateAfter(cut);
    await expectEnd(t, p.initiating, 'PathLostError', p.a);
    await expectEnd(t, p.accepting, 'PathLostError', p.b);
    noTimers(t, p.clock);
  }
});

test('limit: MAX_HANDSHAKE_FRAME_BYTES — a bigger header is refused at once (FrameTooLargeError cause)', async (t) => {
  const r = responderOnRaw();
  const header = new Uint8Array([0xe0 | Tag.ProtocolOffered, 0, 0, 0, 0]);
  new DataView(header.buffer).setUint32(1, MAX_HANDSHAKE_FRAME_BYTES + 1);
  r.raw.write(header);
  const err = await expectEnd(t, r.accepting, 'MalformedMessageError', r.b);
  t.is((err.cause as Error).name, 'FrameTooLargeError');
  t.is(abortCode(await r.raw.next()), 'malformed');
  noTimers(t, r.clock);
  // Exactly the limit is read in full (and then found not to be msgpack).
  const r2 = responderOnRaw();
  r2.raw.write(encodeFrame(Tag.ProtocolOffered, new Uint8Array(MAX_HANDSHAKE_FRAME_BYTES).fill(0xc1)));
  const err2 = await expectEnd(t, r2.accepting, 'MalformedMessageError', r2.b);
  t.not((err2.cause as Error | undefined)?.name, 'FrameTooLargeError');
});

test('garbage bytes: MalformedMessageError (MalformedFrameError cause)', async (t) => {
  const r = responderOnRaw();
  r.raw.write(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  const err = await expectEnd(t, r.accepting, 'MalformedMessageError', r.b);
  t.is((err.cause as Error).name, 'MalformedFrameError');
  noTimers(t, r.clock);
});

test('a well-framed Hello that is not a Hello: MalformedMessageError', async (t) => {
  const r = responderOnRaw();
  r.raw.write(rawInitiator().offered);
  r.raw.write(encodeFrame(Tag.Hello, new Uint8Array([1, 2, 3])));
  await expectEnd(t, r.accepting, 'MalformedMessageError', r.b);
});

// --- the established session ---

test('AEAD failure: one corrupted byte of an Encrypted frame → AeadError on the receiver', async (t) => {
  const p = await connected(crypto);
  const closed = closedWith(p.responder);
  p.a.link.corruptAt(p.a.link.written + 12);
  p.initiator.send(Tag.Deliver, new Uint8Array(20));
  t.is((await closed).name, 'AeadError');
  t.true(p.b.isClosed);
  t.is((await closedWith(p.initiator)).name, 'PathLostError');
  noTimers(t, p.clock);
});

test('a reordered pair of Encrypted frames → AeadError', async (t) => {
  const turn = makeManualQueue();
  const p = await connected(crypto, { defer: turn.schedule });
  const got = collect(p.responder);
  const closed = closedWith(p.responder);
  p.a.link.hold();
  // Two turns, two Encrypted frames.
  p.initiator.send(Tag.Deliver, new Uint8Array([1]));
  turn.run();
  p.initiator.send(Tag.Deliver, new Uint8Array([2]));
  turn.run();
  const [x, y] = p.a.link.takeHeld();
  p.a.link.release();
  p.a.link.inject(y!);
  p.a.link.inject(x!);
  t.is((await closed).name, 'AeadError');
  t.is(got.got.length, 0);
  noTimers(t, p.clock);
});

test('a dropped Encrypted frame → AeadError on the next one', async (t) => {
  const turn = makeManualQueue();
  const p = await connected(crypto, { defer: turn.schedule });
  const got = collect(p.responder);
  const closed = closedWith(p.responder);
  p.initiator.send(Tag.Deliver, new Uint8Array([0]));
  turn.run();
  await got.until(1);
  p.a.link.dropNext(5 + 16 + 5 + 1);
  p.initiator.send(Tag.Deliver, new Uint8Array([1]));
  turn.run();
  p.initiator.send(Tag.Deliver, new Uint8Array([2]));
  turn.run();
  t.is((await closed).name, 'AeadError');
  t.is(got.got.length, 1);
});

test('a clear frame other than Abort after the handshake → UnexpectedFrameError', async (t) => {
  const p = await connected(crypto);
  const closed = closedWith(p.responder);
  p.a.link.inject(encodeMessage(Tag.Hello, {}));
  t.is((await closed).name, 'UnexpectedFrameError');
});

/** A scripted initiator: a real handshake by the pure steps, then inner frames of its choosing, sealed with its real keys. */
const hostileInitiator = async (r: ReturnType<typeof responderOnRaw>) => {
  const f = rawInitiator(r.identity.vatId);
  r.raw.write(f.offered);
  r.raw.write(f.hello);
  const accepted = (await r.raw.next())!;
  f.steps.accepted(accepted.tag, accepted.payload);
  const response = (await r.raw.next())!;
  const result = f.steps.response(response.tag, response.payload);
  for (const frame of result.send) r.raw.write(frame);
  const keys = f.steps.takeKeys();
  const out = new OutboundCipherState(crypto, keys.cipher, keys.initiatorToResponder, REKEY_AFTER_MESSAGES);
  return {
    seal: (tag: number, payload: Uint8Array) => r.raw.write(out.seal(tag, payload)),
    /** Any plaintext, as one Encrypted frame: a batch of inner frames, well formed or not. */
    sealPlaintext: (plaintext: Uint8Array) => r.raw.write(out.sealPlaintext(plaintext)),
  };
};

const hostileInner: Array<[string, number, Uint8Array, string]> = [
  ['an oversized Ping', Tag.Ping, new Uint8Array(65), 'MalformedMessageError'],
  ['a Shutdown that is not a reason', Tag.Shutdown, new Uint8Array([0xc1]), 'MalformedMessageError'],
  ['a clear tag inside Encrypted', Tag.Hello, new Uint8Array(1), 'MalformedMessageError'],
  ['a graceful Shutdown', Tag.Shutdown, encodePayload({ code: 'bye', message: 'see you' }), 'PathClosedError'],
];

for (const [what, tag, payload, name] of hostileInner) {
  test(`a scripted peer sends ${what} → ${name}`, async (t) => {
    const r = responderOnRaw();
    const hostile = await hostileInitiator(r);
    const path = await r.accepting;
    const got = collect(path);
    hostile.seal(Tag.Deliver, new Uint8Array([1]));
    await got.until(1);
    hostile.seal(tag, payload);
    const err = await expectEnd(t, r.accepting, name, r.b);
    if (name === 'PathClosedError') t.is((err as { code?: string }).code, 'bye');
    noTimers(t, r.clock);
  });
}

// --- batches: one Encrypted frame, several inner frames ---

const inner = (tag: number, payload: Uint8Array | number[]) => encodeFrame(tag, Uint8Array.from(payload));
const joinAll = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

test('a batch of inner frames is delivered in order, Pings in it answered; framesIn counts messages, sealsIn Encrypted frames', async (t) => {
  const r = responderOnRaw();
  const hostile = await hostileInitiator(r);
  const path = await r.accepting;
  const got = collect(path);
  hostile.sealPlaintext(joinAll(inner(Tag.Deliver, [1]), inner(Tag.Ping, [7, 7]), inner(Tag.Return, []), inner(Tag.Deliver, [3])));
  await got.until(3);
  t.deepEqual(
    got.got.map(([tag, p]) => [tag, [...p]]),
    [
      [Tag.Deliver, [1]],
      [Tag.Return, []],
      [Tag.Deliver, [3]],
    ],
  );
  t.is(path.stats().framesIn, 4);
  t.is(path.stats().sealsIn, 1);
  t.is((await r.raw.next())?.tag, Tag.Encrypted, 'the Pong');
  path.close();
});

const hostileBatches: Array<[string, () => Uint8Array]> = [
  ['a truncated second inner frame', () => joinAll(inner(Tag.Deliver, [1]), inner(Tag.Deliver, [2, 2, 2]).subarray(0, 7))],
  ['a second header cut short', () => joinAll(inner(Tag.Deliver, [1]), inner(Tag.Deliver, [2]).subarray(0, 3))],
  ['trailing garbage after the last inner frame', () => joinAll(inner(Tag.Deliver, [1]), Uint8Array.from([0x00]))],
  ['a zero-length batch (no inner frame at all)', () => new Uint8Array(0)],
  ['a clear tag as the second inner frame', () => joinAll(inner(Tag.Deliver, [1]), inner(Tag.Hello, [1]))],
  ['an Encrypted tag inside the batch', () => joinAll(inner(Tag.Deliver, [1]), inner(Tag.Encrypted, [1]))],
  ['a bad tag byte as the second inner frame', () => joinAll(inner(Tag.Deliver, [1]), Uint8Array.from([0x16, 0, 0, 0, 0]))],
  ['an oversized Ping after a message', () => joinAll(inner(Tag.Deliver, [1]), inner(Tag.Ping, new Array(65).fill(0)))],
];

for (const [what, plaintext] of hostileBatches) {
  test(`a scripted peer sends ${what} → MalformedMessageError, a clean abort, and nothing of that batch is delivered`, async (t) => {
    const r = responderOnRaw();
    const hostile = await hostileInitiator(r);
    const path = await r.accepting;
    const got = collect(path);
    hostile.seal(Tag.Deliver, new Uint8Array([0]));
    await got.until(1);
    hostile.sealPlaintext(plaintext());
    await expectEnd(t, r.accepting, 'MalformedMessageError', r.b);
    t.deepEqual(
      got.got.map(([, p]) => [...p]),
      [[0]],
      'only the message before the bad batch',
    );
    await r.raw.closed;
    t.false(
      r.raw.frames.some((f) => f.tag === Tag.Abort || f.tag === Tag.Encrypted),
      'nothing sent in reply',
    );
    noTimers(t, r.clock);
  });
}

test('a Shutdown inside a batch: the frames before it are delivered, the path closes with the peer\'s code, what follows it is dropped', async (t) => {
  const r = responderOnRaw();
  const hostile = await hostileInitiator(r);
  const path = await r.accepting;
  const got = collect(path);
  hostile.sealPlaintext(joinAll(inner(Tag.Deliver, [1]), inner(Tag.Shutdown, [...encodePayload({ code: 'bye', message: 'done' })]), inner(Tag.Deliver, [2])));
  const err = await expectEnd(t, r.accepting, 'PathClosedError', r.b);
  t.is((err as { code?: string }).code, 'bye');
  t.deepEqual(
    got.got.map(([, p]) => [...p]),
    [[1]],
  );
  noTimers(t, r.clock);
});

// --- time ---

test('limit: HANDSHAKE_TIMEOUT_MS — a silent initiator is dropped on time, with an Abort', async (t) => {
  const q = makeManualQueue();
  const clock = makeSimClock();
  const [a, b] = makeMemoryStreamPair({ schedule: q.schedule });
  const raw = rawPeer(a);
  const accepting = acceptPath({ stream: b, identity: makeIdentity(crypto), crypto, clock });
  accepting.catch(() => {});
  raw.write(rawInitiator().offered);
  q.run();
  clock.advance(HANDSHAKE_TIMEOUT_MS - 1);
  q.run();
  t.false(b.isClosed);
  clock.advance(1);
  q.run();
  await expectEnd(t, accepting, 'HandshakeTimeoutError', b);
  t.is(abortCode(raw.frames.find((f) => f.tag === Tag.Abort)), 'timeout');
  t.true(raw.isClosed);
  noTimers(t, clock);
});

test('handshake timeout, initiator side: a silent responder', async (t) => {
  const q = makeManualQueue();
  const clock = makeSimClock();
  const [a, b] = makeMemoryStreamPair({ schedule: q.schedule });
  rawPeer(b);
  const initiating = initiatePath({ stream: a, identity: makeIdentity(crypto), crypto, clock, limits: { handshakeTimeoutMs: 500 } });
  initiating.catch(() => {});
  q.run();
  clock.advance(500);
  q.run();
  await expectEnd(t, initiating, 'HandshakeTimeoutError', a);
  noTimers(t, clock);
});

// --- cookies and duplicates ---

test('cookie demanded: the initiator repeats Hello with it and the handshake completes', async (t) => {
  const secret = new Uint8Array(32).fill(3);
  const p = makePair(crypto, { responder: { cookies: { secret, demand: () => true } } });
  const tags: number[] = [];
  p.b.link.tap((bytes) => tags.push(bytes[0]! & 0x1f));
  const [i, r] = await Promise.all([p.initiating, p.accepting]);
  t.is(i.sessionId, r.sessionId);
  t.deepEqual(tags.slice(0, 3), [Tag.ProtocolAccepted, Tag.Cookie, Tag.Response]);
  const got = collect(r);
  i.send(Tag.Deliver, new Uint8Array([7]));
  await got.until(1);
  t.pass();
});

test('bad cookie: a repeat Hello with a forged cookie → CookieError and an Abort', async (t) => {
  const r = responderOnRaw({ cookies: { secret: new Uint8Array(32).fill(1), demand: () => true } });
  const f = rawInitiator();
  r.raw.write(f.offered);
  r.raw.write(f.hello);
  t.is((await r.raw.next())?.tag, Tag.ProtocolAccepted);
  t.is((await r.raw.next())?.tag, Tag.Cookie);
  const forged = encodeHello({ ...decodeHello(f.hello.subarray(HEADER_BYTES)), cookie: new Uint8Array(32).fill(9) });
  r.raw.write(encodeFrame(Tag.Hello, forged));
  await expectEnd(t, r.accepting, 'CookieError', r.b);
  t.is(abortCode(await r.raw.next()), 'bad-cookie');
  noTimers(t, r.clock);
});

test('a cookie demanded twice → CookieError on the initiator', async (t) => {
  const i = initiatorOnRaw();
  await i.raw.next();
  i.raw.send(Tag.ProtocolAccepted, { version: PROTOCOL_VERSION });
  i.raw.send(Tag.Cookie, { cookie: new Uint8Array(32) });
  t.is((await i.raw.next())?.tag, Tag.Hello);
  t.is((await i.raw.next())?.tag, Tag.Hello, 'the repeat');
  i.raw.send(Tag.Cookie, { cookie: new Uint8Array(32) });
  await expectEnd(t, i.initiating, 'CookieError', i.a);
  noTimers(t, i.clock);
});

test('DuplicateConnection via decide: both sides name DuplicateConnectionError', async (t) => {
  let asked: string | undefined;
  const decide = (peer: string) => {
    asked = peer;
    return 'duplicate' as const;
  };
  const p = makePair(crypto, { responder: { decide } });
  await expectEnd(t, p.initiating, 'DuplicateConnectionError', p.a);
  await expectEnd(t, p.accepting, 'DuplicateConnectionError', p.b);
  t.is(asked, p.initiatorId.vatId);
  noTimers(t, p.clock);
});

test('options are checked: an identity whose VatId is not its key, a bad limit', async (t) => {
  const [a, b] = makeMemoryStreamPair();
  const id = makeIdentity(crypto);
  const other = makeIdentity(crypto);
  await t.throwsAsync(initiatePath({ stream: a, identity: { vatId: other.vatId, key: id.key }, crypto, clock: makeSimClock() }), { instanceOf: TypeError });
  t.true(a.isClosed);
  await t.throwsAsync(acceptPath({ stream: b, identity: id, crypto, clock: makeSimClock(), limits: { idleMs: 0 } }), { instanceOf: RangeError });
});

const indexOf = (hay: Uint8Array, needle: Uint8Array): number => {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
};
