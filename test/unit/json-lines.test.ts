/** Newline-delimited JSON framing: chunking, limits and hostile input. */
import { deepStrictEqual } from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import {
  encodeLine,
  FrameTooLargeError,
  makeLineDecoder,
  MalformedFrameError,
  MAX_LINE_CHARS,
} from '../../protocols/framing/json-lines.js';

/** Splits `text` at the given (sorted, deduplicated) cut points. */
const splitAt = (text: string, cuts: number[]): string[] => {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const chunks: string[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(text.slice(last, p));
    last = p;
  }
  chunks.push(text.slice(last));
  return chunks;
};

const decodeAll = (chunks: string[], max?: number): unknown[] => {
  const d = makeLineDecoder(max);
  return chunks.flatMap((c) => d.push(c));
};

test('encodeLine ends every frame with exactly one newline, and JSON never adds another', (t) => {
  t.is(encodeLine({ a: 'x\ny' }), '{"a":"x\\ny"}\n');
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const line = encodeLine(v);
      return line.endsWith('\n') && line.indexOf('\n') === line.length - 1;
    }),
  );
});

test('property: JSON values encoded and split at arbitrary points decode to the same values', (t) => {
  fc.assert(
    fc.property(fc.array(fc.jsonValue()), fc.array(fc.nat()), (values, cuts) => {
      const text = values.map(encodeLine).join('');
      const decoded = decodeAll(splitAt(text, cuts));
      deepStrictEqual(decoded, JSON.parse(JSON.stringify(values)));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('property: one character at a time decodes the same as one chunk', (t) => {
  fc.assert(
    fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 8 }), (values) => {
      const text = values.map(encodeLine).join('');
      deepStrictEqual(decodeAll([...text]), decodeAll([text]));
    }),
    { numRuns: 100 },
  );
  t.pass();
});

test('frames come out as soon as their newline arrives, not before', (t) => {
  const d = makeLineDecoder();
  t.deepEqual(d.push('{"a":'), []);
  t.deepEqual(d.push('1}'), []);
  t.deepEqual(d.push('\n[2'), [{ a: 1 }]);
  t.deepEqual(d.push(']\n3\n'), [[2], 3]);
});

test('blank lines are skipped', (t) => {
  t.deepEqual(decodeAll(['\n', '  \n1\n\n', '\t\n2\n']), [1, 2]);
});

test('limit: MAX_LINE_CHARS by default — a line of exactly the limit is accepted, one more character is refused', (t) => {
  const text = 'x'.repeat(MAX_LINE_CHARS - 2);
  const exact = JSON.stringify(text);
  t.is(exact.length, MAX_LINE_CHARS);
  t.deepEqual(makeLineDecoder().push(`${exact}\n`), [text]);
  const over = JSON.stringify(`${text}x`);
  t.throws(() => makeLineDecoder().push(`${over}\n`), { instanceOf: FrameTooLargeError });
  // Unterminated, the same bound holds while it is buffered.
  const waiting = makeLineDecoder();
  t.deepEqual(waiting.push(exact), []);
  t.throws(() => waiting.push('x'), { instanceOf: FrameTooLargeError });
});

test('a line of exactly the limit is accepted; one more character is refused', (t) => {
  const max = 16;
  const exact = JSON.stringify('x'.repeat(max - 2)); // 16 chars with quotes
  t.is(exact.length, max);
  t.deepEqual(decodeAll([`${exact}\n`], max), ['x'.repeat(max - 2)]);
  const over = JSON.stringify('x'.repeat(max - 1));
  const err = t.throws(() => decodeAll([`${over}\n`], max));
  t.is(err?.name, 'FrameTooLargeError');
  t.true(err instanceof FrameTooLargeError);
});

test('an unterminated line is refused as soon as it passes the limit, not buffered on', (t) => {
  const max = 100;
  const d = makeLineDecoder(max);
  t.deepEqual(d.push('"'), []);
  t.deepEqual(d.push('x'.repeat(max - 1)), []); // exactly at the limit, still waiting
  const err = t.throws(() => d.push('x'));
  t.is(err?.name, 'FrameTooLargeError');
  // A single huge chunk with no newline fails at once too.
  const d2 = makeLineDecoder(max);
  t.throws(() => d2.push('y'.repeat(max + 1)), { instanceOf: FrameTooLargeError });
});

test('property: the decoder never holds more than the limit, however the input is chunked', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.array(fc.string({ unit: fc.constantFrom('a', '1', '\n', ' ', '"'), maxLength: 40 }), { maxLength: 20 }),
      (max, chunks) => {
        const d = makeLineDecoder(max);
        let pending = '';
        for (const chunk of chunks) {
          const all = pending + chunk;
          const lines = all.split('\n');
          const tail = lines.pop()!;
          const tooLong = lines.some((l) => l.length > max) || tail.length > max;
          try {
            d.push(chunk);
          } catch (err) {
            // Only an over-long line or a non-JSON line may stop it.
            if ((err as Error).name === 'FrameTooLargeError') return tooLong;
            return (err as Error).name === 'MalformedFrameError';
          }
          if (tooLong) return false;
          pending = tail;
        }
        return true;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test('a non-JSON line throws MalformedFrameError', (t) => {
  for (const bad of ['{', 'nope', '{"a":1}}', "{'a':1}", 'undefined', '[1,]', '1 2']) {
    const err = t.throws(() => makeLineDecoder().push(`${bad}\n`), undefined, bad);
    t.is(err?.name, 'MalformedFrameError', bad);
    t.true(err instanceof MalformedFrameError);
  }
  // The frames before the bad line in the same chunk are not silently returned as a success.
  t.throws(() => makeLineDecoder().push('1\nnope\n'), { instanceOf: MalformedFrameError });
});

test('property: fuzzed input either decodes or throws one of the two named errors, and terminates', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 50 }),
          fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', '\\', ':', ',', '\n', '1', 'e', '-', ' '), maxLength: 50 }),
          fc.jsonValue().map(encodeLine),
        ),
        { maxLength: 20 },
      ),
      fc.integer({ min: 1, max: 200 }),
      (chunks, max) => {
        const d = makeLineDecoder(max);
        for (const chunk of chunks) {
          try {
            const frames = d.push(chunk);
            if (!Array.isArray(frames)) return false;
          } catch (err) {
            return err instanceof FrameTooLargeError || err instanceof MalformedFrameError;
          }
        }
        return true;
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('deeply nested input within the limit is decoded or refused by name, never a stack overflow', (t) => {
  const depth = 100_000;
  const line = `${'['.repeat(depth)}${']'.repeat(depth)}\n`;
  try {
    const [v] = makeLineDecoder().push(line);
    t.true(Array.isArray(v));
  } catch (err) {
    t.true(err instanceof MalformedFrameError, `threw ${(err as Error).name}`);
  }
});
