/** Session frames (protocols/framing/frames.ts): layout, limits, and properties over random input. */
import test from 'ava';
import fc from 'fast-check';
import {
  decodePayload,
  encodeFrame,
  encodePayload,
  FrameTooLargeError,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  MalformedFrameError,
  readLength,
  Tag,
  tagByte,
  tagName,
  tagOfByte,
} from '../../protocols/framing/frames.js';
import { encodeMessage, type Frame, makeFrameReader } from '../helpers/frames.js';

const concat = (parts: readonly Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
/** Frames as plain data, so deepEqual compares content, not Uint8Array vs Buffer. */
const plain = (frames: readonly Frame[]) => frames.map((f) => [f.tag, [...f.payload]]);
const frameArb = fc.record({ tag: fc.integer({ min: 0, max: 31 }), payload: fc.uint8Array({ maxLength: 300 }) });
const wireOf = (frames: readonly Frame[]) => concat(frames.map((f) => encodeFrame(f.tag, f.payload)));
/** Cuts `bytes` at the given points (taken modulo length + 1, deduplicated, sorted); chunks may be empty. */
const cut = (bytes: Uint8Array, points: readonly number[]) => {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...at, bytes.length]) {
    chunks.push(bytes.slice(from, p));
    from = p;
  }
  return chunks;
};
const readAll = (chunks: readonly Uint8Array[], max?: number): Frame[] => {
  const reader = makeFrameReader(max);
  return chunks.flatMap((c) => reader.push(c));
};

// --- layout and limits ---

test('the tag byte keeps ParrotTalk’s layout: class 0b11, constructed, tag 0–31', (t) => {
  t.is(tagByte(5), 0xe5);
  t.is(tagByte(0), 0xe0);
  t.is(tagByte(31), 0xff);
  for (let tag = 0; tag < 32; tag++) t.is(tagOfByte(tagByte(tag)), tag);
  for (const bad of [32, -1, 1.5, Number.NaN]) t.throws(() => tagByte(bad), { instanceOf: RangeError }, String(bad));
  // Every byte outside 0xE0–0xFF is refused: wrong class, or primitive.
  for (let byte = 0; byte < 0xe0; byte++) t.throws(() => tagOfByte(byte), { instanceOf: MalformedFrameError }, `0x${byte.toString(16)}`);
  t.is(t.throws(() => tagOfByte(0x05))?.name, 'MalformedFrameError');
  t.deepEqual([...encodeFrame(6, new Uint8Array([1, 2, 3]))], [0xe6, 0, 0, 0, 3, 1, 2, 3]);
  t.deepEqual([...encodeFrame(Tag.Signature, new Uint8Array(0x010203))].slice(0, HEADER_BYTES), [0xe5, 0, 1, 2, 3]);
  t.is(tagName(Tag.Hello), 'Hello');
  t.is(tagName(13), undefined);
});

test('an oversized frame is refused from its five header bytes alone', (t) => {
  const reader = makeFrameReader();
  const header = encodeFrame(Tag.Hello, new Uint8Array(0)).slice(0, HEADER_BYTES);
  new DataView(header.buffer).setUint32(1, MAX_FRAME_BYTES + 1);
  t.is(readLength(header, 0), MAX_FRAME_BYTES + 1);
  // Four header bytes: not yet decidable, held.
  t.deepEqual(reader.push(header.subarray(0, 4)), []);
  t.is(reader.pending, 4);
  t.throws(() => reader.push(header.subarray(4)), { instanceOf: FrameTooLargeError });
  // The reader stays failed: a valid frame after is refused with the same error.
  t.throws(() => reader.push(encodeFrame(1, new Uint8Array(1))), { instanceOf: FrameTooLargeError });
  t.throws(() => reader.push(new Uint8Array(0)), { instanceOf: FrameTooLargeError });
  // Exactly the default limit is accepted (header only: the payload is not needed to decide).
  const atLimit = makeFrameReader();
  const ok = header.slice();
  new DataView(ok.buffer).setUint32(1, MAX_FRAME_BYTES);
  t.deepEqual(atLimit.push(ok), []);
  t.is(atLimit.pending, HEADER_BYTES);
  // The largest length the header can say.
  t.throws(() => makeFrameReader().push(Uint8Array.of(0xe1, 0xff, 0xff, 0xff, 0xff)), { instanceOf: FrameTooLargeError });
});

