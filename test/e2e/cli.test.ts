import test from 'ava';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { example, fixture, tempHome } from '../helpers/host.js';

test('CLI end to end: host, spawn, call ×3, ps, stop; a second start reuses the identity and the vat', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home);
  t.regex(host.id, /^[a-z2-7]{52}$/);
  t.is(statSync(join(home, 'identity.key')).mode & 0o777, 0o600);
  t.is(statSync(join(home, 'control.sock')).mode & 0o777, 0o600);
  t.is(statSync(home).mode & 0o777, 0o700);

  const spawned = await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--durable', '--home', home]);
  t.is(spawned.code, 0, spawned.stderr);
  t.regex(spawned.stdout, /spawned counter \(running\)/);
  for (const expected of ['1', '2', '3']) {
    const r = await tribe(['call', 'counter', 'increment', '--home', home]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout.trim(), expected);
  }
  const byArg = await tribe(['call', 'counter', 'increment', '10', '--home', home]);
  t.is(byArg.stdout.trim(), '13');

  const ps = await tribe(['ps', '--home', home]);
  t.is(ps.code, 0);
  t.regex(ps.stdout, new RegExp(`^host ${host.id.slice(0, 8)}  pid `));
  t.regex(ps.stdout, /counter\s+running\s+yes/);
  const psJson = JSON.parse((await tribe(['ps', '--json', '--home', home])).stdout);
  t.deepEqual(psJson.vats.map((v: { name: string; state: string }) => [v.name, v.state]), [['counter', 'running']]);

  const stopped = await tribe(['stop', '--home', home]);
  t.is(stopped.code, 0, stopped.stderr);
  t.is(await host.exited, 0);
  t.false(existsSync(join(home, 'host.pid')), 'lock released');
  t.false(existsSync(join(home, 'control.sock')), 'socket removed');

  const again = await startHostProcess(t, home);
  t.is(again.id, host.id, 'same identity');
  t.true(again.output.some((l) => l.includes('restored vat counter')));
  const read = await tribe(['call', 'counter', 'read', '--home', home]);
  t.is(read.stdout.trim(), '13', 'durable count survived the restart');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await again.exited, 0);
});

test('bad input: one clear error each, non-zero exit, nothing left running or corrupted', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home);
  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--home', home])).code, 0);

  const cases: Array<{ args: string[]; code: number; error: RegExp }> = [
    { args: ['spawn', fixture('does-not-exist.ts'), '--name', 'x'], code: 1, error: /ModuleNotFoundError: cannot find actor module .*does-not-exist\.ts/ },
    { args: ['spawn', fixture('syntax-error.ts'), '--name', 'x'], code: 1, error: /ModuleSyntaxError: .*syntax-error\.ts:2:\d+/ },
    { args: ['spawn', fixture('no-make.ts'), '--name', 'x'], code: 1, error: /ModuleShapeError: .*does not export a make\(powers, params\) function \(exports: build\)/ },
    { args: ['spawn', fixture('imports-fs.ts'), '--name', 'x'], code: 1, error: /ModuleNotAllowedError: .*'node:fs'/ },
    { args: ['spawn', example('counter.ts'), '--name', 'x', '--params', '{nope'], code: 2, error: /UsageError: --params is not valid JSON/ },
    { args: ['spawn', example('counter.ts'), '--name', 'counter'], code: 1, error: /VatExistsError: a vat named "counter" is already running/ },
    { args: ['spawn', example('counter.ts'), '--name', 'bad name!'], code: 1, error: /InvalidNameError/ },
    { args: ['call', 'nobody', 'increment'], code: 1, error: /NameNotFoundError: no actor is published as "nobody"/ },
    { args: ['call', 'counter', 'explode'], code: 1, error: /TypeError: .*explode/ },
    { args: ['call', 'counter', 'increment', 'not-json'], code: 2, error: /UsageError: argument 1 is not valid JSON/ },
    { args: ['call', 'counter', 'increment', '"x"'], code: 1, error: /TypeError: increment\(by\): by must be a number/ },
    { args: ['frobnicate'], code: 2, error: /UsageError: unknown command "frobnicate"/ },
    { args: ['spawn', example('counter.ts'), '--bogus'], code: 2, error: /UsageError: Unknown option '--bogus'/ },
  ];
  for (const c of cases) {
    const r = await tribe([...c.args, '--home', home]);
    t.is(r.code, c.code, `${c.args.join(' ')} → exit ${r.code}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, `one line for ${c.args.join(' ')}: ${r.stderr}`);
    t.regex(lines[0]!, /^tribe: /);
    t.regex(lines[0]!, c.error);
  }

  // A second host on the same home is refused, and the first is untouched.
  const second = await tribe(['host', '--home', home, '--solo']);
  t.is(second.code, 1);
  t.regex(second.stderr.trim(), /^tribe: HostAlreadyRunningError: a host is already running in .* \(pid \d+\)$/);

  // Nothing from the failed spawns is left; the counter still works.
  const ps = JSON.parse((await tribe(['ps', '--json', '--home', home])).stdout);
  t.deepEqual(ps.vats.map((v: { name: string }) => v.name), ['counter']);
  t.is((await tribe(['call', 'counter', 'increment', '--home', home])).stdout.trim(), '1');
  t.is(host.proc.exitCode, null, 'host still running');

  // Without a host, commands say so.
  t.is((await tribe(['stop', '--home', home])).code, 0);
  await host.exited;
  const none = await tribe(['ps', '--home', home]);
  t.is(none.code, 1);
  t.regex(none.stderr, /^tribe: HostNotRunningError: no host is running in /);
});

// Across processes a commit just after the reply looks the same as one before it
// (the host is killed only after the CLI printed). That a reply waits for its
// turn's commit is shown where the commit can be held: test/unit/vat-main.test.ts.
test('the writes of turns that replied survive a SIGKILL of the host', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home);
  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--durable', '--home', home])).code, 0);
  for (const expected of ['1', '2']) t.is((await tribe(['call', 'counter', 'increment', '--home', home])).stdout.trim(), expected);
  host.proc.kill('SIGKILL');
  await host.exited;
  // The killed host left its pid file and socket behind; the next start takes them over.
  t.true(existsSync(join(home, 'host.pid')));
  const again = await startHostProcess(t, home);
  t.is(again.id, host.id);
  t.is((await tribe(['call', 'counter', 'read', '--home', home])).stdout.trim(), '2');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await again.exited, 0);
});

test('the examples (npm start): chat members in their own vats talk through the room by reference', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--examples']);
  for (const name of ['counter', 'chat', 'alice', 'bob', 'directory', 'pipeline']) {
    t.true(host.output.some((l) => l === `spawned example ${name}`), `example ${name} spawned`);
  }
  t.is((await tribe(['call', 'alice', 'say', '"hi bob"', '--home', home])).code, 0);
  const inbox = JSON.parse((await tribe(['call', 'bob', 'inbox', '--home', home])).stdout);
  t.true(inbox.includes('alice: hi bob'), JSON.stringify(inbox));
  t.true(inbox.includes('room: bob joined'), 'bob saw his own join');
  t.is((await tribe(['call', 'pipeline', 'demo', '--home', home])).stdout.trim(), '"contents of /docs/readme"');
  const ps = JSON.parse((await tribe(['ps', '--json', '--home', home])).stdout);
  const pipeline = ps.vats.find((v: { name: string }) => v.name === 'pipeline');
  t.deepEqual(pipeline.peers, ['directory'], 'pipeline talks to directory over a direct channel');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
});
