/**
 * One @endo/marshal marshaller (capdata, as CapTP makes it) in a tight loop:
 * µs per `toCapData` / `fromCapData` of a CapTP method call `["ping", [i]]`,
 * plain and with a remotable among the arguments. For the marshal patches in
 * docs/patches; `--endo=DIR` loads @endo and ses from DIR/node_modules.
 *
 *   node dist/test/bench/marshal-micro.js [--endo=DIR] [--n=100000]
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const get = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const endoRoot = get('endo');
const n = Number(get('n') ?? '100000');
const load = (spec: string): Promise<any> =>
  endoRoot ? import(pathToFileURL(createRequire(join(endoRoot, 'x.js')).resolve(spec)).href) : import(spec);

await load('@endo/init');
const { makeMarshal, Far } = await load('@endo/marshal');

const ref = Far('Ref', {});
const m = makeMarshal(
  () => 'o+1',
  () => ref,
  { serializeBodyFormat: 'capdata' },
);
/** Warm up, then µs per call over 3 × n calls. */
const time = (label: string, f: (i: number) => unknown) => {
  for (let i = 0; i < n; i += 1) f(i);
  const t0 = performance.now();
  for (let r = 0; r < 3; r += 1) for (let i = 0; i < n; i += 1) f(i);
  console.log(`${label.padEnd(32)} ${(((performance.now() - t0) * 1000) / n / 3).toFixed(2)} µs`);
};
const plain = m.toCapData(harden(['ping', [7]]));
const withRef = m.toCapData(harden(['ping', [7, ref]]));
time('toCapData ["ping",[i]]', (i) => m.toCapData(harden(['ping', [i]])));
time('toCapData ["ping",[i,ref]]', (i) => m.toCapData(harden(['ping', [i, ref]])));
time('fromCapData ["ping",[7]]', () => m.fromCapData(plain));
time('fromCapData ["ping",[7,ref]]', () => m.fromCapData(withRef));
