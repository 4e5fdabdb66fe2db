/**
 * The triple session's send buffer (protocols/triple/send-buffer.ts) holds a
 * frame until the peer acknowledges it, and not a moment longer: an acked
 * frame's bytes are unreachable at once, not at the next compaction (which
 * once kept up to 1,024 acked frames, 1 GiB of 1 MiB answers, outside every bound).
 */
import test from 'ava';
import { SendBuffer } from '../../protocols/triple/send-buffer.js';
import { settledHeap } from '../helpers/footprint.js';

const MiB = 1024 * 1024;

/** Keeps, sends and acks frames of `size` bytes one by one; the wires are watched through WeakRefs. */
const churn = (buffer: SendBuffer, frames: number, size: number, ackEach: boolean) => {
  const refs: WeakRef<Uint8Array>[] = [];
  for (let i = 0; i < frames; i++) {
    const seq = buffer.reserve(size, 1024 * MiB) as number;
    const wire = new Uint8Array(size);
    refs.push(new WeakRef(wire));
    buffer.sent(buffer.keep(seq, wire), [1], 0);
    if (ackEach) buffer.ack(seq);
  }
  return refs;
};

test('an acked frame is released at once: after 100 frames of 1 MiB, each acked, none is reachable', async (t) => {
  const buffer = new SendBuffer();
  const refs = churn(buffer, 100, MiB, true);
  await settledHeap();
  t.is(buffer.size, 0);
  t.is(buffer.bytes, 0);
  t.is(refs.filter((r) => r.deref() !== undefined).length, 0);
});

test('frames not yet acked are kept, and freed by a cumulative ack; the rest stay', async (t) => {
  const buffer = new SendBuffer();
  const refs = churn(buffer, 10, 1024, false);
  t.is(buffer.size, 10);
  t.deepEqual(buffer.ack(6), { freed: 6 });
  await settledHeap();
  t.deepEqual(
    refs.map((r) => r.deref() !== undefined),
    [false, false, false, false, false, false, true, true, true, true],
  );
  t.deepEqual([...buffer.upTo(100)].map((e) => e.seq), [7, 8, 9, 10]);
  t.is(buffer.oldest()?.seq, 7);
  t.deepEqual(buffer.ack(10), { freed: 4 });
  t.is(buffer.oldest(), undefined);
});
