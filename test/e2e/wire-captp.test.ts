/**
 * docs/protocol.md §7 as a foreign peer sees it: a secure session to a real host,
 * then CapTP written by hand as plain maps, with the inner tag numbers of the
 * spec, and every message the host sends compared whole with the shapes §7.2
 * documents. No CapTP library runs on this side, so a change in what the host
 * writes (ids, slot signs, epochs, field sets) fails here.
 */
import '@endo/init';
import test from 'ava';
import { channelBytes } from '../helpers/frames.js';
import { initiatePath, type SecurePath } from '../../protocols/session/path.js';
import { vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { dialTcp } from '../../runtime/tcp.js';
import { fixture, withHost } from '../helpers/host.js';

/** Inner tags as §3.1 numbers them. */
const BOOTSTRAP = 16;
const DELIVER = 17;
const RETURN = 19;
const RESOLVE = 20;
const GC_EXPORT = 21;
const CHANNEL_CLOSE = 25;
const WAIT_MS = 5_000;

interface Frame {
  readonly tag: number;
  readonly from: string;
  readonly to: string;
  readonly msg: Record<string, any>;
}

const clock = {
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

/** A session to `port` and a mailbox of the channel frames the host sends on it. */
const foreignPeer = async (port: number, wanted: string) => {
  const key = nodeCrypto.ed25519FromSeed(nodeCrypto.randomBytes(32));
  const stream = await dialTcp('127.0.0.1', port);
  const path: SecurePath = await initiatePath({ stream, identity: { vatId: vatIdOf(nodeCrypto, key.publicKey), key }, crypto: nodeCrypto, clock, wanted: wanted as any });
  const inbox: Frame[] = [];
  const waiters: Array<() => void> = [];
  path.onFrame((tag, payload) => {
    const [from, to, msg] = JSON.parse(new TextDecoder().decode(payload)) as [string, string, Record<string, any>];
    inbox.push({ tag, from, to, msg });
    for (const w of waiters.splice(0)) w();
  });
  /** The first unread frame that `match` accepts, removed from the inbox; fails after WAIT_MS. */
  const next = async (what: string, match: (f: Frame) => boolean): Promise<Frame> => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const i = inbox.findIndex(match);
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      if (path.lifetime.isClosed) throw new Error(`session closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${WAIT_MS} ms; inbox: ${JSON.stringify(inbox)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const answerTo = (questionID: string) => (f: Frame) => f.msg['type'] === 'CTP_RETURN' && f.msg['answerID'] === questionID;
  const send = (tag: number, from: string, to: string, msg: Record<string, unknown>) => path.send(tag, channelBytes([from, to, msg]));
  return { path, inbox, next, answerTo, send };
};

/** `promise`, or a failure naming `what` after WAIT_MS. */
const within = <T>(promise: Promise<T>, what: string): Promise<T> => {
  let timer!: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
};

const capdata = (body: unknown, slots: string[] = []) => ({ body: JSON.stringify(body), slots });
const slot = (index: number, iface?: string) => ({ '@qclass': 'slot', ...(iface ? { iface } : {}), index });

test('§7 on the wire: gateway bootstrap, enliven from @host, redeem pipelined, calls both ways, a promise resolved, drop and close', async (t) => {
  const host = await withHost(t, { spareWorkers: 0 });
  await host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const swiss = host.makeSturdyRef('bob').split('/').pop()!;
  const p = await foreignPeer(host.address!.port, host.id);
  t.teardown(() => p.path.close());

  // A peer without triple sessions (§14.6) speaks first, with CapTP rather than a Join: the host
  // then keeps to one path, as §7 describes. Its gateway: our question q-1, its export o+1.
  p.send(BOOTSTRAP, '@gw', '@gw', { type: 'CTP_BOOTSTRAP', epoch: 0, questionID: 'q-1' });
  // The host asks for our gateway too; we never answer, and nothing breaks for it.
  const hostAsks = await p.next('the host’s CTP_BOOTSTRAP', (f) => f.tag === BOOTSTRAP);
  t.deepEqual(hostAsks, { tag: BOOTSTRAP, from: '@gw', to: '@gw', msg: { type: 'CTP_BOOTSTRAP', epoch: 0, questionID: 'q-1' } });

  t.deepEqual(await p.next('the gateway', p.answerTo('q-1')), {
    tag: RETURN,
    from: '@gw',
    to: '@gw',
    msg: { type: 'CTP_RETURN', epoch: 0, answerID: 'q-1', result: capdata(slot(0, 'Alleged: TribeGateway'), ['o+1']) },
  });

  // enliven(swiss, "@host") on o-1 (the gateway, as we name the host's o+1).
  p.send(DELIVER, '@gw', '@gw', { type: 'CTP_CALL', epoch: 0, questionID: 'q-2', target: 'o-1', method: capdata(['enliven', [swiss, '@host']]) });
  const enlivened = await p.next('the enliven answer', p.answerTo('q-2'));
  const { endpoint, ticket } = JSON.parse(enlivened.msg['result'].body);
  t.is(endpoint, 'bob');
  t.regex(ticket, /^[a-z2-7]{26}$/);
  t.deepEqual(enlivened.msg, { type: 'CTP_RETURN', epoch: 0, answerID: 'q-2', result: capdata({ endpoint: 'bob', ticket }) });

  // Channel (@host, bob): bootstrap and redeem pipelined on it (target = our question q-1), one write each.
  p.send(BOOTSTRAP, '@host', 'bob', { type: 'CTP_BOOTSTRAP', epoch: 0, questionID: 'q-1' });
  p.send(DELIVER, '@host', 'bob', { type: 'CTP_CALL', epoch: 0, questionID: 'q-2', target: 'q-1', method: capdata(['redeem', [ticket]]) });
  const gate = await p.next('the RemoteGate', p.answerTo('q-1'));
  t.deepEqual(gate, { tag: RETURN, from: 'bob', to: '@host', msg: { type: 'CTP_RETURN', epoch: 0, answerID: 'q-1', result: capdata(slot(0, 'Alleged: RemoteGate'), ['o+1']) } });
  const redeemed = await p.next('the redeemed root', p.answerTo('q-2'));
  t.deepEqual(redeemed.msg, { type: 'CTP_RETURN', epoch: 0, answerID: 'q-2', result: capdata(slot(0, 'Alleged: Party'), ['o+2']) });
  // A ticket is good once.
  p.send(DELIVER, '@host', 'bob', { type: 'CTP_CALL', epoch: 0, questionID: 'q-3', target: 'o-1', method: capdata(['redeem', [ticket]]) });
  const again = await p.next('the second redeem', p.answerTo('q-3'));
  t.regex(JSON.parse(again.msg['exception'].body).message, /SturdyRefError/);

  // A plain call on the root (o-2).
  p.send(DELIVER, '@host', 'bob', { type: 'CTP_CALL', epoch: 0, questionID: 'q-4', target: 'o-2', method: capdata(['label', []]) });
  t.deepEqual((await p.next('label()', p.answerTo('q-4'))).msg, { type: 'CTP_RETURN', epoch: 0, answerID: 'q-4', result: capdata('bob') });

  // Our own object goes out as o+1 (ours); the vat calls it as o-1 with its own question number.
  p.send(DELIVER, '@host', 'bob', {
    type: 'CTP_CALL',
    epoch: 0,
    questionID: 'q-5',
    target: 'o-2',
    method: capdata(['callBack', [slot(0, 'Alleged: Greeter'), 'bob']], ['o+1']),
  });
  const callIn = await p.next('the call back', (f) => f.msg['type'] === 'CTP_CALL');
  t.deepEqual(callIn, {
    tag: DELIVER,
    from: 'bob',
    to: '@host',
    msg: { type: 'CTP_CALL', epoch: 0, questionID: callIn.msg['questionID'], target: 'o-1', method: capdata(['hello', ['bob']]) },
  });
  t.regex(callIn.msg['questionID'], /^q-\d+$/);
  p.send(RETURN, '@host', 'bob', { type: 'CTP_RETURN', epoch: 0, answerID: callIn.msg['questionID'], result: capdata('hi from outside') });
  t.deepEqual((await p.next('callBack()', p.answerTo('q-5'))).msg['result'], capdata('hi from outside'));

  // A promise in a result: p+1 as the vat exports it; CTP_RESOLVE names it p-1, as we do.
  p.send(DELIVER, '@host', 'bob', { type: 'CTP_CALL', epoch: 0, questionID: 'q-6', target: 'o-2', method: capdata(['pending', []]) });
  const pending = await p.next('pending()', p.answerTo('q-6'));
  t.deepEqual(pending.msg['result'], capdata({ promise: slot(0), settler: slot(1, 'Alleged: Settler') }, ['p+1', 'o+3']));
  p.send(DELIVER, '@host', 'bob', { type: 'CTP_CALL', epoch: 0, questionID: 'q-7', target: 'o-3', method: capdata(['settle', ['done']]) });
  t.deepEqual(await p.next('the resolution', (f) => f.msg['type'] === 'CTP_RESOLVE'), {
    tag: RESOLVE,
    from: 'bob',
    to: '@host',
    msg: { type: 'CTP_RESOLVE', promiseID: 'p-1', res: capdata('done') },
  });
  await p.next('settle()', p.answerTo('q-7'));

  // An exception: capdata of an error record.
  p.send(DELIVER, '@host', 'bob', { type: 'CTP_CALL', epoch: 0, questionID: 'q-8', target: 'o-2', method: capdata(['fail', ['nope']]) });
  const failed = await p.next('fail()', p.answerTo('q-8'));
  const error = JSON.parse(failed.msg['exception'].body);
  t.like(error, { '@qclass': 'error', name: 'RangeError', message: 'nope' });
  t.deepEqual(Object.keys(failed.msg).sort(), ['answerID', 'epoch', 'exception', 'type']);

  // A smallcaps body ('#' then JSON) is decoded too.
  p.send(DELIVER, '@host', 'bob', { type: 'CTP_CALL', epoch: 0, questionID: 'q-9', target: 'o-2', method: { body: '#["label",[]]', slots: [] } });
  t.deepEqual((await p.next('label() in smallcaps', p.answerTo('q-9'))).msg['result'], capdata('bob'));

  // Dropping the settler (received once) keeps the session; the channel close is answered by nothing.
  p.send(GC_EXPORT, '@host', 'bob', { type: 'CTP_DROP', slotID: 'o-3', decRefs: 1, epoch: 0 });
  p.send(CHANNEL_CLOSE, '@host', 'bob', { type: 'CTP_DISCONNECT', epoch: 0, reason: { name: 'Error', message: 'done here' } });
  // The gateway channel still answers, so the session survived both.
  p.send(DELIVER, '@gw', '@gw', { type: 'CTP_CALL', epoch: 0, questionID: 'q-3', target: 'o-1', method: capdata(['enliven', ['a'.repeat(32), '@host']]) });
  const refused = await p.next('a refused enliven', p.answerTo('q-3'));
  t.regex(JSON.parse(refused.msg['exception'].body).message, /SturdyRefError: unknown or revoked/);
  // A frame for the closed channel is dropped: no answer, no abort.
  p.send(DELIVER, '@host', 'bob', { type: 'CTP_CALL', epoch: 0, questionID: 'q-10', target: 'o-2', method: capdata(['label', []]) });
  p.send(DELIVER, '@gw', '@gw', { type: 'CTP_CALL', epoch: 0, questionID: 'q-4', target: 'o-1', method: capdata(['enliven', ['b'.repeat(32), '@host']]) });
  await p.next('a later gateway answer', p.answerTo('q-4'));
  t.false(p.inbox.some((f) => f.msg['answerID'] === 'q-10'), 'nothing answers on the closed channel');
  t.false(p.path.lifetime.isClosed);
  t.is(host.ps().sessions.length, 1);
});

test('§7.5 on the wire: naming an export the host never made, resolving a promise it never sent, or dropping a `+` slot ends the session', async (t) => {
  const host = await withHost(t, { spareWorkers: 0 });
  const faults: Array<[string, number, Record<string, unknown>]> = [
    ['a call on o-99', DELIVER, { type: 'CTP_CALL', epoch: 0, questionID: 'q-2', target: 'o-99', method: capdata(['enliven', []]) }],
    ['o-99 inside a body', DELIVER, { type: 'CTP_CALL', epoch: 0, questionID: 'q-2', target: 'o-1', method: capdata(['enliven', [slot(0), '@host']], ['o-99']) }],
    ['a resolve of p-1', RESOLVE, { type: 'CTP_RESOLVE', promiseID: 'p-1', res: capdata('x') }],
    ['a drop of o+1', GC_EXPORT, { type: 'CTP_DROP', slotID: 'o+1', decRefs: 1, epoch: 0 }],
  ];
  for (const [what, tag, msg] of faults) {
    const p = await foreignPeer(host.address!.port, host.id);
    const closed = p.path.lifetime.closed;
    p.send(BOOTSTRAP, '@gw', '@gw', { type: 'CTP_BOOTSTRAP', epoch: 0, questionID: 'q-1' });
    await p.next('the gateway', p.answerTo('q-1'));
    p.send(tag, '@gw', '@gw', msg);
    t.is((await within(closed, `${what}: the session's end`)).name, 'PathLostError', `${what}: the host closes without a word`);
  }
  // The host itself goes on: a last, well-behaved session still gets its gateway.
  const p = await foreignPeer(host.address!.port, host.id);
  t.teardown(() => p.path.close());
  p.send(BOOTSTRAP, '@gw', '@gw', { type: 'CTP_BOOTSTRAP', epoch: 0, questionID: 'q-1' });
  t.truthy((await p.next('the gateway', p.answerTo('q-1'))).msg['result']);
});
