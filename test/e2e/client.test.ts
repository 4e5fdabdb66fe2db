/**
 * `connect({ home })`: a program's client of a host that is already running (a real
 * `tribe host` process), over the control socket.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CLOSE_GRACE_MS } from '../../runtime/client.js';
import { connect, E, Far, type TribeClient } from '../../runtime/index.js';
import { IO_MS, LOCAL_MS, PROCESS_MS, within } from '../helpers/bounded.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { example, fixture, tempHome } from '../helpers/host.js';
import { killGroup, spawnTracked } from '../helpers/processes.js';

/** A running host in a fresh home, and a client connected to it (closed by the teardown). */
const hostAndClient = async (t: ExecutionContext) => {
  const home = tempHome(t);
  await startHostProcess(t, home, ['--no-viz']);
  const client = await within(connect({ home }), IO_MS, `connect to the host in ${home}`);
  t.teardown(() => within(client.close(), IO_MS, 'the client to close'));
  return { home, client };
};

const spawnParty = (client: TribeClient, name: string) =>
  within(client.spawn({ module: fixture('party.ts'), name, params: { label: name } }), IO_MS, `spawn ${name}`);

test('lookup answers an E()-able reference to what the host publishes; the CLI sees the same actor', async (t) => {
  const { home, client } = await hostAndClient(t);
  const { name, root } = await client.spawn({ module: example('counter.ts'), name: 'counter' });
  t.is(name, 'counter');
  t.is(await E(root).increment(), 1);
  const counter = await client.lookup('counter');
  t.is(counter, root, 'one reference per actor on a connection');
  t.is(await E(counter).increment(5), 6);
  const cli = await tribe(['call', 'counter', 'read', '--home', home]);
  t.is(cli.stdout.trim(), '6', cli.stderr);
  t.deepEqual(
    (await client.ps()).vats.map((v) => [v.name, v.state]),
    [['counter', 'running']],
  );
  await client.terminateVat('counter');
  const gone = await t.throwsAsync(client.lookup('counter'));
  t.is(gone?.name, 'NameNotFoundError');
});

test('references pass between actors and the program, and come home as themselves', async (t) => {
  const { client } = await hostAndClient(t);
  const a = (await spawnParty(client, 'a')).root;
  const b = (await spawnParty(client, 'b')).root;
  // A reference made in vat a, handed by the program to vat b, which calls it.
  const thing = await E(a).makeThing('x');
  t.is(await E(b).keep(thing), 1);
  t.is(await E(b).callKept('owner'), 'a');
  t.true(await E(b).isKept(thing), 'the same reference in a later message is the same object to b');
  t.true(await E(a).isMine(await E(b).echo(thing)), 'back in a, it is the object a made');
  // A reference the program looked up, passed as an argument.
  t.is(await E(b).callMethod(await client.lookup('a'), 'label'), 'a');
  // The program's own object, called by a vat.
  const greeter = Far('Greeter', { hello: (who: string) => `hello, ${who}` });
  t.is(await E(a).callBack(greeter, 'vat'), 'hello, vat');
  t.is(await E(a).echo(greeter), greeter, "the program's object comes home as itself");
  // Pipelining through the client: both calls leave before either answer.
  t.is(await E(E(a).makeThing('piped')).owner(), 'a');
});

test('sturdy refs: make, enliven, revoke', async (t) => {
  const { client } = await hostAndClient(t);
  await client.spawn({ module: example('counter.ts'), name: 'counter' });
  const ref = await client.makeSturdyRef('counter');
  t.regex(ref, /^tribe:\/\/[a-z2-7]{52}@127\.0\.0\.1:\d+\/\S+$/);
  t.is(await E(await client.enliven(ref)).increment(), 1);
  await client.revokeSturdyRef(ref);
  const revoked = await t.throwsAsync(client.enliven(ref));
  t.is(revoked?.name, 'SturdyRefError');
});

