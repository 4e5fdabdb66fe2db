/**
 * Actor module loading: the file reader (extension resolution, TypeScript
 * stripping) and the Compartment loader (what a module may import).
 * Fixture files are written to a temp directory per test.
 */
import '@endo/init';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { makeModuleReader, MAX_MODULE_BYTES } from '../../runtime/module-reader.js';
import type { Grant } from '../../vats/link.js';
import { loadActorModule } from '../../vats/loader.js';
import { makeModuleCompiler } from '../../vats/module-compiler.js';

/** A temp tree: `files` maps relative paths to contents. Returns a helper to get file URLs. */
const tree = (t: ExecutionContext, files: Record<string, string>) => {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-loader-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [rel, text] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return { dir, url: (rel: string) => pathToFileURL(join(dir, rel)).href };
};

const load = (entryUrl: string, grants: readonly Grant[] = []) =>
  loadActorModule({
    entryUrl,
    compile: makeModuleCompiler(makeModuleReader()),
    grants,
    realm: { Date, Math },
    name: 'test',
  });

const MAKE = `import { Far } from '@endo/far';\nexport const make = () => Far('A', { ping: () => 'pong' });\n`;

// ---- The reader ----

test('resolve: "./x.js" finds x.ts; .mjs finds .mts; a bare path finds .ts, .js or index', (t) => {
  const { url } = tree(t, {
    'x.ts': '',
    'm.mts': '',
    'bare.ts': '',
    'plain.js': '',
    'both.js': '',
    'both.ts': '',
    'pkg/index.ts': '',
  });
  const r = makeModuleReader();
  t.is(r.resolve(url('x.js')), url('x.ts'));
  t.is(r.resolve(url('m.mjs')), url('m.mts'));
  t.is(r.resolve(url('bare')), url('bare.ts'));
  t.is(r.resolve(url('plain')), url('plain.js'));
  t.is(r.resolve(url('plain.js')), url('plain.js'));
  t.is(r.resolve(url('both.js')), url('both.js'), 'an existing .js wins over the .ts');
  t.is(r.resolve(url('pkg')), url('pkg/index.ts'));
  t.is(r.resolve(url('x.ts')), url('x.ts'));
  t.is(r.resolve(url('missing.js')), undefined);
  t.is(r.resolve(url('pkg/')), url('pkg/index.ts'));
  t.is(r.resolve('https://example.com/x.js'), undefined);
  t.is(r.resolve('node:fs'), undefined);
});

test('read strips TypeScript and leaves JavaScript as it is', (t) => {
  const js = 'export const a = 1;\n';
  const { url } = tree(t, {
    'a.ts': 'interface P { x: number }\nexport const f = (p: P): number => p.x as number;\n',
    'b.js': js,
  });
  const r = makeModuleReader();
  const out = r.read(url('a.ts'));
  t.notRegex(out, /interface|: number|as number/);
  t.regex(out, /const f = \(p\) => p\.x;/);
  t.regex(out, /export \{\s*f\s*\}/);
  t.is(r.read(url('b.js')), js);
});

test('a TypeScript syntax error is a ModuleSyntaxError naming file:line:column', (t) => {
  const { url, dir } = tree(t, { 'bad.ts': 'export const ok = 1;\n\nexport const x = (;\n' });
  const err = t.throws(() => makeModuleReader().read(url('bad.ts')));
  t.is(err?.name, 'ModuleSyntaxError');
  t.true(err?.message.startsWith(`ModuleSyntaxError: ${join(dir, 'bad.ts')}:3:`), err?.message);
});

test('reading a missing file is ModuleNotFoundError; an oversize one is refused', (t) => {
  const { url } = tree(t, { 'huge.js': `// ${'x'.repeat(MAX_MODULE_BYTES)}\n` });
  const r = makeModuleReader();
  t.is(t.throws(() => r.read(url('gone.ts')))?.name, 'ModuleNotFoundError');
  const err = t.throws(() => r.read(url('huge.js')));
  t.is(err?.name, 'ModuleSyntaxError');
  t.regex(err?.message ?? '', /larger than/);
});

