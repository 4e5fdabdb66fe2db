/**
 * Durable objects in one host (docs/tutorial.md "Durable objects"): references
 * to them — held by other vats, by the embedder, by name and by sturdy ref —
 * reach them again after their vat or the whole host restarts; references to
 * objects that are not durable fail by name; calls in flight fail by name and
 * the next one works.
 */
import '@endo/init';
import test from 'ava';
import { E } from '@endo/far';
import { startHost } from '../../runtime/index.js';
import { IO_MS, within } from '../helpers/bounded.js';
import { fixture, tempHome, withHost } from '../helpers/host.js';

const COUNTERS = fixture('durable-counters.ts');
/** An error's name, also when it crossed a vat as `Name: message` text. */
const nameOf = (err: Error | undefined) => /^([A-Z][A-Za-z0-9]*Error): /.exec(err?.message ?? '')?.[1] ?? err?.name;
const HOLDER = fixture('holder.ts');

test('after its vat restarts, a durable object is reached again by a vat holding it, by the embedder, by name and by sturdy ref', async (t) => {
  const host = await withHost(t, { spareWorkers: 0 });
  const { root: counters } = await host.spawnVat({ module: COUNTERS, name: 'counters', durable: true });
  const main = await E(counters).main();
  t.is(await E(main).increment(), 1);
  const { root: holder } = await host.spawnVat({ module: HOLDER, name: 'holder' });
  const { root: byName } = await host.spawnVat({ module: HOLDER, name: 'by-name' });
  const { root: bySturdy } = await host.spawnVat({ module: HOLDER, name: 'by-sturdy' });
  await E(holder).hold(main);
  await E(byName).lookup('main-counter');
  const ref = host.makeSturdyRef('main-counter');
  await E(bySturdy).lookup(ref);
  t.true(await E(byName).isHeld('main-counter'), 'the name and the reference are one presence');

  await host.restartVat('counters');

  t.is(await within(E(holder).call('increment'), IO_MS, 'the handed reference'), 2);
  t.is(await E(byName).call('increment'), 3, 'the reference looked up by name before the restart');
  t.is(await E(bySturdy).call('increment'), 4, 'the reference enlivened from a sturdy ref before the restart');
  t.is(await E(main).increment(), 5, "the embedder's reference");
  t.is(await E(host.names.lookup('main-counter')).read(), 5, 'the name, looked up again');
  t.is(await E(await host.enliven(ref)).read(), 5, 'the sturdy ref, enlivened again');
  t.is(((await E(counters).list()) as unknown[]).length, 0, "the vat's root reference (durable too) reaches the new root");
});

test('a call in flight when the vat restarts rejects by name; the next call on the same reference works', async (t) => {
  const host = await withHost(t, { spareWorkers: 0 });
  const { root: counters } = await host.spawnVat({ module: COUNTERS, name: 'counters', durable: true });
  const { root: holder } = await host.spawnVat({ module: HOLDER, name: 'holder' });
  await E(holder).hold(counters);
  const inFlight = E(holder).call('wait');
  const direct = E(counters).wait();
  // Answered after `wait` arrived: the two went in order on the same channel.
  await E(holder).call('list');
  await E(counters).list();
  await host.restartVat('counters');
  const e1 = await t.throwsAsync(within(inFlight, IO_MS, 'the call in flight'));
  t.is(nameOf(e1), 'VatTerminatedError', e1?.message);
  // The stop's reason, not a guess: known before the other vat's channel closed.
  t.regex(e1!.message, /vat "counters" was stopped/);
  const e2 = await t.throwsAsync(within(direct, IO_MS, "the embedder's call in flight"));
  t.is(nameOf(e2), 'VatTerminatedError', e2?.message);
  const main = await E(holder).call('main');
  t.is(await E(main).read(), 0, 'the root reached again through the same reference');
});

test('a reference to an object that is not durable fails by name after a restart, never reaching another object', async (t) => {
  const host = await withHost(t, { spareWorkers: 0 });
  const { root: counters } = await host.spawnVat({ module: COUNTERS, name: 'counters', durable: true });
  const { root: holder } = await host.spawnVat({ module: HOLDER, name: 'holder' });
  const plain = await E(counters).plain();
  await E(holder).hold(plain);
  t.is(await E(holder).call('hello'), 'hello');
  await host.restartVat('counters');
  // Objects made after the restart take the same export numbers; the old reference must not reach them.
  await E(counters).plain();
  const err = await t.throwsAsync(E(holder).call('hello'));
  t.is(nameOf(err), 'VatTerminatedError', err?.message);
  t.regex(err!.message, /counters/);
  await t.throwsAsync(E(plain).hello(), { name: 'VatTerminatedError' });
});

