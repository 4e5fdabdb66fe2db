/**
 * `tribe init` in real processes: the project it writes typechecks against this
 * checkout's shipped declarations (skipLibCheck false, strict), its own test passes
 * under `npm test`, and its actor runs in a `tribe host` process. Offline: the
 * project's dependencies are symlinks into this checkout, nothing is installed.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExecutionContext } from 'ava';
import { startHostProcess, tribe, type CliResult } from '../helpers/cli.js';
import { repoRoot, tempHome } from '../helpers/host.js';

const repoModules = join(repoRoot, 'node_modules');
const tsc = join(repoModules, '.bin', 'tsc');
const ownPackage = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };

const run = (file: string, args: string[], cwd?: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });

/** `tribe init` into a fresh directory, then its dependencies pointed at this checkout. */
const initProject = async (t: ExecutionContext, name = 'my-actors'): Promise<string> => {
  const dir = join(tempHome(t), name);
  const r = await tribe(['init', dir]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^wrote package\.json, tsconfig\.json, counter\.ts, counter\.test\.ts, README\.md, \.gitignore in /);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  symlinkSync(repoRoot, join(modules, 'tribe-runtime'));
  symlinkSync(join(repoModules, '@endo'), join(modules, '@endo'));
  symlinkSync(join(repoModules, '@types'), join(modules, '@types'));
  symlinkSync(join(repoModules, 'typescript'), join(modules, 'typescript'));
  symlinkSync(tsc, join(modules, '.bin', 'tsc'));
  return dir;
};

/** The first ```ts block under "## Writing an actor" in the README. */
const readmeActor = (): string => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Writing an actor'));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('README.md has no ts block under "## Writing an actor"');
  return block[1]!;
};

