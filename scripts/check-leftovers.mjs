// Runs the test command (`c8 ava` in `npm test`) and then fails if the run left anything
// behind — whether the command passed or not, since a failed run is when things get left:
//   - a process the run started that is still alive: its environment carries this run's
//     marker (TRIBE_TEST_RUN=<the run's directory>, inherited by everything the tests
//     start) and its command line names a file of this checkout (dist/runtime/cli/main.js
//     for a `tribe host`). So a concurrent run, another checkout, or a `npm start` in this
//     one are never counted;
//   - a temp home in the run's directory (test/helpers/host.ts tempHome makes them there).
// It prints what it found, kills and removes it (so the next run starts clean), and exits 1.
//
// Usage: node scripts/check-leftovers.mjs <command> [args...]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const RUN_ENV = 'TRIBE_TEST_RUN';
/** This checkout, with a trailing slash (so /x/tribe-2/… is not taken for /x/tribe/…). */
export const CHECKOUT = fileURLToPath(new URL('..', import.meta.url));
/**
 * How long what the run killed may take to be gone: the worker's exit handler and the
 * reaper (test/helpers/processes.ts) send SIGKILL as the run ends, and the kernel and the
 * reaper finish on their own time on a loaded machine. Anything alive after this is left.
 */
export const GRACE_MS = 5000;

const readProcFile = (proc, pid, file) => readFileSync(join(proc, pid, file), 'utf8').split('\0').filter(Boolean);

/**
 * What the run marked by `runDir` left: processes under `proc` (a /proc layout) that carry
 * its marker and name a file of `checkout`, and whatever is still in `runDir`.
 * Zombies (empty command line), vanished processes and other users' (unreadable) are skipped.
 */
export const findLeftovers = ({ proc = '/proc', checkout = CHECKOUT, runDir, exclude = [process.pid] }) => {
  const marker = `${RUN_ENV}=${runDir}`;
  const processes = [];
  for (const pid of readdirSync(proc)) {
    if (!/^\d+$/.test(pid) || exclude.includes(Number(pid))) continue;
    let argv;
    let env;
    try {
      argv = readProcFile(proc, pid, 'cmdline');
      env = readProcFile(proc, pid, 'environ');
    } catch {
      continue;
    }
    if (env.includes(marker) && argv.some((arg) => arg.includes(checkout))) processes.push({ pid: Number(pid), command: argv.join(' ') });
  }
  let homes = [];
  try {
    homes = readdirSync(runDir).map((name) => join(runDir, name));
  } catch {
    // No run directory: nothing was made in it.
  }
  return { processes, homes };
};

/** findLeftovers, again every 100 ms while it finds something, for up to `graceMs`. */
export const settledLeftovers = async (options, graceMs = GRACE_MS) => {
  const deadline = Date.now() + graceMs;
  let found = findLeftovers(options);
  while ((found.processes.length > 0 || found.homes.length > 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    found = findLeftovers(options);
  }
  return found;
};

/** The report for what was found, or '' if nothing was. */
export const describeLeftovers = ({ processes, homes }) => {
  if (processes.length === 0 && homes.length === 0) return '';
  return [
    `check-leftovers: the test run left ${processes.length} process(es) and ${homes.length} temp home(s) behind:`,
    ...processes.map((p) => `  process ${p.pid}: ${p.command}`),
    ...homes.map((h) => `  temp home ${h}`),
    'check-leftovers: killed and removed them now; the run fails.',
  ].join('\n');
};

const main = async (argv) => {
  if (argv.length === 0) {
    console.error('usage: node scripts/check-leftovers.mjs <command> [args...]');
    return 2;
  }
  const runDir = mkdtempSync(join(tmpdir(), 'tribe-run-'));
  const env = { ...process.env, [RUN_ENV]: runDir, PATH: `${join(CHECKOUT, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}` };
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
  // Ctrl-C reaches the command as well (same process group): let it end, then check.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  let code = 1;
  let signal = null;
  try {
    [code, signal] = await once(child, 'exit');
  } catch (err) {
    console.error(`check-leftovers: could not run ${argv.join(' ')}: ${err.message}`);
  }
  const found = await settledLeftovers({ runDir });
  const report = describeLeftovers(found);
  if (report) {
    console.error(report);
    for (const { pid } of found.processes) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }
  rmSync(runDir, { recursive: true, force: true });
  if (code !== 0 || signal) return code || 1;
  return report ? 1 : 0;
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
