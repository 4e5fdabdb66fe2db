import test from 'ava';
import { E, type Powers } from '../../runtime/index.js';
import { fixture, withHost } from '../helpers/host.js';

type Methods<T> = { readonly [K in keyof T]-?: true };
/**
 * Every power and each of its methods as the published type (vats/powers.ts) declares them:
 * the compiler rejects an entry missing here or one the type does not have.
 */
const declared: {
  readonly [K in keyof Required<Powers>]: Required<Powers>[K] extends (...args: never[]) => unknown ? 'function' : Methods<Required<Powers>[K]>;
} = {
  names: { lookup: true, publish: true, list: true },
  timer: { now: true, delay: true },
  log: 'function',
  store: { get: true, has: true, set: true, delete: true, keys: true, defineKind: true },
};
const declaredShape = (without: string[] = []) =>
  Object.fromEntries(
    Object.entries(declared)
      .filter(([name]) => !without.includes(name))
      .map(([name, methods]) => [name, methods === 'function' ? 'function' : Object.keys(methods).sort()]),
  );

test('a vat receives exactly the powers the published Powers type declares (store only when durable)', async (t) => {
  const host = await withHost(t);
  const { root: durable } = await host.spawnVat({ module: fixture('powers.ts'), name: 'durable', durable: true });
  t.deepEqual(await E(durable).shape(), declaredShape());
  const { root: plain } = await host.spawnVat({ module: fixture('powers.ts'), name: 'plain' });
  t.deepEqual(await E(plain).shape(), declaredShape(['store']));
});

test('make() gets undefined params when none or null were given, so its signature defaults apply', async (t) => {
  const host = await withHost(t);
  const none = await host.spawnVat({ module: fixture('defaults.ts'), name: 'none' });
  t.is(await E(none.root).start(), 0);
  const nul = await host.spawnVat({ module: fixture('defaults.ts'), name: 'nul', params: null });
  t.is(await E(nul.root).start(), 0);
  const given = await host.spawnVat({ module: fixture('defaults.ts'), name: 'given', params: { start: 5 } });
  t.is(await E(given.root).start(), 5);
});

test('timer and log powers work; store is only for durable vats', async (t) => {
  const lines: string[] = [];
  const host = await withHost(t, { print: (l) => lines.push(l) });
  const { root } = await host.spawnVat({ module: fixture('powers.ts'), name: 'p' });
  t.false(await E(root).hasStore());
  // The vat measures with Date.now() (wall clock, whole ms) a timer that counts whole ms of the
  // monotonic clock, so an exact 30 ms wait can read as 29 (seen here: 29 in 300 runs, never less).
  // A delay that does not wait reads ~0 and still fails.
  const waited = await E(root).waited(30);
  t.true(waited >= 29, `waited ${waited} ms for a 30 ms delay`);
  t.true(await E(root).say('hi'));
  // The log line and the reply travel on the same ordered port: the line is there already.
  t.true(lines.includes('[p] says hi {"n":1}'), lines.join('\n'));
});

test('--grant clock / random give Date.now and Math.random; without them they throw', async (t) => {
  const host = await withHost(t);
  const { root: plain } = await host.spawnVat({ module: fixture('powers.ts'), name: 'plain' });
  await t.throwsAsync(E(plain).clock(), { message: /--grant clock/ });
  await t.throwsAsync(E(plain).random(), { message: /--grant random/ });
  const { root: granted } = await host.spawnVat({ module: fixture('powers.ts'), name: 'granted', grants: ['clock', 'random'] });
  t.is(await E(granted).clock(), 'number');
  t.is(await E(granted).random(), 'number');
  await t.throwsAsync(host.spawnVat({ module: fixture('powers.ts'), name: 'bad', grants: ['net' as 'clock'] }), {
    name: 'UsageError',
  });
});

test('durable store: plain data only, survives a vat restart, isolated per vat', async (t) => {
  const host = await withHost(t);
  const { root } = await host.spawnVat({ module: fixture('powers.ts'), name: 'd', durable: true });
  t.deepEqual(await E(root).put('a/1', { x: [1, 'two', null] }), { x: [1, 'two', null] });
  await E(root).put('a/2', 2);
  await E(root).put('b/1', 3);
  t.deepEqual(await E(root).keys('a/'), ['a/1', 'a/2']);
  t.is(await E(root).putBad('ref'), 'StoreValueError');
  const { root: other } = await host.spawnVat({ module: fixture('powers.ts'), name: 'e', durable: true });
  t.is(await E(other).get('a/1'), undefined, 'another vat sees nothing of d');

  await host.terminateVat('d');
  const again = await host.spawnVat({ module: fixture('powers.ts'), name: 'd', durable: true });
  t.deepEqual(await E(again.root).get('a/1'), { x: [1, 'two', null] });
  t.deepEqual(await E(again.root).keys(''), ['a/1', 'a/2', 'b/1']);
});

test('a make() that never returns is ended by the start timeout; the host carries on', async (t) => {
  const host = await withHost(t);
  const err = await t.throwsAsync(
    host.spawnVat({ module: fixture('slow-start.ts'), name: 'slow', limits: { startTimeoutMs: 2000 } }),
  );
  t.is(err?.name, 'VatCrashedError');
  t.regex(err?.message ?? '', /did not start within 2000 ms/);
  const { root } = await host.spawnVat({ module: fixture('powers.ts'), name: 'fine' });
  t.false(await E(root).hasStore());
});

test('terminateVat stops a vat, withdraws its names and forgets it', async (t) => {
  const host = await withHost(t);
  const { root } = await host.spawnVat({ module: fixture('party.ts'), name: 'gone' });
  await E(root).publishThing('gone-thing');
  t.deepEqual(host.names.list(), ['gone', 'gone-thing']);
  await host.terminateVat('gone');
  t.deepEqual(host.names.list(), []);
  t.deepEqual(host.ps().vats, []);
  const err = await t.throwsAsync(E(root).label());
  t.is(err?.name, 'VatTerminatedError');
  await t.throwsAsync(host.terminateVat('gone'), { name: 'VatNotFoundError' });
});

test('spawnVat without a name picks a free one; bad limits are refused', async (t) => {
  const host = await withHost(t);
  const a = await host.spawnVat({ module: fixture('powers.ts') });
  const b = await host.spawnVat({ module: fixture('powers.ts') });
  t.is(a.name, 'powers-1');
  t.is(b.name, 'powers-2');
  await host.terminateVat('powers-1');
  t.is((await host.spawnVat({ module: fixture('powers.ts') })).name, 'powers-1', 'a freed name is reused');
  for (const limits of [{ heapMb: -5 }, { timeBudgetMs: 0.5 }, { heapMb: Number.NaN }]) {
    await t.throwsAsync(host.spawnVat({ module: fixture('powers.ts'), name: 'bad', limits }), { name: 'UsageError' });
  }
  t.false(host.ps().vats.some((v) => v.name === 'bad'));
});
