/**
 * The cause of a random uncaught exception in the visualizer browser test, and
 * its fix (test/helpers/track-promises.ts): after SES lockdown, an E() promise
 * made before an AsyncLocalStorage starts cannot be given Node's async id once
 * the storage's promise hooks are on, and its callback throws. Each case runs in
 * a fresh Node process, since the hooks are process-wide.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import test from 'ava';
import { runNode } from '../helpers/cli.js';
import { repoRoot } from '../helpers/host.js';

const moduleUrl = (path: string) => pathToFileURL(join(repoRoot, path)).href;

/** An E() promise made, then an AsyncLocalStorage used, then the promise awaited. */
const program = (first: string) => `
${first}
import '@endo/init';
import { AsyncLocalStorage } from 'node:async_hooks';
import { E, Far } from '@endo/far';
const answer = E(Far('X', { m: () => 42 })).m();
new AsyncLocalStorage().enterWith('late');
answer.then((v) => console.log('answered', v));
`;

// Bare specifiers resolve from the working directory: ava runs in the repository root.
const run = (source: string) => runNode(['--input-type=module', '-e', source], process.env, 'a node program');

test('with promise tracking on first, an E() promise survives an AsyncLocalStorage that starts later', async (t) => {
  const r = await run(program(`import '${moduleUrl('dist/test/helpers/track-promises.js')}';`));
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), 'answered 42');
});

test('without it, on Node 20, the same program dies of the uncaught exception the browser test saw', async (t) => {
  const r = await run(program(''));
  // Node 24 keeps AsyncLocalStorage in its async context frame and has no promise hook to trip.
  if (!process.versions.node.startsWith('20.')) {
    t.is(r.code, 0, r.stderr);
    return;
  }
  t.not(r.code, 0);
  t.regex(r.stderr, /Cannot add property Symbol\(async_id_symbol\), object is not extensible/);
});
