/**
 * The visualizer's server against real hosts (no browser: the browser tests
 * are in viz-browser.test.ts): what it serves and to whom, the live stream,
 * the history in the store, and records relayed between two hosts over their
 * real session.
 */
import '@endo/init';
import test, { type ExecutionContext } from 'ava';
import { E } from '@endo/far';
import { createActor, setup } from 'xstate';
import { type Host, startHost } from '../../runtime/index.js';
import type { ActorInfo, HostInfo, StepRecord, Update } from '../../runtime/viz/model.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { fixture, tempHome, withHost } from '../helpers/host.js';
import { openVizStream, type VizStream } from '../helpers/viz.js';
import { IO_MS, within } from '../helpers/bounded.js';
import { watchedHost } from '../helpers/peers.js';
import { MAX_STREAMS } from '../../runtime/viz/server.js';
import { DEFAULT_PEER_LIMITS } from '../../runtime/viz/inspector.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const quiet = { spareWorkers: 0 } as const;
/** fetch, bounded: a request (and reading its body) that hangs fails its test instead of the worker. */
const fetch = (url: string | URL, init: RequestInit = {}) => globalThis.fetch(url, { signal: AbortSignal.timeout(IO_MS), ...init });
const isActor = (u: Update): u is { k: 'actor'; actor: ActorInfo } => u.k === 'actor';
const isStep = (u: Update): u is StepRecord => u.k === 'step';
const isHost = (u: Update): u is HostInfo => u.k === 'host';

/** A small machine a test drives by hand: registered, it appears with no page change. */
const toggle = setup({}).createMachine({
  id: 'toggle',
  initial: 'off',
  states: { off: { on: { flip: 'on' } }, on: { on: { flip: 'off' } } },
});

