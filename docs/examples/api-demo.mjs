// Tutorial, section 10: the programmatic API. Run from the repository root with
//   node docs/examples/api-demo.mjs
// Importing 'tribe-runtime' locks down this realm (SES) before anything else runs.
import { startHost, E } from 'tribe-runtime';

const here = (file) => new URL(file, import.meta.url).pathname;

// restore: false — do not respawn the vats this home had when it last stopped,
// so that the script can be run again with the same names.
const host = await startHost({ home: '/tmp/tribe-api-demo', restore: false });
console.log('host', host.id);

// Spawn a vat; spawnVat resolves once make() has returned the root object.
const { root: greeter } = await host.spawnVat({
  module: here('./greeter.ts'),
  name: 'greeter',
  params: { greeting: 'Hi' },
});
console.log(await E(greeter).greet('Ada'));

// Reach an actor by name, and pipeline: both calls leave before either answer.
await host.spawnVat({ module: here('./library.ts'), name: 'library' });
const library = host.names.lookup('library');
console.log(await E(E(library).shelf('poetry')).titles());
try {
  await E(E(library).shelf('cookery')).titles();
} catch (err) {
  console.log('rejected:', err.message);
}

// A vat with a tight time budget; a turn that runs past it ends the vat.
const { root: busy } = await host.spawnVat({
  module: here('./busy.ts'),
  name: 'busy',
  limits: { timeBudgetMs: 500 },
});
console.log(await E(busy).work(100));
try {
  await E(busy).work(2000);
} catch (err) {
  // Tribe's errors carry their name in the message too, so it survives every hop.
  console.log('rejected:', err.message);
  console.log('err.name:', err.name);
}

for (const v of host.ps().vats) console.log(`${v.name.padEnd(8)} ${v.state.padEnd(8)} ${v.detail ?? ''}`.trimEnd());

await host.terminateVat('busy');
await host.stop();
console.log('stopped');
