/** Baseline worker threads for the bench suite, driven by small `{id, op, args}` requests. */
import { MessageChannel, Worker, type WorkerOptions } from 'node:worker_threads';
import { DEFAULT_LIMITS } from '../../runtime/index.js';

/** No single bench step takes this long; a stuck one fails the run instead of hanging it. */
export const CALL_TIMEOUT_MS = 120_000;

export interface BenchWorker {
  /** ms from `new Worker` to its 'ready' message. */
  readonly ready: Promise<number>;
  call<T = unknown>(op: string, ...args: unknown[]): Promise<T>;
  terminate(): Promise<number>;
}

export const startBenchWorker = (script: string, opts: WorkerOptions = {}): BenchWorker => {
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  const t0 = performance.now();
  // Same heap ceiling as a vat worker gets, so heap sizing heuristics match.
  const worker = new Worker(new URL(script, import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: DEFAULT_LIMITS.heapMb },
    ...opts,
  });
  const ready = new Promise<number>((resolve, reject) => {
    worker.on('message', (m: { ready?: boolean; id?: number; value?: unknown; error?: string }) => {
      if (m.ready) return resolve(performance.now() - t0);
      const p = pending.get(m.id!);
      if (!p) return;
      pending.delete(m.id!);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.value);
    });
    worker.on('error', (err) => {
      reject(err);
      for (const p of pending.values()) p.reject(err);
    });
  });
  return {
    ready,
    call: (op, ...args) =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${script} ${op}() did not answer within ${CALL_TIMEOUT_MS} ms`));
        }, CALL_TIMEOUT_MS);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        worker.postMessage({ id, op, args });
      }),
    terminate: () => worker.terminate(),
  };
};

/** A raw CapTP endpoint (@endo/init + @endo/captp + @endo/far loaded), its far end left unanswered. */
export const startRawEndpoint = (): BenchWorker => {
  const { port1, port2 } = new MessageChannel();
  port2.close();
  return startBenchWorker('./raw-captp-worker.js', { workerData: { role: 'target', port: port1 }, transferList: [port1] });
};

