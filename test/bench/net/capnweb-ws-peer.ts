/**
 * CONTEXT contender for round trips between hosts: Cap'n Web (capnweb) over a
 * `ws` WebSocket on loopback, between two plain processes, run as its users
 * run it: no SES lockdown, JSON text frames, its own promise pipelining. The
 * same three workloads as actors/driver.ts and actors/pipe-driver.ts, written
 * against capnweb stubs (the calls are the same, the loops are the same).
 *
 *   node capnweb-ws-peer.js target        → ready line { port }
 *   node capnweb-ws-peer.js driver PORT   → ready line; ops connect, sequential, concurrent, pipelined
 */
import { newWebSocketRpcSession, RpcTarget } from 'capnweb';
import { WebSocket as WsWebSocket, WebSocketServer } from 'ws';
import { failPeer, servePeer } from './peer-io.js';

// capnweb's transport compares readyState with the global WebSocket's constants; Node 20
// has no global WebSocket, so give it the `ws` class, as Node users of capnweb do.
(globalThis as any).WebSocket ??= WsWebSocket;

class PipeChild extends RpcTarget {
  ping(i: number) {
    return i;
  }
}
class PipeTarget extends RpcTarget {
  readonly #child = new PipeChild();
  ping(i: number) {
    return i;
  }
  getChild() {
    return this.#child;
  }
}

const [role, portText] = process.argv.slice(2);

const main = async () => {
  if (role === 'target') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => {
      newWebSocketRpcSession(ws as any, new PipeTarget());
    });
    const { port } = wss.address() as { port: number };
    servePeer({ port }, {}, () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    });
    return;
  }
  if (role !== 'driver') throw new Error(`unknown role ${role}`);
  const ws = new WsWebSocket(`ws://127.0.0.1:${Number(portText)}/`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const stub: any = newWebSocketRpcSession(ws as any);

  /** One pipelined pair: getChild() is not awaited; its promise is disposed once ping is answered. */
  const pair = async (i: number) => {
    const child = stub.getChild();
    try {
      return await child.ping(i);
    } finally {
      child[Symbol.dispose]();
    }
  };
  servePeer(
    {},
    {
      connect: async () => (await stub.ping(7)) === 7 && (await pair(7)) === 7,
      sequential: async (n: number) => {
        let last = -1;
        const start = performance.now();
        for (let i = 0; i < n; i += 1) last = await stub.ping(i);
        const ms = performance.now() - start;
        if (last !== n - 1) throw Error(`bad answer ${last}`);
        return ms;
      },
      concurrent: async (n: number, window: number) => {
        let next = 0;
        let answered = 0;
        const lane = async () => {
          while (next < n) {
            const i = next;
            next += 1;
            if ((await stub.ping(i)) === i) answered += 1;
          }
        };
        const lanes: Promise<void>[] = [];
        const start = performance.now();
        for (let k = 0; k < window; k += 1) lanes.push(lane());
        await Promise.all(lanes);
        const ms = performance.now() - start;
        if (answered !== n) throw Error(`only ${answered} of ${n} answers were right`);
        return ms;
      },
      pipelined: async (n: number) => {
        let last = -1;
        const start = performance.now();
        for (let i = 0; i < n; i += 1) last = await pair(i);
        const ms = performance.now() - start;
        if (last !== n - 1) throw Error(`bad answer ${last}`);
        return ms;
      },
    },
    () => ws.terminate(),
  );
};

main().catch(failPeer);
