// Tutorial, section 5: watch pipelining on the wire. Run from the repository root with
//   node docs/examples/pipeline-trace.mjs
// traceLimit keeps the last CapTP messages of every connection; the reader vat's
// admin facet hands out the trace of its channel to the library vat.
import { startHost, E } from 'tribe-runtime';

const here = (file) => new URL(file, import.meta.url).pathname;
const host = await startHost({ home: '/tmp/tribe-trace-demo', restore: false, control: false, traceLimit: 50 });

await host.spawnVat({ module: here('./library.ts'), name: 'library' });
const { root: reader } = await host.spawnVat({ module: here('./reader.ts'), name: 'reader' });
console.log(await E(reader).titlesOn('poetry'));

const admin = await host.vatAdmin('reader');
for (const m of await E(admin).trace('library')) {
  const what = m.type === 'CTP_CALL' ? `${m.method}() to ${m.target}` : '';
  console.log(`${m.dir.padEnd(3)} ${m.type.padEnd(13)} ${(m.questionID ?? m.answerID).padEnd(4)} ${what}`.trimEnd());
}
await host.stop();
