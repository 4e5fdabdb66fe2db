import test from 'ava';
import { E, Far } from '../../runtime/index.js';
import { example, fixture, withHost } from '../helpers/host.js';

test('a pipelined chain across two vats goes out before any answer returns (message trace)', async (t) => {
  const host = await withHost(t, { traceLimit: 200 });
  await host.spawnVat({ module: example('pipeline.ts'), name: 'target' });
  const { root: driver } = await host.spawnVat({ module: example('pipeline.ts'), name: 'driver' });
  t.is(await E(driver).demo('target'), 'contents of /docs/readme');

  type Entry = { dir: string; type: string; questionID?: string; answerID?: string; target?: string; method?: string };
  const trace: Entry[] = await E(await host.vatAdmin('driver')).trace('target');
  const call = (method: string) => {
    const i = trace.findIndex((e) => e.dir === 'out' && e.type === 'CTP_CALL' && e.method === method);
    t.true(i >= 0, `driver sent ${method}()`);
    return { i, entry: trace[i]! };
  };
  const folder = call('folder');
  const file = call('file');
  const read = call('read');
  // Each call targets the *unanswered question* of the previous one: that is pipelining.
  t.is(file.entry.target, folder.entry.questionID);
  t.is(read.entry.target, file.entry.questionID);
  const asked = new Set([folder.entry.questionID, file.entry.questionID, read.entry.questionID]);
  const firstAnswer = trace.findIndex((e) => e.dir === 'in' && e.type === 'CTP_RETURN' && asked.has(e.answerID));
  t.true(firstAnswer > read.i, `all three calls (${folder.i}, ${file.i}, ${read.i}) precede the first answer (${firstAnswer})`);
  // And they went vat to vat directly: the host never saw them.
  const hostTrace: Entry[] = await E(await host.vatAdmin('driver')).trace('host');
  t.false(hostTrace.some((e) => e.method === 'folder' || e.method === 'file' || e.method === 'read'));
});

test('Far objects and promises pass by reference both ways, identity survives round trips', async (t) => {
  const host = await withHost(t);
  const { root: a } = await host.spawnVat({ module: fixture('party.ts'), name: 'a', params: { label: 'A' } });
  const { root: b } = await host.spawnVat({ module: fixture('party.ts'), name: 'b', params: { label: 'B' } });

  // Host → vat → host: our own object comes back as itself.
  const mine = Far('Mine', { hello: (x: string) => `hello ${x} from host` });
  t.is(await E(a).echo(mine), mine);
  // Sent in two messages, it is one presence in the vat.
  t.is(await E(a).keep(mine), 1);
  t.true(await E(a).isKept(mine), 'the second message brings the vat the presence of the first');
  t.false(await E(a).isKept(Far('Other', {})), 'another object is not it');
  // Vat → host → vat: a vat's object comes back to its vat as itself, and to the host as one presence.
  const thing = await E(a).makeThing('x');
  t.true(await E(a).isMine(thing), "the vat's thing comes home as itself");
  t.false(await E(a).isMine(mine));
  t.is(await E(a).echo(thing), thing);
  // Callbacks: vat a calls an object that lives in the host.
  t.is(await E(a).callBack(mine, 'a'), 'hello a from host');
  // Vat-to-vat: a fetches b and b's things; b calls back into an object of a's.
  t.is(await E(a).pingPeer('b'), 'B');
  const bThing = await E(b).publishThing('b-thing');
  t.is(await E(bThing).owner(), 'B');
  t.is(await E(a).lookupAndCall('b-thing', 'owner'), 'B');
  // A promise passed by reference: b awaits a promise that the host resolves later.
  const { promise, settler } = await E(a).pending();
  const awaited = E(b).awaitIt(promise);
  await E(settler).settle('late value');
  t.is(await awaited, 'got late value');
});

test('a root the actor published under another name in make() is reachable under both', async (t) => {
  const host = await withHost(t);
  await host.spawnVat({ module: fixture('party.ts'), name: 'b', params: { label: 'B', alias: 'b-alias' } });
  const { root: a } = await host.spawnVat({ module: fixture('party.ts'), name: 'a' });
  t.is(await E(a).pingPeer('b'), 'B');
  t.is(await E(a).pingPeer('b-alias'), 'B');
});

test('errors propagate with their message and standard class', async (t) => {
  const host = await withHost(t);
  const { root: a } = await host.spawnVat({ module: fixture('party.ts'), name: 'a' });
  await host.spawnVat({ module: fixture('party.ts'), name: 'b' });
  const direct = await t.throwsAsync(E(a).fail('out of range: 7'));
  t.is(direct?.name, 'RangeError');
  t.is(direct?.message, 'out of range: 7');
  // Through a second vat: a calls b.fail(), the error crosses two connections.
  const relayed = await t.throwsAsync(E(a).lookupAndCall('b', 'fail', 'deep'));
  t.is(relayed?.message, 'deep');
  const missing = await t.throwsAsync(E(a).noSuchMethod());
  t.regex(missing?.message ?? '', /noSuchMethod/);
  const unknownName = await t.throwsAsync(E(a).pingPeer('nobody'));
  t.regex(unknownName?.message ?? '', /NameNotFoundError: no actor is published as "nobody"/);
});

test('dropped imports are garbage-collected across vats (CapTP GC)', async (t) => {
  const host = await withHost(t, { exposeGc: true });
  const { root: a } = await host.spawnVat({ module: fixture('party.ts'), name: 'a' });
  await host.spawnVat({ module: fixture('party.ts'), name: 'b' });
  t.is(await E(a).importMany('b', 200), 200);
  const bAdmin = await host.vatAdmin('b');
  const before = (await E(bAdmin).stats()).peers.a.gc.DROPPED;
  await E(a).dropAll();
  t.true(await E(await host.vatAdmin('a')).collectGarbage(), 'gc available in the vat worker');
  // The drops travel on the same ordered channel as this call, so they land first.
  // a also dropped b's root and now fetches it again: the re-sent export must
  // still work (regression: @endo/captp's default tables lose it, see captp-tables.ts).
  t.is(await E(a).pingPeer('b'), 'party');
  t.is(await E(a).pingPeer('b'), 'party');
  const after = (await E(bAdmin).stats()).peers.a.gc.DROPPED;
  t.true(after - before >= 100, `b saw ${after - before} of 200 imports dropped`);
});