test('stored references to other vats\' durable objects survive a restart of the whole host; state may link objects', async (t) => {
  const home = tempHome(t);
  const opts = { home, control: false, print: () => {}, spareWorkers: 0, listen: false } as const;
  let host = await within(startHost(opts), IO_MS, 'start');
  const { root: a } = await host.spawnVat({ module: COUNTERS, name: 'a', durable: true, params: { publish: false } });
  const { root: b } = await host.spawnVat({ module: COUNTERS, name: 'b', durable: true, params: { publish: false } });
  const x = await E(a).make(10, 'x');
  const y = await E(a).make(20, 'y');
  await E(x).link(y);
  // b keeps a's counter in its store: a reference to another vat's durable object.
  await E(b).put('theirs', { counter: x, note: '$ and ! are kept as written' });
  await E(x).increment();
  await within(host.stop(), IO_MS, 'stop');

  host = await within(startHost(opts), IO_MS, 'restart');
  t.teardown(() => host.stop());
  const b2 = host.names.lookup('b');
  const stored = (await E(b2).get('theirs')) as { counter: unknown; note: string };
  t.is(stored.note, '$ and ! are kept as written');
  t.is(await E(stored.counter as any).read(), 11, "b's stored reference reaches a's counter");
  t.is(await E(E(stored.counter as any).other()).read(), 20, "and the counter's state links to another durable object");
  const [x2, y2] = (await E(host.names.lookup('a')).list()) as unknown[];
  t.is(await E(x2 as any).label(), 'x');
  t.is(await E(y2 as any).label(), 'y');
});

test('revive answers only for a key the vat made: unknown, malformed and root-shaped guesses are refused by name', async (t) => {
  const host = await withHost(t, { spareWorkers: 0 });
  await host.spawnVat({ module: COUNTERS, name: 'counters', durable: true });
  const { root: plainVat } = await host.spawnVat({ module: HOLDER, name: 'plain' });
  t.truthy(plainVat);
  const gate = await host.vatAdmin('counters');
  for (const key of [`d:${'a'.repeat(26)}`, `r:${'a'.repeat(26)}`]) {
    const err = await t.throwsAsync(E(gate).revive(key));
    t.is(nameOf(err), 'DurableObjectNotFoundError', key);
  }
  for (const key of ['root', 'k1', 'd:short', 42, `d:${'A'.repeat(26)}`]) {
    const err = await t.throwsAsync(E(gate).revive(key));
    t.regex(err!.message, /^DurableObjectNotFoundError: malformed durable key/, String(key));
  }
  // A vat that is not durable keeps no durable objects at all.
  const err = await t.throwsAsync(E(await host.vatAdmin('plain')).revive(`d:${'a'.repeat(26)}`));
  t.is(nameOf(err), 'DurableObjectNotFoundError');
});

test('a name published at run time for a durable object is published again after a restart of its vat and of its host; a killed vat takes it along', async (t) => {
  const home = tempHome(t);
  const opts = { home, control: false, print: () => {}, spareWorkers: 0, listen: false } as const;
  let host = await within(startHost(opts), IO_MS, 'start');
  const { root: counters } = await host.spawnVat({ module: COUNTERS, name: 'counters', durable: true, params: { publish: false } });
  const c = await E(counters).make(40, 'published');
  await E(counters).publish('answer', c);
  await E(counters).publish('plain-thing', await E(counters).plain());
  t.is(await E(host.names.lookup('answer')).increment(2), 42);

  await host.restartVat('counters');
  t.is(await E(host.names.lookup('answer')).read(), 42, 'published again by the host, not by make()');
  t.false(host.names.list().includes('plain-thing'), 'a name of an object that is not durable ends with the run');
  const { root: holder } = await host.spawnVat({ module: HOLDER, name: 'holder' });
  await E(holder).lookup('answer');
  t.is(await E(holder).call('label'), 'published');

  await within(host.stop(), IO_MS, 'stop');
  host = await within(startHost(opts), IO_MS, 'restart');
  t.teardown(() => host.stop());
  t.is(await E(host.names.lookup('answer')).read(), 42, 'and after the whole host restarted');

  await host.terminateVat('counters');
  await host.spawnVat({ module: COUNTERS, name: 'counters', durable: true, params: { publish: false } });
  t.false(host.names.list().includes('answer'), 'tribe kill forgets the names of the vat');
});
