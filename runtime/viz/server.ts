/**
 * The visualizer's web server: the page and its two assets, a Server-Sent
 * Events stream of the inspector's records, and the store's older history.
 * Loopback only, every asset served from the package (no network needed),
 * and requests whose Host is not this loopback address are refused (a web
 * page elsewhere cannot reach it through DNS rebinding).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { Inspector } from './inspector.js';
import type { StepRecord, Update } from './model.js';

const PAGE_DIR = new URL('./page/', import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/elk-worker.js': { file: 'elk-worker.js', type: 'text/javascript; charset=utf-8' },
};
const CHUNK = /^\/chunk-[A-Z0-9]{8}\.js$/;
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
/** A page that reads slower than this much buffered output is dropped; its EventSource reconnects with a fresh hello. */
const MAX_BUFFERED = 8 * 2 ** 20;
const MAX_HISTORY_PAGE = 5000;
/** Pages streaming at once; more are refused (each costs a watcher and its buffers). */
export const MAX_STREAMS = 32;

export interface VizServerOptions {
  readonly inspector: Inspector;
  /** Port on 127.0.0.1; 0 picks a free one. */
  readonly port: number;
  /** Older history (from the store), oldest first. */
  readonly history?: (before: number, limit: number) => StepRecord[];
}

export interface VizServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export const startVizServer = async (opts: VizServerOptions): Promise<VizServer> => {
  const { inspector } = opts;
  const assets = new Map<string, Buffer>();
  const asset = (file: string) => {
    let body = assets.get(file);
    if (!body) {
      body = readFileSync(new URL(file, PAGE_DIR));
      assets.set(file, body);
    }
    return body;
  };
  const streams = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let port = 0;

  const allowedHost = (host: string | undefined) =>
    host === `127.0.0.1:${port}` || host === `localhost:${port}` || host === `[::1]:${port}`;

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...SECURITY_HEADERS });
    res.end(body);
  };

  const stream = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify(inspector.hello())}\n\n`);
    streams.add(res);
    const unwatch = inspector.watch((batch: readonly Update[]) => {
      if (res.writableLength > MAX_BUFFERED) return res.destroy();
      res.write(`event: updates\ndata: ${JSON.stringify(batch)}\n\n`);
    }, { fromPresent: true });
    const end = () => {
      unwatch();
      streams.delete(res);
    };
    req.on('close', end);
    res.on('error', end);
  };

  const server = createServer((req, res) => {
    if (!allowedHost(req.headers.host)) return send(res, 403, 'text/plain', 'forbidden: the visualizer answers only on its loopback address\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const a = ASSETS[url.pathname];
    if (a) return send(res, 200, a.type, asset(a.file));
    // Chunks the bundler split off (names it made: no path can reach outside the page's folder).
    if (CHUNK.test(url.pathname)) {
      try {
        return send(res, 200, 'text/javascript; charset=utf-8', asset(url.pathname.slice(1)));
      } catch {
        return send(res, 404, 'text/plain', 'not found\n');
      }
    }
    if (url.pathname === '/api/stream') {
      if (streams.size >= MAX_STREAMS) {
        res.setHeader('retry-after', '5');
        return send(res, 503, 'text/plain', `at most ${MAX_STREAMS} pages may watch at once\n`);
      }
      return stream(req, res);
    }
    if (url.pathname === '/api/state') return send(res, 200, 'application/json', JSON.stringify(inspector.hello()));
    if (url.pathname === '/api/history') {
      const before = Number(url.searchParams.get('before') ?? Date.now() + 1);
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 1000), MAX_HISTORY_PAGE);
      if (!Number.isFinite(before) || !Number.isInteger(limit) || limit < 1) {
        return send(res, 400, 'text/plain', 'before must be a time in ms and limit a positive integer\n');
      }
      return send(res, 200, 'application/json', JSON.stringify(opts.history?.(before, limit) ?? []));
    }
    send(res, 404, 'text/plain', 'not found\n');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.end();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
};
