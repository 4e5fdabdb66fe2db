/**
 * Child-process entry of the idle-memory bench: `node mem-idle.js <kind> <n> <settleMs>`.
 *
 * Each measurement runs in a process of its own, so that no other group's
 * heaps shrinking late (V8's memory reducer) or freed malloc arenas being
 * reused can leak into its numbers. It samples the process RSS at a quiet
 * point, starts n units of one kind one after the other, samples again after
 * `settleMs` (as an operator would see it), then forces a full GC in every
 * isolate, waits for RSS to hold still, and samples once more. Prints JSON.
 *
 * Kinds: `empty` (bare worker), `init` (+ @endo/init lockdown), `raw` (+ a raw
 * CapTP endpoint: @endo/captp and @endo/far loaded), `vat` (a Tribe vat of
 * actors/pinger.ts, spawned by a host that has already spawned one vat, so
 * the host's one-off module-compiler cost is not counted per vat).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { E, startHost, type Host } from '../../runtime/index.js';
import { gcHere, quietRss, sampleMemory, sleep } from './stats.js';
import { startBenchWorker, startRawEndpoint, type BenchWorker } from './workers.js';

const [kind = 'vat', nText = '10', settleText = '1000'] = process.argv.slice(2);
const n = Number(nText);
const settleMs = Number(settleText);
const pinger = join(fileURLToPath(new URL('../../../', import.meta.url)), 'test', 'bench', 'actors', 'pinger.ts');

const home = mkdtempSync(join(tmpdir(), 'tribe-bench-mem-'));
const workers: BenchWorker[] = [];
const vats: string[] = [];
let host: Host | undefined;
try {
  if (kind === 'vat') {
    host = await startHost({ home, control: false, restore: false, print: () => {}, exposeGc: true });
    await host.spawnVat({ module: pinger, name: 'warm' });
    vats.push('warm');
  }
  const collect = async () => {
    gcHere();
    await Promise.all([
      ...vats.map(async (name) => E(await host!.vatAdmin(name)).collectGarbage()),
      ...workers.map((w) => w.call('gc')),
    ]);
    gcHere();
  };
  const startOne = async (i: number) => {
    if (kind === 'vat') {
      await host!.spawnVat({ module: pinger, name: `idle-${i}` });
      vats.push(`idle-${i}`);
      return;
    }
    const w = kind === 'empty' ? startBenchWorker('./empty-worker.js') : kind === 'init' ? startBenchWorker('./init-worker.js') : startRawEndpoint();
    workers.push(w);
    await w.ready;
  };

  const before = await quietRss(collect);
  for (let i = 0; i < n; i += 1) await startOne(i);
  await sleep(settleMs);
  const settled = sampleMemory();
  const after = await quietRss(collect);
  process.stdout.write(`${JSON.stringify({ kind, n, before, settled, after })}\n`);
} finally {
  await Promise.all(workers.map((w) => w.terminate()));
  await host?.stop();
  rmSync(home, { recursive: true, force: true });
}
process.exit(0);
