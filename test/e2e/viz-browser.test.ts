/**
 * The visualizer in a real headless Chromium (playwright-core), against real
 * hosts: two `tribe host` processes for the live protocol run, in-process
 * hosts where the test needs to plant secrets or 500 actors. Assertions are on
 * the DOM the page builds (the hooks are listed in runtime/viz/page/README.md);
 * screenshots land in test-artifacts/.
 */
// First: Node must track promises before any is hardened (see the helper).
import '../helpers/track-promises.js';
import '@endo/init';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { E } from '@endo/far';
import { assign, createActor, setup } from 'xstate';
import { base32 } from '../../protocols/session/vat-id.js';
import { workerMachine } from '../fixtures/worker-machine.js';
import { closeBrowser, explainFailure, openPage } from '../helpers/browser.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { fixture, tempHome, withHost } from '../helpers/host.js';
import { openVizStream } from '../helpers/viz.js';

test.after.always(closeBrowser);

const WAIT = { timeout: 30_000 } as const;

test('live hosts: vats reach running, a handshake runs to established, the session ends when the peer is killed', async (t) => {
  const homeA = tempHome(t);
  const homeB = tempHome(t);
  // No grace: the session ends as soon as its one path does (a triple session would wait for the peer to come back).
  const a = await startHostProcess(t, homeA, ['--viz', '0', '--session-grace', '0']);
  const b = await startHostProcess(t, homeB, ['--no-viz']);
  const { page, offsite, errors, screenshot } = await openPage(t, a.viz!);
  // On a failure, what the page and both hosts had to say (a wait that times out says only what it waited for).
  explainFailure(t, async () => {
    const rows = await page.$$eval('#tree [data-aid]', (els) =>
      els.map((e) => ['aid', 'group', 'name', 'state', 'status'].map((k) => e.getAttribute(k === 'aid' ? 'data-aid' : `data-${k}`)).join(' | ')),
    );
    return [`tree rows:\n${rows.join('\n')}`, `host A:\n${a.output.join('\n')}`, `host B:\n${b.output.join('\n')}`];
  });
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  t.is(await page.getAttribute(`[data-host="${a.id}"]`, 'data-self'), 'true');

  // A vat's lifecycle machine, live.
  t.is((await tribe(['spawn', fixture('party.ts'), '--name', 'alice', '--home', homeA])).code, 0);
  await page.waitForSelector(`[data-aid^="${a.id}/"][data-group="vats"][data-name="alice"][data-state~="alive.phase.running"]`, WAIT);

  // Two hosts: B exports bob, A connects; the handshake runs on both and B's half is relayed to A's page.
  t.is((await tribe(['spawn', fixture('party.ts'), '--name', 'bob', '--params', '{"label":"bob"}', '--home', homeB])).code, 0);
  const ref = (await tribe(['ref', 'bob', '--home', homeB])).stdout.trim();
  const connected = await tribe(['connect', ref, '--as', 'bob', '--home', homeA]);
  t.is(connected.code, 0, connected.stderr);
  // A's path machine (the sessions group also holds the triple session's machine, `triple ↔ …`).
  const mine = `[data-aid^="${a.id}/"][data-group="sessions"]:not([data-name^="triple"])`;
  await page.waitForSelector(`${mine}[data-state~="established.watching"]`, WAIT);
  await page.waitForSelector(`[data-host="${b.id}"][data-connected="true"]`, WAIT);
  await page.waitForSelector(`[data-aid^="${b.id}/"][data-group="sessions"][data-state~="established.watching"]`, WAIT);
  await page.waitForSelector(`[data-aid^="${b.id}/"][data-group="vats"][data-name="bob"][data-state~="alive.phase.running"]`, WAIT);
  await page.waitForSelector(`#health tr[data-host="${a.id}"][data-peer="${b.id}"][data-state="established"]`, WAIT);
  // B's own view of the session, relayed.
  await page.waitForSelector(`#health tr[data-host="${b.id}"][data-peer="${a.id}"][data-state="established"]`, WAIT);

  // The statechart of A's path machine, drawn from its definition, with the live state highlighted.
  await page.click(mine);
  const aid = await page.getAttribute(mine, 'data-aid');
  await page.waitForSelector(`#chart[data-aid="${aid}"] svg g.state.active[data-path="established"]`, WAIT);
  t.true((await page.locator('#chart svg g.state').count()) >= 10, 'every state of the path machine is drawn');
  t.is(await page.locator('#chart svg g.state[data-path="handshaking.initiator.awaitingResponse"]').count(), 1);
  // The sequence diagram shows the handshake's frames crossing between the hosts.
  await page.waitForFunction(() => /Hello/.test(document.querySelector('#sequence')?.textContent ?? ''), undefined, WAIT);
  await screenshot('viz-two-hosts');
  t.is((await tribe(['call', 'bob', 'label', '--home', homeA])).stdout.trim(), '"bob"');

  // Time travel: back to the moment B's path took A's Hello (B's step, relayed, in its place in time):
  // A was then still in its handshake (waiting for ProtocolAccepted or Response: Hello is pipelined) … and live again.
  await page
    .locator(`#log [data-seq][data-host="${b.id}"]`)
    .filter({ has: page.locator('.event', { hasText: /^\W*Hello$/ }) })
    .click();
  await page.waitForSelector(`body[data-mode="history"] ${mine}[data-state^="handshaking.initiator.awaiting"]`, WAIT);
  await page.waitForSelector(`#chart svg g.state.active[data-path="handshaking.initiator"]`, WAIT);
  t.is(await page.locator('#chart svg g.state.active[data-path="established"]').count(), 0, 'established is not lit in the past');
  await page.click('#live');
  await page.waitForSelector(`body[data-mode="live"] ${mine}[data-state~="established.watching"]`, WAIT);

  // The peer dies: its host greys out, A's path ends, the health row says so.
  b.proc.kill('SIGKILL');
  await b.exited;
  await page.waitForSelector(`[data-host="${b.id}"][data-connected="false"]`, WAIT);
  // Ended, it moved to the host's folded 'ended' group (in the DOM, not on screen until unfolded).
  await page.waitForSelector(`#tree details[data-group="ended"] ${mine}[data-status="done"][data-state~="closed"]`, { ...WAIT, state: 'attached' });
  await page.waitForSelector(`#chart svg g.state.active[data-path="closed"]`, WAIT);
  await page.waitForSelector(`#health tr[data-peer="${b.id}"][data-state="ended"]`, WAIT);
  await screenshot('viz-peer-killed');
  t.deepEqual(offsite, [], 'the page asked nothing of the internet');
  t.deepEqual(errors, [], 'no errors in the page');
  await tribe(['stop', '--home', homeA]);
});

