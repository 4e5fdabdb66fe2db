/**
 * Messages between actors in a real headless Chromium against live hosts:
 * a user's E() call between two vats of one host, and from a vat to a vat on
 * another host, appears as an arrow with its method name (how soon is logged
 * here and measured by `npm run bench`, section 5, never asserted by a clock in a
 * test: a loaded CI machine is not a measurement); an error answer is marked; pipelined calls say so; the per-actor view shows a
 * vat's calls and references; argument values never reach the page or the
 * wire; and vats do not trace while nobody watches.
 */
// First: Node must track promises before any is hardened (see the helper).
import '../helpers/track-promises.js';
import '@endo/init';
import test from 'ava';
import { E } from '@endo/far';
import { closeBrowser, explainFailure, openPage } from '../helpers/browser.js';
import { example, fixture, withHost } from '../helpers/host.js';
import { openVizStream } from '../helpers/viz.js';

test.after.always(closeBrowser);

const WAIT = { timeout: 30_000 } as const;

test('calls between vats, and to a vat on another host, are arrows with their method; errors are marked; values never shown', async (t) => {
  const a = await withHost(t, { spareWorkers: 0, viz: 0 });
  const b = await withHost(t, { spareWorkers: 0 });
  const { root: alice } = await a.spawnVat({ module: fixture('party.ts'), name: 'alice' });
  await a.spawnVat({ module: fixture('party.ts'), name: 'carol', params: { label: 'carol' } });
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const ref = b.makeSturdyRef('bob');
  const swiss = ref.split('/').pop()!;
  await a.connect(ref, 'bob');

  // Nobody watches A yet (the store does not count): A's vats do not trace.
  t.is(await E(alice).pingPeer('carol'), 'carol');
  t.false((a.inspector.hello().calls ?? []).some((c) => c.method === 'label'), 'no page open: no call traced');

  const stream = openVizStream(a.vizUrl!);
  t.teardown(() => stream.close());
  await stream.hello;
  const { page, errors, offsite, screenshot } = await openPage(t, a.vizUrl!);
  explainFailure(t, async () => [
    `sequence: ${await page.$$eval('#sequence g.call-msg', (els) => els.map((e) => `${e.getAttribute('class')} ${e.getAttribute('data-method')} ${e.getAttribute('data-from-lane')} → ${e.getAttribute('data-to-lane')}`).join('\n'))}`,
    `log: ${await page.$$eval('#log .log-row.call', (els) => els.map((e) => e.textContent).join('\n'))}`,
  ]);
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  const laneOf = async (host: string, name: string) => {
    const sel = `#tree [data-aid^="${host}/"][data-group="vats"][data-name="${name}"]`;
    await page.waitForSelector(sel, WAIT);
    return (await page.getAttribute(sel, 'data-aid'))!;
  };
  const aliceLane = await laneOf(a.id, 'alice');
  const carolLane = await laneOf(a.id, 'carol');
  const bobLane = await laneOf(b.id, 'bob');
  // The page notes when each arrow first appears, by the wall clock the vats use.
  await page.evaluate(() => {
    const seen: Record<string, number> = {};
    (window as any).seen = seen;
    const look = () => {
      for (const g of document.querySelectorAll('#sequence g.call-msg')) {
        const key = `${g.getAttribute('data-call')} ${g.getAttribute('data-method')} ${g.getAttribute('data-from-lane')} ${g.getAttribute('data-to-lane')}`;
        seen[key] ??= Date.now();
      }
    };
    new MutationObserver(look).observe(document.getElementById('sequence')!, { childList: true, subtree: true });
  });
  /** Makes a call and waits for its arrow; returns how long it took to show. */
  const shown = async (call: () => Promise<unknown>, key: string) => {
    const t0 = Date.now();
    await call().catch(() => {});
    await page.waitForFunction((k) => (window as any).seen[k] !== undefined, key, WAIT);
    return (await page.evaluate((k) => (window as any).seen[k] as number, key)) - t0;
  };

  // A secret as an argument, the way a careless caller might pass one.
  const secret = `swiss-${swiss}`;
  // Between two vats of this host.
  const local = await shown(() => E(alice).lookupAndCall('carol', 'echo', secret), `call echo ${aliceLane} ${carolLane}`);
  // To a vat on another host (its lane is B's own vat, relayed).
  const remote = await shown(() => E(alice).lookupAndCall('bob', 'echo', secret), `call echo ${aliceLane} ${bobLane}`);
  t.log(`arrow shown ${local} ms (same host), ${remote} ms (other host) after the call was made`);
  // Their answers come back to alice.
  await page.waitForSelector(`#sequence g.call-msg.answer[data-method="echo"][data-from-lane="${bobLane}"][data-to-lane="${aliceLane}"]`, WAIT);

  // An error answer is marked, with the error's class name and not its message.
  await t.throwsAsync(E(alice).lookupAndCall('bob', 'fail', secret), { message: /swiss-/ });
  await page.waitForSelector(`#sequence g.call-msg.answer.error[data-method="fail"][data-to-lane="${aliceLane}"]`, WAIT);
  t.regex((await page.textContent('#sequence g.call-msg.answer.error[data-method="fail"]')) ?? '', /fail ✗ RangeError/);
  await page.waitForSelector('#log .log-row.call.answer.error[data-method="fail"]', WAIT);

  // Pipelined calls say so.
  await a.spawnVat({ module: example('pipeline.ts'), name: 'target' });
  const { root: driver } = await a.spawnVat({ module: example('pipeline.ts'), name: 'driver' });
  t.is(await E(driver).demo('target'), 'contents of /docs/readme');
  await page.waitForSelector('#sequence g.call-msg.call.pipelined[data-method="read"]', WAIT);
  t.is(await page.locator('#sequence g.call-msg.call.pipelined[data-method="folder"]').count(), 0, 'the first call of the chain is not pipelined');

  // The per-actor view: alice's calls out per peer, its errors, the references it holds.
  await page.click(`#tree [data-aid="${aliceLane}"]`);
  await page.waitForSelector(`#actor-calls:not([hidden])[data-endpoint="${a.id}/alice"]`, WAIT);
  await page.waitForSelector(`#actor-calls tr[data-peer="${a.id}/carol"]`, WAIT);
  await page.waitForSelector(`#actor-calls tr[data-peer="${b.id}/bob"]`, WAIT);
  t.true(Number(await page.getAttribute('#actor-calls', 'data-errors')) >= 1, 'the error is counted');
  await page.waitForFunction(
    (peer) => /^\d+$/.test(document.querySelector(`#actor-calls tr[data-peer="${peer}"] .imports`)?.textContent ?? ''),
    `${a.id}/carol`,
    WAIT,
  );
  // Clicking a vat's lane selects it too.
  await page.click(`#sequence [data-lane-aid="${bobLane}"]`);
  await page.waitForSelector(`#actor-calls[data-endpoint="${b.id}/bob"]`, WAIT);
  await screenshot('viz-messages');

  // Nothing of the arguments, the results or the error's message anywhere.
  const html = await page.content();
  const wire = [
    JSON.stringify(await stream.hello),
    JSON.stringify(stream.updates),
    await (await fetch(new URL('api/state', a.vizUrl!))).text(),
  ].join('');
  t.true(wire.includes('"method":"echo"'), 'the calls went over the wire');
  for (const s of [secret, swiss]) {
    t.false(html.includes(s), 'the DOM never holds an argument value');
    t.false(wire.includes(s), 'the wire never carries an argument value');
  }
  t.deepEqual(offsite, []);
  t.deepEqual(errors, []);
});
