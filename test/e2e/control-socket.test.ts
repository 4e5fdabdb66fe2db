/** Hostile input on the control socket: each bad connection is closed, the host keeps serving. */
import test from 'ava';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { E } from '../../runtime/index.js';
import { connectControl } from '../../runtime/control.js';
import { openVizStream } from '../helpers/viz.js';
import { example, withHost } from '../helpers/host.js';
import { IO_MS, LOCAL_MS, until, within } from '../helpers/bounded.js';

const openRaw = async (path: string): Promise<Socket> => {
  const s = createConnection(path);
  await within(once(s, 'connect'), IO_MS, `a connection to ${path}`);
  return s;
};

/** Sends bytes and resolves with whatever came back once the host closed the connection. */
const sendAndAwaitClose = async (path: string, bytes: string | Buffer): Promise<string> => {
  const s = await openRaw(path);
  let received = '';
  s.on('data', (d) => (received += String(d)));
  s.on('error', () => {});
  const closed = once(s, 'close');
  s.write(bytes);
  await within(closed, IO_MS, 'the host to close a connection that sent bad bytes');
  return received;
};

test('bad frames on the control socket abort that connection only', async (t) => {
  const host = await withHost(t, { control: true });
  const { root } = await host.spawnVat({ module: example('counter.ts'), name: 'counter' });
  const socket = join(host.home, 'control.sock');

  const hostile: Array<[string, string | Buffer]> = [
    ['garbage bytes', Buffer.from([0xff, 0x00, 0x13, 0x37, 0x0a])],
    ['not JSON', '{"type": CTP_CALL\n'],
    ['JSON but not CapTP', '[1,2,3]\n'],
    ['unknown CapTP type', '{"type":"CTP_FROBNICATE"}\n'],
    ['call on a slot that was never exported', '{"type":"CTP_CALL","questionID":"q-1","target":"o-99","method":{"body":"[\\"x\\",[]]","slots":[]}}\n'],
    ['oversized line', 'x'.repeat(8 * 1024 * 1024 + 10)],
  ];
  // A client connected before the attacks stays connected through all of them.
  const bystander = await connectControl(socket, host.home);
  t.teardown(() => bystander.close());
  const control = await bystander.control;
  t.is(await E(control).call('counter', 'increment', []), 1);
  for (const [i, [what, bytes]] of hostile.entries()) {
    const reply = await sendAndAwaitClose(socket, bytes);
    // The host says goodbye (CTP_DISCONNECT) or just closes; it never answers the bad frame.
    t.false(reply.includes('CTP_RETURN'), `${what}: no answer`);
    t.is(await E(control).call('counter', 'increment', []), 2 * i + 2, `${what}: the other connection still works`);
    t.is(await E(root).increment(), 2 * i + 3, `${what}: host still serves`);
  }
  // A well-behaved client still connects after all that, and the first one is still there.
  const client = await connectControl(socket, host.home);
  t.is(await E(await client.control).call('counter', 'read', []), 2 * hostile.length + 1);
  client.close();
  t.is(await E(control).call('counter', 'read', []), 2 * hostile.length + 1);
});

// FSReqCallback is one file-system request in flight (ava's own logging, say), not a handle anyone holds.
const TRANSIENT = new Set(['TTYWrap', 'CloseReq', 'FSReqCallback']);
const resources = () => process.getActiveResourcesInfo().filter((r) => !TRANSIENT.has(r)).sort();
/**
 * A terminated worker's port is released some event-loop turns after its exit event; on
 * a loaded machine the worker's thread may not run for a while, and a thousand turns of
 * this one pass in far less. So: wait, bounded in time (not turns), for the handles to be
 * back to `before`. The comparison stays exact: one socket, timer or worker kept still fails.
 */
const settled = async (before: string[]) => {
  await until(() => resources().join() === before.join(), LOCAL_MS, 'handles back to what they were', () => resources().join()).catch(() => {});
};

// Serial: the other test's host must not be counted.
test.serial('a stopped host leaves no worker, socket, timer or handle behind', async (t) => {
  const before = resources();
  const host = await withHost(t, { control: true });
  await host.spawnVat({ module: example('counter.ts'), name: 'a' });
  await host.spawnVat({ module: example('pipeline.ts'), name: 'b' });
  await host.stop();
  await settled(before);
  t.deepEqual(resources(), before);
});

// Serial, like the one above: two hosts with a live session between them, both stopped; one serves
// the visualizer to a page that is still reading (and watches the other's machines).
test.serial('two hosts with a session and a visualizer page leave no socket, timer or handle behind once stopped', async (t) => {
  const before = resources();
  const seen = new Set<string>();
  const a = await withHost(t, { spareWorkers: 0, viz: 0, inspect: (ev: any) => seen.add(`${ev.actorRef?.logic?.id}:${ev.type}`) });
  const page = openVizStream(a.vizUrl!);
  await within(page.hello, IO_MS, "the visualizer stream's hello");
  const b = await withHost(t, { spareWorkers: 0 });
  await b.spawnVat({ module: example('counter.ts'), name: 'counter' });
  const { root: alice } = await a.spawnVat({ module: example('counter.ts'), name: 'alice' });
  t.is(await E(await a.enliven(b.makeSturdyRef('counter'))).increment(), 1);
  t.truthy(alice);
  // The handshake machine reports through the host's inspector, as the vat machines do.
  t.true(seen.has('path:@xstate.snapshot'), [...seen].join(', '));
  await page.next((u) => u.k === 'host' && u.host === b.id);
  await a.stop();
  await b.stop();
  await settled(before);
  t.deepEqual(resources(), before);
});
