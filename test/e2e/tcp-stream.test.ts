/**
 * The TCP ByteStream's flow control (runtime/tcp.ts) on loopback, against a
 * raw socket that stops reading: `write` says slow down, `unsentBytes` is what
 * Node holds that the kernel has not taken, and `drained()` resolves once the
 * peer reads again, or when the stream closes.
 */
import test from 'ava';
import { createServer, type Server, type Socket } from 'node:net';
import { dialTcp } from '../../runtime/tcp.js';

/** A server whose one connection is paused (not read) until the test resumes it. */
const pausedServer = async (t: any) => {
  let accepted!: (s: Socket) => void;
  const socket = new Promise<Socket>((r) => (accepted = r));
  const server: Server = createServer((s) => {
    s.pause();
    accepted(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  return { port, socket };
};

/** Writes 1 MiB chunks until the stream says slow down (bounded, with a clear failure). */
const fillUntilSlowDown = (stream: { write(b: Uint8Array): boolean }) => {
  const chunk = new Uint8Array(2 ** 20);
  for (let n = 1; n <= 256; n++) if (!stream.write(chunk)) return n;
  throw new Error('256 MiB written to a peer that does not read, and write never said slow down');
};

test('write returns false once unsent bytes pile up; drained() waits for the peer to read', async (t) => {
  const { port, socket } = await pausedServer(t);
  const stream = await dialTcp('127.0.0.1', port);
  const server = await socket;
  t.teardown(() => server.destroy());
  t.is(stream.unsentBytes, 0);
  await stream.drained();
  const chunks = fillUntilSlowDown(stream);
  t.true(stream.unsentBytes > 0, `${stream.unsentBytes} unsent after ${chunks} chunks`);
  t.true(stream.unsentBytes <= chunks * 2 ** 20);
  let drained = false;
  const waiting = stream.drained().then(() => (drained = true));
  // The peer reads everything: the unsent bytes go, and drained() resolves.
  let got = 0;
  const all = new Promise<void>((r) =>
    server.on('data', (c: Buffer) => {
      got += c.length;
      if (got === chunks * 2 ** 20) r();
    }),
  );
  t.false(drained, 'not drained while the peer does not read');
  server.resume();
  await waiting;
  t.is(stream.unsentBytes, 0);
  await all;
  t.true(stream.write(new Uint8Array(1)), 'below the mark again');
  stream.close();
});

test('drained() resolves when the stream closes with bytes still unsent; writes after close are refused', async (t) => {
  const { port, socket } = await pausedServer(t);
  const stream = await dialTcp('127.0.0.1', port);
  const server = await socket;
  fillUntilSlowDown(stream);
  const waiting = stream.drained();
  const closed = new Promise<Error | undefined>((r) => stream.onClose(r));
  server.destroy();
  await waiting;
  await closed;
  t.false(stream.write(new Uint8Array(1)));
});
