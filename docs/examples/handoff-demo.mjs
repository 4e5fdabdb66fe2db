// Tutorial, section 10: a reference handed on travels direct. Run from the repository root with
//   node docs/examples/handoff-demo.mjs
import { startHost, E } from 'tribe-runtime';

const here = (file) => new URL(file, import.meta.url).pathname;
const host = await startHost({ home: '/tmp/tribe-handoff-demo', restore: false, traceLimit: 100 });

const { root: library } = await host.spawnVat({ module: here('./library.ts'), name: 'library' });
const { root: reader } = await host.spawnVat({ module: here('./reader.ts'), name: 'reader' });

// The program holds a shelf of the library's vat and hands it to the reader's vat.
const shelf = await E(library).shelf('poetry');
console.log(await E(reader).titlesOf(shelf));

// The reader claimed the shelf from the library's vat and called it over its own channel:
const { handoffs, proxied, peers } = host.ps().vats.find((v) => v.name === 'reader');
console.log({ handoffs, proxied, peers });
const trace = await E(await host.vatAdmin('reader')).trace('library');
console.log(trace.filter((e) => e.type === 'CTP_CALL').map((e) => e.method));
await host.stop();
