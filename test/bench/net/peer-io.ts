/**
 * The child side of a bench peer process: one JSON object per stdout line.
 * The first line announces readiness (`{ ready: true, … }`); after it, each
 * stdin line `{ id, op, args }` is answered by `{ id, value }` or `{ id, error }`.
 * When stdin ends (the bench closed it, or died), the peer cleans up and exits.
 * Imports nothing that locks down: the capnweb peers run without SES.
 */
import { createInterface } from 'node:readline';

export const announce = (msg: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
};

export type Ops = Record<string, (...args: any[]) => unknown>;

export const servePeer = (ready: Record<string, unknown>, ops: Ops, cleanup: () => unknown = () => {}): void => {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', async (line) => {
    let id: unknown;
    try {
      const cmd = JSON.parse(line) as { id: number; op: string; args?: unknown[] };
      id = cmd.id;
      const op = ops[cmd.op];
      if (!op) throw new Error(`no op ${cmd.op}`);
      announce({ id, value: await op(...(cmd.args ?? [])) });
    } catch (err) {
      announce({ id, error: String((err as Error)?.stack ?? err) });
    }
  });
  lines.on('close', async () => {
    try {
      await cleanup();
    } finally {
      process.exit(0);
    }
  });
  announce({ ready: true, pid: process.pid, ...ready });
};

/** A stderr line and exit 1: what a peer does when it cannot start. */
export const failPeer = (err: unknown): never => {
  process.stderr.write(`peer failed: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
};
