/**
 * Micro-bench of raw @endo/captp, no Tribe in it: two CapTP endpoints after
 * `@endo/init` (locked down), the target's bootstrap a `Far('Pinger', { ping })`,
 * the driver timing `E(target).ping(i)`:
 *
 * - sequential: `--seq` calls, each awaited before the next;
 * - outstanding: `--calls` calls through `--window` lanes (a sliding window).
 *
 * Setups (`--setup`):
 * - `inproc`: both endpoints in this thread, joined by an in-memory pipe that
 *   delivers each message in its own `setImmediate` task (`--delivery=microtask`:
 *   in a microtask instead). No thread wakes, no structured clone: what is left
 *   is CapTP, marshal, eventual-send, SES and the GC. CPU per call is the sum of
 *   both ends.
 * - `workers`: the two endpoints in two worker threads joined by one
 *   MessageChannel, messages posted as plain objects (as raw-captp-worker.ts).
 *   CPU per call is the whole process's (both workers, idle main thread).
 *
 * `--endo=DIR` loads @endo/* and ses from DIR/node_modules instead of the
 * project's own: captp-variants.ts uses it to compare patched copies of the
 * @endo packages in one run. `--json` prints one JSON line for it.
 *
 * `--batch=microtask|immediate` sends each endpoint's messages as one array per
 * microtask or task instead of one by one (see MicroOptions.batch).
 *
 *   node dist/test/bench/captp-micro.js [--setup=inproc,workers] [--reps=11]
 *     [--seq=2000] [--calls=5000] [--window=100] [--gc-imports=1] [--delivery=immediate]
 *     [--batch=none] [--tables=default|tribe] [--wire=object|json] [--payload=none|record|ref]
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { median } from './stats.js';

interface Endo {
  makeCapTP: (id: string, send: (m: any) => void, bootstrap?: unknown, opts?: object) => any;
  E: any;
  Far: any;
}

/** @endo/init, @endo/captp and @endo/far: the project's, or those under `root`/node_modules. */
const loadEndo = async (root?: string): Promise<Endo> => {
  const load = (spec: string): Promise<any> =>
    root ? import(pathToFileURL(createRequire(join(root, 'x.js')).resolve(spec)).href) : import(spec);
  await load('@endo/init');
  const [{ makeCapTP }, { E, Far }] = await Promise.all([load('@endo/captp'), load('@endo/far')]);
  return { makeCapTP, E, Far };
};

export interface MicroOptions {
  readonly seq: number;
  readonly calls: number;
  readonly window: number;
  readonly gcImports: boolean;
  readonly delivery: 'immediate' | 'microtask';
  /**
   * Batch outgoing CapTP messages: each endpoint queues what it sends and hands
   * the queue to the link as one array at the end of the current microtask
   * (`microtask`) or task (`immediate`); the far end dispatches the array's
   * messages in order. Off (`none`) = one message per delivery/postMessage.
   */
  readonly batch: 'none' | 'microtask' | 'immediate';
  /** `tribe`: CapTP's import/export tables are Tribe's (capabilities/captp-tables.ts), as in a vat. */
  readonly tables: 'default' | 'tribe';
  /**
   * `workers` only: what crosses the MessagePort. `object` posts the message (or
   * batch) as is, for structured clone; `json` posts JSON.stringify of it and the
   * far end parses it (CapTP messages are JSON data).
   */
  readonly wire: 'object' | 'json';
  /**
   * What each call carries besides `i`: nothing (`none`), a plain record
   * (`record`), or a reference to a driver-side Far object (`ref`, exported once,
   * then the same slot every call). The answer is always `i`.
   */
  readonly payload: 'none' | 'record' | 'ref';
}

/** makeCapTP options for these bench options (Tribe's tables are loaded only when asked for). */
const captpOptions = async (o: MicroOptions) => {
  const base = { gcImports: o.gcImports, onReject: () => {} };
  if (o.tables !== 'tribe') return base;
  const { makeImportExportTables } = await import('../../capabilities/captp-tables.js');
  return { ...base, makeCapTPImportExportTables: (a: any) => makeImportExportTables(a) };
};

/**
 * A send function that queues messages and passes them to `flush` as one array,
 * once per microtask or task: the in-project batching experiment. CapTP's
 * message order and each message's form are unchanged.
 */
const makeBatcher = (when: 'microtask' | 'immediate', flush: (batch: unknown[]) => void) => {
  let queue: unknown[] = [];
  const flushNow = () => {
    const batch = queue;
    queue = [];
    flush(batch);
  };
  return (m: unknown) => {
    queue.push(m);
    if (queue.length === 1) (when === 'microtask' ? queueMicrotask : setImmediate)(flushNow);
  };
};

/** One timed run: wall ms and process CPU µs (user + system). */
interface Timing {
  readonly ms: number;
  readonly cpuUs: number;
}

const timeIt = async (run: () => Promise<void>): Promise<Timing> => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuUs: c.user + c.system };
};

