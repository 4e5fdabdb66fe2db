/**
 * The vat chart reads at 1:1: in a real headless Chromium at 1280×800, with
 * the chart panel expanded (its button, then the F key), the vat lifecycle
 * machine's statechart is drawn at scale 1 — its text at the sizes
 * statechart.css sets — and lies wholly inside the chart area, which needs no
 * scrollbar. Assertions are on measured boxes; waits are on attributes the
 * page sets, never on time.
 */
// First: Node must track promises before any is hardened (see the helper).
import '../helpers/track-promises.js';
import '@endo/init';
import test from 'ava';
import type { Page } from 'playwright-core';
import type { InspectionEvent } from 'xstate';
import { handoffMachine } from '../../protocols/handoff/handoff.machine.js';
import { pathMachine } from '../../protocols/session/path.machine.js';
import { tripleMachine } from '../../protocols/triple/triple.machine.js';
import { closeBrowser, explainFailure, openPage } from '../helpers/browser.js';
import { fixture, withHost } from '../helpers/host.js';

test.after.always(closeBrowser);

const WAIT = { timeout: 30_000 } as const;
const VIEWPORT = { width: 1280, height: 800 } as const;
/** Sub-pixel rounding of boxes. */
const SLACK = 0.5;

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Waits until the chart's scale was chosen for the chart area's present size (chart-view.ts sets `data-fitted` after each fit). */
const settled = (page: Page, expanded: boolean) =>
  page.waitForFunction((on) => {
    const chart = document.querySelector<HTMLElement>('#chart');
    const panel = document.querySelector<HTMLElement>('#chart-panel');
    return (
      panel?.dataset['expanded'] === String(on) &&
      chart?.querySelector('svg') !== null &&
      chart?.dataset['fitted'] === `${chart?.clientWidth}x${chart?.clientHeight}`
    );
  }, expanded, WAIT);

const measure = (page: Page) =>
  page.evaluate(() => {
    const box = (r: DOMRect) => ({ x: r.x, y: r.y, width: r.width, height: r.height });
    const chart = document.querySelector<HTMLElement>('#chart')!;
    const svg = chart.querySelector<SVGSVGElement>('svg')!;
    const style = getComputedStyle(chart);
    const outer = chart.getBoundingClientRect();
    const texts = [...svg.querySelectorAll<SVGTextElement>('text')];
    return {
      viewport: { width: innerWidth, height: innerHeight },
      panel: box(document.querySelector('#chart-panel')!.getBoundingClientRect()),
      // The visible chart area: the scroll box inside its border, without its scrollbars.
      area: { x: outer.x + chart.clientLeft, y: outer.y + chart.clientTop, width: chart.clientWidth, height: chart.clientHeight },
      overflow: { x: chart.scrollWidth - chart.clientWidth, y: chart.scrollHeight - chart.clientHeight },
      padding: Number.parseFloat(style.paddingLeft),
      svg: box(svg.getBoundingClientRect()),
      natural: { width: Number(svg.getAttribute('width')), height: Number(svg.getAttribute('height')) },
      // Screen pixels per chart unit for every text (the SVG's own scale and any CSS size on it).
      textScale: Math.min(...texts.map((t) => Math.min(t.getScreenCTM()!.a, t.getScreenCTM()!.d))),
      smallestFont: Math.min(...texts.map((t) => Number.parseFloat(getComputedStyle(t).fontSize))),
      // Every state box and label drawn, inside the area.
      outside: [...svg.querySelectorAll<SVGGraphicsElement>('g.state > rect, text')]
        .map((e) => ({ what: e.closest('[data-path]')?.getAttribute('data-path') ?? e.textContent ?? '', r: e.getBoundingClientRect() }))
        .filter(
          ({ r }) =>
            r.x < outer.x + chart.clientLeft - 0.5 ||
            r.y < outer.y + chart.clientTop - 0.5 ||
            r.right > outer.x + chart.clientLeft + chart.clientWidth + 0.5 ||
            r.bottom > outer.y + chart.clientTop + chart.clientHeight + 0.5,
        )
        .map(({ what }) => what),
    };
  });

const inside = (outer: Rect, inner: Rect) =>
  inner.x >= outer.x - SLACK &&
  inner.y >= outer.y - SLACK &&
  inner.x + inner.width <= outer.x + outer.width + SLACK &&
  inner.y + inner.height <= outer.y + outer.height + SLACK;