/** Every text form a 32-byte secret could take on a page. */
const forms = (bytes: Uint8Array): string[] => {
  const b = Buffer.from(bytes);
  return [b.toString('hex'), b.toString('base64'), b.toString('base64url'), base32(bytes)].map((s) => s.replace(/=+$/, ''));
};

test('the page never shows a secret: private keys and swiss numbers stay out of the DOM and the wire', async (t) => {
  const a = await withHost(t, { spareWorkers: 0, viz: 0 });
  const b = await withHost(t, { spareWorkers: 0 });
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob' });
  const ref = b.makeSturdyRef('bob');
  const swiss = ref.split('/').pop()!;
  const bob = await a.connect(ref, 'bob');
  t.is(await E(bob).label(), 'party');
  const keyOf = (home: string) => {
    const jwk = createPrivateKey(readFileSync(join(home, 'identity.key'))).export({ format: 'jwk' });
    return new Uint8Array(Buffer.from(jwk.d!, 'base64url'));
  };
  const secrets = [swiss, ...forms(keyOf(a.home)), ...forms(keyOf(b.home))];
  // A machine that carries secrets in its context and events, as a careless one might.
  const careless = setup({ types: { context: {} as Record<string, unknown> } }).createMachine({
    id: 'careless',
    context: { privateKey: forms(keyOf(a.home))[0], note: `use ${ref}`, token: swiss, raw: keyOf(b.home) },
    initial: 'holding',
    states: { holding: { on: { leak: { actions: assign({ last: ({ event }) => (event as any).ref }) } } } },
  });
  const actor = createActor(careless, { inspect: a.inspector.tap({ group: 'services', name: 'careless' }).inspect }).start();
  t.teardown(() => actor.stop());
  actor.send({ type: 'leak', ref } as any);
  const stream = openVizStream(a.vizUrl!);
  t.teardown(() => stream.close());
  await stream.hello;

  const { page } = await openPage(t, a.vizUrl!);
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  await page.waitForSelector(`[data-aid^="${b.id}/"][data-group="sessions"]`, WAIT);
  // Open every actor's chart and context, so that everything the page can show is in the DOM at some point
  // (the folded 'ended' group too, should anything have ended).
  await page.$$eval('#tree details', (els) => {
    for (const el of els) (el as HTMLDetailsElement).open = true;
  });
  const shown: string[] = [];
  for (const row of await page.locator('#tree [data-aid]').all()) {
    await row.click();
    await page.waitForSelector(`#chart[data-aid="${await row.getAttribute('data-aid')}"]`, WAIT);
    shown.push(await page.content());
  }
  t.true(shown.length >= 4, `every actor was opened (${shown.length})`);
  const wire = [
    JSON.stringify(await stream.hello),
    JSON.stringify(stream.updates),
    await (await fetch(new URL('api/state', a.vizUrl!))).text(),
    await (await fetch(new URL(`api/history?before=${Date.now() + 1}&limit=5000`, a.vizUrl!))).text(),
  ];
  t.true(shown.join('').includes('careless'), 'the careless machine was shown');
  t.true(shown.join('').includes(b.id), 'public names (VatIds) are shown');
  for (const secret of secrets) {
    t.false(shown.some((html) => html.includes(secret)), `the DOM never holds ${secret.slice(0, 6)}…`);
    t.false(wire.some((text) => text.includes(secret)), `the wire never carries ${secret.slice(0, 6)}…`);
  }
});

