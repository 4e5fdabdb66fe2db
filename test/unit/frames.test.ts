/** Session frames (protocols/framing/frames.ts): layout, limits, and properties over random input. */
import test from 'ava';
import fc from 'fast-check';
import {
  decodePayload,
  encodeFrame,
  encodePayload,
  type Frame,
  FrameTooLargeError,
  HEADER_BYTES,
  makeFrameReader,
  MalformedFrameError,
  tagByte,
  tagOfByte,
} from '../../protocols/framing/frames.js';

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const frameArb = fc.record({ tag: fc.integer({ min: 0, max: 31 }), payload: fc.uint8Array({ maxLength: 300 }) });
/** Cuts `bytes` at the given points (deduplicated, sorted). */
const cut = (bytes: Uint8Array, points: number[]) => {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...at, bytes.length]) {
    chunks.push(bytes.slice(from, p));
    from = p;
  }
  return chunks;
};
const readAll = (chunks: Uint8Array[], max?: number): Frame[] => {
  const reader = makeFrameReader(max);
  return chunks.flatMap((c) => reader.push(c));
};

test('the tag byte keeps ParrotTalk’s layout: class 0b11, constructed, tag 0–31', (t) => {
  t.is(tagByte(5), 0xe5);
  t.is(tagByte(0), 0xe0);
  t.is(tagByte(31), 0xff);
  t.is(tagOfByte(0xe6), 6);
  t.throws(() => tagByte(32), { instanceOf: RangeError });
  for (const bad of [0x05, 0xc5, 0xa5, 0x65]) t.throws(() => tagOfByte(bad), { instanceOf: MalformedFrameError });
  const f = encodeFrame(6, new Uint8Array([1, 2, 3]));
  t.deepEqual([...f], [0xe6, 0, 0, 0, 3, 1, 2, 3]);
});

test('an oversized frame is refused from its header alone, before any payload is buffered', (t) => {
  const header = new Uint8Array([0xe3, 0, 0x20, 0, 1]); // 2 MiB + 1
  const reader = makeFrameReader();
  t.throws(() => reader.push(header), { instanceOf: FrameTooLargeError });
  // And the reader stays failed.
  t.throws(() => reader.push(encodeFrame(1, new Uint8Array(1))), { instanceOf: FrameTooLargeError });
  // A custom limit is honoured, exactly at the boundary.
  t.is(readAll([encodeFrame(1, new Uint8Array(10))], 10).length, 1);
  t.throws(() => readAll([encodeFrame(1, new Uint8Array(11))], 10), { instanceOf: FrameTooLargeError });
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
  t.deepEqual(got.map((f) => [f.tag, [...f.payload]]), [
    [2, []],
    [3, [9, 9]],
  ]);
  t.deepEqual(pending, [1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 0]);
});

test('property: frames round-trip however the byte stream is cut', (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, points) => {
      const bytes = concat(frames.map((f) => encodeFrame(f.tag, f.payload)));
      const got = readAll(cut(bytes, points));
      t.deepEqual(
        got.map((f) => [f.tag, [...f.payload]]),
        frames.map((f) => [f.tag, [...f.payload]]),
      );
    }),
  );
});

test('property: every single split point of a stream gives the same frames', (t) => {
  const frames = [encodeFrame(1, encodePayload({ a: 1 })), encodeFrame(16, new Uint8Array(40).fill(7)), encodeFrame(31, new Uint8Array(0))];
  const bytes = concat(frames);
  for (let i = 0; i <= bytes.length; i++) {
    t.is(readAll([bytes.slice(0, i), bytes.slice(i)]).length, 3, `split at ${i}`);
  }
});

test('property: random bytes give frames or a named framing error, never anything else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, points) => {
      const reader = makeFrameReader(256);
      let failed = false;
      for (const chunk of cut(bytes, points)) {
        try {
          reader.push(chunk);
          if (failed) return false; // once failed, always failed
        } catch (err) {
          if (!(err instanceof FrameTooLargeError || err instanceof MalformedFrameError)) return false;
          failed = true;
        }
      }
      return reader.pending <= HEADER_BYTES + 256;
    }),
  );
  t.pass();
});

test('property: msgpack payloads round-trip JSON-like values; random bytes decode or fail as MalformedFrameError', (t) => {
  // msgpackr renames a "__proto__" key rather than let it set a prototype: not carried as is.
  const noProto = (v: unknown): boolean => !JSON.stringify(v).includes('"__proto__"');
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }).filter(noProto), (v) => {
      t.deepEqual(decodePayload(encodePayload(v)), JSON.parse(JSON.stringify(v)));
    }),
  );
  const hostile = decodePayload(encodePayload(JSON.parse('{"__proto__": {"polluted": 1}}'))) as object;
  t.is(Object.getPrototypeOf(hostile), Object.prototype);
  t.is(({} as { polluted?: number }).polluted, undefined);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodePayload(bytes);
        return true;
      } catch (err) {
        return err instanceof MalformedFrameError;
      }
    }),
  );
  const bin = (decodePayload(encodePayload({ b: new Uint8Array([1, 2]) })) as { b: Uint8Array }).b;
  t.true(bin instanceof Uint8Array);
  t.deepEqual([...bin], [1, 2]);
});
