import test from 'ava';
import { E } from '../../runtime/index.js';
import { fixture, makeVatWatcher, withHost } from '../helpers/host.js';

test('a method that throws rejects that call only', async (t) => {
  const host = await withHost(t);
  const { root } = await host.spawnVat({ module: fixture('runaway.ts'), name: 'r' });
  const err = await t.throwsAsync(E(root).throws('bad argument'));
  t.is(err?.name, 'TypeError');
  t.is(err?.message, 'bad argument');
  t.is(await E(root).ok(), 'ok');
  t.is(host.ps().vats.find((v) => v.name === 'r')?.state, 'running');
});

for (const method of ['loop', 'microtaskLoop'] as const) {
  test(`a vat stuck in an endless ${method} is terminated; callers get VatTimeBudgetError; others keep serving`, async (t) => {
    const host = await withHost(t);
    // Only the stuck vat gets a short budget; the others keep the default.
    const { root } = await host.spawnVat({ module: fixture('runaway.ts'), name: 'stuck', limits: { timeBudgetMs: 1000 } });
    const { root: other } = await host.spawnVat({ module: fixture('party.ts'), name: 'other' });
    // A caller in another vat holds a reference to the stuck vat as well.
    t.is(await E(other).lookupAndCall('stuck', 'ok'), 'ok');
    const pendingFromVat = E(other).lookupAndCall('stuck', 'ok');

    const stuckCall = E(root)[method]();
    const err = await t.throwsAsync(stuckCall);
    t.is(err?.name, 'VatTimeBudgetError');
    t.regex(err?.message ?? '', /did not yield for \d+ ms/);
    // Calls made after the end reject at once with the same named error.
    t.is((await t.throwsAsync(E(root).ok()))?.name, 'VatTimeBudgetError');
    // The other vat's call was queued behind the loop: it rejects with the same cause,
    // whichever reaches that vat first, its channel closing or the host's notice.
    const viaVat = await t.throwsAsync(pendingFromVat);
    t.regex(viaVat?.message ?? '', /^VatTimeBudgetError: vat "stuck" did not yield/);
    // Host and the other vat carry on.
    t.is(await E(other).label(), 'party');
    const status = host.ps().vats.find((v) => v.name === 'stuck');
    t.is(status?.state, 'crashed');
    t.is(status?.cause, 'time-budget');
    t.false(host.names.list().includes('stuck'));
  });
}

test('a vat that grows its memory without bound is terminated with VatMemoryBudgetError', async (t) => {
  const host = await withHost(t);
  const { root } = await host.spawnVat({ module: fixture('runaway.ts'), name: 'hog', limits: { heapMb: 64 } });
  const { root: other } = await host.spawnVat({ module: fixture('party.ts'), name: 'other' });
  const err = await t.throwsAsync(E(root).grow());
  t.is(err?.name, 'VatMemoryBudgetError');
  t.regex(err?.message ?? '', /64 MiB/);
  t.is(await E(other).echo(7), 7);
  t.is(host.ps().vats.find((v) => v.name === 'hog')?.cause, 'memory-budget');
  // The host can start a new vat under the same name afterwards.
  const again = await host.spawnVat({ module: fixture('runaway.ts'), name: 'hog' });
  t.is(await E(again.root).ok(), 'ok');
});

test('memory held outside the heap (ArrayBuffers) counts against the budget too', async (t) => {
  const watcher = makeVatWatcher();
  const host = await withHost(t, { inspect: watcher.inspect });
  const { root } = await host.spawnVat({ module: fixture('runaway.ts'), name: 'buffers', limits: { heapMb: 48 } });
  t.is(await E(root).growBuffers(16), 1);
  // 16 + 64 MiB of buffers: over 48 MiB. The next liveness report ends the vat.
  await E(root).growBuffers(64);
  const end = await watcher.ended('buffers');
  t.is(end.state, 'crashed');
  t.is(end.cause, 'memory-budget');
  const err = await t.throwsAsync(E(root).ok());
  t.is(err?.name, 'VatMemoryBudgetError');
  t.regex(err?.message ?? '', /outside its heap; its memory budget is 48 MiB/);
});

test('a stopped vat is asked to stop and exits by itself (not forced by the stop timeout)', async (t) => {
  const watcher = makeVatWatcher();
  // The default stop timeout (2 s) is a real timer: on a loaded machine an honest worker can
  // take that long to exit and the timer would fire first. 30 s leaves a wide margin for that,
  // while a vat that does not exit by itself still fails here (its timer fires, within the test).
  const host = await withHost(t, { inspect: watcher.inspect, limits: { stopTimeoutMs: 30_000 } });
  await host.spawnVat({ module: fixture('runaway.ts'), name: 'quick' });
  await host.terminateVat('quick');
  const whileStopping = watcher.events.filter((e) => e.vat === 'quick' && e.state === 'stopping').map((e) => e.event);
  t.true(whileStopping.includes('worker.exit'), whileStopping.join());
  t.false(whileStopping.some((e) => e.startsWith('xstate.after')), `no timer fired while stopping: ${whileStopping.join()}`);
  t.is((await watcher.ended('quick')).state, 'stopped');
});
