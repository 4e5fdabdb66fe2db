/** Runs the real `tribe` CLI in child processes. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ExecutionContext } from 'ava';
import { repoRoot } from './host.js';

export const cliPath = join(repoRoot, 'dist', 'runtime', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const tribe = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });

export interface RunningHost {
  readonly proc: ChildProcess;
  readonly id: string;
  /** 'ADDR:PORT' the host listens on for other hosts, if it does. */
  readonly listen: string | undefined;
  /** The visualizer's URL, if it serves one. */
  readonly viz: string | undefined;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

/** Starts `tribe host` and resolves once it prints its ready line. */
export const startHostProcess = async (t: ExecutionContext, home: string, extra: string[] = []): Promise<RunningHost> => {
  const proc = spawn(process.execPath, [cliPath, 'host', '--home', home, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const output: string[] = [];
  proc.stderr!.on('data', (d) => output.push(String(d)));
  const lines = createInterface({ input: proc.stdout! });
  let id = '';
  let listen: string | undefined;
  let viz: string | undefined;
  for await (const line of lines) {
    output.push(line);
    const m = /^tribe host (\S+)/.exec(line);
    if (m) id = m[1]!;
    const l = /^ {2}listen {2}(\S+:\d+)$/.exec(line);
    if (l) listen = l[1]!;
    const v = /^ {2}viz {5}(http\S+)$/.exec(line);
    if (v) viz = v[1]!;
    if (line.startsWith('ready ')) break;
  }
  if (!id) throw new Error(`host did not start:\n${output.join('\n')}`);
  lines.on('line', (l) => output.push(l));
  return { proc, id, listen, viz, output, exited };
};