/** The two workloads, on a target presence. Throw on a wrong answer so that a broken patch cannot look fast. */
const makeWorkloads = (endo: Endo, target: unknown, payload: MicroOptions['payload']) => {
  const { E } = endo;
  const extra =
    payload === 'record'
      ? harden({ name: 'bench', tags: ['a', 'b'], size: 3 })
      : payload === 'ref'
        ? endo.Far('Extra', { get: () => 1 })
        : undefined;
  const ping = extra === undefined ? (i: number) => E(target).ping(i) : (i: number) => E(target).ping(i, extra);
  return {
    async sequential(n: number) {
      let last = -1;
      for (let i = 0; i < n; i += 1) last = await ping(i);
      if (last !== n - 1) throw Error(`bad answer ${last}`);
    },
    async outstanding(n: number, window: number) {
      let next = 0;
      let answered = 0;
      const lane = async () => {
        while (next < n) {
          const i = next;
          next += 1;
          if ((await ping(i)) === i) answered += 1;
        }
      };
      await Promise.all(Array.from({ length: window }, lane));
      if (answered !== n) throw Error(`only ${answered} of ${n} answers were right`);
    },
  };
};

type Workloads = ReturnType<typeof makeWorkloads>;

/** Both endpoints in this thread over an in-memory pipe. */
const startInproc = async (endo: Endo, o: MicroOptions): Promise<Workloads> => {
  const defer = o.delivery === 'microtask' ? queueMicrotask : (f: () => void) => setImmediate(f);
  const opts = await captpOptions(o);
  let driver: any;
  let target: any;
  /**
   * What an endpoint sends: one delivery per message, or one per batch. Like
   * postMessage, it returns nothing (CapTP watches a returned value for
   * rejection, which costs two promises per message).
   */
  const link = (peer: () => any) =>
    o.batch === 'none'
      ? (m: unknown) => {
          defer(() => peer().dispatch(m));
        }
      : makeBatcher(o.batch, (batch) =>
          defer(() => {
            for (const m of batch) peer().dispatch(m);
          }),
        );
  const pinger = endo.Far('Pinger', { ping: (i: number, _extra?: unknown) => i });
  target = endo.makeCapTP('micro-target', link(() => driver), pinger, opts);
  driver = endo.makeCapTP('micro-driver', link(() => target), undefined, opts);
  const boot = await driver.getBootstrap();
  if ((await endo.E(boot).ping(7)) !== 7) throw Error('bootstrap ping failed');
  return makeWorkloads(endo, boot, o.payload);
};

interface WorkerData {
  readonly captpMicro: true;
  readonly role: 'driver' | 'target';
  readonly port: MessagePort;
  readonly endo?: string;
  readonly options: MicroOptions;
}

/** Worker side of the `workers` setup: one endpoint; the driver runs workloads on request. */
const serveWorker = async (data: WorkerData) => {
  const endo = await loadEndo(data.endo);
  const { port, role, options } = data;
  const pinger = role === 'target' ? endo.Far('Pinger', { ping: (i: number, _extra?: unknown) => i }) : undefined;
  const json = options.wire === 'json';
  const post = (m: unknown) => port.postMessage(json ? JSON.stringify(m) : m);
  const send = options.batch === 'none' ? post : makeBatcher(options.batch, post);
  const captp = endo.makeCapTP(`micro-${role}`, send, pinger, await captpOptions(options));
  port.on('message', (data) => {
    const m = json ? JSON.parse(data as string) : data;
    if (options.batch === 'none') captp.dispatch(m);
    else for (const one of m as unknown[]) captp.dispatch(one);
  });
  let work: Workloads | undefined;
  if (role === 'driver') {
    const boot = await captp.getBootstrap();
    if ((await endo.E(boot).ping(7)) !== 7) throw Error('bootstrap ping failed');
    work = makeWorkloads(endo, boot, options.payload);
  }
  parentPort!.on('message', async (cmd: { id: number; op: 'sequential' | 'outstanding'; args: [number, number] }) => {
    const t = await timeIt(() => work![cmd.op](...cmd.args));
    parentPort!.postMessage({ id: cmd.id, ms: t.ms });
  });
  parentPort!.postMessage({ ready: true });
};

/** The `workers` setup, seen from the main thread: the same workloads, run in the driver worker. */
const startWorkers = async (endoRoot: string | undefined, o: MicroOptions) => {
  const { port1, port2 } = new MessageChannel();
  const spawn = (role: 'driver' | 'target', port: MessagePort) => {
    const data: WorkerData = { captpMicro: true, role, port, options: o, ...(endoRoot ? { endo: endoRoot } : {}) };
    const w = new Worker(new URL(import.meta.url), { workerData: data, transferList: [port] });
    w.on('error', (e) => {
      console.error(`captp-micro ${role} worker failed:`, e);
      process.exit(1);
    });
    return w;
  };
  const target = spawn('target', port1);
  const driver = spawn('driver', port2);
  await new Promise<void>((r) => driver.once('message', () => r()));
  let nextId = 0;
  const ask = (op: 'sequential' | 'outstanding', args: number[]) =>
    new Promise<void>((resolve) => {
      const id = ++nextId;
      const on = (m: { id: number }) => {
        if (m.id !== id) return;
        driver.off('message', on);
        resolve();
      };
      driver.on('message', on);
      driver.postMessage({ id, op, args });
    });
  const work: Workloads = {
    sequential: (n) => ask('sequential', [n]),
    outstanding: (n, w) => ask('outstanding', [n, w]),
  };
  return { work, stop: () => Promise.all([target.terminate(), driver.terminate()]) };
};

