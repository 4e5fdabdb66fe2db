/**
 * A host's visualizer, wired: the page server on loopback, the store's history
 * of every step the inspector sees, and the port remembered in the home.
 */
import { portInUse } from '../errors.js';
import type { RemoteHosts } from '../sessions/remote-hosts.js';
import { openVizHistory, type HostStore } from '../store.js';
import type { Inspector } from './inspector.js';
import type { SessionHealth, StepRecord } from './model.js';
import { startVizServer, type VizServer } from './server.js';

export interface HostViz {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface HostVizOptions {
  readonly inspector: Inspector;
  /** The host's SQLite file (the history table lives there, on its own connection). */
  readonly dbPath: string;
  /** Steps kept in the store. */
  readonly historyLimit: number;
  /** true: the port this home used last, else a free one; a number: that port (0: a free one). */
  readonly port: true | number;
  readonly meta: HostStore['meta'];
  readonly print: (line: string) => void;
}

export const serveHostViz = async (opts: HostVizOptions): Promise<HostViz> => {
  const { inspector, meta } = opts;
  const history = openVizHistory(opts.dbPath, opts.historyLimit);
  const unwatch = inspector.watch((batch) => {
    const steps = batch.filter((u): u is StepRecord => u.k === 'step');
    history.append(steps.map((s) => ({ t: s.t, body: JSON.stringify(s) })));
    // The store records; it is nobody looking, so it does not make vats trace their calls.
  }, { background: true });
  const serve = (port: number) =>
    startVizServer({
      inspector,
      port,
      history: (before, limit) => history.before(before, limit).map((b) => JSON.parse(b) as StepRecord),
    });
  const last = Number(meta.get('viz'));
  const port = typeof opts.port === 'number' ? opts.port : Number.isInteger(last) && last > 0 ? last : 0;
  let server: VizServer;
  try {
    try {
      server = await serve(port);
    } catch (err) {
      if (typeof opts.port === 'number') {
        throw portInUse(err, 'the visualizer port', `127.0.0.1:${port}`, 'give another with --viz PORT (0 for a free one)');
      }
      if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
      opts.print(`visualizer port ${port} is taken: serving on another`);
      server = await serve(0);
    }
  } catch (err) {
    unwatch();
    history.close();
    throw err;
  }
  meta.set('viz', String(server.port));
  return {
    url: server.url,
    port: server.port,
    async close() {
      await server.close();
      unwatch();
      history.close();
    },
  };
};

/** This host's sessions as the visualizer's health rows. */
export const sessionHealth = (remote: RemoteHosts | undefined, now = Date.now()): Omit<SessionHealth, 'state'>[] =>
  (remote?.sessions() ?? []).map((s) => ({
    peer: s.peer,
    address: s.address,
    role: s.role,
    cipher: s.cipher,
    rttMs: s.rttMs ?? null,
    framesIn: s.framesIn,
    framesOut: s.framesOut,
    bytesIn: s.bytesIn,
    bytesOut: s.bytesOut,
    channels: s.channels,
    upMs: now - s.since,
    triple: s.state,
    paths: [
      ...s.paths.map((p) => ({ address: p.address, grade: p.grade, rttMs: p.rttMs ?? null, framesIn: p.framesIn, framesOut: p.framesOut })),
      // A bridge whose path is down is shown while it is made again.
      ...(s.bridges ?? [])
        .filter((b) => !b.live)
        .map((b) => ({ address: `via ${b.bridge}`, grade: 'repairing', rttMs: null, framesIn: 0, framesOut: 0 })),
    ],
  }));
