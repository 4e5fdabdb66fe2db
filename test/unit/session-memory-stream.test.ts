/** The in-memory ByteStream pair and its fault controls. */
import test from 'ava';
import { makeMemoryStreamPair, type MemoryStream } from '../../protocols/framing/memory-stream.js';
import { makeManualQueue } from './session-fixtures.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';

const listen = (s: MemoryStream) => {
  const chunks: Uint8Array[] = [];
  const closes: Array<Error | undefined> = [];
  s.onData((c) => chunks.push(new Uint8Array(c)));
  s.onClose((e) => closes.push(e));
  return {
    chunks,
    closes,
    bytes: () => chunks.flatMap((c) => [...c]),
  };
};

const setup = (seed?: number) => {
  const q = makeManualQueue();
  const [a, b] = makeMemoryStreamPair({ schedule: q.schedule, ...(seed === undefined ? {} : { seed }) });
  return { q, a, b, atA: listen(a), atB: listen(b) };
};

test('delivers in order, never inside write, and copies what was written', (t) => {
  const { q, a, atB } = setup();
  const buf = new Uint8Array([1, 2]);
  a.write(buf);
  buf[0] = 9;
  a.write(new Uint8Array([3]));
  t.deepEqual(atB.bytes(), [], 'nothing before the scheduler runs');
  q.run();
  t.deepEqual(atB.bytes(), [1, 2, 3]);
});

test('the default scheduler is queueMicrotask', async (t) => {
  const [a, b] = makeMemoryStreamPair();
  const got = new Promise<Uint8Array>((r) => b.onData(r));
  a.write(new Uint8Array([7]));
  t.deepEqual([...(await within(got, LOCAL_MS, 'the write, delivered by a microtask'))], [7]);
});

test('close: delivers what was written first, fires both onClose once, and later writes are dropped', (t) => {
  const { q, a, b, atA, atB } = setup();
  a.write(new Uint8Array([1]));
  a.close();
  a.close();
  a.write(new Uint8Array([2]));
  q.run();
  t.deepEqual(atB.bytes(), [1]);
  t.deepEqual(atA.closes, [undefined]);
  t.deepEqual(atB.closes, [undefined]);
  t.true(a.isClosed && b.isClosed);
  b.write(new Uint8Array([3]));
  q.run();
  t.deepEqual(atA.bytes(), []);
});

test('hold, takeHeld, inject, release: reordering by hand', (t) => {
  const { q, a, atB } = setup();
  a.link.hold();
  a.write(new Uint8Array([1]));
  a.write(new Uint8Array([2]));
  q.run();
  t.deepEqual(atB.bytes(), []);
  const [x, y] = a.link.takeHeld();
  a.link.release();
  a.link.inject(y!);
  a.link.inject(x!);
  q.run();
  t.deepEqual(atB.bytes(), [2, 1]);
});

test('dropNext, corruptAt (by written offset), truncateAfter', (t) => {
  const { q, a, atA, atB } = setup();
  a.write(new Uint8Array([0, 1, 2]));
  a.link.dropNext(2);
  a.link.corruptAt(4, 0x0f);
  a.link.truncateAfter(6);
  a.write(new Uint8Array([3, 4, 5, 6, 7]));
  a.write(new Uint8Array([8]));
  q.run();
  // 3 and 4 dropped; offset 4 (the 4) was corrupted before the drop took it; 6 and on cut.
  t.deepEqual(atB.bytes(), [0, 1, 2, 5]);
  t.deepEqual(atB.closes, [undefined]);
  t.deepEqual(atA.closes, [undefined]);
});

test('corruptAt flips exactly the byte at that offset', (t) => {
  const { q, a, atB } = setup();
  a.link.corruptAt(1);
  a.write(new Uint8Array([0x10, 0x20, 0x30]));
  q.run();
  t.deepEqual(atB.bytes(), [0x10, 0xdf, 0x30]);
});

