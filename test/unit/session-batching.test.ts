/**
 * Property: batching on a secure path. Both ends send inner frames of random
 * tags and sizes (0 up to the largest a frame limit allows, the limit itself
 * random), interleaved with ends of turns (the paths' PathClock.defer is a
 * manual queue here) and with the network delivering part, all or nothing of
 * what is in flight, in random chunks. Then:
 *
 * - every frame arrives once, in order, with its tag and bytes;
 * - each write on the stream is exactly one whole Encrypted frame, none above
 *   maxFrameBytes;
 * - the Encrypted frames are exactly those the batching rule gives: a frame
 *   joins the turn's batch unless it would push it past the limit (then the
 *   batch goes first), and the batch goes at the end of the turn;
 * - so at every end of a turn nothing is left waiting: framesOut counts every
 *   frame sent so far (added latency at most one turn).
 */
import test from 'ava';
import fc from 'fast-check';
import { HEADER_BYTES, readLength, Tag, tagOfByte } from '../../protocols/framing/frames.js';
import { AEAD_TAG_BYTES } from '../../protocols/session/crypto.js';
import { MIN_FRAME_BYTES, type SecurePath } from '../../protocols/session/path.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { closedWith, connected, makeManualQueue, makePair } from './session-fixtures.js';

const USER_TAGS = [Tag.Bootstrap, Tag.Deliver, Tag.DeliverOnly, Tag.Return, Tag.Resolve, Tag.GCExport, Tag.GCAnswer, Tag.ChannelOpen, Tag.ChannelClose, 28, 29, 30, 31];

/** Sizes as fractions of the largest payload, so every limit gets empty, small, middling and largest frames. */
const sizeArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 40 }).map((n) => ({ abs: n })) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((f) => ({ frac: f })) },
  { weight: 1, arbitrary: fc.constant({ frac: 1 }) },
);
const opArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), fromInitiator: fc.boolean(), tag: fc.constantFrom(...USER_TAGS), size: sizeArb }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'turn' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('network' as const), steps: fc.integer({ min: 0, max: 6 }) }) },
);

/** The batching rule, written out: the Encrypted frame sizes (whole, on the wire) one side must write. */
const makeModel = (maxFrameBytes: number) => {
  const maxPlain = maxFrameBytes - AEAD_TAG_BYTES;
  let batch = 0;
  const frames: number[] = [];
  const emit = () => {
    if (batch > 0) frames.push(HEADER_BYTES + batch + AEAD_TAG_BYTES);
    batch = 0;
  };
  return {
    frames,
    send(size: number) {
      if (batch > 0 && batch + HEADER_BYTES + size > maxPlain) emit();
      batch += HEADER_BYTES + size;
    },
    turn: emit,
  };
};

/** Content that tells frames apart: the sequence number in the first bytes, then a pattern. */
const payloadOf = (seq: number, size: number) => Uint8Array.from({ length: size }, (_, i) => (i < 4 ? (seq >>> (8 * i)) & 0xff : (seq * 31 + i) & 0xff));

