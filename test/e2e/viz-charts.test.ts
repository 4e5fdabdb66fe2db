/**
 * Readable charts, in a real headless Chromium against an in-process host:
 * a compound state folds to one box and back (remembered per machine), and
 * the sequence diagram's lane heads show every lane's whole name.
 */
// First: Node must track promises before any is hardened (see the helper).
import '../helpers/track-promises.js';
import '@endo/init';
import test from 'ava';
import { createActor } from 'xstate';
import { workerMachine } from '../fixtures/worker-machine.js';
import { closeBrowser, explainFailure, openPage } from '../helpers/browser.js';
import { fixture, withHost } from '../helpers/host.js';

test.after.always(closeBrowser);

const WAIT = { timeout: 30_000 } as const;

test("a compound state's header folds it to one box and unfolds it; the fold stays with the machine", async (t) => {
  const host = await withHost(t, { spareWorkers: 0, viz: 0, listen: false });
  await host.spawnVat({ module: fixture('party.ts'), name: 'alice' });
  const worker = createActor(workerMachine, { inspect: host.inspector.tap({ group: 'services', name: 'other' }).inspect }).start();
  t.teardown(() => worker.stop());
  const { page, errors } = await openPage(t, host.vizUrl!);
  const vat = '#tree [data-group="vats"][data-name="alice"][data-state~="alive.phase.running"]';
  await page.waitForSelector(vat, WAIT);
  await page.click(vat);
  const inside = '#chart svg g.state[data-path^="alive."]';
  await page.waitForSelector('#chart svg g.state.active[data-path="alive.phase.running"]', WAIT);
  const children = await page.locator(inside).count();
  t.true(children >= 4, `alive's regions and states are drawn (${children})`);

  // Fold: alive is one box, lit as the active state, its children gone, its transitions out kept.
  await page.click('#chart svg g.fold[data-fold="alive"]');
  await page.waitForSelector('#chart svg g.state.active[data-path="alive"][data-folded="true"]', WAIT);
  t.is(await page.locator(inside).count(), 0, 'no state inside a folded one is drawn');
  t.true((await page.locator('#chart svg g.transition[data-source="alive"][data-event="stop"]').count()) >= 1, 'a transition out of the fold stays');
  t.true(await page.isVisible('#chart svg g.state[data-path="crashed"]'), 'the states outside stay');

  // Another actor, then back: the vat machine is still folded.
  await page.click('#tree [data-name="other"]');
  await page.waitForSelector('#chart svg[aria-label="statechart worker"]', WAIT);
  await page.click(vat);
  await page.waitForSelector('#chart svg g.state[data-path="alive"][data-folded="true"]', WAIT);
  t.is(await page.locator(inside).count(), 0, 'the fold is remembered for the machine');

  // Unfold: the children are back, the running state lit again.
  await page.click('#chart svg g.fold[data-fold="alive"]');
  await page.waitForSelector('#chart svg g.state.active[data-path="alive.phase.running"]', WAIT);
  t.is(await page.locator(inside).count(), children);
  t.is(await page.locator('#chart svg g.state[data-path="alive"]').getAttribute('data-folded'), 'false');
  t.deepEqual(errors, []);
});

test('every lane head shows its whole name, wrapped inside its box', async (t) => {
  const host = await withHost(t, { spareWorkers: 0, viz: 0, listen: false });
  const names = [
    'a rather long service name that would be cut',
    'orders.fulfilment.warehouse-east',
    'w',
    'billing/invoices/quarterly reconciliation',
    'inventory-reservations',
    'notification dispatcher for customers',
  ];
  const actors = names.map((name) =>
    createActor(workerMachine, { inspect: host.inspector.tap({ group: 'services', name }).inspect }).start(),
  );
  t.teardown(() => {
    for (const a of actors) a.stop();
  });
  const { page, errors } = await openPage(t, host.vizUrl!);
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  for (const a of actors) a.send({ type: 'work' });
  await page.waitForFunction((n) => document.querySelectorAll('#sequence .lane').length >= n, names.length, WAIT);
  const lanes = await page.$$eval('#sequence .lane', (els) =>
    els.map((g) => {
      const box = g.querySelector<SVGRectElement>('.lane-box')!.getBBox();
      const lines = [...g.querySelectorAll<SVGTSpanElement>('.lane-title tspan, .lane-sub tspan')];
      return {
        title: g.getAttribute('data-lane-title') ?? '',
        shown: [...g.querySelectorAll('.lane-title tspan')].map((s) => s.textContent).join(''),
        tooltip: g.querySelector('title')?.textContent ?? '',
        inside: lines.every((s) => {
          const b = s.getBBox();
          return b.x >= box.x - 0.5 && b.x + b.width <= box.x + box.width + 0.5 && b.y >= box.y - 0.5 && b.y + b.height <= box.y + box.height + 0.5;
        }),
      };
    }),
  );
  explainFailure(t, async () => lanes.map((l) => JSON.stringify(l)));
  for (const name of names) {
    const lane = lanes.find((l) => l.title === name);
    t.truthy(lane, `a lane for ${name}`);
    // Wrapped lines drop only the spaces they break at.
    t.is(lane?.shown.replaceAll(' ', ''), name.replaceAll(' ', ''), 'the whole name is drawn');
    t.true(lane?.tooltip.includes(name), 'and is in the tooltip');
    t.true(lane?.inside, `every line of ${name} lies inside its box`);
  }
  t.deepEqual(errors, []);
});
