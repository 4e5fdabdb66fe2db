/**
 * A turn is the unit of a durable vat (docs/architecture.md "Durable store and
 * turns"): its writes commit at its end, and the messages it sends leave only
 * then, whether they were sent before or after its writes. So a vat killed in the middle of a turn — by its
 * time budget, by its memory budget, or with its whole host by SIGKILL —
 * commits none of that turn's writes and sends none of those messages; what
 * earlier turns committed stays. The witness is a second durable vat that
 * writes down every message it gets.
 */
import '@endo/init';
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E } from '@endo/far';
import type { Host } from '../../runtime/index.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { fixture, makeVatWatcher, withHost } from '../helpers/host.js';
import { within } from '../helpers/bounded.js';

const TORN = fixture('torn-turn.ts');

/** A witness and an armed actor, with one whole turn already committed. */
const setUp = async (t: ExecutionContext, host: Host, limits: { timeBudgetMs?: number; heapMb?: number }) => {
  const { root: witness } = await host.spawnVat({ module: TORN, name: 'witness', durable: true });
  const { root: torn } = await host.spawnVat({ module: TORN, name: 'torn', durable: true, limits });
  t.true(await E(torn).arm('witness'));
  t.is(await E(torn).writeAndSend('before', 1), 1);
  t.deepEqual(await E(witness).notes(), ['sent after writing before']);
  return { witness, torn };
};

/** The torn vat's store, read by a fresh vat of the same name (the store is kept by name). */
const storeAfter = async (host: Host) => {
  const { root } = await host.spawnVat({ module: TORN, name: 'torn', durable: true });
  return { k: await E(root).read('k'), before: await E(root).read('before') };
};

test('stopped by its time budget mid-turn: none of the turn\'s writes is committed, none of its messages leaves', async (t) => {
  const watcher = makeVatWatcher();
  const host = await withHost(t, { inspect: watcher.inspect, spareWorkers: 0 });
  const { witness, torn } = await setUp(t, host, { timeBudgetMs: 1000 });

  const err = await t.throwsAsync(E(torn).writeSendSpin('k', 2));
  t.is(err?.name, 'VatTimeBudgetError');
  t.is((await watcher.ended('torn')).cause, 'time-budget');
  t.deepEqual(await storeAfter(host), { k: null, before: 1 });
  t.deepEqual(await E(witness).notes(), ['sent after writing before']);
});

test('stopped by its memory budget mid-turn: none of the turn\'s writes is committed, none of its messages leaves', async (t) => {
  const watcher = makeVatWatcher();
  const host = await withHost(t, { inspect: watcher.inspect, spareWorkers: 0 });
  const { witness, torn } = await setUp(t, host, { heapMb: 64 });

  const err = await t.throwsAsync(E(torn).writeSendGrow('k', 2));
  t.is(err?.name, 'VatMemoryBudgetError');
  t.is((await watcher.ended('torn')).cause, 'memory-budget');
  t.deepEqual(await storeAfter(host), { k: null, before: 1 });
  t.deepEqual(await E(witness).notes(), ['sent after writing before']);
});

test('a message sent before the turn\'s first write waits for the turn\'s commit too: stopped mid-turn, neither the write nor the message is there', async (t) => {
  const host = await withHost(t, { spareWorkers: 0 });
  const { witness, torn } = await setUp(t, host, { timeBudgetMs: 1000 });
  await t.throwsAsync(E(torn).sendWriteSpin('k', 2), { name: 'VatTimeBudgetError' });
  t.deepEqual(await storeAfter(host), { k: null, before: 1 });
  t.deepEqual(await E(witness).notes(), ['sent after writing before']);
});

test('the host killed (SIGKILL) in the middle of a turn: after a restart on the same home, none of that turn is there', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'tribe-test-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const host = await startHostProcess(t, home, ['--no-viz']);
  let out = '';
  const spinning = new Promise<void>((resolve) =>
    host.proc.stdout!.on('data', (d) => {
      out += String(d);
      if (out.includes('[torn] turn writing k is spinning')) resolve();
    }),
  );
  const run = async (args: string[]) => {
    const r = await tribe([...args, '--home', home]);
    t.is(r.code, 0, `tribe ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await run(['spawn', TORN, '--name', 'witness', '--durable']);
  // A time budget far beyond the test: only the SIGKILL ends this turn.
  await run(['spawn', TORN, '--name', 'torn', '--durable', '--time-budget', '600000']);
  t.is(await run(['call', 'torn', 'arm', '"witness"']), 'true');
  t.is(await run(['call', 'torn', 'writeAndSend', '"before"', '1']), '1');

  const stuck = tribe(['call', 'torn', 'writeSendSpin', '"k"', '2', '--home', home]);
  await within(spinning, 30_000, 'the torn turn to report that it spins');
  host.proc.kill('SIGKILL');
  await host.exited;
  t.not((await stuck).code, 0, 'the caller got no answer');

  await startHostProcess(t, home, ['--no-viz']);
  t.is(await run(['call', 'torn', 'read', '"k"']), 'null');
  t.is(await run(['call', 'torn', 'read', '"before"']), '1');
  t.deepEqual(JSON.parse(await run(['call', 'witness', 'notes'])), ['sent after writing before']);
  await run(['stop']);
});
