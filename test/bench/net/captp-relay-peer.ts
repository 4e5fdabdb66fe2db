/**
 * FLOOR for round trips between vats of two hosts: raw @endo/captp as in
 * captp-tcp-peer.ts (same framing, same JSON payloads, same workload code), but
 * each CapTP endpoint runs in a worker thread and the process's main thread only
 * moves its messages between the worker and the TCP socket — the thread layout
 * of a Tribe vat and its host, without encryption, channel mux, checks or
 * batching. What it costs over captp-tcp-peer is what that layout costs on this
 * machine (mostly waking threads); Tribe's vat-to-vat calls cannot be cheaper.
 *
 *   node captp-relay-peer.js target [gc]        → ready line { port }
 *   node captp-relay-peer.js driver PORT [gc]   → ready line; ops connect, sequential, concurrent, pipelined
 */
import '@endo/init';
import { makeCapTP, type CapTPMessage } from '@endo/captp';
import { createConnection, createServer, type Socket } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { channelPayload, channelPrefix, messageText, splitChannelPayload, TAG_OF_TYPE } from '../../../capabilities/channel-codec.js';
import { encodeFrame } from '../../../protocols/framing/frames.js';
import { makeFrameReader } from '../../helpers/frames.js';
import { make as makeDriver } from '../actors/driver.js';
import { make as makePipeDriver } from '../actors/pipe-driver.js';
import { make as makePipeTarget } from '../actors/pipe-target.js';
import { failPeer, servePeer } from './peer-io.js';

/** The worker: one CapTP endpoint; its messages go to the main thread as tag char ‖ JSON text, as a vat's do. */
const runEndpoint = () => {
  const { role, gcImports } = workerData as { role: 'driver' | 'target'; gcImports: boolean };
  const port = parentPort!;
  const send = (m: CapTPMessage) => port.postMessage(String.fromCharCode(TAG_OF_TYPE[m.type]!) + messageText(m));
  const captp = makeCapTP(`relay-${role}`, send, role === 'target' ? makePipeTarget() : undefined, { gcImports, onReject: () => {} });
  const boot = role === 'driver' ? captp.getBootstrap() : undefined;
  const powers = { names: { lookup: async () => boot }, timer: { now: () => performance.now() } };
  const driver: any = role === 'driver' ? makeDriver(powers) : undefined;
  const pipeDriver: any = role === 'driver' ? makePipeDriver(powers) : undefined;
  const ops: Record<string, (...args: any[]) => unknown> = {
    connect: async () => (await driver.connect('target')) && (await pipeDriver.connect('target')),
    sequential: (n: number) => driver.sequential(n),
    concurrent: (n: number, window: number) => driver.concurrent(n, window),
    pipelined: (n: number) => pipeDriver.pipelined(n),
  };
  port.on('message', async (m: string | { id: number; op: string; args: unknown[] }) => {
    if (typeof m === 'string') return captp.dispatch(JSON.parse(m));
    try {
      port.postMessage({ id: m.id, value: await ops[m.op]!(...m.args) });
    } catch (err) {
      port.postMessage({ id: m.id, error: String((err as Error)?.message ?? err) });
    }
  });
};

/** The main thread: bytes between the socket and the worker, nothing parsed but the frame around the text. */
const relay = (socket: Socket, worker: Worker) => {
  socket.setNoDelay(true);
  const prefix = channelPrefix('a', 'b');
  const replies = new Map<number, (r: { value?: unknown; error?: string }) => void>();
  worker.on('message', (m: string | { id: number; value?: unknown; error?: string }) => {
    if (typeof m !== 'string') return replies.get(m.id)?.(m);
    if (!socket.destroyed) socket.write(encodeFrame(m.charCodeAt(0), channelPayload(prefix, m.slice(1))));
  });
  const reader = makeFrameReader();
  socket.on('data', (chunk: Buffer) => {
    for (const frame of reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))) {
      const split = splitChannelPayload(frame.payload);
      if (typeof split === 'string') throw new Error(split);
      worker.postMessage(split.text);
    }
  });
  socket.on('error', () => {});
  let nextId = 0;
  return (op: string, ...args: unknown[]) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      replies.set(id, (r) => {
        replies.delete(id);
        if (r.error !== undefined) reject(new Error(r.error));
        else resolve(r.value);
      });
      worker.postMessage({ id, op, args });
    });
};

const main = async () => {
  const [role, ...rest] = process.argv.slice(2);
  const gcImports = rest.includes('gc');
  const endpoint = () => new Worker(new URL(import.meta.url), { workerData: { role, gcImports } });
  if (role === 'target') {
    const sockets = new Set<Socket>();
    const workers = new Set<Worker>();
    const server = createServer((socket) => {
      sockets.add(socket);
      const w = endpoint();
      workers.add(w);
      relay(socket, w);
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const { port } = server.address() as { port: number };
    servePeer({ port, gcImports }, {}, async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([...workers].map((w) => w.terminate()));
      server.close();
    });
    return;
  }
  if (role !== 'driver') throw new Error(`unknown role ${role}`);
  const socket = createConnection({ host: '127.0.0.1', port: Number(rest[0]) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const w = endpoint();
  const call = relay(socket, w);
  servePeer(
    { gcImports },
    {
      connect: () => call('connect'),
      sequential: (n: number) => call('sequential', n),
      concurrent: (n: number, window: number) => call('concurrent', n, window),
      pipelined: (n: number) => call('pipelined', n),
    },
    async () => {
      socket.destroy();
      await w.terminate();
    },
  );
};

if (isMainThread) main().catch(failPeer);
else runEndpoint();