test('batching: any interleaving of sends, turns and network delays delivers every frame once in order, in exactly the Encrypted frames the rule gives, none over the limit', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        maxFrameBytes: fc.oneof(fc.integer({ min: MIN_FRAME_BYTES, max: 4096 }), fc.integer({ min: 4096, max: 80_000 })),
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        chunkI: fc.integer({ min: 1, max: 3000 }),
        chunkR: fc.integer({ min: 1, max: 3000 }),
        rekeyAfterMessages: fc.integer({ min: 1, max: 6 }),
        ops: fc.array(opArb, { maxLength: 60 }),
      }),
      async ({ maxFrameBytes, seed, chunkI, chunkR, rekeyAfterMessages, ops }) => {
        const net = makeManualQueue();
        const turns = makeManualQueue();
        const limits = { maxFrameBytes, rekeyAfterMessages, maxUnsentBytes: 4 * maxFrameBytes };
        const pending = connected(nodeCrypto, {
          stream: { schedule: net.schedule, seed },
          defer: turns.schedule,
          initiator: { limits },
          responder: { limits },
        });
        net.run();
        const { initiator, responder, a, b } = await pending;
        // Only from here on: writes after the handshake, each should be one Encrypted frame.
        const writes: [Uint8Array[], Uint8Array[]] = [[], []];
        a.link.tap((w) => writes[0].push(w.slice()));
        b.link.tap((w) => writes[1].push(w.slice()));
        a.link.splitWrites(chunkI);
        b.link.splitWrites(chunkR);
        const sides = [
          { path: initiator, model: makeModel(maxFrameBytes), sent: [] as Array<[number, Uint8Array]>, got: [] as Array<[number, Uint8Array]> },
          { path: responder, model: makeModel(maxFrameBytes), sent: [] as Array<[number, Uint8Array]>, got: [] as Array<[number, Uint8Array]> },
        ] as const;
        for (const side of sides) side.path.onFrame((tag, p) => side.got.push([tag, p.slice()]));
        const maxPayload = maxFrameBytes - HEADER_BYTES - AEAD_TAG_BYTES;
        const fail = (why: string) => {
          throw new Error(`${why} (maxFrameBytes ${maxFrameBytes})`);
        };
        const endTurn = () => {
          turns.run();
          for (const [i, s] of sides.entries()) {
            s.model.turn();
            // Nothing waits past the end of its turn.
            if (s.path.stats().framesOut !== s.sent.length) fail(`side ${i}: ${s.path.stats().framesOut} frames written of ${s.sent.length} sent by the end of the turn`);
            if (writes[i]!.length !== s.model.frames.length) fail(`side ${i}: ${writes[i]!.length} Encrypted frames written, the rule gives ${s.model.frames.length}`);
          }
        };
        let seq = 0;
        for (const op of ops) {
          if (op.kind === 'send') {
            const side = sides[op.fromInitiator ? 0 : 1];
            const size = 'abs' in op.size ? Math.min(op.size.abs, maxPayload) : Math.floor(op.size.frac * maxPayload);
            const payload = payloadOf(seq++, size);
            side.path.send(op.tag, payload);
            side.sent.push([op.tag, payload]);
            side.model.send(size);
          } else if (op.kind === 'turn') endTurn();
          else net.run(op.steps);
        }
        endTurn();
        net.run();
        for (const [i, s] of sides.entries()) {
          const other = sides[1 - i]!;
          const same = (x: Array<[number, Uint8Array]>, y: Array<[number, Uint8Array]>) =>
            x.length === y.length && x.every(([tag, p], k) => tag === y[k]![0] && Buffer.compare(p, y[k]![1]) === 0);
          if (!same(other.got, s.sent)) fail(`side ${i}: ${s.sent.length} sent, ${other.got.length} arrived, not the same frames in the same order`);
          const lengths = writes[i]!.map((w) => {
            if (w.length < HEADER_BYTES || tagOfByte(w[0]!) !== Tag.Encrypted || readLength(w, 0) !== w.length - HEADER_BYTES) fail(`side ${i}: a write that is not one whole Encrypted frame`);
            if (w.length - HEADER_BYTES > maxFrameBytes) fail(`side ${i}: an Encrypted frame of ${w.length - HEADER_BYTES} bytes`);
            return w.length;
          });
          if (JSON.stringify(lengths) !== JSON.stringify(s.model.frames)) fail(`side ${i}: Encrypted frames ${lengths} where the rule gives ${s.model.frames}`);
          const st = s.path.stats();
          if (st.sealsOut !== s.model.frames.length || other.path.stats().sealsIn !== s.model.frames.length) fail(`side ${i}: seal counters`);
          if (other.path.stats().framesIn !== s.sent.length) fail(`side ${i}: framesIn at the other end`);
        }
        const up = (p: SecurePath) => !p.lifetime.isClosed;
        if (!up(initiator) || !up(responder)) fail(`a path closed: ${initiator.lifetime.reason?.message ?? responder.lifetime.reason?.message}`);
        initiator.close();
        turns.run();
        net.run();
        return responder.lifetime.isClosed;
      },
    ),
    { numRuns: 120 },
  );
  t.pass();
});

test('limit: MIN_FRAME_BYTES — a frame limit below it is refused; at it, the longest Shutdown still fits', async (t) => {
  const tooSmall = makePair(nodeCrypto, { initiator: { limits: { maxFrameBytes: MIN_FRAME_BYTES - 1 } } });
  await t.throwsAsync(tooSmall.initiating, { instanceOf: RangeError, message: /maxFrameBytes must be at least 2048/ });
  const limits = { maxFrameBytes: MIN_FRAME_BYTES };
  const { initiator, responder } = await connected(nodeCrypto, { initiator: { limits }, responder: { limits } });
  // Three bytes of UTF-8 per UTF-16 unit, the most there is, in the longest code and message.
  initiator.close({ code: '€'.repeat(100), message: '€'.repeat(1000) });
  const reason = await closedWith(responder);
  t.is(reason.name, 'PathClosedError');
  t.is((reason as { code?: string }).code, '€'.repeat(64));
});

test('a graceful close right after sends delivers them, then the Shutdown, in one Encrypted frame; an abort drops them', async (t) => {
  const net = makeManualQueue();
  const turns = makeManualQueue();
  const pending = connected(nodeCrypto, { stream: { schedule: net.schedule }, defer: turns.schedule });
  net.run();
  const { initiator, responder, a } = await pending;
  const got: number[] = [];
  responder.onFrame((_tag, p) => got.push(p[0]!));
  const writes: number[] = [];
  a.link.tap((w) => writes.push(w.length));
  initiator.send(Tag.Deliver, Uint8Array.of(1));
  initiator.send(Tag.Deliver, Uint8Array.of(2));
  initiator.close({ code: 'bye', message: 'done' });
  t.is(initiator.stats().sealsOut, 1, 'written at the close, not at the end of the turn');
  t.is(initiator.stats().framesOut, 3, 'two messages and the Shutdown');
  t.is(writes.length, 1, 'one write');
  turns.run();
  net.run();
  t.deepEqual(got, [1, 2]);
  t.is((responder.lifetime.reason as { code?: string } | undefined)?.code, 'bye');

  const p2 = connected(nodeCrypto, { stream: { schedule: net.schedule }, defer: turns.schedule });
  net.run();
  const second = await p2;
  const got2: number[] = [];
  second.responder.onFrame((_tag, p) => got2.push(p[0]!));
  second.initiator.send(Tag.Deliver, Uint8Array.of(1));
  second.initiator.abort(new Error('gone'));
  turns.run();
  net.run();
  t.deepEqual(got2, [], 'an abort drops what waits for the end of the turn');
  t.is(second.initiator.stats().sealsOut, 0);
  t.is(second.responder.lifetime.reason?.name, 'PathLostError');
});
