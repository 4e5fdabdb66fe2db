/**
 * Runs the real `tribe` CLI in child processes. Each one leads its own process group and
 * dies with the test worker (processes.ts); every wait on one is bounded (bounded.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ExecutionContext } from 'ava';
import { PROCESS_MS, within } from './bounded.js';
import { repoRoot } from './host.js';
import { killGroup, spawnTracked } from './processes.js';

export const cliPath = join(repoRoot, 'dist', 'runtime', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <args>` to its end, tracked (killed with the test run); rejects, and
 * kills it, if it has not ended within PROCESS_MS, with what it printed so far.
 */
export const runNode = async (
  args: string[],
  env: NodeJS.ProcessEnv,
  what: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> => {
  const { child, exit } = spawnTracked(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  try {
    await within(closed, PROCESS_MS, what);
  } catch (err) {
    killGroup(child.pid!);
    throw new Error(`${(err as Error).message}\nstdout: ${stdout}\nstderr: ${stderr}`, { cause: err });
  }
  const { code } = await exit;
  return { code, stdout, stderr };
};

/** Runs one `tribe` command to its end; rejects (and kills it) if it has not ended within PROCESS_MS. */
export const tribe = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => {
  const r = await runNode([cliPath, ...args], { ...process.env, ...env }, `tribe ${args.join(' ')} to finish`);
  return { ...r, code: r.code ?? 1 };
};

export interface RunningHost {
  readonly proc: ChildProcess;
  readonly id: string;
  /** 'ADDR:PORT' the host listens on for other hosts, if it does. */
  readonly listen: string | undefined;
  /** The visualizer's URL, if it serves one. */
  readonly viz: string | undefined;
  readonly output: string[];
  /** The exit code, once the host has exited; each read is bounded by PROCESS_MS. */
  readonly exited: Promise<number | null>;
}

/**
 * Starts `tribe host` and resolves once it prints its ready line (within PROCESS_MS). `env` is
 * added to this process's environment (the sisters it spawns inherit it: test hooks such as
 * TRIBE_TEST_SAGA_HOLD). `t` is a test, or anything that runs teardowns later (a file's scope).
 */
export const startHostProcess = async (t: Pick<ExecutionContext, 'teardown'>, home: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<RunningHost> => {
  // A single host unless the test asks for a tribe: the tribe's own tests give its flags.
  const tribeFlags = ['--core-size', '--join', '--slot', '--tribe'];
  const args = ['host', '--home', home, ...(extra.some((a) => tribeFlags.includes(a)) ? extra.filter((a) => a !== '--tribe') : ['--solo', ...extra])];
  // A host that never gets ready is asked for a diagnostic report (SIGUSR2): its stack says where it waits.
  const reportDir = home;
  const nodeFlags = ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`];
  const { child: proc, exit } = spawnTracked(process.execPath, [...nodeFlags, cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
  const exitCode = exit.then(({ code }) => code);
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) killGroup(proc.pid!);
    await within(exit, PROCESS_MS, `tribe ${args.join(' ')} to exit after SIGKILL`);
  });
  const output: string[] = [];
  proc.stderr!.on('data', (d) => output.push(String(d)));
  const lines = createInterface({ input: proc.stdout! });
  let id = '';
  let listen: string | undefined;
  let viz: string | undefined;
  const ready = (async () => {
    for await (const line of lines) {
      output.push(line);
      const m = /^tribe host (\S+)/.exec(line);
      if (m) id = m[1]!;
      // The banner names the host by its short id; the full VatId is on the line below.
      const full = /^ {2}id {6}([a-z2-7]+)$/.exec(line);
      if (full) id = full[1]!;
      const l = /^ {2}listen {2}(\S+:\d+)$/.exec(line);
      if (l) listen = l[1]!;
      const v = /^ {2}viz {5}(http\S+)$/.exec(line);
      if (v) viz = v[1]!;
      if (line.startsWith('ready ')) return;
    }
  })();
  try {
    await within(ready, PROCESS_MS, `tribe ${args.join(' ')} to print its ready line`);
  } catch (err) {
    const where = await stackOfStuckHost(proc, reportDir);
    killGroup(proc.pid!);
    throw new Error(`${(err as Error).message}\n${output.join('\n')}\n${where}`, { cause: err });
  }
  if (!id) throw new Error(`host did not start:\n${output.join('\n')}`);
  lines.on('line', (l) => output.push(l));
  return {
    proc,
    id,
    listen,
    viz,
    output,
    get exited() {
      return within(exitCode, PROCESS_MS, `tribe host ${id.slice(0, 8)} (${home}) to exit`);
    },
  };
};

/** The JavaScript stack and open handles of a host that did not get ready, from its diagnostic report. */
const stackOfStuckHost = async (proc: ChildProcess, reportDir: string): Promise<string> => {
  if (proc.exitCode !== null || proc.signalCode !== null) return 'the host had exited';
  proc.kill('SIGUSR2');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const file = existsSync(reportDir) ? readdirSync(reportDir).find((f) => f.endsWith('.json')) : undefined;
    if (file) {
      try {
        const report = JSON.parse(readFileSync(join(reportDir, file), 'utf8')) as {
          javascriptStack?: { message?: string; stack?: string[] };
          libuv?: Array<{ type?: string; is_active?: boolean }>;
        };
        const stack = (report.javascriptStack?.stack ?? []).join('\n  ');
        const handles = (report.libuv ?? []).filter((h) => h.is_active).map((h) => h.type).join(', ');
        return `diagnostic report: ${report.javascriptStack?.message ?? ''}\n  ${stack}\nactive handles: ${handles}`;
      } catch {
        // still being written
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return 'no diagnostic report within 5 s';
};
