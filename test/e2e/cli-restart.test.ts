import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { example, fixture, tempHome } from '../helpers/host.js';

test('tribe restart keeps the module, params, durable store, grants and limits, and says what it did', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-viz']);
  const cli = async (...args: string[]) => {
    const r = await tribe([...args, '--home', home]);
    t.is(r.code, 0, `tribe ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await cli('spawn', example('counter.ts'), '--name', 'kept', '--durable', '--params', '{"start":5}');
  await cli('spawn', example('counter.ts'), '--name', 'fresh', '--params', '{"start":5}');
  await cli('spawn', fixture('powers.ts'), '--name', 'pw', '--grant', 'clock');
  await cli('spawn', fixture('runaway.ts'), '--name', 'rw', '--time-budget', '1000', '--heap-mb', '64');
  t.is(await cli('call', 'kept', 'increment'), '6');
  t.is(await cli('call', 'fresh', 'increment'), '6');

  // Durable: the count is the store's, which the restart kept.
  t.is(
    await cli('restart', 'kept'),
    [
      'restarted kept (was running, now running)',
      `  module   ${example('counter.ts')}`,
      '  params   {"start":5}',
      '  durable  yes (its store is kept)',
      '  grants   none',
      "  limits   the host's defaults",
    ].join('\n'),
  );
  t.is(await cli('call', 'kept', 'read'), '6');
  // Not durable: a new instance (its memory is gone), made with the same params.
  t.regex(await cli('restart', 'fresh'), /^restarted fresh \(was running, now running\)\n(.*\n)* {2}durable {2}no\n/);
  t.is(await cli('call', 'fresh', 'read'), '5');
  // Grants: the clock still works.
  t.regex(await cli('restart', 'pw'), /\n {2}grants {3}clock\n/);
  t.is(await cli('call', 'pw', 'clock'), '"number"');

  // Limits: the restarted vat runs under its own budgets, not the host's defaults (256 MiB, 5 s).
  t.regex(await cli('restart', 'rw'), /\n {2}limits {3}time budget 1000 ms, heap 64 MiB$/);
  const hog = await tribe(['call', 'rw', 'grow', '--home', home]);
  t.is(hog.code, 1);
  t.regex(hog.stderr, /^tribe: VatMemoryBudgetError: .*64 MiB/);
  // A crashed vat restarts too.
  t.regex(await cli('restart', 'rw'), /^restarted rw \(was crashed, now running\)/);
  const stuck = await tribe(['call', 'rw', 'loop', '--home', home]);
  t.is(stuck.code, 1);
  t.regex(stuck.stderr, /^tribe: VatTimeBudgetError: vat "rw" did not yield for 1000 ms/);

  const ps = JSON.parse(await cli('ps', '--json'));
  t.deepEqual(
    ps.vats.map((v: { name: string; state: string; durable: boolean }) => [v.name, v.state, v.durable]),
    [['fresh', 'running', false], ['kept', 'running', true], ['pw', 'running', false], ['rw', 'crashed', false]],
  );
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
});

test('tribe restart of an unknown vat is one named error line; without a name, a usage error', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-viz']);
  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--home', home])).code, 0);
  const unknown = await tribe(['restart', 'nobody', '--home', home]);
  t.is(unknown.code, 1);
  t.is(unknown.stderr, 'tribe: VatNotFoundError: no vat named "nobody" (see tribe ps)\n');
  t.is(unknown.stdout, '');
  const usage = await tribe(['restart', '--home', home]);
  t.is(usage.code, 2);
  t.is(usage.stderr, 'tribe: UsageError: tribe restart needs NAME: tribe restart NAME\n');
  // A killed vat is forgotten: there is nothing to restart.
  t.is((await tribe(['kill', 'counter', '--home', home])).code, 0);
  t.regex((await tribe(['restart', 'counter', '--home', home])).stderr, /^tribe: VatNotFoundError: no vat named "counter"/);
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
});

test('tribe restart loads the module file again: an edited actor runs its new code, a fixed one starts', async (t) => {
  const home = tempHome(t);
  const modules = tempHome(t);
  const file = join(modules, 'versioned.ts');
  const source = (version: number) =>
    `import { Far } from '@endo/far';\nexport const make = () => Far('Versioned', { version: (): number => ${version} });\n`;
  writeFileSync(file, source(1));
  const host = await startHostProcess(t, home, ['--no-viz']);
  t.is((await tribe(['spawn', file, '--name', 'v', '--home', home])).code, 0);
  t.is((await tribe(['call', 'v', 'version', '--home', home])).stdout.trim(), '1');
  writeFileSync(file, source(22)); // another size too, whatever the file system's time resolution
  t.is((await tribe(['call', 'v', 'version', '--home', home])).stdout.trim(), '1', 'the running vat keeps its code');
  t.is((await tribe(['restart', 'v', '--home', home])).code, 0);
  t.is((await tribe(['call', 'v', 'version', '--home', home])).stdout.trim(), '22');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);

  // A module broken while the host was down: the vat does not come back, its record stays,
  // and once the module is fixed a restart starts it (no need to spawn it again).
  writeFileSync(file, 'export const make = () => {;\n');
  const again = await startHostProcess(t, home, ['--no-viz']);
  t.true(again.output.some((l) => l.startsWith('vat v did not restart: ModuleSyntaxError')), again.output.join('\n'));
  const broken = await tribe(['restart', 'v', '--home', home]);
  t.is(broken.code, 1);
  t.regex(broken.stderr, /^tribe: ModuleSyntaxError: [^\n]*versioned\.ts[^\n]*\n$/);
  writeFileSync(file, source(333));
  t.regex((await tribe(['restart', 'v', '--home', home])).stdout, /^restarted v \(was not started, now running\)\n/);
  t.is((await tribe(['call', 'v', 'version', '--home', home])).stdout.trim(), '333');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await again.exited, 0);
});
