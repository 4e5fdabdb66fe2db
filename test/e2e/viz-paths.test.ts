/**
 * The visualizer shows each session's paths (docs/visualizer.md, "Health"):
 * in a real Chromium against in-process hosts over TCP, a session with a path
 * through each of three bridges lists the direct path and each `via` path with
 * their grades and the triple session's state, and a bridge that stops shows
 * as `repairing` until its path is made again through another bridge.
 */
// First: Node must track promises before any is hardened (see the helper).
import '../helpers/track-promises.js';
import '@endo/init';
import test from 'ava';
import { E } from '@endo/far';
import { closeBrowser, explainFailure, openPage } from '../helpers/browser.js';
import { IO_MS, within } from '../helpers/bounded.js';
import { fixture, tempHome, withHost } from '../helpers/host.js';
import { startHost, type Host } from '../../runtime/index.js';

test.after.always(closeBrowser);

const WAIT = { timeout: 30_000 } as const;

test('a session through bridges: the health row lists the direct path and each bridged path, and a stopped bridge as repairing', async (t) => {
  const bridges: Host[] = [];
  for (let i = 0; i < 3; i++) bridges.push(await withHost(t, { spareWorkers: 0, viz: false, bridge: true }));
  // The spare: started once for its ref, then down until the test wants the repair to finish
  // (a restart with the same home listens on the same port, so the ref stays good).
  const spareOpts = { home: tempHome(t), control: false, print: () => {}, spareWorkers: 0, viz: false, bridge: true } as const;
  let spare = await startHost(spareOpts);
  const refs = [...bridges, spare].map((b) => b.ps().bridgeRef!);
  await spare.stop();
  const c = await withHost(t, { spareWorkers: 0, viz: false });
  await c.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  // Four known: three are selected, the fourth is the spare a repair moves to.
  const a = await withHost(t, { spareWorkers: 0, viz: 0, bridges: refs });
  const { page, screenshot } = await openPage(t, a.vizUrl!);
  explainFailure(t, async () => [`health:\n${await page.locator('#health').textContent()}`, `ps:\n${JSON.stringify(a.ps().sessions, null, 1)}`]);
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  const bob = await a.enliven(c.makeSturdyRef('bob'));
  t.is(await E(bob).label(), 'bob');
  const row = `#health tr[data-host="${a.id}"][data-peer="${c.id}"]`;
  // The direct path and the three bridged ones, good; the triple session is healthy (two or more good paths).
  await page.waitForFunction(
    (sel) => document.querySelectorAll(`${sel} td.paths .path[data-grade="good"]`).length === 4,
    row,
    WAIT,
  );
  await page.waitForSelector(`${row}[data-triple="healthy"]`, WAIT);
  const lines = await page.locator(`${row} td.paths .path`).allInnerTexts();
  t.true(lines.some((l) => l.startsWith('direct good')), lines.join(' | '));
  t.is(lines.filter((l) => l.startsWith('via ')).length, 3, lines.join(' | '));
  const used = bridges.filter((b) => lines.some((l) => l.startsWith(`via ${b.id.slice(0, 8)}`)));
  t.is(used.length, 3, lines.join(' | '));
  t.is(await page.locator(`${row} td.state`).textContent(), 'healthy');
  await screenshot('viz-paths-healthy');
  // A bridge stops: its slot shows repairing (the spare is down too), then, once the spare is up,
  // a path through it takes the stopped one's place.
  const victim = used[0]!;
  await victim.stop();
  await page.waitForSelector(`${row} td.paths .path[data-grade="repairing"]`, WAIT);
  spare = await within(startHost(spareOpts), IO_MS, 'the spare bridge to start');
  t.teardown(() => spare.stop());
  await page.waitForFunction(
    ([sel, spare]) =>
      [...document.querySelectorAll(`${sel} td.paths .path[data-grade="good"]`)].some((e) => (e.textContent ?? '').startsWith(`via ${spare}`)),
    [row, spare.id.slice(0, 8)] as const,
    WAIT,
  );
  const after = await page.locator(`${row} td.paths .path`).allInnerTexts();
  t.false(after.some((l) => l.startsWith(`via ${victim.id.slice(0, 8)}`)), after.join(' | '));
  await screenshot('viz-paths-repaired');
});
