/**
 * Three real `tribe host` processes on loopback: host A passes host B a
 * reference to an actor on host C; B's vat claims it from C directly (a nonce
 * rendezvous: A deposits the gift with C, B's host dials C with the hints in
 * the note). Then A is killed with SIGKILL, and B's calls keep working.
 */
import test from 'ava';
import { connect, E } from '../../runtime/index.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { fixture, tempHome } from '../helpers/host.js';
import { PROCESS_MS, within } from '../helpers/bounded.js';

const ok = async (args: string[]) => {
  const r = await tribe(args);
  if (r.code !== 0) throw new Error(`tribe ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
};

test('three hosts: A hands B a reference to C\'s actor; B calls C directly, and still after A is killed', async (t) => {
  const [homeA, homeB, homeC] = [tempHome(t), tempHome(t), tempHome(t)];
  const [a, , c] = (await Promise.all([homeA, homeB, homeC].map((h) => startHostProcess(t, h, ['--no-viz'])))) as [
    Awaited<ReturnType<typeof startHostProcess>>,
    unknown,
    Awaited<ReturnType<typeof startHostProcess>>,
  ];
  await ok(['spawn', fixture('party.ts'), '--name', 'carol', '--params', '{"label":"carol"}', '--home', homeC]);
  await ok(['spawn', fixture('party.ts'), '--name', 'bob', '--params', '{"label":"bob"}', '--home', homeB]);
  await ok(['connect', await ok(['ref', 'carol', '--home', homeC]), '--as', 'carol', '--home', homeA]);
  await ok(['connect', await ok(['ref', 'bob', '--home', homeB]), '--as', 'bob', '--home', homeA]);

  // A program on host A passes bob (on B) a reference to carol (on C).
  const client = await connect({ home: homeA });
  try {
    const [bob, carol] = await Promise.all([client.lookup('bob'), client.lookup('carol')]);
    t.is(await E(bob).keep(carol), 1);
    t.is(await E(bob).callKept('label'), 'carol');
  } finally {
    await client.close();
  }
  const psB = JSON.parse(await ok(['ps', '--json', '--home', homeB]));
  const bobStatus = psB.vats.find((v: { name: string }) => v.name === 'bob');
  t.true(bobStatus.peers.includes(`${c.id}/carol`), `bob has its own channel to carol: ${bobStatus.peers}`);
  t.like(bobStatus, { handoffs: 1, proxied: 0 });
  t.true(psB.sessions.some((s: { peer: string }) => s.peer === c.id), "B's host dialled C's");

  a.proc.kill('SIGKILL');
  t.is(await within(a.exited, PROCESS_MS, 'host A to die'), null);
  t.is(await ok(['call', 'bob', 'callKept', '"echo"', '"A is gone"', '--home', homeB]), '"A is gone"');
  t.is(await ok(['call', 'bob', 'callKept', '"label"', '--home', homeB]), '"carol"');
});

test('tribe call with @NAME hands a vat the reference published as NAME; the vat claims it from its owner', async (t) => {
  const home = tempHome(t);
  await startHostProcess(t, home, ['--no-viz', '--no-listen']);
  await ok(['spawn', fixture('party.ts'), '--name', 'a', '--params', '{"label":"A"}', '--home', home]);
  await ok(['spawn', fixture('party.ts'), '--name', 'c', '--params', '{"label":"C"}', '--home', home]);
  t.is(await ok(['call', 'a', 'keep', '@c', '--home', home]), '1');
  t.is(await ok(['call', 'a', 'callKept', '"label"', '--home', home]), '"C"');
  t.is(await ok(['call', 'a', 'isKeptByName', '"c"', '--home', home]), 'true', 'the same presence as by name');
  const a = JSON.parse(await ok(['ps', '--json', '--home', home])).vats.find((v: { name: string }) => v.name === 'a');
  t.like(a, { handoffs: 1, proxied: 0 });
  t.true(a.peers.includes('c'), 'a has its own channel to c');
  // A name nobody published, and something that is no name: one line each.
  const missing = await tribe(['call', 'a', 'keep', '@nobody', '--home', home]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^tribe: NameNotFoundError: no actor is published as "nobody"\n$/);
  const bad = await tribe(['call', 'a', 'keep', '@no spaces', '--home', home]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^tribe: UsageError: argument 1 \(@no spaces\) is not @NAME or @tribe:\/\/…/);
});
