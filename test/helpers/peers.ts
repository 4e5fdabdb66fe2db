/**
 * Scripted peers over real TCP, for the tests that hold a host to the bounds
 * the docs promise: a peer that completes the handshake and then goes quiet, a
 * responder a host dials, a raw frame speaker, and a host whose printed lines
 * can be awaited (with a bounded wait that says what it was waiting for).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { ByteStream } from '../../protocols/framing/byte-stream.js';
import { acceptPath, initiatePath, type PathLimits, type SecurePath } from '../../protocols/session/path.js';
import { type VatId, vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import type { Host, HostOptions } from '../../runtime/index.js';
import { dialTcp, socketStream } from '../../runtime/tcp.js';
import { within } from './bounded.js';
import { rawPeer } from './frames.js';
import { withHost } from './host.js';

export const realClock = {
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

export const fakeIdentity = () => {
  const key = nodeCrypto.ed25519FromSeed(nodeCrypto.randomBytes(32));
  return { vatId: vatIdOf(nodeCrypto, key.publicKey), key };
};

/** A print function whose lines can be awaited. */
export const makePrintWatcher = () => {
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  return {
    lines,
    print: (line: string) => {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    },
    /** The first line (already printed or to come) matching `re`, within `ms`. */
    nextLine: (re: RegExp, ms = 20_000) =>
      within(
        new Promise<string>((resolve) => {
          const seen = lines.find((l) => re.test(l));
          if (seen) resolve(seen);
          else waiters.push({ re, resolve });
        }),
        ms,
        `a line matching ${re}; printed so far:\n${lines.join('\n')}`,
      ),
  };
};

/** A host in a temp home whose printed lines can be awaited. */
export const watchedHost = async (t: ExecutionContext, opts: HostOptions = {}) => {
  const watcher = makePrintWatcher();
  const host = await withHost(t, { spareWorkers: 0, ...opts, print: watcher.print });
  return { host, ...watcher };
};

/**
 * A stream that can go quiet: after `mute()` nothing it is asked to write
 * leaves, but the socket stays open and what arrives is still read. That is a
 * peer whose process is wedged, or a half-open connection.
 */
export const mutable = (stream: ByteStream): ByteStream & { mute(): void } => {
  let muted = false;
  return {
    write: (bytes) => (muted ? true : stream.write(bytes)),
    onData: (h) => stream.onData(h),
    onClose: (h) => stream.onClose(h),
    close: () => stream.close(),
    drained: () => stream.drained(),
    remoteAddress: stream.remoteAddress,
    get unsentBytes() {
      return stream.unsentBytes;
    },
    mute: () => {
      muted = true;
    },
  };
};

/**
 * A peer with a fresh identity that dials `host` and completes the handshake;
 * `socket` is the raw TCP socket under the path (pause it to stop reading).
 */
export const scriptedSession = async (
  host: Host,
  opts: { limits?: Partial<PathLimits>; stream?: (s: ByteStream) => ByteStream } = {},
): Promise<{ path: SecurePath; id: VatId; socket: Socket }> => {
  const identity = fakeIdentity();
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port: host.address!.port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
  const raw = socketStream(socket);
  const stream = opts.stream ? opts.stream(raw) : raw;
  const path = await initiatePath({
    stream,
    identity,
    crypto: nodeCrypto,
    clock: realClock,
    wanted: host.id as VatId,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  return { path, id: identity.vatId, socket };
};

/**
 * A TCP server on a free loopback port for a test: `onSocket` gets each
 * connection; every socket it holds is destroyed and the server closed at teardown.
 */
export const listenLoopback = async (t: ExecutionContext, onSocket: (socket: Socket, track: (s: Socket) => void) => void): Promise<number> => {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server: Server = createServer((socket) => {
    track(socket);
    onSocket(socket, track);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
};

/**
 * A responder with a fresh identity on a loopback port: every connection that
 * completes the handshake is handed to `onPath`. Closed at teardown.
 */
export const scriptedResponder = async (
  t: ExecutionContext,
  onPath: (path: SecurePath, stream: ByteStream & { mute(): void }) => void,
): Promise<{ id: VatId; port: number; connections: () => number }> => {
  const identity = fakeIdentity();
  let connections = 0;
  const port = await listenLoopback(t, (socket) => {
    connections += 1;
    const stream = mutable(socketStream(socket));
    acceptPath({ stream, identity, crypto: nodeCrypto, clock: realClock }).then(
      (path) => onPath(path, stream),
      () => {},
    );
  });
  return { id: identity.vatId, port, connections: () => connections };
};

/** A peer that reads and writes frames by hand over TCP. */
export const rawTcpPeer = async (port: number) => rawPeer(await dialTcp('127.0.0.1', port));

/** A TCP relay on loopback to `port` that counts the connections it is asked for (how many dials a host made). */
export const countingRelay = async (t: ExecutionContext, port: number) => {
  let dials = 0;
  const relayPort = await listenLoopback(t, (inbound, track) => {
    dials += 1;
    const outbound = createConnection({ host: '127.0.0.1', port });
    track(outbound);
    for (const s of [inbound, outbound]) {
      s.on('error', () => {});
      s.once('close', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  return { port: relayPort, address: `127.0.0.1:${relayPort}`, dials: () => dials };
};
