/** Adapters from Node's MessagePort and Worker to the vat layer's PortLike/WorkerHandle. */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { PortLike, VatSpec } from '../vats/link.js';
import type { VatLimits, WorkerHandle } from '../vats/supervisor.js';

export const wrapMessagePort = (port: MessagePort): PortLike => ({
  postMessage: (msg, transfer) => port.postMessage(msg, transfer as MessagePort[] | undefined),
  onMessage: (handler) => void port.on('message', handler),
  onClose: (handler) => void port.once('close', handler),
  close: () => port.close(),
});

/** Two connected, transferable MessagePorts: what a CapTP channel between two vats (or a vat and a remote endpoint) runs over. */
export const makePortPair = (): [unknown, unknown] => {
  const { port1, port2 } = new MessageChannel();
  return [port1, port2];
};

export interface WorkerOptions {
  /** Worker script (compiled runtime/vat-worker.js). */
  readonly script: URL;
  readonly dbPath: string;
  /** Give vat workers a `gc()` for VatAdmin.collectGarbage (tests, diagnostics). */
  readonly exposeGc?: boolean;
  /**
   * Workers kept started and locked down ahead of time, with the default heap
   * limit, so that a spawn skips the isolate start and lockdown (most of its
   * cost, see docs/performance.md). 0 turns it off.
   */
  readonly spares?: number;
  readonly defaultHeapMb: number;
}

export interface WorkerStarter {
  start(spec: VatSpec, limits: VatLimits): WorkerHandle;
  /** Ends the spare workers; vats' workers are the supervisor's to end. */
  close(): Promise<void>;
}

/** A spare waits for this message, then becomes the vat it describes. */
export interface SpareAssignment {
  readonly k: 'become';
  readonly spec: VatSpec;
}

export const makeWorkerStarter = (opts: WorkerOptions): WorkerStarter => {
  const newWorker = (heapMb: number, spec: VatSpec | undefined) =>
    new Worker(opts.script, {
      workerData: { spec, dbPath: opts.dbPath, exposeGc: opts.exposeGc ?? false },
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      // Vat output goes to the host's stdout/stderr, prefixed by the vat's log power.
      stdout: false,
      stderr: false,
    });

  const spares = new Set<Worker>();
  let closed = false;
  const refill = () => {
    while (!closed && spares.size < (opts.spares ?? 0)) {
      const spare = newWorker(opts.defaultHeapMb, undefined);
      spares.add(spare);
      // A spare that dies before it is used just leaves the pool.
      spare.on('error', () => {});
      spare.once('exit', () => spares.delete(spare));
    }
  };
  refill();

  const take = (spec: VatSpec, limits: VatLimits): Worker => {
    const spare = limits.heapMb === opts.defaultHeapMb ? spares.values().next().value : undefined;
    if (!spare) return newWorker(limits.heapMb, spec);
    spares.delete(spare);
    spare.removeAllListeners('exit');
    spare.postMessage({ k: 'become', spec } satisfies SpareAssignment);
    // The next spare starts after this vat has had its turn at the CPU.
    setImmediate(refill);
    return spare;
  };

  return {
    start(spec, limits) {
      const worker = take(spec, limits);
      // The supervisor learns about exits through onExit; never let a dead vat's
      // 'error' become an uncaught exception in the host.
      const errorHandlers: Array<(e: { code?: string; message: string }) => void> = [];
      worker.on('error', (err: NodeJS.ErrnoException) => {
        for (const h of errorHandlers) h({ ...(err.code ? { code: err.code } : {}), message: err.message });
      });
      return {
        postMessage: (msg, transfer) => worker.postMessage(msg, transfer as MessagePort[] | undefined),
        onMessage: (handler) => void worker.on('message', handler),
        onClose: (handler) => void worker.once('exit', handler),
        close: () => void worker.terminate(),
        onError: (handler) => void errorHandlers.push(handler),
        onExit: (handler) => void worker.once('exit', handler),
        terminate: () => void worker.terminate(),
      };
    },
    async close() {
      closed = true;
      await Promise.all([...spares].map((w) => w.terminate()));
      spares.clear();
    },
  };
};
