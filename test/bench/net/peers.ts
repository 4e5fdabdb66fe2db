/**
 * The bench side of a peer process (see peer-io.ts): spawn a compiled script
 * with `process.execPath`, wait for its ready line, send it `{ id, op, args }`
 * requests. `stop()` closes its stdin (the peer cleans up and exits) and kills
 * it by pid if it lingers; call it in a finally block.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** No single bench step takes this long; a stuck one fails the run instead of hanging it. */
const CALL_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 60_000;
/**
 * Every peer process gets the heap settings this (the bench) process has, which
 * is host A of the Tribe contender: Node's defaults unless the bench was started
 * with --max-old-space-size. Vat workers carry their own heap limit in both hosts.
 */
export const PEER_NODE_ARGS = process.execArgv.filter((a) => /^--max-old-space-size(=|$)/.test(a));

export interface Peer {
  readonly name: string;
  /** The child process's pid (for per-thread CPU accounting, test/bench/cpu-split.ts). */
  readonly pid: number;
  /** The ready line. */
  readonly hello: Record<string, any>;
  call<T = unknown>(op: string, ...args: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

export const startPeer = async (
  name: string,
  script: string,
  args: readonly string[] = [],
  opts: { nodeArgs?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<Peer> => {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const child = spawn(process.execPath, [...PEER_NODE_ARGS, ...(opts.nodeArgs ?? []), file, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let nextId = 0;
  let exited: Error | undefined;
  let onHello: ((m: Record<string, any>) => void) | undefined;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const fail = (err: Error) => {
    exited ??= err;
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    pending.clear();
  };
  child.once('exit', (code, signal) => fail(new Error(`${name} exited (${signal ?? code}): ${stderr.trim().slice(-1500)}`)));
  child.once('error', (err) => fail(err));
  createInterface({ input: child.stdout }).on('line', (line) => {
    let m: Record<string, any>;
    try {
      m = JSON.parse(line);
    } catch {
      return; // a stray print, not ours
    }
    if (m['ready']) return onHello?.(m);
    const p = pending.get(m['id']);
    if (!p) return;
    pending.delete(m['id']);
    clearTimeout(p.timer);
    if (m['error'] !== undefined) p.reject(new Error(`${name}: ${m['error']}`));
    else p.resolve(m['value']);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(kill);
  };
  let hello: Record<string, any>;
  try {
    hello = await new Promise<Record<string, any>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      onHello = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      gone.then(() => {
        clearTimeout(timer);
        reject(exited ?? new Error(`${name} exited before it was ready`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name,
    pid: child.pid!,
    hello,
    call: (op, ...callArgs) =>
      new Promise((resolve, reject) => {
        if (exited) return reject(exited);
        const id = ++nextId;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name} ${op}() did not answer within ${CALL_TIMEOUT_MS} ms`));
        }, CALL_TIMEOUT_MS);
        pending.set(id, { resolve, reject, timer });
        child.stdin.write(`${JSON.stringify({ id, op, args: callArgs })}\n`);
      }),
    stop,
  };
};