test('a custom limit is honoured exactly at the boundary', (t) => {
  t.deepEqual(plain(readAll([encodeFrame(1, new Uint8Array(10).fill(4))], 10)), [[1, Array(10).fill(4)]]);
  t.throws(() => readAll([encodeFrame(1, new Uint8Array(11))], 10), { instanceOf: FrameTooLargeError });
  t.throws(() => readAll([encodeFrame(1, new Uint8Array(11)).subarray(0, HEADER_BYTES)], 10), { instanceOf: FrameTooLargeError });
  t.deepEqual(plain(readAll([encodeFrame(2, new Uint8Array(0))], 0)), [[2, []]], 'limit 0 still carries empty frames');
  t.throws(() => readAll([encodeFrame(2, new Uint8Array(1))], 0), { instanceOf: FrameTooLargeError });
  // A frame the default limit refuses is fine under a larger one.
  const big = new Uint8Array(MAX_FRAME_BYTES + 1);
  t.throws(() => readAll([encodeFrame(3, big)]), { instanceOf: FrameTooLargeError });
  t.is(readAll([encodeFrame(3, big)], MAX_FRAME_BYTES + 1)[0]?.payload.length, MAX_FRAME_BYTES + 1);
});

test('a header split byte by byte, a zero-length payload, and the pending count', (t) => {
  const bytes = concat([encodeFrame(2, new Uint8Array(0)), encodeFrame(3, new Uint8Array([9, 9]))]);
  const reader = makeFrameReader();
  const got: Frame[] = [];
  const pending: number[] = [];
  for (const b of bytes) {
    got.push(...reader.push(new Uint8Array([b])));
    pending.push(reader.pending);
  }
  t.deepEqual(plain(got), [
    [2, []],
    [3, [9, 9]],
  ]);
  t.deepEqual(pending, [1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 0]);
  // An empty chunk changes nothing.
  t.deepEqual(reader.push(new Uint8Array(0)), []);
  t.is(reader.pending, 0);
});

test('a bad tag byte is refused at once, even alone, and frames before it in earlier chunks were delivered', (t) => {
  const reader = makeFrameReader();
  t.deepEqual(plain(reader.push(encodeFrame(1, Uint8Array.of(7)))), [[1, [7]]]);
  t.throws(() => reader.push(Uint8Array.of(0x05)), { instanceOf: MalformedFrameError });
  t.throws(() => reader.push(encodeFrame(1, Uint8Array.of(7))), { instanceOf: MalformedFrameError });
  // A bad tag byte after a partial frame is found when the frame completes.
  const r2 = makeFrameReader();
  const f = encodeFrame(4, Uint8Array.of(1, 2, 3));
  t.deepEqual(r2.push(f.subarray(0, 6)), []);
  t.throws(() => r2.push(Uint8Array.of(...f.subarray(6), 0x47)), { instanceOf: MalformedFrameError });
});

test('payloads handed out are copies: reusing a chunk’s memory does not change them', (t) => {
  const chunk = encodeFrame(9, Uint8Array.of(1, 2, 3));
  const reader = makeFrameReader();
  const [frame] = reader.push(chunk);
  chunk.fill(0);
  t.deepEqual([...frame!.payload], [1, 2, 3]);
  // The held part of a split frame is copied too.
  const r2 = makeFrameReader();
  const wire = encodeFrame(9, Uint8Array.of(4, 5, 6));
  const first = wire.slice(0, 6);
  r2.push(first);
  first.fill(0);
  t.deepEqual(plain(r2.push(wire.slice(6))), [[9, [4, 5, 6]]]);
  // And so is a middle chunk that only adds to what is held.
  const r3 = makeFrameReader();
  const middle = wire.slice(5, 7);
  r3.push(wire.slice(0, 5));
  r3.push(middle);
  t.is(r3.pending, 7);
  middle.fill(0);
  t.deepEqual(plain(r3.push(wire.slice(7))), [[9, [4, 5, 6]]]);
});

// --- properties ---

test('property: one frame round-trips with its header laid out as specified', (t) => {
  fc.assert(
    fc.property(frameArb, ({ tag, payload }) => {
      const wire = encodeFrame(tag, payload);
      t.is(wire.length, HEADER_BYTES + payload.length);
      t.is(wire[0], 0xe0 | tag);
      t.is(readLength(wire, 0), payload.length);
      const reader = makeFrameReader();
      t.deepEqual(plain(reader.push(wire)), [[tag, [...payload]]]);
      t.is(reader.pending, 0);
    }),
  );
});