test('errors keep their names: no host, unknown name, bad module', async (t) => {
  const noHost = await t.throwsAsync(connect({ home: tempHome(t) }));
  t.is(noHost?.name, 'HostNotRunningError');
  const { client } = await hostAndClient(t);
  const unknown = await t.throwsAsync(client.lookup('nobody'));
  t.is(unknown?.name, 'NameNotFoundError');
  t.regex(unknown?.message ?? '', /no actor is published as "nobody"/);
  const missing = await t.throwsAsync(client.spawn({ module: fixture('does-not-exist.ts'), name: 'x' }));
  t.is(missing?.name, 'ModuleNotFoundError');
  // A method that throws in a vat rejects the call; the connection goes on.
  const { root } = await client.spawn({ module: example('counter.ts'), name: 'counter' });
  await t.throwsAsync(E(root).increment('x' as unknown as number), { message: /by must be a number/ });
  t.is(await E(root).increment(), 1);
});

test('the host stopping ends the client: closed resolves, later calls reject', async (t) => {
  const { home, client } = await hostAndClient(t);
  const { root } = await client.spawn({ module: example('counter.ts'), name: 'counter' });
  t.is(await E(root).increment(), 1);
  const stopped = await tribe(['stop', '--home', home]);
  t.is(stopped.code, 0, stopped.stderr);
  await within(client.closed, IO_MS, "the client's connection to end once the host stopped");
  const call = await t.throwsAsync(E(root).increment());
  t.is(call?.name, 'ConnectionAbortedError');
  const lookup = await t.throwsAsync(client.lookup('counter'));
  t.is(lookup?.name, 'ConnectionAbortedError');
  await within(client.close(), IO_MS, 'close() after the end');
});

test('close() does not hang on a host that does not answer: it cuts the socket after CLOSE_GRACE_MS', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-viz']);
  const client = await within(connect({ home }), IO_MS, 'connect');
  t.truthy(await client.ps());
  // Frozen, the host neither reads nor hangs up; the teardown's SIGKILL ends it all the same.
  host.proc.kill('SIGSTOP');
  const started = performance.now();
  // The margin is for a loaded machine; without the cut, close() waits for the host for good.
  await within(client.close(), CLOSE_GRACE_MS + 5_000, 'close() on a frozen host');
  t.true(performance.now() - started >= CLOSE_GRACE_MS - 50, 'it waited for the grace period');
  await within(client.closed, LOCAL_MS, 'closed to resolve with close()');
});

test('a program that connects, calls and closes exits on its own, with code 0', async (t) => {
  const home = tempHome(t);
  await startHostProcess(t, home, ['--no-viz']);
  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--home', home])).code, 0);
  const program = join(tempHome(t), 'program.mjs');
  writeFileSync(
    program,
    `import { connect, E, Far } from ${JSON.stringify(new URL('../../runtime/index.js', import.meta.url).href)};
     const tribe = await connect({ home: ${JSON.stringify(home)} });
     const counter = await tribe.lookup('counter');
     console.log(await E(counter).increment(), await E(counter).increment(2));
     const party = (await tribe.spawn({ module: ${JSON.stringify(fixture('party.ts'))}, name: 'party' })).root;
     console.log(await E(party).callMethod(counter, 'read'));
     console.log(await E(party).callBack(Far('Me', { hello: (x) => 'program got ' + x }), 'a call'));
     await tribe.close();
     console.log('closed');`,
  );
  const { child, exit } = spawnTracked(process.execPath, [program], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  // No process.exit in the program: it ends only if close() left nothing running.
  const ended = await within(exit, PROCESS_MS, 'the program to end by itself').catch((err) => {
    killGroup(child.pid!);
    throw new Error(`${(err as Error).message}\n${out}`);
  });
  t.is(ended.code, 0, out);
  t.is(out, '1 3\n3\nprogram got a call\nclosed\n');
  // The host served the program and goes on serving.
  const read = await tribe(['call', 'counter', 'read', '--home', home]);
  t.is(read.stdout.trim(), '3', read.stderr);
});
