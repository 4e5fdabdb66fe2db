/**
 * Property: however both directions' bytes are chunked (and with rekeying at a
 * small limit), the handshake completes and every message arrives once, in order.
 */
import test from 'ava';
import fc from 'fast-check';
import { Tag } from '../../protocols/framing/frames.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { connected, makeManualQueue } from './session-fixtures.js';

test('random chunkings of both directions: handshake completes, messages in order', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        toResponder: fc.integer({ min: 1, max: 64 }),
        toInitiator: fc.integer({ min: 1, max: 64 }),
        rekeyAfterMessages: fc.integer({ min: 1, max: 8 }),
        messages: fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 200 })), { maxLength: 30 }),
      }),
      async ({ seed, toResponder, toInitiator, rekeyAfterMessages, messages }) => {
        const q = makeManualQueue();
        const limits = { rekeyAfterMessages };
        const pending = connected(nodeCrypto, {
          stream: { schedule: q.schedule, seed },
          prepare: (a, b) => {
            a.link.splitWrites(toResponder);
            b.link.splitWrites(toInitiator);
          },
          initiator: { limits },
          responder: { limits },
        });
        q.run();
        const { initiator, responder } = await pending;
        const atI: Uint8Array[] = [];
        const atR: Uint8Array[] = [];
        initiator.onFrame((_tag, p) => atI.push(new Uint8Array(p)));
        responder.onFrame((_tag, p) => atR.push(new Uint8Array(p)));
        for (const [fromInitiator, payload] of messages) (fromInitiator ? initiator : responder).send(Tag.Deliver, payload);
        q.run();
        const expectR = messages.filter(([f]) => f).map(([, p]) => p);
        const expectI = messages.filter(([f]) => !f).map(([, p]) => p);
        const same = (x: Uint8Array[], y: Uint8Array[]) => x.length === y.length && x.every((p, i) => Buffer.compare(p, y[i]!) === 0);
        const ok = same(atR, expectR) && same(atI, expectI) && !initiator.lifetime.isClosed && !responder.lifetime.isClosed;
        initiator.close();
        q.run();
        return ok && responder.lifetime.isClosed;
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});
