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

export const makeChannel = (): [unknown, unknown] => {
  const { port1, port2 } = new MessageChannel();
  return [port1, port2];
};

export interface WorkerOptions {
  /** Worker script (compiled runtime/vat-worker.js). */
  readonly script: URL;
  readonly dbPath: string;
  /** Give vat workers a `gc()` for VatAdmin.collectGarbage (tests, diagnostics). */
  readonly exposeGc?: boolean;
}

export const makeWorkerStarter =
  (opts: WorkerOptions) =>
  (spec: VatSpec, limits: VatLimits): WorkerHandle => {
    const worker = new Worker(opts.script, {
      workerData: { spec, dbPath: opts.dbPath, exposeGc: opts.exposeGc ?? false },
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMb },
      // Vat output goes to the host's stdout/stderr, prefixed by the vat's log power.
      stdout: false,
      stderr: false,
    });
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
  };
