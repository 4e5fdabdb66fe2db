/**
 * TCP as a ByteStream (protocols/framing/byte-stream.ts): the listener and the
 * dialer the session layer runs over. Nothing here parses bytes; bounds on what
 * a peer may send live in the framing and session layers, and so does the bound
 * on what waits here for a peer that does not read (`unsentBytes` is the
 * socket's writableLength: what the kernel has not taken yet).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import type { ByteStream } from '../protocols/framing/byte-stream.js';
import { UsageError } from './errors.js';

/** How long a closed stream waits for the peer's FIN before it drops the socket. */
const CLOSE_GRACE_MS = 2000;
/** Sockets one listener holds at once; more are refused at accept, before any work. */
export const MAX_INBOUND_CONNECTIONS = 512;
/** A dial that gets no TCP connection within this is abandoned. */
export const DIAL_TIMEOUT_MS = 10_000;

export class DialError extends Error {
  override name = 'DialError';
}

export const socketStream = (socket: Socket): ByteStream => {
  socket.setNoDelay(true);
  let onData: ((chunk: Uint8Array) => void) | undefined;
  let onClose: ((err?: Error) => void) | undefined;
  const early: Uint8Array[] = [];
  let ended: { err?: Error } | undefined;
  const fire = (err?: Error) => {
    if (ended) return;
    ended = err ? { err } : {};
    onClose?.(err);
  };
  socket.on('data', (chunk: Buffer) => {
    if (ended) return;
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    if (onData) onData(bytes);
    else early.push(bytes);
  });
  socket.on('error', (err) => fire(err));
  socket.on('close', () => fire());
  socket.on('end', () => {
    // The peer is done sending; we are done too (no half-open sessions).
    socket.end();
  });
  const remoteAddress = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? '?');
  return {
    write(bytes) {
      if (ended || socket.destroyed) return false;
      // Node queues what the kernel does not take; the owner bounds it (ByteStream).
      return socket.write(bytes);
    },
    writev(parts) {
      if (ended || socket.destroyed) return false;
      // Corked, the parts leave in one writev call when uncorked; none is copied here.
      socket.cork();
      let ok = true;
      for (const p of parts) ok = socket.write(p);
      socket.uncork();
      return ok;
    },
    get unsentBytes() {
      return socket.writableLength;
    },
    drained() {
      if (ended || socket.destroyed || !socket.writableNeedDrain) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    },
    onData(handler) {
      onData = handler;
      for (const chunk of early.splice(0)) handler(chunk);
    },
    onClose(handler) {
      onClose = handler;
      if (ended) handler(ended.err);
    },
    close() {
      if (socket.destroyed) return fire();
      socket.end();
      const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      fire();
    },
    remoteAddress,
  };
};

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Sockets open now. */
  readonly connections: number;
  /** Resolves when no socket is open (at once if none is). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** `host:port`, with an IPv6 host in brackets (`[::1]:7420`): the one form printed, stored and parsed. */
export const formatAddress = (host: string, port: number | string): string =>
  host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;

/** `host:port` or `[v6]:port` (what formatAddress writes) back into its parts; DialError if it is neither. */
export const splitAddress = (address: string): { host: string; port: number } => {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || !(port >= 1 && port <= 65535)) throw new DialError(`not a dialable address (host:port or [v6]:port): ${JSON.stringify(address.slice(0, 80))}`);
  return { host: (m[1] ?? m[2]) as string, port };
};

/** ADDR:PORT, [v6]:PORT or PORT. */
export const parseListenAddress = (text: string): { host: string; port: number } => {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text) ?? (/^\d{1,5}$/.test(text) ? [text, undefined, '127.0.0.1', text] : null);
  const port = Number(m?.[3]);
  if (!m || !(port >= 0 && port <= 65535)) throw new UsageError(`--listen wants ADDR:PORT (e.g. 127.0.0.1:7420), got ${JSON.stringify(text)}`);
  return { host: (m[1] ?? m[2]) as string, port };
};

export const listenTcp = (
  host: string,
  port: number,
  onStream: (stream: ByteStream) => void,
): Promise<Listener> =>
  new Promise((resolve, reject) => {
    const sockets = new Set<Socket>();
    let idleWaiters: Array<() => void> = [];
    const server: Server = createServer((socket) => {
      if (sockets.size >= MAX_INBOUND_CONNECTIONS) {
        socket.destroy();
        return;
      }
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        if (sockets.size > 0) return;
        for (const w of idleWaiters) w();
        idleWaiters = [];
      });
      onStream(socketStream(socket));
    });
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      resolve({
        host,
        port: bound,
        get connections() {
          return sockets.size;
        },
        idle: () => (sockets.size === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r))),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });

export const dialTcp = (host: string, port: number, timeoutMs = DIAL_TIMEOUT_MS): Promise<ByteStream> =>
  new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError(`no TCP connection to ${formatAddress(host, port)} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socketStream(socket));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new DialError(`cannot reach ${formatAddress(host, port)}: ${err.message}`, { cause: err }));
    });
  });

/**
 * The host name to write into sturdy refs for a listener bound to `bound`. A
 * wildcard address (0.0.0.0, ::) is not dialable from elsewhere: use the first
 * non-internal address of this machine (IPv4 first), else `fallback` (the host name).
 */
export const advertisedHost = (
  bound: string,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
  fallback: string,
): string => {
  if (bound !== '0.0.0.0' && bound !== '::') return bound;
  const external = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal && !(i.family === 'IPv6' && i.address.startsWith('fe80:')));
  const pick = external.find((i) => i.family === 'IPv4') ?? (bound === '::' ? external.find((i) => i.family === 'IPv6') : undefined);
  return pick?.address ?? fallback;
};

/** TCP as the session table's transport (protocols/session/session-table.ts): listens on `listen`, dials `host:port`. */
export const makeTcpTransport = (listen: { readonly host: string; readonly port: number }) => ({
  listen: (accept: (stream: ByteStream) => void): Promise<Listener> => listenTcp(listen.host, listen.port, accept),
  dial: async (address: string): Promise<ByteStream> => {
    const { host, port } = splitAddress(address);
    return dialTcp(host, port);
  },
});