test('splitWrites: random chunk sizes, same bytes, and the same seed gives the same chunks', (t) => {
  const run = (seed: number) => {
    const { q, a, atB } = setup(seed);
    a.link.splitWrites(7);
    a.write(new Uint8Array(100).map((_, i) => i));
    q.run();
    return atB;
  };
  const one = run(42);
  t.deepEqual(one.bytes(), Array.from({ length: 100 }, (_, i) => i));
  t.true(one.chunks.length > 100 / 7);
  t.true(one.chunks.every((c) => c.length >= 1 && c.length <= 7));
  t.deepEqual(
    run(42).chunks.map((c) => c.length),
    one.chunks.map((c) => c.length),
  );
  t.notDeepEqual(
    run(43).chunks.map((c) => c.length),
    one.chunks.map((c) => c.length),
  );
});

test('fail: both ends get the error once; held data is lost', (t) => {
  const { q, a, atA, atB } = setup();
  a.link.hold();
  a.write(new Uint8Array([1]));
  const err = new Error('reset');
  a.fail(err);
  a.link.release();
  q.run();
  t.deepEqual(atB.bytes(), []);
  t.deepEqual(atA.closes, [err]);
  t.deepEqual(atB.closes, [err]);
});

test('tap sees writes as written, before faults; data that arrives before onData is kept', (t) => {
  const q = makeManualQueue();
  const [a, b] = makeMemoryStreamPair({ schedule: q.schedule });
  const seen: number[] = [];
  a.link.tap((bytes) => seen.push(...bytes));
  a.link.corruptAt(0);
  a.write(new Uint8Array([5]));
  q.run();
  t.deepEqual(seen, [5]);
  t.is(a.link.written, 1);
  const got: number[] = [];
  b.onData((c) => got.push(...c));
  t.deepEqual(got, [5 ^ 0xff]);
});

test('stall: a peer that stops reading leaves writes unsent here, write says slow down at the high-water mark', async (t) => {
  const q = makeManualQueue();
  const [a, b] = makeMemoryStreamPair({ schedule: q.schedule, highWaterMark: 10 });
  const atB = listen(b);
  t.true(a.write(new Uint8Array([1])), 'below the mark while the peer reads');
  q.run();
  t.is(a.unsentBytes, 0, 'bytes the peer took are not unsent');
  await a.drained();
  a.link.stall();
  t.true(a.write(new Uint8Array(9).fill(2)), '9 unsent: below the mark of 10');
  t.false(a.write(new Uint8Array([3])), '10 unsent: at the mark, slow down');
  t.false(a.write(new Uint8Array([4])), 'still over the mark: the bytes are queued anyway');
  t.is(a.unsentBytes, 11);
  let drained = false;
  const waiting = a.drained().then(() => (drained = true));
  q.run();
  await Promise.resolve();
  t.deepEqual(atB.bytes(), [1], 'nothing written after stall arrives');
  t.false(drained);
  a.link.unstall();
  await waiting;
  t.is(a.unsentBytes, 0);
  q.run();
  t.deepEqual(atB.bytes(), [1, ...new Array(9).fill(2), 3, 4], 'in order, nothing lost');
  t.true(a.write(new Uint8Array([5])));
});

test('stall: close waits behind the unsent bytes; writes after close are refused; drained() resolves on close', async (t) => {
  const { q, a, atA, atB } = setup();
  a.link.stall();
  a.write(new Uint8Array(20_000));
  const waiting = a.drained();
  a.close();
  await waiting;
  t.false(a.write(new Uint8Array([1])), 'a closed stream takes nothing');
  t.is(a.unsentBytes, 20_000, 'what waited still waits; the write after close did not add to it');
  q.run();
  t.deepEqual(atA.closes, [undefined], 'the local onClose fires');
  t.deepEqual(atB.closes, [], 'the peer, not reading, has not seen the end');
  a.link.unstall();
  q.run();
  t.is(atB.bytes().length, 20_000);
  t.deepEqual(atB.closes, [undefined]);
});

test('stall then fail: unsent bytes are lost and drained() resolves', async (t) => {
  const { q, a, b, atB } = setup();
  a.link.stall();
  t.false(a.write(new Uint8Array(20_000)));
  const waiting = a.drained();
  b.fail(new Error('reset'));
  await waiting;
  t.is(a.unsentBytes, 0);
  a.link.unstall();
  q.run();
  t.deepEqual(atB.bytes(), []);
});