test('500 live actors: the page draws them all and keeps applying updates', async (t) => {
  const host = await withHost(t, { spareWorkers: 0, viz: 0, listen: false });
  const actors = Array.from({ length: 500 }, (_, i) =>
    createActor(workerMachine, { inspect: host.inspector.tap({ group: 'services', name: `worker-${i}` }).inspect }).start(),
  );
  t.teardown(() => {
    for (const x of actors) x.stop();
  });
  const { page, errors, screenshot } = await openPage(t, host.vizUrl!);
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  t.is(await page.locator('[data-aid][data-machine="worker"]').count(), 500);
  // Three rounds of updates to every actor; the page must show the last state of the last one.
  for (const round of ['work', 'next', 'rest'] as const) for (const x of actors) x.send({ type: round });
  actors[499]!.send({ type: 'work' });
  await page.waitForSelector('[data-name="worker-499"][data-state~="busy.io.reading"]', WAIT);
  await page.waitForSelector('[data-name="worker-0"][data-state="idle"]', WAIT);
  const stats = await page.evaluate(() => (window as any).tribeViz);
  t.true(stats.applied > 0 && Number.isFinite(stats.firstRenderMs) && Number.isFinite(stats.lastApplyMs));
  t.log(`first render ${stats.firstRenderMs.toFixed(0)} ms, last update applied in ${stats.lastApplyMs.toFixed(1)} ms (timings: npm run bench)`);
  await page.click('[data-name="worker-499"]');
  await page.waitForSelector('#chart svg g.state.active[data-path="busy.io.reading"]', WAIT);
  // The next step lights the transition it took.
  actors[499]!.send({ type: 'next' });
  await page.waitForSelector('#chart svg g.state.active[data-path="busy.io.writing"]', WAIT);
  await page.waitForSelector('#chart svg g.transition.taken[data-event="next"][data-source="busy.io.reading"]', WAIT);
  t.is(await page.locator('#chart svg g.transition.taken').count(), 1, 'only the transition taken');
  await screenshot('viz-500-actors');
  t.deepEqual(errors, []);

  // A new page starts with the host's recent history (2,000 steps); older steps come from the store.
  for (const round of ['next', 'rest'] as const) for (const x of actors) x.send({ type: round });
  await page.waitForSelector('[data-name="worker-499"][data-state="idle"]', WAIT);
  const later = await openPage(t, host.vizUrl!);
  await later.page.waitForSelector('body[data-ready="true"]', WAIT);
  const span = () => later.page.$eval('#scrubber', (el) => Number((el as HTMLInputElement).max) - Number((el as HTMLInputElement).min) + 1);
  const before = await span();
  t.is(before, 2000, 'the hello brings the host’s last 2,000 steps');
  await later.page.click('#older');
  await later.page.waitForFunction((n) => {
    const el = document.querySelector<HTMLInputElement>('#scrubber')!;
    return Number(el.max) - Number(el.min) + 1 > n;
  }, before, WAIT);
  t.true((await span()) > before, 'older steps were loaded from the store');
});