export interface Sample {
  readonly setup: 'inproc' | 'workers';
  readonly mode: 'sequential' | 'outstanding';
  readonly callsPerSec: number;
  readonly cpuUsPerCall: number;
}

const WARMUP_RUNS = 2;

/** Warm up, then `reps` timed runs of each mode, alternating which mode goes first. */
const measure = async (setup: Sample['setup'], work: Workloads, o: MicroOptions, reps: number): Promise<Sample[]> => {
  const runs = {
    sequential: () => work.sequential(o.seq),
    outstanding: () => work.outstanding(o.calls, o.window),
  };
  const n = { sequential: o.seq, outstanding: o.calls };
  for (let i = 0; i < WARMUP_RUNS; i += 1) for (const run of Object.values(runs)) await run();
  const out: Sample[] = [];
  for (let r = 0; r < reps; r += 1) {
    const order = (r % 2 === 0 ? ['sequential', 'outstanding'] : ['outstanding', 'sequential']) as Sample['mode'][];
    for (const mode of order) {
      const t = await timeIt(runs[mode]);
      out.push({ setup, mode, callsPerSec: (n[mode] * 1000) / t.ms, cpuUsPerCall: t.cpuUs / n[mode] });
    }
  }
  return out;
};

const parseArgs = (argv: readonly string[]) => {
  const get = (name: string, dflt: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
  const options: MicroOptions = {
    seq: Number(get('seq', '2000')),
    calls: Number(get('calls', '5000')),
    window: Number(get('window', '100')),
    gcImports: get('gc-imports', '1') !== '0',
    delivery: get('delivery', 'immediate') === 'microtask' ? 'microtask' : 'immediate',
    batch: (['microtask', 'immediate'] as const).find((b) => b === get('batch', 'none')) ?? 'none',
    tables: get('tables', 'default') === 'tribe' ? 'tribe' : 'default',
    wire: get('wire', 'object') === 'json' ? 'json' : 'object',
    payload: (['record', 'ref'] as const).find((p) => p === get('payload', 'none')) ?? 'none',
  };
  if (options.tables === 'tribe' && get('endo', '')) {
    throw new Error('--tables=tribe loads @endo from the project: it cannot be combined with --endo');
  }
  const setups = get('setup', 'inproc,workers').split(',') as Sample['setup'][];
  const endo = get('endo', '') || undefined;
  return { options, setups, endo, reps: Number(get('reps', '11')), json: argv.includes('--json') };
};

export const summarizeSamples = (samples: readonly Sample[]) => {
  const rows: { setup: string; mode: string; callsPerSec: number; cpuUsPerCall: number; n: number }[] = [];
  for (const setup of ['inproc', 'workers'] as const) {
    for (const mode of ['sequential', 'outstanding'] as const) {
      const s = samples.filter((x) => x.setup === setup && x.mode === mode);
      if (s.length === 0) continue;
      rows.push({
        setup,
        mode,
        callsPerSec: median(s.map((x) => x.callsPerSec)),
        cpuUsPerCall: median(s.map((x) => x.cpuUsPerCall)),
        n: s.length,
      });
    }
  }
  return rows;
};

const main = async () => {
  const { options, setups, endo, reps, json } = parseArgs(process.argv.slice(2));
  const samples: Sample[] = [];
  for (const setup of setups) {
    if (setup === 'inproc') {
      const work = await startInproc(await loadEndo(endo), options);
      samples.push(...(await measure('inproc', work, options, reps)));
    } else {
      const { work, stop } = await startWorkers(endo, options);
      samples.push(...(await measure('workers', work, options, reps)));
      await stop();
    }
  }
  if (json) {
    console.log(JSON.stringify({ options, samples }));
    return;
  }
  console.log(`raw @endo/captp micro-bench, ${reps} reps, medians (${JSON.stringify(options)})`);
  console.log('setup    mode          calls/s   µs CPU/call');
  for (const r of summarizeSamples(samples)) {
    console.log(
      `${r.setup.padEnd(8)} ${r.mode.padEnd(12)} ${Math.round(r.callsPerSec).toString().padStart(8)} ${r.cpuUsPerCall.toFixed(1).padStart(12)}`,
    );
  }
};

if (!isMainThread && (workerData as WorkerData | undefined)?.captpMicro) {
  void serveWorker(workerData as WorkerData);
} else if (isMainThread && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
