/**
 * Heap retained per call by a raw @endo/captp connection pair after many
 * `E(target).ping(i)` calls (full GCs and finalizers run before each reading):
 * what a long-lived connection keeps per answered call.
 *
 *   node dist/test/bench/captp-retained.js [--calls=20000] [--gc-imports=1]
 *     [--tables=default|tribe] [--endo=DIR] [--reps=3]
 *
 * `--tables=tribe` uses Tribe's import/export tables (capabilities/captp-tables.ts);
 * `--endo=DIR` loads @endo/* and ses from DIR/node_modules (not with tribe tables).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gcHere, median } from './stats.js';

const args = process.argv.slice(2);
const get = (name: string, dflt: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const calls = Number(get('calls', '20000'));
const reps = Number(get('reps', '3'));
const gcImports = get('gc-imports', '1') !== '0';
const tables = get('tables', 'default');
const endoRoot = get('endo', '') || undefined;
if (tables === 'tribe' && endoRoot) throw new Error('--tables=tribe loads @endo from the project: drop --endo');

const load = (spec: string): Promise<any> =>
  endoRoot ? import(pathToFileURL(createRequire(join(endoRoot, 'x.js')).resolve(spec)).href) : import(spec);
await load('@endo/init');
const { makeCapTP } = await load('@endo/captp');
const { E, Far } = await load('@endo/far');

const opts: Record<string, unknown> = { gcImports, onReject: () => {} };
if (tables === 'tribe') {
  const { makeImportExportTables } = await import('../../capabilities/captp-tables.js');
  opts['makeCapTPImportExportTables'] = (a: any) => makeImportExportTables(a);
}

let driver: any;
let target: any;
/** Each message delivered in a task of its own; returns nothing, like postMessage. */
const link = (peer: () => any) => (m: unknown) => {
  setImmediate(() => peer().dispatch(m));
};
target = makeCapTP('t', link(() => driver), Far('P', { ping: (i: number) => i }), opts);
driver = makeCapTP('d', link(() => target), undefined, opts);
const boot = await driver.getBootstrap();

/** GC, let finalizers run (and the CTP_DROPs they send arrive), GC again; then the heap in use. */
const settledHeap = async () => {
  for (let k = 0; k < 3; k += 1) {
    gcHere();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage().heapUsed;
};
const run = async (n: number) => {
  for (let i = 0; i < n; i += 1) await E(boot).ping(i);
};

await run(2000);
const perCall: number[] = [];
for (let r = 0; r < reps; r += 1) {
  const before = await settledHeap();
  await run(calls);
  perCall.push(((await settledHeap()) - before) / calls);
}
console.log(
  `retained per call (${tables} tables, gcImports ${gcImports}${endoRoot ? `, @endo from ${endoRoot}` : ''}): ` +
    `median ${median(perCall).toFixed(0)} B over ${reps} × ${calls} calls (${perCall.map((x) => x.toFixed(0)).join(', ')})`,
);