// ---- The loader ----

test('a module exporting make loads, and make works', async (t) => {
  const { url } = tree(t, { 'actor.ts': MAKE });
  const mod = await load(url('actor.js'));
  t.is(mod.url, url('actor.ts'));
  const obj = mod.make(undefined, undefined) as { ping(): string };
  t.is(obj.ping(), 'pong');
});

test('a relative import of a sibling .ts (spelled .js) works, and so do subdirectories', async (t) => {
  const { url } = tree(t, {
    'actor.ts': `import { double } from './util.js';\nimport { triple } from './lib/more.js';\nexport const make = () => [double(2), triple(2)];\n`,
    'util.ts': 'export const double = (n: number): number => n * 2;\n',
    'lib/more.ts': `import { double } from '../util.js';\nexport const triple = (n: number) => double(n) + n;\n`,
  });
  const mod = await load(url('actor.ts'));
  t.deepEqual(mod.make(undefined, undefined), [4, 6]);
});

const assertLoadError = async (t: ExecutionContext, p: Promise<unknown>, name: string, text?: RegExp) => {
  const err = await t.throwsAsync(p);
  t.is(err?.name, name, err?.message);
  if (text) t.regex(err?.message ?? '', text);
};

for (const [what, spec] of [
  ['node:fs', 'node:fs'],
  ['a node builtin without the prefix', 'fs'],
  ['a bare package', 'esbuild'],
  ['a scoped package other than @endo/far', '@endo/init'],
  ['an absolute file URL', 'file:///etc/passwd'],
  ['an absolute path', '/etc/passwd'],
] as const) {
  test(`importing ${what} is ModuleNotAllowedError`, async (t) => {
    const { url } = tree(t, { 'actor.js': `import * as x from '${spec}';\nexport const make = () => x;\n` });
    await assertLoadError(t, load(url('actor.js')), 'ModuleNotAllowedError', new RegExp(spec.replace(/[/.]/g, '\\$&')));
  });
}

test('a forbidden import in a nested module is ModuleNotAllowedError too', async (t) => {
  const { url } = tree(t, {
    'actor.ts': `import './inner.js';\n${MAKE}`,
    'inner.ts': `export { readFileSync } from 'node:fs';\n`,
  });
  await assertLoadError(t, load(url('actor.ts')), 'ModuleNotAllowedError', /node:fs/);
});

test('importing a file above the entry directory is ModuleNotAllowedError, even one that exists', async (t) => {
  const { url } = tree(t, {
    'outside.js': 'export const secret = 42;\n',
    'actors-evil/x.js': 'export const secret = 43;\n',
    'actors/actor.js': `import { secret } from '../outside.js';\nexport const make = () => secret;\n`,
    'actors/sneaky.js': `import { secret } from './sub/../../outside.js';\nexport const make = () => secret;\n`,
    'actors/encoded.js': `import { secret } from './%2e%2e/outside.js';\nexport const make = () => secret;\n`,
    'actors/sibling.js': `import { secret } from '../actors-evil/x.js';\nexport const make = () => secret;\n`,
    'actors/nested/deep.js': `import { secret } from '../../outside.js';\nexport const make = () => secret;\n`,
  });
  for (const entry of ['actors/actor.js', 'actors/sneaky.js', 'actors/encoded.js', 'actors/sibling.js']) {
    await assertLoadError(t, load(url(entry)), 'ModuleNotAllowedError', /outside|actors-evil/);
  }
  // The entry's own directory is the boundary: a nested entry may not climb to its parent either.
  await assertLoadError(t, load(url('actors/nested/deep.js')), 'ModuleNotAllowedError');
});

