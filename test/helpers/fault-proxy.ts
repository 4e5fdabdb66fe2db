/**
 * A fault-injecting TCP proxy for tests between real hosts (kernel netem is not
 * available here): it listens on a free loopback port and forwards each
 * connection to `target`, and the test can cut every connection at once, refuse
 * new ones for a while, stall (keep sockets open, forward nothing), or delay
 * every chunk. Everything it opened is destroyed at teardown.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import type { ExecutionContext } from 'ava';

export interface FaultProxy {
  /** 'host:port' to dial instead of the target. */
  readonly address: string;
  readonly port: number;
  /** Destroys every forwarded connection now (both sockets: each end sees its peer go away). */
  cut(): void;
  /** New connections are accepted and destroyed at once (a link that is down), until `restore`. */
  block(): void;
  /** Connections are kept but nothing is forwarded either way (a stalled link), until `restore`; what was held then flows. */
  stall(): void;
  /** Each chunk waits `ms` before it is forwarded (0: none). */
  delay(ms: number): void;
  /** Forwards again: unblocks and un-stalls. */
  restore(): void;
  /** Connections forwarded so far, and those open now. */
  readonly accepted: number;
  readonly open: number;
  close(): Promise<void>;
}

export const startFaultProxy = async (t: ExecutionContext, target: { host: string; port: number }): Promise<FaultProxy> => {
  const pairs = new Set<[Socket, Socket]>();
  let blocked = false;
  let stalled = false;
  let delayMs = 0;
  let accepted = 0;
  /** While stalled: what each direction holds back, released in order on restore. */
  const held: Array<() => void> = [];

  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      const send = () => {
        if (!to.destroyed) to.write(chunk);
      };
      if (stalled) held.push(send);
      else if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    });
  };

  const server = createServer((inbound) => {
    if (blocked) {
      inbound.destroy();
      return;
    }
    accepted += 1;
    const outbound = createConnection(target);
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    for (const s of pair) {
      s.setNoDelay(true);
      s.on('error', drop);
      s.on('close', drop);
    }
    forward(inbound, outbound);
    forward(outbound, inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const cut = () => {
    for (const [a, b] of [...pairs]) {
      // A reset, not a FIN: the ends see their connection die, not a polite close.
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    pairs.clear();
    held.length = 0;
  };
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      cut();
      server.close(() => resolve());
    });
    return closed;
  };
  t.teardown(close);
  return {
    address: `127.0.0.1:${port}`,
    port,
    cut,
    block: () => {
      blocked = true;
    },
    stall: () => {
      stalled = true;
    },
    delay: (ms) => {
      delayMs = ms;
    },
    restore: () => {
      blocked = false;
      stalled = false;
      for (const send of held.splice(0)) send();
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    close,
  };
};
