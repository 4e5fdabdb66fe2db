/**
 * `tribe upgrade` against a real host process: the count is kept and the
 * behaviour changes; a broken upgrade exits 1 with one line and leaves the rows as
 * they were; a host killed (SIGKILL) in the middle of an upgrade rolls it back at
 * its next start; a `tribe call` in flight ends with VatUpgradedError.
 */
import test from 'ava';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { IO_MS, until, within } from '../helpers/bounded.js';
import { fixture, tempHome } from '../helpers/host.js';
import { upgradeLeftovers, vatRows } from '../helpers/vat-rows.js';

const v1 = fixture('upgrade-v1.ts');
const v2 = fixture('upgrade-v2.ts');
const objects = (n: number) => `${n} object${n === 1 ? '' : 's'}`;

const cliIn = (t: any, home: string) => async (...args: string[]) => {
  const r = await tribe([...args, '--home', home]);
  t.is(r.code, 0, `tribe ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

test('tribe upgrade keeps the count and changes the behaviour; a broken upgrade exits 1 with one line and rolls back', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-viz']);
  const cli = cliIn(t, home);
  await cli('spawn', v1, '--name', 'counter', '--durable');
  t.is(await cli('call', 'counter', 'increment'), '1');
  t.is(await cli('call', 'counter', 'increment'), '2');

  // A call that is in flight when the upgrade stops the old code.
  const inFlight = tribe(['call', 'counter', 'hang', '--home', home]);
  const deadline = Date.now() + IO_MS;
  while ((await cli('call', 'counter', 'waiting')) !== '1') {
    if (Date.now() > deadline) t.fail('the hang() call did not arrive');
    await new Promise((r) => setTimeout(r, 20));
  }
  const n = vatRows(home, 'counter').objects.length;
  t.is(
    await cli('upgrade', 'counter', v2),
    [
      'upgraded counter (was running, now running)',
      `  module   ${v1} → ${v2}`,
      '  params   null (kept)',
      `  store    kept: 1 key, ${objects(n)}`,
    ].join('\n'),
  );
  const cut = await within(inFlight, IO_MS, 'the call in flight to end');
  t.is(cut.code, 1);
  t.is(cut.stderr, `tribe: VatUpgradedError: vat "counter" was stopped to be upgraded to ${v2}; call again: durable references reach the new code\n`);
  t.is(await cli('call', 'counter', 'version'), '2');
  t.is(await cli('call', 'counter', 'increment'), '12', 'the count v1 left, plus ten');

  // Broken: make() writes, then throws. One line, exit 1, the rows as they were, v2 answers again.
  const before = vatRows(home, 'counter');
  const broken = fixture('upgrade-v3-broken.ts');
  const failed = await tribe(['upgrade', 'counter', broken, '--home', home]);
  t.is(failed.code, 1);
  t.is(failed.stdout, '');
  t.is(
    failed.stderr,
    `tribe: UpgradeFailedError: ActorStartError: make() of ${broken} failed: RangeError: v3 cannot read this store; rolled back to ${v2}\n`,
  );
  t.deepEqual(vatRows(home, 'counter'), before);
  t.is(upgradeLeftovers(home), 0);
  t.is(await cli('call', 'counter', 'increment'), '22');

  // New params.
  t.regex(await cli('upgrade', 'counter', v2, '--params', '{"step":5}'), /\n {2}params {3}null → \{"step":5\}\n/);
  t.is(await cli('call', 'counter', 'increment'), '27');

  // Refused before anything stops: the vat keeps running, nothing ends.
  const ended = () => host.output.join('').split('\n').filter((l) => l.startsWith('vat counter ended')).length;
  const endedBefore = ended();
  const missing = await tribe(['upgrade', 'counter', 'no-such-module.ts', '--home', home]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^tribe: ModuleNotFoundError: no module file at \/\S+\/no-such-module\.ts; vat "counter" was not upgraded and still runs its old code\n$/);
  const unknown = await tribe(['upgrade', 'nobody', v2, '--home', home]);
  t.is(unknown.code, 1);
  t.is(unknown.stderr, 'tribe: VatNotFoundError: no vat named "nobody" (see tribe ps)\n');
  const usage = await tribe(['upgrade', 'counter', '--home', home]);
  t.is(usage.code, 2);
  t.is(usage.stderr, 'tribe: UsageError: tribe upgrade needs MODULE.ts|js: tribe upgrade NAME MODULE.ts|js [options]\n');
  t.is(await cli('call', 'counter', 'read'), '27');
  t.is(ended(), endedBefore);

  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
});

test('a host killed in the middle of an upgrade rolls it back at its next start, with a line saying so', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-viz']);
  const cli = cliIn(t, home);
  await cli('spawn', v1, '--name', 'counter', '--durable');
  for (const n of ['1', '2', '3']) t.is(await cli('call', 'counter', 'increment'), n);
  const before = vatRows(home, 'counter');

  // v4's make() writes and never returns: the upgrade is under way until its start timeout.
  const stuck = fixture('upgrade-v4-stuck.ts');
  const upgrading = tribe(['upgrade', 'counter', stuck, '--home', home]);
  await until(
    () => vatRows(home, 'counter').store.some((r) => r.key === 'migrated-by-v4'),
    IO_MS,
    "v4's make() to commit its writes",
  );
  t.true(upgradeLeftovers(home) > 0, 'the upgrade is recorded');
  host.proc.kill('SIGKILL');
  await host.exited;
  t.is((await within(upgrading, IO_MS, 'tribe upgrade to end with its host')).code, 1);
  t.notDeepEqual(vatRows(home, 'counter'), before, 'v4 had written');

  const again = await startHostProcess(t, home, ['--no-viz']);
  const line = `upgrade of vat counter to ${stuck} did not finish (the host stopped during it): rolled back to ${v1}, its store as before the upgrade`;
  await until(() => again.output.join('').includes(line), IO_MS, 'the rollback line', () => again.output.join(''));
  t.deepEqual(vatRows(home, 'counter'), before);
  t.is(upgradeLeftovers(home), 0);
  t.is(await cli('call', 'counter', 'version'), '1');
  t.is(await cli('call', 'counter', 'increment'), '4');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await again.exited, 0);
});
