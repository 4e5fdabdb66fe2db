/**
 * test/helpers/processes.ts: what a test worker starts dies with it, however the worker
 * ends. A stand-in worker (a node process using the helper as the tests do) starts a
 * long-lived child whose command line names the CLI, as a `tribe host` does, and a temp
 * directory, then ends one way or another; scripts/check-leftovers.mjs's detection, given
 * the stand-in's run marker, must then find nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { PROCESS_MS, within } from '../helpers/bounded.js';
import { cliPath } from '../helpers/cli.js';
import { repoRoot } from '../helpers/host.js';
import { spawnTracked } from '../helpers/processes.js';

interface Found {
  processes: Array<{ pid: number; command: string }>;
  homes: string[];
}
const { RUN_ENV, settledLeftovers } = (await import(pathToFileURL(join(repoRoot, 'scripts', 'check-leftovers.mjs')).href)) as {
  RUN_ENV: string;
  settledLeftovers(o: { runDir: string }, graceMs?: number): Promise<Found>;
};

const helper = new URL('../helpers/processes.js', import.meta.url).href;

/** How the stand-in worker ends once its child and directory are in place. */
const ENDINGS = {
  'a normal exit': 'process.exit(0)',
  'an uncaught exception': "setTimeout(() => { throw new Error('boom'); })",
  'SIGTERM (ava: timeout, interrupt)': "process.kill(process.pid, 'SIGTERM')",
  'SIGINT (Ctrl-C)': "process.kill(process.pid, 'SIGINT')",
  'SIGKILL (nothing runs in the worker: the reaper)': "process.kill(process.pid, 'SIGKILL')",
} as const;

/** Runs a stand-in worker; resolves with what its run left (after check-leftovers' grace). */
const standIn = async (how: string, track: boolean): Promise<Found & { said: string }> => {
  const runDir = mkdtempSync(join(tmpdir(), 'tribe-run-'));
  try {
    const start = track
      ? `const { spawnTracked, trackDir } = await import(${JSON.stringify(helper)});
         spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ${JSON.stringify(cliPath)}], { stdio: 'ignore' });
         trackDir(mkdtempSync(join(process.env.${RUN_ENV}, 'tribe-test-')));`
      : `const { spawn } = await import('node:child_process');
         spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ${JSON.stringify(cliPath)}], { stdio: 'ignore', detached: true }).unref();
         mkdtempSync(join(process.env.${RUN_ENV}, 'tribe-test-'));`;
    const program = `import { mkdtempSync } from 'node:fs'; import { join } from 'node:path';
      ${start}
      console.log('started');
      ${how};`;
    const { child, exit } = spawnTracked(process.execPath, ['--input-type=module', '-e', program], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, [RUN_ENV]: runDir },
    });
    let said = '';
    child.stdout!.on('data', (d) => (said += String(d)));
    // 'close', not 'exit': the exit can be seen before the last of its output is read.
    const closed = new Promise((r) => child.once('close', r));
    await within(Promise.all([exit, closed]), PROCESS_MS, `the stand-in worker to end by ${how}`);
    const left = await settledLeftovers({ runDir });
    // What a failing case (or the control) left is the stand-in's, not this run's: end it here.
    for (const { pid } of left.processes) process.kill(pid, 'SIGKILL');
    return { ...left, said };
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
};

for (const [ending, how] of Object.entries(ENDINGS)) {
  test(`a worker that ends by ${ending} leaves no process and no temp home`, async (t) => {
    const left = await standIn(how, true);
    t.is(left.said.trim(), 'started');
    t.deepEqual(left.processes, []);
    t.deepEqual(left.homes, []);
  });
}

test('the control: an untracked child and directory are left, and the detection sees them', async (t) => {
  const left = await standIn(ENDINGS['a normal exit'], false);
  t.is(left.processes.length, 1);
  t.regex(left.processes[0]!.command, /setInterval/);
  t.is(left.homes.length, 1);
});
