/**
 * scripts/check-leftovers.mjs: what it counts as left behind by a run (and what not),
 * on a made-up /proc, on real processes, and run whole around a command.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { LOCAL_MS, PROCESS_MS, until, within } from '../helpers/bounded.js';
import { cliPath } from '../helpers/cli.js';
import { repoRoot, TEST_RUN_ENV } from '../helpers/host.js';
import { isAlive, spawnTracked } from '../helpers/processes.js';

interface Found {
  processes: Array<{ pid: number; command: string }>;
  homes: string[];
}
interface CheckLeftovers {
  RUN_ENV: string;
  CHECKOUT: string;
  findLeftovers(o: { proc?: string; checkout?: string; runDir: string; exclude?: number[] }): Found;
  settledLeftovers(o: { runDir: string }, graceMs?: number): Promise<Found>;
  describeLeftovers(found: Found): string;
}

const script = join(repoRoot, 'scripts', 'check-leftovers.mjs');
const load = async () => (await import(pathToFileURL(script).href)) as CheckLeftovers;

const tempDir = (t: ExecutionContext, prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** One made-up /proc/<pid>: its argv and environment, as the kernel shows them (NUL-separated). */
const fakeProcess = (proc: string, pid: number | string, argv: string[] | undefined, env: string[] | undefined) => {
  mkdirSync(join(proc, String(pid)));
  if (argv) writeFileSync(join(proc, String(pid), 'cmdline'), argv.map((a) => `${a}\0`).join(''));
  if (env) writeFileSync(join(proc, String(pid), 'environ'), env.map((e) => `${e}\0`).join(''));
};

test('findLeftovers: a process of this run naming this checkout, and whatever is in the run directory', async (t) => {
  const { findLeftovers, RUN_ENV, CHECKOUT } = await load();
  t.is(CHECKOUT, repoRoot);
  t.is(RUN_ENV, TEST_RUN_ENV, 'the script marks the run with the variable tempHome reads');
  const proc = tempDir(t, 'tribe-proc-');
  const runDir = tempDir(t, 'tribe-run-');
  const ours = `${RUN_ENV}=${runDir}`;
  const host = ['/usr/bin/node', cliPath, 'host', '--home', join(runDir, 'tribe-test-a')];
  fakeProcess(proc, 100, host, ['PATH=/bin', ours]);
  fakeProcess(proc, 101, host, ['PATH=/bin', `${RUN_ENV}=${runDir}-concurrent`]); // a concurrent run
  fakeProcess(proc, 102, host, ['PATH=/bin']); // `npm start` in this checkout: no marker
  const otherCheckout = repoRoot.replace(/\/$/, '-2/');
  fakeProcess(proc, 103, ['/usr/bin/node', join(otherCheckout, 'dist/runtime/cli/main.js'), 'host'], [ours]); // another checkout
  fakeProcess(proc, 104, [], [ours]); // a zombie: it has no command line
  fakeProcess(proc, 105, host, undefined); // another user's: its environment cannot be read
  fakeProcess(proc, 106, ['/usr/bin/node', join(repoRoot, 'dist/test/helpers/reaper.js')], [ours]); // anything else of ours
  fakeProcess(proc, 107, host, [ours]); // the checker itself
  fakeProcess(proc, 'self', host, [ours]);
  mkdirSync(join(runDir, 'tribe-test-a'));

  const found = findLeftovers({ proc, runDir, exclude: [107] });
  t.deepEqual(
    found.processes.map((p) => p.pid),
    [100, 106],
  );
  t.is(found.processes[0]!.command, host.join(' '));
  t.deepEqual(found.homes, [join(runDir, 'tribe-test-a')]);

  rmSync(join(runDir, 'tribe-test-a'), { recursive: true });
  rmSync(join(proc, '100'), { recursive: true });
  rmSync(join(proc, '106'), { recursive: true });
  t.deepEqual(findLeftovers({ proc, runDir, exclude: [107] }), { processes: [], homes: [] });
  t.deepEqual(findLeftovers({ proc, runDir: join(runDir, 'never-made') }).homes, []);
});

test('findLeftovers on the real /proc: a live process with the marker is found, and is not once it exits', async (t) => {
  const { findLeftovers, RUN_ENV } = await load();
  const runDir = tempDir(t, 'tribe-run-');
  // `node -e` ignores its further arguments: this one only puts the CLI's path on the command line.
  const { child, exit } = spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)', cliPath], {
    stdio: 'ignore',
    env: { ...process.env, [RUN_ENV]: runDir },
  });
  t.teardown(() => child.kill('SIGKILL'));
  await within(new Promise((r) => child.once('spawn', r)), PROCESS_MS, 'a marked process to start');
  t.deepEqual(
    findLeftovers({ runDir }).processes.map((p) => p.pid),
    [child.pid],
  );
  t.deepEqual(findLeftovers({ runDir: `${runDir}-other` }).processes, [], 'another run does not see it');
  child.kill('SIGKILL');
  await within(exit, PROCESS_MS, 'the marked process to exit');
  t.deepEqual(findLeftovers({ runDir }).processes, []);
});

/** Runs the script around `code` (a node -e program); resolves with its exit code and stderr. */
const runChecked = async (code: string) => {
  const { child, exit } = spawnTracked(process.execPath, [script, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const { code: status } = await within(exit, PROCESS_MS, 'check-leftovers to finish');
  return { status, stderr };
};

test('the script: a clean command passes; a host left alive and a home left behind fail the run, and are cleaned up', async (t) => {
  const clean = await runChecked(`
    const { mkdtempSync, rmSync } = require('node:fs');
    rmSync(mkdtempSync(require('node:path').join(process.env.TRIBE_TEST_RUN, 'tribe-test-')), { recursive: true });
  `);
  t.is(clean.status, 0, clean.stderr);
  t.is(clean.stderr, '');

  // Leaves a detached `node -e` that names the CLI (as a host would) and a temp home.
  const leaky = await runChecked(`
    const { spawn } = require('node:child_process');
    const { mkdtempSync } = require('node:fs');
    const { join } = require('node:path');
    mkdtempSync(join(process.env.TRIBE_TEST_RUN, 'tribe-test-'));
    const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ${JSON.stringify(cliPath)}], { detached: true, stdio: 'ignore' });
    c.unref();
    console.error('LEFT ' + c.pid);
  `);
  const pid = Number(/LEFT (\d+)/.exec(leaky.stderr)?.[1]);
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Killed by the script, as it should be.
    }
  });
  t.is(leaky.status, 1, leaky.stderr);
  t.regex(leaky.stderr, new RegExp(`process ${pid}: .*${cliPath.replace(/[.]/g, '\\.')}`));
  t.regex(leaky.stderr, /temp home .*tribe-run-.*\/tribe-test-/);
  t.regex(leaky.stderr, /killed and removed them now; the run fails/);
  await until(() => !isAlive(pid), LOCAL_MS, `process ${pid}, which the script says it killed, to be gone`);

  const failing = await runChecked('process.exit(3)');
  t.is(failing.status, 3, 'the command’s own failure is kept');
});