test('property: a stream of frames split at every single point gives the same frames', (t) => {
  fc.assert(
    fc.property(fc.array(fc.record({ tag: fc.integer({ min: 0, max: 31 }), payload: fc.uint8Array({ maxLength: 40 }) }), { minLength: 1, maxLength: 5 }), (frames) => {
      const wire = wireOf(frames);
      for (let i = 0; i <= wire.length; i++) {
        t.deepEqual(plain(readAll([wire.subarray(0, i), wire.subarray(i)])), plain(frames), `split at ${i}`);
      }
    }),
    { numRuns: 50 },
  );
});

test('property: frames round-trip however the byte stream is chunked', (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, points) => {
      const reader = makeFrameReader();
      const got = cut(wireOf(frames), points).flatMap((c) => reader.push(c));
      t.deepEqual(plain(got), plain(frames));
      t.is(reader.pending, 0);
    }),
  );
});

/** What a correct reader makes of a whole byte string: the frames, then a leftover or the first error. */
type FramingErrorName = 'MalformedFrameError' | 'FrameTooLargeError';
const reference = (bytes: Uint8Array, max: number): { frames: Frame[]; error: FramingErrorName | undefined; pending: number } => {
  const frames: Frame[] = [];
  let at = 0;
  while (at < bytes.length) {
    const byte = bytes[at]!;
    if (byte < 0xe0) return { frames, error: 'MalformedFrameError', pending: 0 };
    if (bytes.length - at < HEADER_BYTES) break;
    const len = bytes[at + 1]! * 2 ** 24 + bytes[at + 2]! * 2 ** 16 + bytes[at + 3]! * 2 ** 8 + bytes[at + 4]!;
    if (len > max) return { frames, error: 'FrameTooLargeError', pending: 0 };
    if (bytes.length - at - HEADER_BYTES < len) break;
    frames.push({ tag: byte & 0x1f, payload: bytes.slice(at + HEADER_BYTES, at + HEADER_BYTES + len) });
    at += HEADER_BYTES + len;
  }
  return { frames, error: undefined, pending: bytes.length - at };
};

/** Random bytes, and valid streams with a few bytes overwritten (so headers are often plausible). */
const hostileBytes = fc.oneof(
  fc.uint8Array({ maxLength: 400 }),
  fc
    .tuple(fc.array(frameArb, { maxLength: 6 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.uint8Array({ maxLength: 8 }))
    .map(([frames, edits, tail]) => {
      const wire = concat([wireOf(frames), tail]);
      for (const [at, value] of edits) if (wire.length > 0) wire[at % wire.length] = value;
      return wire;
    }),
);

test('property (fuzz): hostile bytes, chunked anyhow, give exactly the reference frames or its named error; once failed, always failed', (t) => {
  const LIMIT = 256;
  const seen = { ok: 0, MalformedFrameError: 0, FrameTooLargeError: 0 };
  fc.assert(
    fc.property(hostileBytes, fc.array(fc.nat(), { maxLength: 8 }), (bytes, points) => {
      const want = reference(bytes, LIMIT);
      const reader = makeFrameReader(LIMIT);
      const got: Frame[] = [];
      let failure: Error | undefined;
      for (const chunk of cut(bytes, points)) {
        try {
          got.push(...reader.push(chunk));
          t.is(failure, undefined, 'a push after a failure must throw');
        } catch (err) {
          t.true(err instanceof FrameTooLargeError || err instanceof MalformedFrameError, String(err));
          if (failure) t.is((err as Error).name, failure.name, 'the same failure every time');
          failure = err as Error;
        }
      }
      if (want.error) {
        t.is(failure?.name, want.error);
        // Frames finished in earlier chunks were handed out; those in the failing chunk are dropped.
        t.deepEqual(plain(got), plain(want.frames.slice(0, got.length)));
        t.throws(() => reader.push(encodeFrame(1, new Uint8Array(0))), { name: want.error });
      } else {
        t.is(failure, undefined);
        t.deepEqual(plain(got), plain(want.frames));
        t.is(reader.pending, want.pending);
      }
      seen[want.error ?? 'ok']++;
    }),
    { numRuns: 500 },
  );
  // The generator reaches every outcome, so the property says something about each.
  t.true(seen.ok > 20 && seen.MalformedFrameError > 20 && seen.FrameTooLargeError > 20, JSON.stringify(seen));
});

// --- msgpack payloads ---

/** msgpackr writes -0 as the integer 0; everything else JSON-like comes back as it went. */
const withoutNegativeZero = (v: unknown): unknown => {
  if (Object.is(v, -0)) return 0;
  if (Array.isArray(v)) return v.map(withoutNegativeZero);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutNegativeZero(x)]));
  return v;
};
/** msgpackr renames a "__proto__" key rather than let it set a prototype (tested below): not carried as is. */
const hasProtoKey = (v: unknown): boolean => JSON.stringify(v).includes('"__proto__"');