test('expanded at 1280×800, the vat chart fits its chart area at scale 1', async (t) => {
  const host = await withHost(t, { spareWorkers: 0, viz: 0, listen: false });
  await host.spawnVat({ module: fixture('party.ts'), name: 'alice' });
  const { page, errors, screenshot } = await openPage(t, host.vizUrl!, VIEWPORT);
  const sizes: string[] = [];
  explainFailure(t, async () => sizes);
  const vat = '#tree [data-group="vats"][data-name="alice"][data-state~="alive.phase.running"]';
  await page.waitForSelector(vat, WAIT);
  await page.click(vat);
  await page.waitForSelector('#chart svg[aria-label="statechart vat"] g.state.active[data-path="alive.phase.running"]', WAIT);
  await settled(page, false);
  const collapsed = await measure(page);
  sizes.push(`collapsed: ${JSON.stringify(collapsed)}`);

  await page.click('#chart-expand');
  await settled(page, true);
  const m = await measure(page);
  sizes.push(`expanded: ${JSON.stringify(m)}`);
  t.log(`vat chart ${m.natural.width}×${m.natural.height} in a ${m.area.width}×${m.area.height} chart area (panel ${m.panel.width}×${m.panel.height})`);
  await screenshot('viz-fit-vat-expanded');

  // The panel takes most of the window.
  t.true(m.panel.width * m.panel.height >= 0.8 * m.viewport.width * m.viewport.height, 'the expanded panel covers most of the window');
  // Scale 1: drawn at its natural size, every text at its CSS size, none below 10 px.
  t.true(Math.abs(m.svg.width - m.natural.width) <= 1 && Math.abs(m.svg.height - m.natural.height) <= 1, 'the chart is at 1:1');
  t.true(m.textScale >= 1 - 1e-3, `text is not scaled down (${m.textScale})`);
  t.true(m.smallestFont >= 10, `no text under 10 px (${m.smallestFont})`);
  // Fits: inside the visible area, and nothing to scroll.
  t.true(inside(m.area, m.svg), 'the chart lies inside the chart area');
  t.deepEqual(m.outside, [], 'every state and label is inside the chart area');
  t.true(m.overflow.x <= 0 && m.overflow.y <= 0, `no scrollbar is needed (${m.overflow.x}, ${m.overflow.y})`);
  t.is(await page.getAttribute('#chart', 'data-pannable'), 'false');

  // Escape collapses it, F expands it again: the same fit.
  await page.keyboard.press('Escape');
  await settled(page, false);
  t.is(await page.getAttribute('#chart-expand', 'aria-pressed'), 'false');
  await page.keyboard.press('f');
  await settled(page, true);
  const again = await measure(page);
  t.deepEqual(again.svg, m.svg, 'F expands the panel as the button does');
  t.deepEqual(errors, []);
});

/**
 * The other machines, shown in the same expanded panel through the
 * inspector's own tap (an actor record and one snapshot each, as XState's
 * inspection would give them; the machines need live peers to run). Each is at
 * 1:1 when it fits the area; one that does not is shrunk to fit, not below
 * 0.75, and pans. Their sizes are logged.
 */
test('expanded at 1280×800, every machine is at 1:1 when it fits, else fitted and pannable', async (t) => {
  const host = await withHost(t, { spareWorkers: 0, viz: 0, listen: false });
  const machines = { path: pathMachine, triple: tripleMachine, handoff: handoffMachine };
  for (const [name, logic] of Object.entries(machines)) {
    const { inspect } = host.inspector.tap({ group: 'services', name });
    const actorRef = { logic, id: name } as unknown as Extract<InspectionEvent, { type: '@xstate.actor' }>['actorRef'];
    inspect({ type: '@xstate.actor', actorRef, rootId: name } as InspectionEvent);
    const value = (logic.config as { initial?: string }).initial ?? null;
    inspect({ type: '@xstate.snapshot', actorRef, rootId: name, event: { type: 'xstate.init' }, snapshot: { status: 'active', value, context: {} } } as unknown as InspectionEvent);
  }
  const { page, errors, screenshot } = await openPage(t, host.vizUrl!, VIEWPORT);
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  for (const name of Object.keys(machines)) {
    // The expanded panel covers the tree: back to the page to pick the next machine.
    await page.keyboard.press('Escape');
    await page.click(`#tree [data-group="services"][data-name="${name}"]`);
    await page.waitForSelector(`#chart svg[aria-label="statechart ${machines[name as keyof typeof machines].id}"]`, WAIT);
    await page.keyboard.press('f');
    await settled(page, true);
    const m = await measure(page);
    const room = { width: m.area.width - 2 * m.padding, height: m.area.height - 2 * m.padding };
    const fits = m.natural.width <= room.width && m.natural.height <= room.height;
    t.log(`${name}: ${m.natural.width}×${m.natural.height} in ${room.width}×${room.height}: ${fits ? 'fits at 1:1' : `scale ${m.textScale.toFixed(2)}`}`);
    await screenshot(`viz-fit-${name}-expanded`);
    if (fits) {
      t.true(m.textScale >= 1 - 1e-3 && m.overflow.x <= 0 && m.overflow.y <= 0, `${name} at 1:1, nothing to scroll`);
    } else {
      t.true(m.textScale < 1 && m.textScale >= 0.75 - 1e-3, `${name} shrunk to fit, not below 0.75 (${m.textScale})`);
      const overflows = m.overflow.x > 0 || m.overflow.y > 0;
      t.is(await page.getAttribute('#chart', 'data-pannable'), String(overflows), `${name} pans when it overflows`);
    }
  }
  t.deepEqual(errors, []);
});
