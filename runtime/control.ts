/**
 * The host's local control endpoint: a Unix socket in the home (mode 0600) that
 * speaks CapTP in newline-delimited JSON. The CLI is just a CapTP client of the
 * host's TribeControl object. A connection that sends a bad frame is aborted and
 * closed; the host carries on.
 */
import { chmodSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { makeConnection, type Connection } from '../capabilities/connection.js';
import { ProtocolViolationError } from '../capabilities/errors.js';
import { encodeLine, makeLineDecoder } from '../protocols/framing/json-lines.js';
import { HostNotRunningError } from './errors.js';

const attach = (socket: Socket, name: string, bootstrap: unknown): Connection => {
  socket.setEncoding('utf8');
  const decoder = makeLineDecoder();
  const conn = makeConnection({
    name,
    send: (m) => {
      if (!socket.destroyed) socket.write(encodeLine(m));
    },
    bootstrap,
    onAbort: () => socket.end(),
  });
  socket.on('data', (chunk: string) => {
    let frames: unknown[];
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      conn.abort(new ProtocolViolationError(`${name}: ${(err as Error).message}`, { cause: err }));
      socket.destroy();
      return;
    }
    for (const f of frames) conn.dispatch(f);
  });
  socket.on('error', () => {});
  socket.on('close', () => conn.abort());
  return conn;
};

export interface ControlServer {
  /** Refuses new connections; existing ones stay open (a `tribe stop` waits on one). */
  stopAccepting(): void;
  /** Ends every connection and removes the socket file. */
  close(): Promise<void>;
}

export const serveControl = async (socketPath: string, control: unknown): Promise<ControlServer> => {
  // The lock says no live host owns this home, so a socket file left here is stale.
  rmSync(socketPath, { force: true });
  const sockets = new Set<Socket>();
  let n = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    attach(socket, `control#${++n}`, control);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  const stopAccepting = () => {
    if (server.listening) {
      server.close();
      rmSync(socketPath, { force: true });
    }
  };
  return {
    stopAccepting,
    close: async () => {
      stopAccepting();
      // Clients that do not hang up are cut off so that stop() cannot hang.
      for (const s of sockets) s.destroySoon();
      await closed;
    },
  };
};

export interface ControlClient {
  readonly control: Promise<any>;
  /** Resolves when the host closes the connection. */
  readonly closed: Promise<void>;
  /** Hangs up once what was sent has gone out. */
  close(): void;
  /** Hangs up at once. */
  destroy(): void;
}

export const connectControl = (socketPath: string, home: string): Promise<ControlClient> =>
  new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? new HostNotRunningError(`no host is running in ${home} (start one with: tribe host --home ${home})`)
          : err,
      );
    });
    socket.once('connect', () => {
      const conn = attach(socket, 'cli', undefined);
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      resolve({ control: conn.getBootstrap(), closed, close: () => socket.end(), destroy: () => socket.destroy() });
    });
  });

/**
 * The control socket of the tribe home `home`: its own host's (slot 0), else
 * the first sister's that answers (`<home>/sisters/<k>`), so commands reach a
 * tribe whose first host is down or being respawned. HostNotRunningError,
 * naming `home`, when no host of it runs.
 */
export const connectTribeControl = async (home: string): Promise<ControlClient> => {
  try {
    return await connectControl(join(home, 'control.sock'), home);
  } catch (err) {
    if ((err as Error).name !== 'HostNotRunningError') throw err;
    let slots: string[] = [];
    try {
      slots = readdirSync(join(home, 'sisters')).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(a) - Number(b));
    } catch {
      throw err;
    }
    for (const k of slots) {
      try {
        return await connectControl(join(home, 'sisters', k, 'control.sock'), join(home, 'sisters', k));
      } catch {}
    }
    throw err;
  }
};