test('property: JSON-like values round-trip through a payload, also when the payload is a view into a larger buffer', (t) => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), fc.nat(16), (v, offset) => {
      fc.pre(!hasProtoKey(v));
      const bytes = encodePayload(v);
      t.deepEqual(decodePayload(bytes), withoutNegativeZero(v));
      // The splitter hands out views: decode must respect byteOffset.
      const host = new Uint8Array(offset + bytes.length + 3).fill(0xc1);
      host.set(bytes, offset);
      t.deepEqual(decodePayload(host.subarray(offset, offset + bytes.length)), withoutNegativeZero(v));
    }),
  );
  t.true(Object.is(decodePayload(encodePayload(-0)), 0));
  const [frame] = makeFrameReader().push(encodeMessage(Tag.Hello, { v: [1, 'two', null] }));
  t.deepEqual(decodePayload(frame!.payload), { v: [1, 'two', null] });
  const bin = (decodePayload(encodePayload({ b: new Uint8Array([1, 2]) })) as { b: Uint8Array }).b;
  t.true(bin instanceof Uint8Array);
  t.deepEqual([...bin], [1, 2]);
});

test('a "__proto__" key cannot set a prototype or pollute Object.prototype', (t) => {
  const hostile = decodePayload(encodePayload(JSON.parse('{"__proto__": {"polluted": 1}}'))) as object;
  t.is(Object.getPrototypeOf(hostile), Object.prototype);
  t.is(({} as { polluted?: number }).polluted, undefined);
});

test('no structure sharing on decode: the structured-clone id/pointer extensions are refused', (t) => {
  // ext 0x69 "id 1" on an array whose one element is ext 0x70 "pointer to 1": an array containing itself.
  const cyclic = Uint8Array.of(0xd6, 0x69, 0, 0, 0, 1, 0x91, 0xd6, 0x70, 0, 0, 0, 1);
  t.throws(() => decodePayload(cyclic), { instanceOf: MalformedFrameError });
  const pointerOnly = Uint8Array.of(0x91, 0xd6, 0x70, 0, 0, 0, 1);
  t.throws(() => decodePayload(pointerOnly), { instanceOf: MalformedFrameError });
  t.throws(() => decodePayload(new Uint8Array(0)), { instanceOf: MalformedFrameError });
  t.throws(() => decodePayload(Uint8Array.of(0x01, 0x02)), { instanceOf: MalformedFrameError }, 'trailing bytes');
});

/** Every object reached once: no cycles and no sharing. */
const isTree = (root: unknown): boolean => {
  const seen = new Set<object>();
  const walk = (v: unknown): boolean => {
    if (v === null || typeof v !== 'object') return true;
    if (seen.has(v)) return false;
    seen.add(v);
    if (ArrayBuffer.isView(v)) return true;
    const children: unknown[] =
      v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? [...v] : v instanceof Error ? [v.cause] : Object.values(v as object);
    return children.every(walk);
  };
  return walk(root);
};

/** Bytes biased toward msgpack headers and msgpackr's extension types, so decoding goes deep. */
const msgpackish = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(0x90, 0x91, 0x92, 0x80, 0x81, 0xa1, 0xc0, 0xc3, 0xc4, 0xc7, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xdc, 0xde),
      fc.constantFrom(0x00, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0xff),
    ),
    { maxLength: 64 },
  )
  .map((a) => Uint8Array.from(a));

test('property (fuzz): decodePayload of hostile bytes returns an acyclic value or throws MalformedFrameError, and leaves the codec working', (t) => {
  const seen = { value: 0, refused: 0 };
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), msgpackish), (bytes) => {
      let value: unknown;
      try {
        value = decodePayload(bytes);
        seen.value++;
        t.true(isTree(value));
      } catch (err) {
        seen.refused++;
        t.true(err instanceof MalformedFrameError, String(err));
      }
      t.deepEqual(decodePayload(encodePayload({ after: [1, 'x'] })), { after: [1, 'x'] });
    }),
    { numRuns: 1000 },
  );
  // Both outcomes were exercised (about 5 % of runs decode; a bound by chance alone would be flaky).
  t.true(seen.value > 20 && seen.refused > 20, JSON.stringify(seen));
});
