/**
 * Child processes and temp directories that end with the test worker, however it ends.
 *
 * Each child starts `detached`: its own process group, so that killing the group also
 * takes whatever it started. The worker kills every group still alive and removes every
 * directory still listed when it exits (normally, by an uncaught exception, which ava
 * turns into an exit) or is sent SIGTERM (ava's timeout and interrupt), SIGINT or
 * SIGHUP; a detached child is in no terminal's process group, so this is what ends it on
 * Ctrl-C. Nothing runs in a process sent SIGKILL, so a reaper process watches the worker
 * too: it is told of each group and directory over a pipe and, once that pipe closes
 * (the worker is gone, whatever the way), kills and removes what is still listed.
 *
 * A run under scripts/check-leftovers.mjs then checks that nothing was left anyway.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

// One registry per worker process, as the handlers it installs are process-wide.
const groups = new Set<number>();
const dirs = new Set<string>();
let reaper: Writable | undefined;
let installed = false;

const tellReaper = (line: Record<string, unknown>): void => {
  reaper?.write(`${JSON.stringify(line)}\n`);
};

/** Kills every group and removes every directory still listed (synchronous: it runs in 'exit'). */
const cleanUp = (): void => {
  for (const pgid of groups) killGroup(pgid);
  groups.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
};

const install = (): void => {
  if (installed) return;
  installed = true;
  process.on('exit', cleanUp);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanUp();
      // Our listener is gone (once): the signal's default action ends the process as it would have.
      process.kill(process.pid, signal);
    });
  }
};

const startReaper = (): void => {
  if (reaper) return;
  const script = fileURLToPath(new URL('./reaper.js', import.meta.url));
  // Its stdout and stderr go nowhere: holding the worker's would keep them open after the worker ends.
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  // Neither the reaper nor its pipe keeps the worker alive; the pipe closing is the reaper's signal.
  child.unref();
  const stdin = child.stdin!;
  (stdin as unknown as { unref(): void }).unref();
  stdin.on('error', () => {});
  reaper = stdin;
  for (const dir of dirs) tellReaper({ dir });
};

/** SIGKILL to a whole process group; a group that is gone already is fine. */
export const killGroup = (pgid: number): void => {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
};

/**
 * `spawn` for tests: the child leads its own process group, which is killed if the
 * worker ends first. `exit` resolves once the child has exited (not bounded: wrap it).
 */
export const spawnTracked = (
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, 'detached'> = {},
): { child: ChildProcess; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } => {
  install();
  startReaper();
  const child = spawn(command, args, { ...options, detached: true });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  exit.catch(() => {});
  const pgid = child.pid;
  if (pgid !== undefined) {
    groups.add(pgid);
    tellReaper({ group: pgid });
    void exit.finally(() => {
      // The leader is gone; anything it left in its group goes with it.
      killGroup(pgid);
      groups.delete(pgid);
      tellReaper({ done: pgid });
    });
  }
  return { child, exit };
};

/**
 * Whether `pid` is a live process. A zombie is not: here PID 1 does not reap orphans,
 * so a killed orphan stays in the process table (and answers kill(pid, 0)) for good.
 */
export const isAlive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

/** Lists a directory for removal when the worker ends; `forget` once it is removed by its owner. */
export const trackDir = (dir: string): { forget(): void } => {
  install();
  dirs.add(dir);
  tellReaper({ dir });
  return {
    forget() {
      dirs.delete(dir);
      tellReaper({ doneDir: dir });
    },
  };
};