test('the page and its assets come from the host, on loopback, to loopback names only', async (t) => {
  const host = await withHost(t, { ...quiet, viz: 0, listen: false });
  const url = host.vizUrl!;
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await fetch(url);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type')!, /^text\/html/);
  t.regex(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
  const html = await page.text();
  t.notRegex(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, 'the page loads nothing from elsewhere');
  for (const [path, type] of [
    ['app.js', /^text\/javascript/],
    ['app.css', /^text\/css/],
    ['elk-worker.js', /^text\/javascript/],
  ] as const) {
    const res = await fetch(new URL(path, url));
    t.is(res.status, 200, path);
    t.regex(res.headers.get('content-type')!, type);
    t.true((await res.arrayBuffer()).byteLength > 100, `${path} has content`);
  }
  t.is((await fetch(new URL('nope', url))).status, 404);
  // The statechart code is a chunk the bundler split off; only its own names are served.
  const chunk = /from"\.\/(chunk-[A-Z0-9]{8}\.js)"|import\("\.\/(chunk-[A-Z0-9]{8}\.js)"\)/.exec(await (await fetch(new URL('app.js', url))).text());
  t.truthy(chunk, 'app.js loads its chunks by relative name');
  t.is((await fetch(new URL(chunk![1] ?? chunk![2]!, url))).status, 200);
  t.is((await fetch(new URL('chunk-AAAAAAAA.js', url))).status, 404);
  t.is((await fetch(new URL('chunk-..%2F..%2Fpackage.json', url))).status, 404);
  t.is((await fetch(url, { method: 'POST' })).status, 405);
  // DNS rebinding: a name that resolves to 127.0.0.1 but is not a loopback name is refused.
  const { request } = await import('node:http');
  const status = await within(
    new Promise<number>((resolve, reject) => {
      const req = request(url, { headers: { host: `evil.example:${new URL(url).port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    }),
    IO_MS,
    'the answer to a request with a foreign Host header',
  );
  t.is(status, 403);
  t.is(host.ps().viz, url);
});

test('the stream opens with the present and then brings each step as it happens', async (t) => {
  const host = await withHost(t, { ...quiet, viz: 0, listen: false });
  await host.spawnVat({ module: fixture('party.ts'), name: 'early' });
  const stream = openVizStream(host.vizUrl!);
  t.teardown(() => stream.close());
  const hello = await within(stream.hello, IO_MS, "the stream's hello");
  t.is(hello.self, host.id);
  const early = hello.actors.find((a) => a.tag.group === 'vats' && a.tag.name === 'early')!;
  t.truthy(early, 'a vat that was there before the page is in the hello');
  t.is(hello.defs.find((d) => d.hash === early.def)?.id, 'vat');
  t.deepEqual(hello.latest.find((s) => s.aid === early.aid)?.value, { alive: { phase: 'running', watchdog: 'watching' } });
  // A new vat: its actor, then its steps up to running.
  const spawned = host.spawnVat({ module: fixture('party.ts'), name: 'late' });
  const late = (await stream.next((u) => isActor(u) && u.actor.tag.name === 'late')) as { actor: ActorInfo };
  await stream.next((u) => isStep(u) && u.aid === late.actor.aid && JSON.stringify(u.value).includes('running'));
  await spawned;
  // A machine registered by the embedding program shows up the same way.
  const tap = host.inspector.tap({ group: 'services', name: 'switch' });
  const actor = createActor(toggle, { inspect: tap.inspect }).start();
  t.teardown(() => actor.stop());
  const sw = (await stream.next((u) => isActor(u) && u.actor.tag.name === 'switch')) as { actor: ActorInfo };
  actor.send({ type: 'flip' });
  const flipped = (await stream.next((u) => isStep(u) && u.aid === sw.actor.aid && u.event === 'flip')) as StepRecord;
  t.is(flipped.value, 'on');
  await stream.next((u) => u.k === 'def' && u.def.id === 'toggle');
});

test('history is kept in the store, bounded, and outlives the host', async (t) => {
  const home = tempHome(t);
  const first = await startHost({ home, control: false, print: () => {}, ...quiet, viz: 0, listen: false, vizHistoryLimit: 160 });
  const actor = createActor(toggle, { inspect: first.inspector.tap({ group: 'services', name: 'switch' }).inspect }).start();
  const stream = openVizStream(first.vizUrl!);
  await within(stream.hello, IO_MS, "the stream's hello");
  for (let i = 0; i < 400; i++) actor.send({ type: 'flip' });
  // Wait for the 400th flip, then take the newest step received (not the first that matches).
  await stream.next((u) => isStep(u) && u.event === 'flip' && stream.updates.filter(isStep).length >= 400);
  const last = stream.updates.filter(isStep).at(-1)!;
  stream.close();
  actor.stop();
  // The store writes each batch before the page gets it (its watcher comes first), so the last step is on disk.
  await first.stop();
  const second = await startHost({ home, control: false, print: () => {}, ...quiet, viz: true, listen: false, vizHistoryLimit: 160 });
  t.teardown(() => second.stop());
  t.is(second.vizUrl, first.vizUrl, 'viz: true serves on the port this home used last (bookmarks keep working)');
  const res = await fetch(new URL(`api/history?before=${Date.now() + 1}&limit=1000`, second.vizUrl!));
  const history = (await res.json()) as StepRecord[];
  t.true(history.length >= 160 && history.length <= 160 + 10, `kept ${history.length} of 401 steps (limit 160 + one prune step)`);
  t.deepEqual(history.at(-1), last, 'the newest step survived the restart');
  t.true(history.every((s, i) => i === 0 || s.t >= history[i - 1]!.t), 'oldest first');
  const page = (await (await fetch(new URL(`api/history?before=${history[50]!.t}&limit=20`, second.vizUrl!))).json()) as StepRecord[];
  t.true(page.length <= 20 && page.every((s) => s.t < history[50]!.t), 'older pages come before the given time');
  t.is((await fetch(new URL('api/history?limit=-3', second.vizUrl!))).status, 400);
});

test("a peer's machines are relayed over the session: its vats, its half of the handshake, its end", async (t) => {
  const a = await withHost(t, { ...quiet, viz: 0 });
  const b = await withHost(t, quiet); // serves no page itself; shares its machines by default
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const stream = openVizStream(a.vizUrl!);
  t.teardown(() => stream.close());
  await within(stream.hello, IO_MS, "the stream's hello");
  const bob = await a.enliven(b.makeSturdyRef('bob'));
  t.is(await E(bob).label(), 'bob');
  await stream.next((u) => isHost(u) && u.host === b.id && u.connected);
  const bobVat = (await stream.next((u) => isActor(u) && u.actor.host === b.id && u.actor.tag.name === 'bob')) as { actor: ActorInfo };
  t.true(bobVat.actor.aid.startsWith(`${b.id}/`));
  // Both halves of the handshake: A's initiator path and B's responder path, each named after the other host.
  const mine = (await stream.next((u) => isActor(u) && u.actor.host === a.id && u.actor.tag.group === 'sessions')) as { actor: ActorInfo };
  const theirs = (await stream.next((u) => isActor(u) && u.actor.host === b.id && u.actor.tag.group === 'sessions')) as { actor: ActorInfo };
  t.is(mine.actor.tag.peer, b.id);
  t.is(theirs.actor.tag.peer, a.id);
  t.is(mine.actor.tag.name, `↔ ${b.id.slice(0, 8)}`, 'a session is named after the host at its other end');
  const hello = openVizStream(a.vizUrl!);
  t.teardown(() => hello.close());
  const present = await within(hello.hello, IO_MS, "the second stream's hello");
  const theirSteps = present.history.filter((s) => s.aid === theirs.actor.aid);
  t.deepEqual(
    theirSteps.filter((s) => s.remote).map((s) => s.label),
    ['ProtocolOffered', 'Hello', 'Signature'].filter((l) => theirSteps.some((s) => s.label === l)),
    'frames B received are marked as coming from A',
  );
  t.true(theirSteps.some((s) => s.label === 'Hello' && s.remote), 'B’s relayed history includes receiving Hello');
  t.true(present.latest.some((s) => s.aid === theirs.actor.aid && JSON.stringify(s.value).includes('established')));
  // Session health at a glance: the row comes with the session; its counters move with the calls made.
  const first = (await stream.next((u) => u.k === 'health' && u.host === a.id && u.sessions.some((s) => s.peer === b.id))) as Extract<Update, { k: 'health' }>;
  t.is(first.sessions.find((s) => s.peer === b.id)!.state, 'established');
  const counted = (await stream.next(
    (u) => u.k === 'health' && u.host === a.id && u.sessions.some((s) => s.peer === b.id && s.framesIn > 0 && s.bytesOut > 0),
  )) as Extract<Update, { k: 'health' }>;
  t.is(counted.sessions.find((s) => s.peer === b.id)!.state, 'established');
  // B goes away: A's path ends, B is shown disconnected.
  await b.stop();
  await stream.next((u) => isHost(u) && u.host === b.id && !u.connected);
  await stream.next((u) => isStep(u) && u.aid === mine.actor.aid && u.status === 'done' && u.value === 'closed');
});

/**
 * Waits until the stream has caught up with everything the host did so far: a
 * marker machine on the host steps, and its step arrives after whatever came before
 * it. Only then does the absence of a record on the page mean anything.
 */
const caughtUp = async (t: ExecutionContext, host: Host, stream: VizStream, name: string) => {
  const actor = createActor(toggle, { inspect: host.inspector.tap({ group: 'services', name }).inspect }).start();
  t.teardown(() => actor.stop());
  const marker = (await stream.next((u) => isActor(u) && u.actor.tag.name === name)) as { actor: ActorInfo };
  actor.send({ type: 'flip' });
  await stream.next((u) => isStep(u) && u.aid === marker.actor.aid && u.event === 'flip');
};

test('a host can keep its machines to itself; a malformed relay ends the relay, not the session', async (t) => {
  const printedA: string[] = [];
  let onPrint = (_line: string) => {};
  const printed = (re: RegExp) =>
    within(
      new Promise<string>((resolve) => {
        const seen = printedA.find((l) => re.test(l));
        if (seen) return resolve(seen);
        onPrint = (l) => re.test(l) && resolve(l);
      }),
      IO_MS,
      `a line printed by host A matching ${re}`,
    );
  const a = await withHost(t, {
    ...quiet,
    viz: 0,
    print: (l) => {
      printedA.push(l);
      onPrint(l);
    },
  });
  const shy = await withHost(t, { ...quiet, shareMachines: false });
  await shy.spawnVat({ module: fixture('party.ts'), name: 'shy' });
  const shyRef = await a.enliven(shy.makeSturdyRef('shy'));
  t.is(await E(shyRef).label(), 'party');
  const stream = openVizStream(a.vizUrl!);
  t.teardown(() => stream.close());
  const hello = await within(stream.hello, IO_MS, "the stream's hello");
  t.false(hello.hosts.some((h) => h.host === shy.id), 'no records of a host that does not share');
  await printed(/machines of .* not shown: VizRelayError: this host does not share its machines/);
  await caughtUp(t, a, stream, 'after-shy');
  t.false(stream.updates.some((u) => (isHost(u) || isStep(u)) && u.host === shy.id), 'nor later');
  t.false(stream.updates.some((u) => isActor(u) && u.actor.host === shy.id), 'no machines of the host that does not share');

  // A peer whose relay lies about whose records it sends.
  const liar = await withHost(t, quiet);
  await liar.spawnVat({ module: fixture('party.ts'), name: 'liar' });
  (liar.inspector as any).relay = (push: (batch: unknown[]) => Promise<unknown>) => {
    void push([{ k: 'step', seq: 1, t: 1, host: a.id, aid: `${a.id}/999`, event: 'forged', value: 'x', status: 'active' }]).catch(() => {});
    return { stop() {} };
  };
  const liarRef = await a.enliven(liar.makeSturdyRef('liar'));
  t.is(await E(liarRef).label(), 'party');
  await printed(/machines of .* no longer shown: VizRelayError: .*relays only its own records/);
  await caughtUp(t, a, stream, 'after-liar');
  t.false(stream.updates.some((u) => isHost(u) && u.host === liar.id), 'nothing of the liar reached the page');
  t.false(stream.updates.some((u) => isStep(u) && u.event === 'forged'), 'the forged record never reached the page');
  t.is(await E(liarRef).echo(7), 7, 'the session itself carries on');
});

test('a peer flooding the visualizer (a million actors and definitions) loses its relay; the host keeps its bound, its memory and the session', async (t) => {
  const { host: a, nextLine } = await watchedHost(t, { viz: 0 });
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const flooder = await withHost(t, quiet);
  await flooder.spawnVat({ module: fixture('party.ts'), name: 'flood' });
  let sent = 0;
  let refusedAfter: number | undefined;
  (flooder.inspector as any).relay = (push: (batch: unknown[]) => Promise<unknown>) => {
    void (async () => {
      // 5,000 records a push (the batch bound): 4,950 new actors and 50 new definitions each.
      for (let n = 0; sent < 1_000_000 && refusedAfter === undefined; n++) {
        const batch = [
          ...Array.from({ length: 50 }, (_, i) => ({
            k: 'def',
            def: { hash: `flood${n}x${i}`, id: 'flood', root: { path: 'f', key: 'f', type: 'atomic', children: [], transitions: [], entry: [], invoke: [], tags: [] } },
          })),
          ...Array.from({ length: 4950 }, (_, i) => ({
            k: 'actor',
            actor: { aid: `${flooder.id}/${sent + i}`, host: flooder.id, def: `flood${n}x0`, tag: { group: 'vats', name: `v${sent + i}` } },
          })),
        ];
        try {
          await push(batch);
          sent += 4950;
        } catch {
          refusedAfter = sent;
        }
      }
    })();
    return { stop() {} };
  };
  const ref = await a.enliven(flooder.makeSturdyRef('flood'));
  // Without the bound the flood goes on (540,000 actors taken in 60 s when tried): the wait says how far it got.
  const cutOff = await nextLine(/no longer shown/, 60_000).catch((err: Error) => {
    throw new Error(`the flood was not cut off (${sent} actors taken): ${err.message.split('\n')[0]}`);
  });
  t.regex(cutOff, /machines of .* no longer shown: VizRelayError: the peer sent more than \d+ (actors|machine definitions)/);
  t.is(await E(ref).echo('still here'), 'still here', 'the session carries on');
  const held = a.inspector.hello();
  t.true(held.actors.filter((x) => x.host === flooder.id).length <= DEFAULT_PEER_LIMITS.actors, 'at most the bound of actors kept');
  t.true(held.defs.filter((d) => d.id === 'flood').length <= DEFAULT_PEER_LIMITS.defs, 'at most the bound of definitions kept');
  gc();
  const grown = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  t.log(`heap growth with the flood cut off: ${grown.toFixed(1)} MiB (${sent} actors taken before the cut)`);
  // A million actors kept would be hundreds of MiB; the bound keeps ~10,000 (a few MiB) plus a second host.
  t.true(grown < 96, `heap grew ${grown.toFixed(1)} MiB`);
  t.true(sent < 1_000_000, 'the flood was cut short');
});

test('tribe viz prints the URL; a host started with --no-viz says it serves none', async (t) => {
  const home = tempHome(t);
  const running = await startHostProcess(t, home, ['--viz', '0', '--no-listen']);
  t.regex(running.viz!, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const printed = await tribe(['viz', '--home', home]);
  t.is(printed.code, 0, printed.stderr);
  t.is(printed.stdout.trim(), running.viz!);
  const ps = await tribe(['ps', '--home', home]);
  t.regex(ps.stdout, new RegExp(`viz: +${running.viz!.replace(/[./]/g, '\\$&')}`));
  t.is((await fetch(running.viz!)).status, 200);
  await tribe(['stop', '--home', home]);
  await running.exited;

  const home2 = tempHome(t);
  const off = await startHostProcess(t, home2, ['--no-viz', '--no-listen']);
  t.is(off.viz, undefined);
  t.true(off.output.some((l) => /viz +off/.test(l)));
  const none = await tribe(['viz', '--home', home2]);
  t.is(none.code, 2);
  t.regex(none.stderr, /^tribe: UsageError: this host serves no visualizer/);
  const bad = await tribe(['host', '--home', tempHome(t), '--solo', '--viz', 'eighty']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--viz wants a port number/);
  await tribe(['stop', '--home', home2]);
  await off.exited;
});

test('at most MAX_STREAMS pages stream at once; one that leaves makes room', async (t) => {
  const host = await withHost(t, { ...quiet, viz: 0, listen: false });
  const streams = Array.from({ length: MAX_STREAMS }, () => openVizStream(host.vizUrl!));
  t.teardown(() => {
    for (const s of streams) s.close();
  });
  await within(Promise.all(streams.map((s) => s.hello)), IO_MS, `${MAX_STREAMS} streams' hellos`);
  const refused = await fetch(new URL('api/stream', host.vizUrl!));
  t.is(refused.status, 503);
  t.is(refused.headers.get('retry-after'), '5');
  streams.pop()!.close();
  // The server sees the close when the socket ends; the next page gets in then.
  // Polled, bounded in time (each fetch is bounded too).
  const deadline = Date.now() + IO_MS;
  let status = 0;
  while (status !== 200 && Date.now() < deadline) {
    const res = await fetch(new URL('api/stream', host.vizUrl!));
    status = res.status;
    await res.body?.cancel();
    if (status !== 200) await new Promise((r) => setImmediate(r));
  }
  t.is(status, 200, `a new page admitted within ${IO_MS} ms after one left`);
});

test('a taken port is a PortInUseError, named, for the visualizer and for listening; a remembered one falls back', async (t) => {
  const { createServer } = await import('node:net');
  const squatter = createServer();
  await within(new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r)), IO_MS, 'a squatter to listen');
  t.teardown(() => squatter.close());
  const port = (squatter.address() as { port: number }).port;
  for (const args of [
    ['--viz', String(port), '--no-listen'],
    ['--listen', `127.0.0.1:${port}`, '--no-viz'],
  ]) {
    const run = await tribe(['host', '--home', tempHome(t), '--solo', ...args]);
    t.is(run.code, 1, args.join(' '));
    t.regex(run.stderr, new RegExp(`^tribe: PortInUseError: the (visualizer port|listen address) 127\\.0\\.0\\.1:${port} is taken`), args.join(' '));
  }
  // A home whose remembered visualizer port is taken serves on another and says so.
  const home = tempHome(t);
  const printed: string[] = [];
  const first = await startHost({ home, control: false, print: (l) => printed.push(l), ...quiet, viz: 0, listen: false });
  const remembered = Number(new URL(first.vizUrl!).port);
  await first.stop();
  const blocker = createServer();
  await within(new Promise<void>((r) => blocker.listen(remembered, '127.0.0.1', r)), IO_MS, `a blocker to listen on ${remembered}`);
  t.teardown(() => blocker.close());
  const second = await startHost({ home, control: false, print: (l) => printed.push(l), ...quiet, viz: true, listen: false });
  t.teardown(() => second.stop());
  t.not(Number(new URL(second.vizUrl!).port), remembered);
  t.true(printed.includes(`visualizer port ${remembered} is taken: serving on another`));
});

/** Each (host, seq) seen more than once among `steps`. */
const repeats = (steps: readonly StepRecord[]) => {
  const seen = new Map<string, number>();
  for (const s of steps) seen.set(`${s.host.slice(0, 8)}/${s.seq}`, (seen.get(`${s.host.slice(0, 8)}/${s.seq}`) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
};

test('no step twice, before and after a peer restarts; RTT shows on a busy session; the old run’s actors are gone', async (t) => {
  // Both hosts serve a page (so relays run both ways); short keepalive intervals so RTT is quick to see.
  const pathLimits = { idleMs: 400, deadMs: 10_000 };
  const a = await withHost(t, { ...quiet, viz: 0, pathLimits });
  const homeB = tempHome(t);
  const startB = () => startHost({ home: homeB, control: false, print: () => {}, ...quiet, viz: 0, pathLimits });
  let b = await startB();
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob' });
  const ref = b.makeSturdyRef('bob');
  const stream = openVizStream(a.vizUrl!);
  t.teardown(() => stream.close());
  const hello = await within(stream.hello, IO_MS, "the stream's hello");
  const established = (host: string, after = -1) =>
    stream.next((u) => isStep(u) && u.host === host && stream.updates.indexOf(u) > after && JSON.stringify(u.value).includes('established'));
  let bob = await a.enliven(ref);
  await established(b.id);
  // Busy: a call every few ms, so no keepalive tick finds the session quiet; RTT must still show.
  let busy = true;
  let answered = 0;
  const calls = (async () => {
    while (busy) {
      await E(bob)
        .label()
        .then(() => (answered += 1))
        .catch(() => {});
    }
  })();
  let rtt: Extract<Update, { k: 'health' }>;
  try {
    rtt = (await stream.next(
      (u) => u.k === 'health' && u.host === a.id && u.sessions.some((s) => s.peer === b.id && s.rttMs !== null),
      IO_MS,
    )) as Extract<Update, { k: 'health' }>;
  } finally {
    busy = false;
    await calls;
  }
  const row = rtt.sessions.find((s) => s.peer === b.id)!;
  // Calls went back and forth, one after another, the whole time (and both relays ran): the RTT
  // showed anyway. That every keepalive tick pings, heard from or not, is proven on a simulated
  // clock (path-machine and session-path tests); here, that it reaches the page of a real host.
  t.true(answered >= 1 && row.framesIn > 0, `the session carried calls (${answered} answered, ${row.framesIn} frames in)`);
  t.log(`RTT on a busy session: ${row.rttMs} ms`);
  const firstRun = (await within(openVizStream(a.vizUrl!).hello, IO_MS, 'a second hello')).actors.filter((x) => x.host === b.id);
  await caughtUp(t, a, stream, 'before-restart');
  t.deepEqual(repeats([...hello.history, ...stream.updates.filter(isStep)]), [], 'no step twice on the stream before the restart');

  // B restarts (its vat comes back); A connects again.
  await b.stop();
  const gone = stream.updates.indexOf(await stream.next((u) => isHost(u) && u.host === b.id && !u.connected));
  b = await startB();
  t.teardown(() => b.stop());
  bob = await a.enliven(ref);
  t.is(await E(bob).label(), 'party');
  await established(b.id, gone);
  await stream.next((u) => isStep(u) && u.host === b.id && stream.updates.indexOf(u) > gone && JSON.stringify(u.value).includes('running'));
  await caughtUp(t, a, stream, 'after-restart');
  t.deepEqual(repeats([...hello.history, ...stream.updates.filter(isStep)]), [], 'no step twice on the stream after the restart');
  const later = await within(openVizStream(a.vizUrl!).hello, IO_MS, 'a hello after the restart');
  t.deepEqual(repeats(later.history), [], 'no step twice in a new page’s history');
  const stored = (await (await fetch(new URL(`api/history?before=${Date.now() + 1}&limit=5000`, a.vizUrl!))).json()) as StepRecord[];
  t.deepEqual(repeats(stored), [], 'nor in the store');
  // The first run's actors: still there, marked gone; the new run's have ids of their own.
  const now = later.actors.filter((x) => x.host === b.id);
  const oldIds = new Set(firstRun.map((x) => x.aid));
  t.true(firstRun.length >= 2);
  t.true(now.filter((x) => oldIds.has(x.aid)).every((x) => x.gone), 'the earlier run’s actors are gone');
  const fresh = now.filter((x) => !oldIds.has(x.aid));
  t.true(fresh.some((x) => x.tag.name === 'bob') && fresh.every((x) => !x.gone), 'the new run’s, live');
});
