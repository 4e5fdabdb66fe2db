/**
 * `host.upgradeVat` through the embedder API: the store is kept and the behaviour
 * changes; a new module that fails to start rolls back, rows and all; calls in
 * flight reject with VatUpgradedError wherever they came from, never hang.
 */
import '@endo/init';
import test from 'ava';
import { E } from '@endo/far';
import { reviveError } from '../../capabilities/errors.js';
import { connect, startHost } from '../../runtime/index.js';
import { IO_MS, within } from '../helpers/bounded.js';
import { fixture, withHost } from '../helpers/host.js';
import { upgradeLeftovers, vatRows } from '../helpers/vat-rows.js';

const v1 = fixture('upgrade-v1.ts');
const v2 = fixture('upgrade-v2.ts');
const quiet = { spareWorkers: 0 } as const;

/** Awaits `check()` until it holds, each try and the whole bounded. */
const eventually = async (check: () => Promise<boolean>, what: string): Promise<void> => {
  const deadline = Date.now() + IO_MS;
  while (!(await within(check(), IO_MS, what))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${IO_MS} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('an upgrade keeps the store and changes the behaviour; new params are recorded and survive a host restart', async (t) => {
  const host = await withHost(t, quiet);
  const { root } = await host.spawnVat({ module: v1, name: 'counter', durable: true });
  for (const n of [1, 2, 3]) t.is(await E(root).increment(), n);
  const objects = vatRows(host.home, 'counter').objects.length;

  const upgraded = await host.upgradeVat('counter', v2);
  t.deepEqual(upgraded, {
    name: 'counter',
    was: 'running',
    state: 'running',
    oldModule: v1,
    module: v2,
    oldParams: 'null',
    params: 'null',
    durable: true,
    kept: { keys: 1, objects },
  });
  const counter = host.names.lookup('counter');
  t.is(await E(counter).version(), 2);
  t.is(await E(counter).read(), 3, 'the count v1 left');
  t.is(await E(counter).increment(), 13, 'v2 counts by ten');
  // A durable vat's root is durable: the reference held from before reaches the new code.
  t.is(await E(root).version(), 2, 'the old root reference reaches the new root');
  t.is(host.ps().vats.find((v) => v.name === 'counter')!.module, v2);

  t.like(await host.upgradeVat('counter', v2, { params: { step: 100 } }), { oldParams: 'null', params: '{"step":100}' });
  t.is(await E(host.names.lookup('counter')).increment(), 113);
  t.is(upgradeLeftovers(host.home), 0, 'no record or backup is left');

  // The vats row names the new module and params: a restarted host runs v2 with step 100.
  await host.stop();
  const again = await startHost({ home: host.home, control: false, print: () => {}, ...quiet });
  t.teardown(() => again.stop());
  t.is(await E(again.names.lookup('counter')).increment(), 213);
});

test('a new module whose make() writes and throws rolls back: rows as before, the old code answers; bad input stops nothing', async (t) => {
  const host = await withHost(t, quiet);
  const { root } = await host.spawnVat({ module: v1, name: 'counter', durable: true });
  for (const n of [1, 2]) t.is(await E(root).increment(), n);
  const before = vatRows(host.home, 'counter');

  const broken = fixture('upgrade-v3-broken.ts');
  const err = await t.throwsAsync(host.upgradeVat('counter', broken), { name: 'UpgradeFailedError' });
  t.is(
    err.message,
    `UpgradeFailedError: ActorStartError: make() of ${broken} failed: RangeError: v3 cannot read this store; rolled back to ${v1}`,
  );
  t.deepEqual(vatRows(host.home, 'counter'), before, 'the store rows are what v1 left, not what v3 wrote');
  t.is(upgradeLeftovers(host.home), 0);
  const counter = host.names.lookup('counter');
  t.is(await E(counter).version(), 1);
  t.is(await E(counter).increment(), 3);
  t.is(host.ps().vats.find((v) => v.name === 'counter')!.module, v1);

  // Checked before anything stops: the running vat keeps its reference and its code.
  await t.throwsAsync(host.upgradeVat('counter', fixture('no-such-module.ts')), {
    name: 'ModuleNotFoundError',
    message: /^ModuleNotFoundError: no module file at .*no-such-module\.ts; vat "counter" was not upgraded and still runs its old code$/,
  });
  await t.throwsAsync(host.upgradeVat('counter', v2, { params: { n: 1n } }), { name: 'InvalidParamsError' });
  await t.throwsAsync(host.upgradeVat('counter', v2, { startTimeoutMs: 0 }), { name: 'UsageError' });
  await t.throwsAsync(host.upgradeVat('nobody', v2), { name: 'VatNotFoundError', message: 'VatNotFoundError: no vat named "nobody" (see tribe ps)' });
  t.is(await E(counter).read(), 3, 'the same root still answers');

  // One upgrade of a vat at a time.
  const first = host.upgradeVat('counter', v2);
  await t.throwsAsync(host.upgradeVat('counter', v2), { name: 'UpgradeInProgressError' });
  t.like(await first, { module: v2 });
});

test('calls in flight during an upgrade reject with VatUpgradedError: from the embedder, from another vat, from another host', async (t) => {
  const a = await withHost(t, quiet);
  const b = await withHost(t, quiet);
  const { root } = await a.spawnVat({ module: v1, name: 'counter', durable: true });
  const { root: party } = await a.spawnVat({ module: fixture('party.ts'), name: 'party' });
  const remote = await b.enliven(a.makeSturdyRef('counter'));
  const fromHost = E(root).hang();
  const fromVat = E(party).lookupAndCall('counter', 'hang');
  const fromOtherHost = E(remote).hang();
  await eventually(async () => (await E(root).waiting()) === 3, 'three hang() calls to arrive');

  await a.upgradeVat('counter', v2);
  const upgraded = new RegExp(`^VatUpgradedError: vat "counter" was stopped to be upgraded to ${v2.replace(/[.]/g, '\\.')}; call again: durable references reach the new code`);
  const reasons = await Promise.all(
    [fromHost, fromVat, fromOtherHost].map((p, i) =>
      within(p, IO_MS, `in-flight call ${i} to settle`).then(
        () => t.fail(`call ${i} answered`),
        (err: unknown) => reviveError(err),
      ),
    ),
  );
  const [hostSaw, vatSaw, otherHostSaw] = reasons;
  for (const err of [hostSaw, vatSaw]) {
    t.is(err?.name, 'VatUpgradedError', String(err));
    t.regex(err?.message ?? '', upgraded);
  }
  // Another host's channel ends as its session mux closes any channel: SessionLostError
  // (what a peer host claims is not revived into a local class), with the reason in words.
  t.is(otherHostSaw?.name, 'SessionLostError', String(otherHostSaw));
  t.regex(otherHostSaw?.message ?? '', new RegExp(`^SessionLostError: \\S+: ${upgraded.source.slice(1)}`));
  // Each party reaches the new code by looking the name up again.
  t.is(await within(E(party).lookupAndCall('counter', 'version'), IO_MS, 'the party to reach v2'), 2);
  t.is(await within(E(await b.enliven(a.makeSturdyRef('counter'))).version(), IO_MS, 'host b to reach v2'), 2);
});

test('calls sent just before an upgrade either answer (and their writes are kept) or reject with VatUpgradedError', async (t) => {
  const host = await withHost(t, quiet);
  const { root } = await host.spawnVat({ module: v1, name: 'counter', durable: true });
  t.is(await E(root).increment(), 1);
  const answeredFirst = Array.from({ length: 10 }, () => E(root).increment());
  await Promise.all(answeredFirst);
  // Sent in the same turn as the upgrade: they reach the vat after it was asked to stop, or never.
  const late = Array.from({ length: 20 }, () => E(root).increment());
  const calls = [...answeredFirst, ...late];
  await host.upgradeVat('counter', v2);
  const settled = await within(Promise.allSettled(calls), IO_MS, 'the calls sent before the upgrade to settle');
  const answered = settled.filter((s) => s.status === 'fulfilled').length;
  for (const s of settled) {
    if (s.status === 'rejected') t.is((s.reason as Error).name, 'VatUpgradedError');
  }
  t.is(await E(host.names.lookup('counter')).read(), 1 + answered, 'every answered call counted, no other');
  t.log(`${answered} of ${calls.length} answered before the stop`);
});

test('a new module whose make() does not return within the start timeout rolls back too', async (t) => {
  const host = await withHost(t, quiet);
  const { root } = await host.spawnVat({ module: v1, name: 'counter', durable: true });
  t.is(await E(root).increment(), 1);
  const before = vatRows(host.home, 'counter');
  const err = await t.throwsAsync(host.upgradeVat('counter', fixture('upgrade-v4-stuck.ts'), { startTimeoutMs: 1500 }), { name: 'UpgradeFailedError' });
  t.regex(err.message, new RegExp(`^UpgradeFailedError: \\S+: vat "counter" did not start within 1500 ms; rolled back to ${v1.replace(/[.]/g, '\\.')}$`));
  t.deepEqual(vatRows(host.home, 'counter'), before, "v4's writes are undone");
  t.is(await E(host.names.lookup('counter')).increment(), 2);
});

test('a client of a running host upgrades through the control socket, with the same errors', async (t) => {
  const host = await withHost(t, { ...quiet, control: true });
  await host.spawnVat({ module: v1, name: 'counter', durable: true });
  const client = await connect({ home: host.home });
  t.teardown(() => client.close());
  t.is(await E(await client.lookup('counter')).increment(), 1);
  t.like(await client.upgradeVat('counter', v2, { params: { step: 7 } }), { module: v2, params: '{"step":7}', kept: { keys: 1 } });
  t.is(await E(await client.lookup('counter')).increment(), 8);
  await t.throwsAsync(client.upgradeVat('counter', fixture('upgrade-v3-broken.ts')), {
    name: 'UpgradeFailedError',
    message: new RegExp(`; rolled back to ${v2.replace(/[.]/g, '\\.')}$`),
  });
  await t.throwsAsync(client.upgradeVat('nobody', v2), { name: 'VatNotFoundError' });
  t.is(await E(await client.lookup('counter')).read(), 8);
});

test('durable kinds across an upgrade: the new code re-attaches its kind, references held elsewhere run the new behaviour; code that forgets a kind rolls back', async (t) => {
  const host = await withHost(t, quiet);
  const v1k = fixture('kinds-v1.ts');
  const { root: bank } = await host.spawnVat({ module: v1k, name: 'bank', durable: true });
  const ada = await E(bank).open('ada');
  t.is(await E(ada).deposit(10), 10);
  // Another vat holds the account, handed to it as a reference.
  const { root: holder } = await host.spawnVat({ module: fixture('holder.ts'), name: 'holder' });
  await E(holder).hold(ada);

  await host.upgradeVat('bank', fixture('kinds-v2.ts'));
  t.is(await E(holder).call('version'), 2, "the other vat's reference runs the new behaviour");
  t.is(await E(holder).call('deposit', 5), 14, 'state kept, new rule applied');
  t.is(await E(ada).withdraw(4), 10, "the embedder's reference has the new method");
  t.is(await E(ada).withdrawn(), 4);
  t.is(await E(E(bank).account('ada')).balance(), 10, 'the stored reference is the same account');

  const err = await t.throwsAsync(host.upgradeVat('bank', fixture('kinds-v3-missing.ts')));
  t.is(err?.name, 'UpgradeFailedError');
  t.regex(err!.message, /does not define the kind "Account" \(1 stored\)/);
  t.regex(err!.message, /rolled back to .*kinds-v2\.ts/);
  t.is(await E(holder).call('balance'), 10, 'after the rollback the account answers with version 2 again');
  t.is(await E(ada).version(), 2);
});
