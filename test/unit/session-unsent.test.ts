/**
 * PathLimits.maxUnsentBytes over a memory stream: what a path has written and
 * its peer has not taken (the stream's `buffered`) is bounded; past the bound
 * the path ends with PathOverflowError, sending nothing more. A peer that reads
 * again in time is never cut off. (The same bound over real TCP, against a
 * host: test/e2e/unread-peer.test.ts.)
 */
import test from 'ava';
import { MAX_FRAME_BYTES, Tag } from '../../protocols/framing/frames.js';
import { ENCRYPTION_OVERHEAD_BYTES } from '../../protocols/session/secure-channel.js';
import { DEFAULT_PATH_LIMITS, MAX_UNSENT_BYTES } from '../../protocols/session/path.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { closedWith, collect, connected } from './session-fixtures.js';

const frame = 600;
const wire = frame + ENCRYPTION_OVERHEAD_BYTES;

test('the default bound is 32 full frames', (t) => {
  t.is(MAX_UNSENT_BYTES, 32 * MAX_FRAME_BYTES);
  t.is(DEFAULT_PATH_LIMITS.maxUnsentBytes, MAX_UNSENT_BYTES);
});

test('a peer that takes nothing: the path ends with PathOverflowError once more than maxUnsentBytes wait', async (t) => {
  const { initiator: i, responder: r, b } = await connected(nodeCrypto, { responder: { limits: { maxUnsentBytes: 2 * wire } } });
  const atI = collect(i);
  const closed = closedWith(r);
  // The initiator stops reading: what the responder writes stays with the responder.
  b.link.hold();
  r.send(Tag.Deliver, new Uint8Array(frame));
  r.send(Tag.Deliver, new Uint8Array(frame));
  t.is(b.buffered, 2 * wire);
  t.false(r.closed, 'exactly the bound is allowed');
  r.send(Tag.Deliver, new Uint8Array(frame));
  const err = await closed;
  t.is(err.name, 'PathOverflowError');
  t.regex(err.message, new RegExp(`not reading: ${3 * wire} bytes .*limit ${2 * wire}`));
  t.true(r.closed);
  t.throws(() => r.send(Tag.Deliver, new Uint8Array(1)), { name: 'PathClosedError' });
  // Once the peer reads again it finds the path ended without a Shutdown.
  b.link.release();
  t.is((await closedWith(i)).name, 'PathLostError');
  t.true(atI.got.length <= 3);
});

test('a peer that reads again before the bound is never cut off', async (t) => {
  const { initiator: i, responder: r, b } = await connected(nodeCrypto, { responder: { limits: { maxUnsentBytes: 2 * wire } } });
  const atI = collect(i);
  for (let round = 0; round < 10; round++) {
    b.link.hold();
    r.send(Tag.Deliver, new Uint8Array(frame));
    r.send(Tag.Deliver, new Uint8Array(frame));
    b.link.release();
    t.is(b.buffered, 0);
  }
  await atI.until(20);
  t.false(r.closed);
  t.false(i.closed);
  i.close();
  t.is((await closedWith(r)).name, 'PathClosedError');
});
