/**
 * BASELINE worker: bare worker start + `@endo/init` lockdown, then 'ready'.
 * On request it also serves the other baselines, with the same code the vats run:
 * - `gc`: a full GC here;
 * - `makeMany(n)`: actors/many.js outside a vat (memory per small actor);
 * - `heap`: V8's own count of this isolate's used heap (exact, for comparison);
 * - `probeLoad(a, b)`: the host's module compiler and the vat's loader, cold, timed here.
 */
import '@endo/init';
import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';

const port = parentPort!;
let many: any;

const ops: Record<string, (...args: any[]) => unknown> = {
  gc: async () => (await import('./stats.js')).gcAndSettle(),
  async makeMany(n: number) {
    many ??= (await import('./actors/many.js')).make();
    return many.makeMany(n);
  },
  heap: () => getHeapStatistics().used_heap_size,
  /**
   * What a host pays to compile actor modules, in a fresh locked-down thread:
   * the first compile (loads @endo/module-source's Babel and starts esbuild),
   * then a second, different file (analyser warm), then instantiating the
   * precompiled entry in a Compartment the way a vat's loader does.
   */
  async probeLoad(firstUrl: string, secondUrl: string) {
    const { makeModuleCompiler } = await import('../../vats/module-compiler.js');
    const { makeModuleReader } = await import('../../runtime/module-reader.js');
    const { loadActorModule } = await import('../../vats/loader.js');
    const compile = makeModuleCompiler(makeModuleReader());
    const t0 = performance.now();
    await compile(firstUrl);
    const t1 = performance.now();
    await compile(secondUrl);
    const t2 = performance.now();
    await loadActorModule({ entryUrl: secondUrl, compile, grants: [], realm: { Date, Math }, name: 'probe' });
    const t3 = performance.now();
    return { firstCompileMs: t1 - t0, secondCompileMs: t2 - t1, instantiateMs: t3 - t2 };
  },
};

port.on('message', async (cmd: { id: number; op: string; args?: unknown[] }) => {
  try {
    port.postMessage({ id: cmd.id, value: await ops[cmd.op]!(...(cmd.args ?? [])) });
  } catch (err) {
    port.postMessage({ id: cmd.id, error: String((err as Error)?.message ?? err) });
  }
});
port.postMessage({ ready: true });