test('tribe init: a strict project that typechecks with skipLibCheck false, passes its own test, and runs in a host', async (t) => {
  const dir = await initProject(t);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  t.is(pkg.name, 'my-actors');
  t.is(pkg.type, 'module');
  t.is(pkg.dependencies['tribe-runtime'], `^${ownPackage.version}`);
  const { compilerOptions } = JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8'));
  t.like(compilerOptions, { strict: true, skipLibCheck: false, module: 'NodeNext', moduleResolution: 'NodeNext' });

  // The README's example actor goes through the same strict check as the template's.
  writeFileSync(join(dir, 'greeter.ts'), readmeActor());
  const checked = await run(tsc, ['--noEmit', '-p', dir]);
  t.is(checked.code, 0, `tsc --noEmit:\n${checked.stdout}${checked.stderr}`);

  // The check is not vacuous: a wrong use of a power fails it.
  writeFileSync(
    join(dir, 'wrong.ts'),
    "import type { Powers } from 'tribe-runtime';\nexport const make = (powers: Powers) => powers.timer.delay('soon');\n",
  );
  const wrong = await run(tsc, ['--noEmit', '-p', dir]);
  t.not(wrong.code, 0);
  t.regex(wrong.stdout, /wrong\.ts\(2,\d+\): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'/);
  unlinkSync(join(dir, 'wrong.ts'));

  // What the user runs: `npm test` (tsc, then node --test on the compiled test).
  const npmTest = await run('npm', ['test'], dir, { npm_config_update_notifier: 'false', npm_config_offline: 'true' });
  t.is(npmTest.code, 0, `npm test:\n${npmTest.stdout}${npmTest.stderr}`);
  t.regex(npmTest.stdout, /[#ℹ] pass 3\n[#ℹ] fail 0/);

  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-listen', '--no-viz']);
  const cli = async (...args: string[]) => {
    const r = await tribe([...args, '--home', home]);
    t.is(r.code, 0, `tribe ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  t.is(await cli('spawn', join(dir, 'counter.ts'), '--name', 'x'), 'spawned x (running)');
  // No --params: the defaults in make's signature (start 0, step 1).
  t.is(await cli('call', 'x', 'increment'), '1');
  t.is(await cli('call', 'x', 'increment'), '2');
  t.is(await cli('call', 'x', 'read'), '2');
  await cli('spawn', join(dir, 'counter.ts'), '--name', 'ten', '--params', '{"start":10,"step":5}');
  t.is(await cli('call', 'ten', 'increment'), '15');
  await cli('spawn', join(dir, 'greeter.ts'), '--name', 'greeter', '--params', '{"greeting":"hi"}');
  t.is(await cli('call', 'greeter', 'greet', '"Ada"'), '"hi, Ada"');
  t.is(await cli('call', 'greeter', 'greetVia', '"greeter"', '"Bob"'), '"hi, Bob"');
  t.true(host.output.some((line) => line.includes('[x] counting from 0 in steps of 1')), host.output.join('\n'));
  await cli('stop');
  t.is(await host.exited, 0);
});

test('tribe init overwrites nothing: one line, ProjectExistsError, no file written', async (t) => {
  const dir = join(tempHome(t), 'mine');
  mkdirSync(dir);
  writeFileSync(join(dir, 'README.md'), 'my own readme\n');
  const r = await tribe(['init', dir]);
  t.is(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, /^tribe: ProjectExistsError: .*mine already has README\.md; tribe init overwrites nothing/);
  t.deepEqual(readdirSync(dir), ['README.md']);
  t.is(readFileSync(join(dir, 'README.md'), 'utf8'), 'my own readme\n');

  const usage = await tribe(['init', dir, 'extra']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /^tribe: UsageError: tribe init takes at most one DIR, got 2: .*mine extra\n$/);
});

test("the tutorial's example actors typecheck against the package's types, imported by its name", async (t) => {
  // Inside this checkout 'tribe-runtime' resolves to itself by name, as docs/examples/*.mjs rely on.
  t.is(ownPackage.name, 'tribe-runtime');
  t.is(import.meta.resolve('tribe-runtime'), pathToFileURL(join(repoRoot, 'dist', 'runtime', 'index.js')).href);
  const dir = await initProject(t, 'docs-check');
  const examples = join(repoRoot, 'docs', 'examples');
  const files = readdirSync(examples)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(examples, f));
  t.true(files.length >= 8, files.join(', '));
  writeFileSync(
    join(dir, 'tsconfig.docs.json'),
    JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: true, rootDir: '/' }, include: [], files }),
  );
  const checked = await run(tsc, ['-p', join(dir, 'tsconfig.docs.json')]);
  t.is(checked.code, 0, `tsc:\n${checked.stdout}${checked.stderr}`);
});

test('tribe spawn --check: a module with type errors is refused with its diagnostics; errors elsewhere do not block', async (t) => {
  const dir = await initProject(t, 'checked');
  // Loads and runs without --check (the host only strips types); increment('2') would misbehave at a call.
  writeFileSync(
    join(dir, 'caller.ts'),
    [
      "import { E, Far } from '@endo/far';",
      "import type { Powers } from 'tribe-runtime';",
      "import type { make as makeCounter } from './counter.js';",
      'type Counter = Awaited<ReturnType<typeof makeCounter>>;',
      "export const make = (powers: Powers) => Far('Caller', { bump: async () => E(await powers.names.lookup<Counter>('x')).increment('2') });",
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'unrelated.ts'), 'export const n: number = "not a number";\n');
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-listen', '--no-viz']);

  const refused = await tribe(['spawn', join(dir, 'caller.ts'), '--name', 'caller', '--check', '--home', home]);
  t.is(refused.code, 1, refused.stderr);
  const [first, ...diagnostics] = refused.stderr.trim().split('\n');
  t.regex(first!, /^tribe: TypeCheckError: .*caller\.ts does not typecheck \(1 error; tsc with .*checked\/tsconfig\.json\); not spawned:$/);
  t.is(diagnostics.length, 1, refused.stderr);
  t.regex(diagnostics[0]!, /^ {2}caller\.ts\(5,\d+\): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'/);
  const ps = JSON.parse((await tribe(['ps', '--json', '--home', home])).stdout);
  t.deepEqual(ps.vats, [], 'nothing was spawned');
  t.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.tribe-check')), [], 'the temporary tsconfig is gone');

  // The counter typechecks (unrelated.ts's error is not its business) and is spawned.
  const ok = await tribe(['spawn', join(dir, 'counter.ts'), '--name', 'x', '--check', '--home', home]);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.trim(), 'spawned x (running)');
  // Without --check the same module loads: the refusal above was the check's.
  const unchecked = await tribe(['spawn', join(dir, 'caller.ts'), '--name', 'caller', '--home', home]);
  t.is(unchecked.code, 0, unchecked.stderr);
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
});
