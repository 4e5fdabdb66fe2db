/**
 * Starts sister host processes: `tribe host --home <tribe home> --slot k`, each
 * in its own session (detached: it outlives the host that started it, so any
 * survivor can take over spawning), its output appended to `<slot home>/host.log`.
 *
 * A spawn fails (SpawnFailedError) when the program cannot be started or the
 * process exits before it is in the registry; a process that finds its slot
 * taken by another exits at once with SLOT_TAKEN_EXIT, which is a lost race,
 * not a failure.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpawnFailedError } from '../../protocols/bootstrap/errors.js';
import { tribePaths } from './tribe-home.js';

/** The exit code of `tribe host --slot k` when slot k has a live host already. */
export const SLOT_TAKEN_EXIT = 75;
/** How long a spawned sister may take to appear in the registry before it counts as failed. */
export const SPAWN_UP_MS = 30_000;

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface SpawnRequest {
  readonly tribeHome: string;
  readonly slot: number;
  readonly coreSize: number;
  /** Further `tribe host` arguments (listen address, discovery, limits). */
  readonly args: readonly string[];
}

export interface Spawned {
  readonly pid: number;
  /** Settles when the process ends (it is not waited for otherwise): with its exit code, or the error that kept it from starting. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null; readonly error?: Error }>;
}

export const spawnSister = (req: SpawnRequest): Spawned => {
  const home = tribePaths(req.tribeHome).slotHome(req.slot);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const logFile = join(home, 'host.log');
  const log = openSync(logFile, 'a', 0o600);
  const args = [CLI, 'host', '--home', req.tribeHome, '--slot', String(req.slot), '--core-size', String(req.coreSize), ...req.args];
  let child: ReturnType<typeof spawn>;
  try {
    // Both outputs go to the log file, not to a pipe: the sister outlives this process.
    child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log, log], env: process.env });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
    child.once('error', (err) =>
      resolve({ code: null, signal: null, error: new SpawnFailedError(`cannot start a sister host for slot ${req.slot}: ${err.message}`, { cause: err }) }),
    );
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.unref();
  return { pid: child.pid ?? 0, exited };
};

/** Why an early exit of a spawned sister is a failure, for people; undefined when it only lost its slot's race. */
export const earlyExitProblem = (req: SpawnRequest, ended: { code: number | null; signal: string | null; error?: Error }): Error | undefined => {
  if (ended.error) return ended.error;
  if (ended.code === SLOT_TAKEN_EXIT) return undefined;
  const log = join(tribePaths(req.tribeHome).slotHome(req.slot), 'host.log');
  return new SpawnFailedError(`sister slot ${req.slot} exited before it was up (${ended.signal ?? `code ${ended.code}`}); see ${log}`);
};
