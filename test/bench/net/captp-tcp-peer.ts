/**
 * BASELINE for round trips between hosts: raw @endo/captp between two plain
 * processes over one loopback TCP socket, with Tribe's session framing
 * (protocols/framing/frames.ts: tag byte + u32 length, one frame per CapTP
 * message, tagged by message kind, the payload the JSON text ["from","to",message]
 * of capabilities/channel-codec.ts, as capabilities/session-mux.ts writes it) but
 * no encryption, no channel mux, no schema checks, no vat threads.
 * Same lockdown as a host (`@endo/init`), same workload code as the vats run
 * (actors/driver.js, actors/pipe-driver.js, actors/pipe-target.js), Nagle off
 * like runtime/tcp.ts.
 *
 *   node captp-tcp-peer.js target [gc]        → ready line { port }
 *   node captp-tcp-peer.js driver PORT [gc]   → ready line; ops connect, sequential, concurrent, pipelined
 *
 * `gc`: CapTP's gcImports on, as Tribe's connections run it.
 */
import '@endo/init';
import { makeCapTP, type CapTPMessage } from '@endo/captp';
import { createConnection, createServer, type Socket } from 'node:net';
import { channelPayload, channelPrefix, messageText, splitChannelPayload, TAG_OF_TYPE } from '../../../capabilities/channel-codec.js';
import { encodeFrame } from '../../../protocols/framing/frames.js';
import { makeFrameReader } from '../../helpers/frames.js';
import { make as makeDriver } from '../actors/driver.js';
import { make as makePipeDriver } from '../actors/pipe-driver.js';
import { make as makePipeTarget } from '../actors/pipe-target.js';
import { failPeer, servePeer } from './peer-io.js';

const [role, ...rest] = process.argv.slice(2);
const gcImports = rest.includes('gc');


const prefix = channelPrefix('a', 'b');

const connect = (socket: Socket, bootstrap: unknown) => {
  socket.setNoDelay(true);
  const send = (m: CapTPMessage) => {
    const tag = TAG_OF_TYPE[m.type];
    if (tag === undefined) throw new Error(`no tag for ${m.type}`);
    if (!socket.destroyed) socket.write(encodeFrame(tag, channelPayload(prefix, messageText(m))));
  };
  const captp = makeCapTP(`tcp-${role}`, send, bootstrap, { gcImports, onReject: () => {} });
  const reader = makeFrameReader();
  socket.on('data', (chunk: Buffer) => {
    for (const frame of reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))) {
      const split = splitChannelPayload(frame.payload);
      if (typeof split === 'string') throw new Error(split);
      captp.dispatch(JSON.parse(split.text) as CapTPMessage);
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => captp.abort(new Error('socket closed')));
  return captp;
};

const main = async () => {
  if (role === 'target') {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      connect(socket, makePipeTarget());
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const { port } = server.address() as { port: number };
    servePeer({ port, gcImports }, {}, () => {
      for (const s of sockets) s.destroy();
      server.close();
    });
    return;
  }
  if (role !== 'driver') throw new Error(`unknown role ${role}`);
  const port = Number(rest[0]);
  const socket = createConnection({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const captp = connect(socket, undefined);
  const boot = captp.getBootstrap();
  const powers = { names: { lookup: async () => boot }, timer: { now: () => performance.now() } };
  const driver: any = makeDriver(powers);
  const pipeDriver: any = makePipeDriver(powers);
  servePeer(
    { gcImports },
    {
      connect: async () => (await driver.connect('target')) && (await pipeDriver.connect('target')),
      sequential: (n: number) => driver.sequential(n),
      concurrent: (n: number, window: number) => driver.concurrent(n, window),
      pipelined: (n: number) => pipeDriver.pipelined(n),
    },
    () => socket.destroy(),
  );
};

main().catch(failPeer);