test('a retagged actor moves in the tree: a path that proves its peer leaves "handshakes" for "sessions"', async (t) => {
  const host = await withHost(t, { spareWorkers: 0, viz: 0, listen: false });
  const tap = host.inspector.tap({ group: 'handshakes', name: 'inbound 127.0.0.1:1' });
  const actor = createActor(workerMachine, { inspect: tap.inspect }).start();
  t.teardown(() => actor.stop());
  const { page, errors } = await openPage(t, host.vizUrl!);
  await page.waitForSelector('#tree details[data-group="handshakes"] [data-name="inbound 127.0.0.1:1"][data-group="handshakes"]', WAIT);
  // Only now, after the page drew the row (a handshake that outlasts one batch): the live session hit this.
  tap.retag({ group: 'sessions', name: '↔ peer', peer: 'peer' });
  actor.send({ type: 'work' });
  await page.waitForSelector('#tree details[data-group="sessions"] [data-name="↔ peer"][data-group="sessions"][data-state~="busy.io.reading"]', WAIT);
  t.is(await page.locator('#tree details[data-group="handshakes"]').count(), 0, 'the emptied group is gone');
  t.is(await page.locator('#tree [data-aid]').count(), 1, 'one row, moved — not a copy');
  t.is(await page.locator('#tree details[data-group="sessions"] .count').first().textContent(), '1');
  t.deepEqual(errors, []);
});

test('a failed dial ends: its final state is shown, and it leaves "handshakes" for the folded "ended" group', async (t) => {
  const a = await withHost(t, { spareWorkers: 0, viz: 0 });
  const b = await withHost(t, { spareWorkers: 0 });
  const c = await withHost(t, { spareWorkers: 0 });
  const { page, errors } = await openPage(t, a.vizUrl!);
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  // A ref that names B but points at C: the dial reaches C, the handshake proves it is not B.
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob' });
  const ref = b.makeSturdyRef('bob').replace(/@[^/]+\//, `@127.0.0.1:${c.address!.port}/`);
  await t.throwsAsync(a.enliven(ref), { name: 'NotMeError' });
  const dial = `[data-aid^="${a.id}/"][data-group="handshakes"]`;
  await page.waitForSelector(`#tree details[data-group="ended"] ${dial}[data-status="done"][data-state="closed"]`, { ...WAIT, state: 'attached' });
  t.is(await page.locator('#tree details[data-group="handshakes"]').count(), 0, 'nothing left under handshakes');
  t.false(await page.$eval('#tree details[data-group="ended"]', (el) => (el as HTMLDetailsElement).open), 'the ended group starts folded');
  t.is(await page.locator('#tree details[data-group="ended"] .count').textContent(), '1');
  // Unfolded, the row shows its final state and opens its chart there.
  await page.click('#tree details[data-group="ended"] > summary');
  await page.click(dial);
  await page.waitForSelector('#chart svg g.state.active[data-path="closed"]', WAIT);
  t.deepEqual(errors, []);
});

test("a peer that restarts: its earlier run's actors are shown gone (in 'ended'), the new run's live beside them", async (t) => {
  const a = await withHost(t, { spareWorkers: 0, viz: 0 });
  const homeB = tempHome(t);
  const { startHost } = await import('../../runtime/index.js');
  const startB = () => startHost({ home: homeB, control: false, print: () => {}, spareWorkers: 0 });
  let b = await startB();
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob' });
  const ref = b.makeSturdyRef('bob');
  const { page, errors } = await openPage(t, a.vizUrl!);
  await page.waitForSelector('body[data-ready="true"]', WAIT);
  t.is(await E(await a.enliven(ref)).label(), 'party');
  const bob = `[data-aid^="${b.id}/"][data-group="vats"][data-name="bob"]`;
  await page.waitForSelector(`#tree details[data-group="vats"] ${bob}[data-gone="false"][data-state~="alive.phase.running"]`, WAIT);
  const oldAid = await page.getAttribute(bob, 'data-aid');
  await b.stop();
  b = await startB(); // restores bob: a new run, whose actor ids start over
  t.teardown(() => b.stop());
  t.is(await E(await a.enliven(ref)).label(), 'party');
  const fresh = `#tree details[data-group="vats"] ${bob}[data-gone="false"][data-state~="alive.phase.running"]`;
  await page.waitForSelector(fresh, WAIT);
  t.not(await page.getAttribute(fresh, 'data-aid'), oldAid, 'the new run’s bob has an id of its own');
  const old = `#tree details[data-group="ended"] [data-aid="${oldAid}"][data-gone="true"]`;
  await page.waitForSelector(old, { ...WAIT, state: 'attached' });
  t.is(await page.locator(`#tree ${bob}`).count(), 2, 'two bobs: the gone one and the live one, not one in the other’s place');
  t.is(await page.locator(`#tree details[data-group="vats"] [data-aid^="${b.id}/"][data-gone="true"]`).count(), 0, 'no ghost among the live');
  t.deepEqual(errors, []);
});
