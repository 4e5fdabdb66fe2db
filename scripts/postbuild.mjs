// After tsc: make the CLI entry executable (tsc writes 0644), so `npx tribe` works from a clean build;
// ship the hand-written declarations in types/; then bundle the visualizer's page into the scripts the host serves (app.js, its statechart chunk,
// and elkjs's worker).
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

chmodSync(new URL('../dist/runtime/cli/main.js', import.meta.url), 0o755);

// tsc emits no hand-written .d.ts files, and a consumer's tsc does not see this repository's
// tsconfig: ship types/*.d.ts (declarations for packages that have none) in dist/types/ and
// reference them from the package's entry declarations.
const typesOut = new URL('../dist/types/', import.meta.url);
mkdirSync(typesOut, { recursive: true });
const shipped = readdirSync(new URL('../types/', import.meta.url)).filter((file) => file.endsWith('.d.ts')).sort();
for (const file of shipped) copyFileSync(new URL(`../types/${file}`, import.meta.url), new URL(file, typesOut));
const entryTypes = new URL('../dist/runtime/index.d.ts', import.meta.url);
const entryText = readFileSync(entryTypes, 'utf8');
const references = shipped.map((file) => `/// <reference path="../types/${file}" />\n`).join('');
if (!entryText.startsWith(references)) writeFileSync(entryTypes, references + entryText);

const pageSrc = new URL('../runtime/viz/page/', import.meta.url);
const pageOut = new URL('../dist/runtime/viz/page/', import.meta.url);
mkdirSync(pageOut, { recursive: true });
// Chunks of an earlier build would linger under their old hashes.
for (const file of readdirSync(pageOut)) if (file.startsWith('chunk-')) rmSync(new URL(file, pageOut));
await build({
  entryPoints: { app: new URL('main.ts', pageSrc).pathname },
  outdir: pageOut.pathname,
  // The statechart code loads after the first render, as its own chunk.
  splitting: true,
  chunkNames: 'chunk-[hash]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(new URL('index.html', pageSrc), new URL('index.html', pageOut));
// One stylesheet for the page: its own, then the statechart's (served as /app.css).
writeFileSync(
  new URL('app.css', pageOut),
  ['app.css', 'statechart.css'].map((file) => readFileSync(new URL(file, pageSrc), 'utf8')).join('\n'),
);
// elkjs's layout engine, which the page runs in a Web Worker: statechart layout stays off its main thread.
copyFileSync(new URL('../node_modules/elkjs/lib/elk-worker.min.js', import.meta.url), new URL('elk-worker.js', pageOut));