test('going up and back down into the entry directory is allowed', async (t) => {
  const { url } = tree(t, {
    'actors/actor.js': `import { v } from '../actors/util.js';\nexport const make = () => v;\n`,
    'actors/util.js': 'export const v = 7;\n',
  });
  const mod = await load(url('actors/actor.js'));
  t.is(mod.make(undefined, undefined), 7);
});

test('a module without make is ModuleShapeError listing its exports', async (t) => {
  const { url } = tree(t, {
    'none.js': 'export const other = 1;\nexport default 2;\n',
    'notfn.js': 'export const make = 5;\n',
    'empty.js': '',
  });
  await assertLoadError(t, load(url('none.js')), 'ModuleShapeError', /exports: (default, other|other, default)/);
  await assertLoadError(t, load(url('notfn.js')), 'ModuleShapeError', /make/);
  await assertLoadError(t, load(url('empty.js')), 'ModuleShapeError', /exports: none/);
});

test('a missing entry or a missing relative import is ModuleNotFoundError', async (t) => {
  const { url } = tree(t, { 'actor.js': `import { x } from './nope.js';\nexport const make = () => x;\n` });
  await assertLoadError(t, load(url('gone.ts')), 'ModuleNotFoundError', /gone\.ts/);
  await assertLoadError(t, load(url('actor.js')), 'ModuleNotFoundError', /nope\.js/);
});

test('syntax errors in .ts and .js modules, entry or imported, are ModuleSyntaxError with the file', async (t) => {
  const { url } = tree(t, {
    'bad.ts': 'export const make = (: number) => 1;\n',
    'bad.js': 'export const make = () => {;\n',
    'imports-bad.ts': `import './bad.js';\n${MAKE}`,
  });
  await assertLoadError(t, load(url('bad.ts')), 'ModuleSyntaxError', /bad\.ts:1:/);
  await assertLoadError(t, load(url('bad.js')), 'ModuleSyntaxError', /bad\.js/);
  await assertLoadError(t, load(url('imports-bad.ts')), 'ModuleSyntaxError', /bad\.js/);
});

test('module code has no ambient clock or randomness unless granted', async (t) => {
  const { url } = tree(t, {
    'clock.js': `export const make = () => { try { return typeof Date.now(); } catch (e) { return 'blocked'; } };\n`,
    'random.js': `export const make = () => { try { return typeof Math.random(); } catch (e) { return 'blocked'; } };\n`,
  });
  t.is((await load(url('clock.js'))).make(undefined, undefined), 'blocked');
  t.is((await load(url('clock.js'), ['clock'])).make(undefined, undefined), 'number');
  t.is((await load(url('random.js'))).make(undefined, undefined), 'blocked');
  t.is((await load(url('random.js'), ['random'])).make(undefined, undefined), 'number');
  t.is((await load(url('random.js'), ['clock'])).make(undefined, undefined), 'blocked', 'grants are separate');
});

test('a file URL the platform cannot map to a path (encoded "/") resolves to nothing instead of throwing', (t) => {
  const { url } = tree(t, { 'x.ts': '', 'sub/y.ts': '' });
  const r = makeModuleReader();
  t.is(r.resolve(url('sub/y.ts')), url('sub/y.ts'));
  // Built as a string: pathToFileURL would escape the '%'.
  t.notThrows(() => r.resolve(`${url('sub')}%2fy.ts`));
  t.is(r.resolve(`${url('sub')}%2fy.ts`), undefined);
});

test('an import with an encoded "/" fails with a named load error', async (t) => {
  const { url } = tree(t, {
    'outside.js': 'export const secret = 42;\n',
    'actors/actor.js': `import { secret } from './..%2foutside.js';\nexport const make = () => secret;\n`,
  });
  const err = await t.throwsAsync(load(url('actors/actor.js')));
  t.regex(err?.name ?? '', /^Module(NotFound|NotAllowed)Error$/, `${err?.name}: ${err?.message}`);
});
