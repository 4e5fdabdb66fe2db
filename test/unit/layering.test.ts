/**
 * The layering rule of docs/architecture.md, checked on the source: only runtime/
 * imports node built-ins and native packages, and imports point downward only
 * (runtime → vats → capabilities → protocols).
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../helpers/host.js';

const LAYERS = ['protocols', 'capabilities', 'vats', 'runtime'] as const;
const PLATFORM = /^(node:|fs$|net$|os$|path$|child_process$|worker_threads$|better-sqlite3$|esbuild$)/;

const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'examples' ? [] : sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });

const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);

test('only runtime/ imports platform modules; imports point downward', (t) => {
  const violations: string[] = [];
  for (const layer of LAYERS) {
    const rank = LAYERS.indexOf(layer);
    for (const file of sources(join(repoRoot, layer))) {
      for (const spec of importsOf(file)) {
        const where = `${relative(repoRoot, file)} imports ${spec}`;
        if (layer !== 'runtime' && PLATFORM.test(spec)) violations.push(`${where} (platform module outside runtime/)`);
        if (spec.startsWith('.')) {
          const target = relative(repoRoot, join(file, '..', spec)).split('/')[0] as (typeof LAYERS)[number];
          const targetRank = LAYERS.indexOf(target);
          if (targetRank > rank) violations.push(`${where} (upward, into ${target}/)`);
        }
      }
    }
  }
  t.deepEqual(violations, []);
  t.true(sources(join(repoRoot, 'vats')).length > 5, 'the check saw the source tree');
});

test('the visualizer page and the records it reads run in a browser: no platform module, only page-safe imports', (t) => {
  const viz = join(repoRoot, 'runtime', 'viz');
  const browserSide = [...sources(join(viz, 'page')), ...['model.ts', 'machine-def.ts'].map((f) => join(viz, f))];
  const violations = browserSide.flatMap((file) =>
    importsOf(file)
      .filter((spec) => PLATFORM.test(spec) || !(spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('elkjs/')))
      .map((spec) => `${relative(repoRoot, file)} imports ${spec}`),
  );
  t.deepEqual(violations, []);
  t.true(browserSide.length >= 3, 'the check saw the page sources');
});

test('named errors are made from their classes: no `new Error("SomeError: …")` spelled out beside the real class', (t) => {
  const spelled = /new Error\(\s*[`'"][A-Z][A-Za-z0-9]*Error:/;
  const violations = LAYERS.flatMap((layer) =>
    sources(join(repoRoot, layer)).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, i) => (spelled.test(line) ? [`${relative(repoRoot, file)}:${i + 1}: ${line.trim()}`] : [])),
    ),
  );
  t.deepEqual(violations, [], 'use the class (wrapped in passableError where it crosses CapTP)');
});
