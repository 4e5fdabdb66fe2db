/**
 * The inspector: XState's inspection stream in, the visualizer's records out.
 * Real machines, a manual timer (batches leave when the test says so), two
 * inspectors joined by a relay the way two hosts are.
 */
import '@endo/init';
import test from 'ava';
import { assign, createActor, sendTo, setup } from 'xstate';
import { DEFAULT_PEER_LIMITS, makeInspector, MAX_RELAY_QUEUE, MAX_RELAY_RATE } from '../../runtime/viz/inspector.js';
import type { ActorInfo, StepRecord, Update } from '../../runtime/viz/model.js';
import { manualTimers } from '../helpers/manual-timers.js';

const HOST_A = 'a'.repeat(52);
const HOST_B = 'b'.repeat(52);

const child = setup({}).createMachine({
  id: 'child',
  initial: 'idle',
  states: { idle: { on: { poke: 'poked' } }, poked: { type: 'final' } },
});

/** Nested, parallel, a child actor that the parent sends to, a context with a secret in it. */
const demo = setup({
  types: { context: {} as { count: number; privateKey: string; note: string; bytes: Uint8Array } },
  actors: { child },
}).createMachine({
  id: 'demo',
  context: {
    count: 0,
    privateKey: 'k'.repeat(64),
    note: 'ref tribe://aaaa@127.0.0.1:1/abcdefghijklmnopqrstuvwxyz234567',
    bytes: new Uint8Array(32),
  },
  invoke: { id: 'kid', src: 'child' },
  initial: 'off',
  states: {
    off: { on: { go: 'on' } },
    on: {
      type: 'parallel',
      states: {
        left: { initial: 'a', states: { a: { on: { flip: 'b' } }, b: {} } },
        right: { initial: 'x', states: { x: {} } },
      },
      on: {
        tick: { actions: assign({ count: ({ context }) => context.count + 1 }) },
        poke: { actions: sendTo('kid', { type: 'poke' }) },
      },
    },
  },
});

const collect = (inspector: ReturnType<typeof makeInspector>, opts?: { ownOnly?: boolean }) => {
  const batches: Update[][] = [];
  inspector.watch((b) => void batches.push([...b]), opts);
  return { batches, all: () => batches.flat() };
};
const steps = (us: readonly Update[]) => us.filter((u): u is StepRecord => u.k === 'step');

test('a tapped machine becomes a definition, an actor and its steps, in batches', (t) => {
  const timers = manualTimers();
  const inspector = makeInspector({ host: HOST_A, ...timers, batchMs: 40 });
  const seen = collect(inspector);
  const actor = createActor(demo, { inspect: inspector.tap({ group: 'services', name: 'demo-1' }).inspect }).start();
  actor.send({ type: 'go' });
  actor.send({ type: 'flip' });
  t.is(seen.batches.length, 0, 'nothing leaves before the batch interval');
  timers.advance(40);
  t.is(seen.batches.length, 1, 'one batch for everything so far');
  const out = seen.all();
  const defs = out.filter((u) => u.k === 'def');
  t.deepEqual(defs.map((d) => d.k === 'def' && d.def.id).sort(), ['child', 'demo']);
  const actors = out.filter((u): u is { k: 'actor'; actor: ActorInfo } => u.k === 'actor').map((u) => u.actor);
  const parent = actors.find((a) => a.tag.name === 'demo-1')!;
  const kid = actors.find((a) => a.parent === parent.aid)!;
  t.truthy(kid, 'the invoked child is an actor of its own, under its parent');
  t.is(kid.tag.name, 'demo-1 › kid');
  t.true(parent.aid.startsWith(`${HOST_A}/`));
  const mine = steps(out).filter((s) => s.aid === parent.aid);
  t.deepEqual(
    mine.map((s) => [s.event, s.value]),
    [
      ['(start)', 'off'],
      ['go', { on: { left: 'a', right: 'x' } }],
      ['flip', { on: { left: 'b', right: 'x' } }],
    ],
  );
  t.true(mine.every((s, i) => i === 0 || s.seq > mine[i - 1]!.seq), 'sequence numbers grow');
  t.truthy(mine[0]!.context, 'the first step carries the context');
  t.is(mine[1]!.context, undefined, 'an unchanged context is not repeated');
  const text = JSON.stringify(out);
  t.false(text.includes('k'.repeat(64)), 'a privateKey field never leaves');
  t.false(text.includes('abcdefghijklmnopqrstuvwxyz234567'), 'nor a swiss number inside a string');
  actor.stop();
});

test('the source of an event sent between actors is recorded; quiet events that change nothing are not', (t) => {
  const timers = manualTimers();
  const inspector = makeInspector({ host: HOST_A, ...timers });
  const seen = collect(inspector);
  const tap = inspector.tap({ group: 'services', name: 'demo' }, { quiet: (e) => e.type === 'tick' });
  const actor = createActor(demo, { inspect: tap.inspect }).start();
  actor.send({ type: 'go' });
  actor.send({ type: 'tick' });
  actor.send({ type: 'tick' });
  actor.send({ type: 'poke' });
  timers.advance(100);
  const all = seen.all();
  const infos = all.filter((u): u is { k: 'actor'; actor: ActorInfo } => u.k === 'actor').map((u) => u.actor);
  const parent = infos.find((a) => !a.parent)!;
  const kid = infos.find((a) => a.parent)!;
  t.deepEqual(
    steps(all).filter((s) => s.aid === parent.aid).map((s) => s.event),
    ['(start)', 'go', 'poke', 'xstate.done.actor.kid'],
    'ticks changed only the context: not recorded',
  );
  const poked = steps(all).find((s) => s.aid === kid.aid && s.event === 'poke')!;
  t.is(poked.source, parent.aid, 'the poke came from the parent');
  t.is(poked.status, 'done');
  actor.stop();
});

test('retag moves an actor in the tree; hello holds the present', (t) => {
  const timers = manualTimers();
  const inspector = makeInspector({ host: HOST_A, ...timers });
  const seen = collect(inspector);
  const tap = inspector.tap({ group: 'handshakes', name: 'inbound 127.0.0.1:5' });
  const actor = createActor(child, { inspect: tap.inspect }).start();
  tap.retag({ group: 'sessions', name: 'peer-b', peer: HOST_B });
  actor.send({ type: 'poke' });
  timers.advance(40);
  const tags = seen.all().flatMap((u) => (u.k === 'actor' ? [u.actor.tag] : []));
  t.deepEqual(tags.at(-1), { group: 'sessions', name: 'peer-b', peer: HOST_B });
  const hello = inspector.hello();
  t.is(hello.self, HOST_A);
  t.is(hello.actors.length, 1);
  t.deepEqual(hello.actors[0]!.tag, { group: 'sessions', name: 'peer-b', peer: HOST_B });
  t.is(hello.latest[0]!.value, 'poked');
  t.is(hello.latest[0]!.status, 'done');
  t.deepEqual(hello.defs.map((d) => d.id), ['child']);
});

test('a relay carries only its own host’s records to the peer, which shows them as that host', async (t) => {
  const ta = manualTimers();
  const tb = manualTimers();
  const a = makeInspector({ host: HOST_A, ...ta });
  const b = makeInspector({ host: HOST_B, ...tb });
  const pageOfA = collect(a);
  const onB = createActor(child, { inspect: b.tap({ group: 'vats', name: 'worker' }).inspect }).start();
  const pushed: Update[][] = [];
  let onPush = () => {};
  // B relays to A (what `watch` on B's gateway does for A's page).
  const relay = b.relay(async (batch) => {
    pushed.push([...batch]);
    a.ingest(HOST_B, batch);
    onPush();
  });
  /** Resolves once B's relay has pushed a record that matches. */
  const pushedOne = (match: (u: Update) => boolean) =>
    new Promise<void>((resolve) => {
      if (pushed.flat().some(match)) return resolve();
      onPush = () => pushed.flat().some(match) && resolve();
    });
  await Promise.resolve();
  t.is(pushed.length, 1, 'the relay starts with B’s present');
  onB.send({ type: 'poke' });
  tb.advance(40);
  await new Promise((r) => setImmediate(r));
  ta.advance(40);
  const hello = a.hello();
  t.deepEqual(
    hello.hosts.map((h) => [h.host, h.self, h.connected]),
    [
      [HOST_A, true, true],
      [HOST_B, false, true],
    ],
  );
  t.deepEqual(hello.actors.map((x) => [x.host, x.tag.name]), [[HOST_B, 'worker']]);
  t.is(hello.latest.find((s) => s.host === HOST_B)?.value, 'poked');
  t.true(pageOfA.all().some((u) => u.k === 'step' && u.host === HOST_B && u.event === 'poke'), 'A’s page got B’s step live');
  // A relays to B too (B's page watching A), so B holds A's records; B's relay never
  // sends them back to A: it carries B's own records only.
  const back = a.relay(async (batch) => b.ingest(HOST_A, batch));
  const onA = createActor(child, { inspect: a.tap({ group: 'vats', name: 'local' }).inspect }).start();
  onA.send({ type: 'poke' });
  ta.advance(40);
  await new Promise((r) => setImmediate(r));
  t.true(b.hello().latest.some((s) => s.host === HOST_A && s.value === 'poked'), 'B got A’s step');
  // A step of B's after that: once it has been pushed, anything of A's B would forward has been too.
  const marker = createActor(child, { inspect: b.tap({ group: 'vats', name: 'marker' }).inspect }).start();
  marker.send({ type: 'poke' });
  tb.advance(40);
  const markerAid = b.hello().actors.find((x) => x.tag.name === 'marker')!.aid;
  await pushedOne((u) => u.k === 'step' && u.aid === markerAid && u.event === 'poke');
  t.false(pushed.flat().some((u) => (u.k === 'step' || u.k === 'host') && u.host === HOST_A), 'nothing of A came back from B');
  t.false(pushed.flat().some((u) => u.k === 'actor' && u.actor.host === HOST_A));
  back.stop();
  marker.stop();
  a.peerGone(HOST_B);
  t.false(a.hello().hosts.find((h) => h.host === HOST_B)!.connected, 'a relay that ended marks its host disconnected');
  relay.stop();
  onA.stop();
  onB.stop();
});

test('a slow peer: the relay keeps one push in flight, drops the oldest steps past its bound and says how many', async (t) => {
  const tb = manualTimers();
  const b = makeInspector({ host: HOST_B, ...tb, historyLimit: 10 });
  const batches: Update[][] = [];
  let release!: () => void;
  const relay = b.relay((batch) => {
    batches.push([...batch]);
    return new Promise<void>((r) => (release = r));
  });
  const actor = createActor(demo, { inspect: b.tap({ group: 'services', name: 'busy' }).inspect }).start();
  actor.send({ type: 'go' });
  for (let i = 0; i < 6000; i++) {
    actor.send({ type: 'flip' }); // the first flips; later ones are no-ops but still steps
    actor.send({ type: 'tick' });
    if (i % 500 === 0) tb.advance(40);
  }
  tb.advance(40);
  t.is(batches.length, 1, 'nothing more while the first push is unanswered');
  release();
  await new Promise((r) => setImmediate(r));
  t.is(batches.length, 2);
  const gap = batches[1]!.find((u) => u.k === 'gap');
  if (gap?.k !== 'gap') return t.fail('the second batch reports the dropped records');
  const carried = batches[1]!.filter((u) => u.k === 'step').length;
  t.true(gap.dropped > 0, `dropped ${gap.dropped}`);
  t.true(carried <= 1000, `one push carries at most 1,000 records (carried ${carried})`);
  relay.stop();
  actor.stop();
});

test('a malformed batch from a peer is refused whole, and nothing of it is kept', (t) => {
  const a = makeInspector({ host: HOST_A, ...manualTimers() });
  const err = t.throws(() =>
    a.ingest(HOST_B, [
      { k: 'host', host: HOST_B },
      { k: 'step', seq: 1, t: 1, host: HOST_A, aid: `${HOST_A}/1`, event: 'x', value: 'y', status: 'active' },
    ]),
  );
  t.is(err?.name, 'VizRelayError');
  t.deepEqual(a.hello().hosts.map((h) => h.host), [HOST_A], 'the peer was not even added');
});

test('health: live sessions each poll, an ended one kept as ended', (t) => {
  const timers = manualTimers();
  const inspector = makeInspector({ host: HOST_A, ...timers });
  const seen = collect(inspector);
  let sessions = [
    { peer: HOST_B, address: '127.0.0.1:9', role: 'initiator', cipher: 'chacha20-poly1305', rttMs: 0.4, framesIn: 3, framesOut: 4, bytesIn: 30, bytesOut: 40, channels: 1, upMs: 10 },
  ];
  inspector.setHealthSource(() => sessions);
  timers.advance(0);
  sessions = [];
  timers.advance(1000);
  timers.advance(40);
  const health = seen.all().filter((u) => u.k === 'health');
  t.deepEqual(
    health.map((h) => h.k === 'health' && h.sessions.map((s) => [s.peer, s.state, s.rttMs])),
    [[[HOST_B, 'established', 0.4]], [[HOST_B, 'ended', null]]],
  );
  inspector.close();
  t.is(timers.pending(), 0, 'close leaves no timer');
});

test('ended actors are forgotten beyond their limit, oldest first; live ones never', (t) => {
  const inspector = makeInspector({ host: HOST_A, ...manualTimers(), endedLimit: 2 });
  const live = createActor(child, { inspect: inspector.tap({ group: 'services', name: 'live' }).inspect }).start();
  for (let i = 0; i < 5; i++) {
    const a = createActor(child, { inspect: inspector.tap({ group: 'handshakes', name: `failed-${i}` }).inspect }).start();
    a.send({ type: 'poke' }); // final state: done
  }
  t.deepEqual(
    inspector.hello().actors.map((a) => a.tag.name),
    ['live', 'failed-3', 'failed-4'],
  );
  live.stop();
});

test('a session machine that moves brings its health row in the same batch, without waiting for the poll', (t) => {
  const timers = manualTimers();
  const inspector = makeInspector({ host: HOST_A, ...timers });
  const seen = collect(inspector);
  let sessions: { peer: string; address: string; role: string; cipher: string; rttMs: number | null; framesIn: number; framesOut: number; bytesIn: number; bytesOut: number; channels: number; upMs: number }[] = [];
  inspector.setHealthSource(() => sessions);
  timers.advance(0); // the first poll: no sessions
  const tap = inspector.tap({ group: 'handshakes', name: 'dialing b' });
  const path = createActor(child, { inspect: tap.inspect }).start();
  // The handshake completes: the session is listed, the path moves under 'sessions'.
  sessions = [{ peer: HOST_B, address: 'x', role: 'initiator', cipher: 'c', rttMs: null, framesIn: 1, framesOut: 1, bytesIn: 1, bytesOut: 1, channels: 1, upMs: 0 }];
  tap.retag({ group: 'sessions', name: 'b', peer: HOST_B });
  timers.advance(40); // one batch interval, far less than the 1 s poll
  const rows = seen.all().flatMap((u) => (u.k === 'health' ? u.sessions.map((s) => `${s.peer.slice(0, 1)}:${s.state}`) : []));
  t.deepEqual(rows, ['b:established']);
  // It ends: the path's last step brings the 'ended' row just as fast.
  sessions = [];
  path.send({ type: 'poke' });
  timers.advance(40);
  const last = seen.all().filter((u) => u.k === 'health').at(-1);
  t.deepEqual(last?.k === 'health' && last.sessions.map((s) => s.state), ['ended']);
  inspector.close();
  t.is(timers.pending(), 0);
});

test('a peer past the relay rate: its steps are dropped and counted, its tree kept; the next second it is measured afresh', (t) => {
  const timers = manualTimers();
  const a = makeInspector({ host: HOST_A, ...timers });
  const seen = collect(a);
  const steps = (n: number, from: number) =>
    Array.from({ length: n }, (_, i) => ({ k: 'step', seq: from + i, t: 1, host: HOST_B, aid: `${HOST_B}/1`, event: 'e', value: 'v', status: 'active' }));
  let seq = 1;
  for (let sent = 0; sent + 1000 <= MAX_RELAY_RATE; sent += 1000) {
    a.ingest(HOST_B, steps(1000, seq));
    seq += 1000;
  }
  const actor = { k: 'actor', actor: { aid: `${HOST_B}/2`, host: HOST_B, def: 'd', tag: { group: 'vats', name: 'late' } } };
  a.ingest(HOST_B, [actor, ...steps(10, seq)]);
  timers.advance(40);
  const gaps = seen.all().filter((u) => u.k === 'gap');
  t.deepEqual(gaps, [{ k: 'gap', host: HOST_B, dropped: 10 }]);
  t.true(a.hello().actors.some((x) => x.aid === `${HOST_B}/2`), 'the actor record still went in');
  t.is(seen.all().filter((u) => u.k === 'step').length, MAX_RELAY_RATE);
  timers.advance(1000);
  a.ingest(HOST_B, steps(5, seq + 10));
  timers.advance(40);
  t.is(seen.all().filter((u) => u.k === 'step').length, MAX_RELAY_RATE + 5, 'a new second takes steps again');
});

/** Every step seq in a page's view (its hello, then its batches), with repeats. */
const seqsSeen = (hello: { history: readonly StepRecord[] }, batches: readonly Update[][]) => [
  ...hello.history.map((s) => `${s.host}/${s.seq}`),
  ...steps(batches.flat()).map((s) => `${s.host}/${s.seq}`),
];

test('a page that opens while records wait for their batch gets each step once (hello, then only what is new)', (t) => {
  const timers = manualTimers();
  const inspector = makeInspector({ host: HOST_A, ...timers });
  const store = collect(inspector); // a watcher from the start (the store): it gets everything, in batches
  const actor = createActor(demo, { inspect: inspector.tap({ group: 'services', name: 'demo' }).inspect }).start();
  actor.send({ type: 'go' });
  // The page opens now: its hello holds these steps, which are still pending for the next batch.
  const hello = inspector.hello();
  const page: Update[][] = [];
  inspector.watch((b) => void page.push([...b]), { fromPresent: true });
  actor.send({ type: 'flip' });
  timers.advance(40);
  const seen = seqsSeen(hello, page);
  t.is(new Set(seen).size, seen.length, `no step twice: ${seen.join(' ')}`);
  t.true(steps(page.flat()).some((s) => s.event === 'flip'), 'what came after the hello arrives');
  t.is(steps(store.all()).length, steps(hello.history).length + 1, 'a watcher without fromPresent still gets the whole batch');
});

test('a relay that starts while records are pending, and a second relay after the session came back, repeat nothing on the page', async (t) => {
  const ta = manualTimers();
  const tb = manualTimers();
  const a = makeInspector({ host: HOST_A, ...ta });
  const b = makeInspector({ host: HOST_B, ...tb });
  collect(b); // B's own page: B's records are pending for it when A starts watching
  const machine = createActor(demo, { inspect: b.tap({ group: 'vats', name: 'worker' }).inspect }).start();
  machine.send({ type: 'go' });
  const hello = a.hello();
  const pageOfA: Update[][] = [];
  a.watch((batch) => void pageOfA.push([...batch]), { fromPresent: true });
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      tb.advance(40);
      await new Promise((r) => setImmediate(r));
      ta.advance(40);
    }
  };
  const first = b.relay(async (batch) => a.ingest(HOST_B, batch));
  machine.send({ type: 'flip' });
  await settle();
  first.stop();
  a.peerGone(HOST_B);
  // The session comes back: a new relay starts again with B's recent history.
  const second = b.relay(async (batch) => a.ingest(HOST_B, batch));
  machine.send({ type: 'tick' });
  await settle();
  second.stop();
  const seen = seqsSeen(hello, pageOfA);
  t.is(new Set(seen).size, seen.length, `no step twice on A's page: ${seen.join(' ')}`);
  t.deepEqual(
    steps(pageOfA.flat()).filter((s) => s.aid === steps(pageOfA.flat()).find((x) => x.event === 'tick')?.aid).map((s) => s.event),
    ['(start)', 'go', 'flip', 'tick'],
    'each of B’s steps reached A’s page once, in order',
  );
});

/** What a flooding peer sends: `n` actors of its own from `from` on, each of a machine it also defines. */
const actorsOf = (peer: string, from: number, n: number, def = 'd'.repeat(16)): Update[] =>
  Array.from({ length: n }, (_, i) => ({
    k: 'actor' as const,
    actor: { aid: `${peer}/${from + i}`, host: peer, def, tag: { group: 'vats', name: `v${from + i}` } },
  }));
const defOf = (hash: string): Update => ({ k: 'def', def: { hash, id: 'm', root: { path: 'm', key: 'm', type: 'atomic', children: [], transitions: [], entry: [], invoke: [], tags: [] } } });

test('a peer flooding actors (a million, in batches) is cut off at its bound; the host keeps what it had, no more', (t) => {
  const a = makeInspector({ host: HOST_A, ...manualTimers() });
  let sent = 0;
  let refused: Error | undefined;
  while (sent < 1_000_000) {
    try {
      a.ingest(HOST_B, actorsOf(HOST_B, sent, 5000));
    } catch (err) {
      refused = err as Error;
      break;
    }
    sent += 5000;
  }
  t.is(refused?.name, 'VizRelayError');
  t.regex(refused!.message, /more than 10000 actors/);
  t.is(sent, DEFAULT_PEER_LIMITS.actors, 'batches up to the bound were taken; the one past it was refused whole');
  t.is(a.hello().actors.filter((x) => x.host === HOST_B).length, DEFAULT_PEER_LIMITS.actors);
});

test('a peer flooding machine definitions is cut off at its bound, and one batch past it leaves nothing', (t) => {
  const a = makeInspector({ host: HOST_A, ...manualTimers(), peerLimits: { defs: 3 } });
  a.ingest(HOST_B, [defOf('h1'), defOf('h2'), defOf('h2'), defOf('h3')]);
  t.is(a.hello().defs.length, 3, 'a definition seen twice counts once');
  const err = t.throws(() => a.ingest(HOST_B, [defOf('h4'), ...actorsOf(HOST_B, 0, 1)]));
  t.is(err?.name, 'VizRelayError');
  t.is(a.hello().defs.length, 3);
  t.is(a.hello().actors.length, 0, 'the refused batch left nothing behind');
});

test('a peer’s ended actors, once forgotten, no longer count against its bound', (t) => {
  const a = makeInspector({ host: HOST_A, ...manualTimers(), endedLimit: 0, peerLimits: { actors: 2 } });
  const end = (n: number): Update => ({ k: 'step', seq: n, t: n, host: HOST_B, aid: `${HOST_B}/${n}`, event: 'x', value: 'gone', status: 'done' });
  a.ingest(HOST_B, [...actorsOf(HOST_B, 1, 2), end(1), end(2)]);
  t.notThrows(() => a.ingest(HOST_B, actorsOf(HOST_B, 3, 2)), 'two ended and forgotten: room for two more');
  t.throws(() => a.ingest(HOST_B, actorsOf(HOST_B, 5, 1)), { name: 'VizRelayError' });
});

test('a peer that reads slowly gets the newest health row, not one per second; one that takes nothing while actors pile up loses its relay', async (t) => {
  const tb = manualTimers();
  const b = makeInspector({ host: HOST_B, ...tb });
  const pushed: Update[][] = [];
  let release!: () => void;
  let ended: unknown;
  b.relay(
    (batch) => {
      pushed.push([...batch]);
      return new Promise<void>((r) => (release = r));
    },
    (err) => (ended = err),
  );
  let up = 0;
  b.setHealthSource(() => [
    { peer: HOST_A, address: '127.0.0.1:9', role: 'initiator', cipher: 'chacha20-poly1305', rttMs: 0.4, framesIn: 1, framesOut: 1, bytesIn: 1, bytesOut: 1, channels: 1, upMs: ++up },
  ]);
  for (let i = 0; i < 600; i++) tb.advance(1000); // ten minutes of polls while the first push hangs
  tb.advance(40); // the last poll's batch
  release();
  await new Promise((r) => setImmediate(r));
  const health = pushed.slice(1).flat().filter((u) => u.k === 'health');
  t.is(health.length, 1, 'one health row waited, the newest');
  const newest = health[0];
  t.is(newest?.k === 'health' ? (newest.sessions[0] as { upMs?: number } | undefined)?.upMs : undefined, up);
  // Now the peer takes nothing at all while this host's actors keep coming.
  const tap = b.tap({ group: 'services', name: 'many' });
  const actors = [];
  for (let i = 0; ended === undefined && i < MAX_RELAY_QUEUE + 10; i++) {
    actors.push(createActor(child, { inspect: tap.inspect }).start());
    if (i % 1000 === 0) tb.advance(40);
  }
  tb.advance(40);
  t.is((ended as Error | undefined)?.name, 'VizRelayError', 'the relay ended, named');
  for (const x of actors) x.stop();
  b.close();
});

/** One run of host B relaying to A: an inspector with its own run name and a machine. */
const runOfB = (name: string, timers: ReturnType<typeof manualTimers>) => {
  const inspector = makeInspector({ host: HOST_B, ...timers });
  const actor = createActor(demo, { inspect: inspector.tap({ group: 'vats', name }).inspect }).start();
  return { inspector, actor };
};

/** Runs the batches of both sides until the relay has nothing left in flight. */
const settleBoth = async (ta: ReturnType<typeof manualTimers>, tb: ReturnType<typeof manualTimers>) => {
  for (let i = 0; i < 3; i++) {
    tb.advance(40);
    await new Promise((r) => setImmediate(r));
    ta.advance(40);
  }
};

test('actor ids are unique per run: a restarted host never reuses its previous run’s ids', (t) => {
  const timers = manualTimers();
  const first = makeInspector({ host: HOST_A, ...timers });
  createActor(demo, { inspect: first.tap({ group: 'vats', name: 'v' }).inspect }).start();
  timers.advance(5000); // the host restarts a few seconds later
  const second = makeInspector({ host: HOST_A, ...timers });
  createActor(demo, { inspect: second.tap({ group: 'vats', name: 'v' }).inspect }).start();
  const ids = (i: typeof first) => i.hello().actors.map((a) => a.aid);
  t.true(ids(first).length >= 2, 'the machine and the child it invokes');
  t.deepEqual(ids(first).filter((aid) => ids(second).includes(aid)), [], `no id taken twice: ${ids(first)} / ${ids(second)}`);
  const run = second.hello().hosts.find((h) => h.self)?.run;
  t.truthy(run);
  t.true(ids(second).every((aid) => aid.startsWith(`${HOST_A}/${run}.`)), 'ids name their run');
  t.is(makeInspector({ host: HOST_A, ...timers, run: 'r1' }).hello().hosts[0]?.run, 'r1', 'the run can be given');
});

test('a peer that restarts: its earlier run’s actors are marked gone, on the page too, the new run’s are live; a session that comes back on the same run clears it', async (t) => {
  const ta = manualTimers();
  const tb = manualTimers();
  const a = makeInspector({ host: HOST_A, ...ta });
  const page = collect(a);
  const b1 = runOfB('old', tb);
  let relay = b1.inspector.relay(async (batch) => a.ingest(HOST_B, batch));
  await settleBoth(ta, tb);
  const firstRun = a.hello().actors.filter((x) => x.host === HOST_B);
  t.true(firstRun.length >= 2 && firstRun.every((x) => !x.gone), 'the first run, live');

  // The session drops and comes back, B still on the same run: its actors are live again.
  relay.stop();
  a.peerGone(HOST_B);
  t.true(a.hello().actors.filter((x) => x.host === HOST_B).every((x) => x.gone), 'gone when the session ends');
  relay = b1.inspector.relay(async (batch) => a.ingest(HOST_B, batch));
  await settleBoth(ta, tb);
  t.true(a.hello().actors.filter((x) => x.host === HOST_B).every((x) => !x.gone), 'live again: the same run came back');

  // B restarts: a new inspector (a new run), its actor ids start over, the old ones stay as gone.
  relay.stop();
  b1.actor.stop();
  a.peerGone(HOST_B);
  tb.advance(3000);
  const b2 = runOfB('new', tb);
  relay = b2.inspector.relay(async (batch) => a.ingest(HOST_B, batch));
  await settleBoth(ta, tb);
  const all = a.hello().actors.filter((x) => x.host === HOST_B);
  const oldIds = new Set(firstRun.map((x) => x.aid));
  t.true(all.filter((x) => oldIds.has(x.aid)).every((x) => x.gone), 'the earlier run’s actors are gone');
  const fresh = all.filter((x) => !oldIds.has(x.aid));
  t.is(fresh.length, firstRun.length, 'the new run’s actors, beside them (not in their place)');
  t.true(fresh.every((x) => !x.gone), 'and live');
  // The page learnt it from actor records.
  const lastOf = new Map<string, ActorInfo>();
  for (const u of page.all()) if (u.k === 'actor') lastOf.set(u.actor.aid, u.actor);
  t.true([...oldIds].every((aid) => lastOf.get(aid)?.gone === true), 'the page was told the old run’s actors are gone');
  relay.stop();
  b2.actor.stop();
});

test('a new run that appears while the old session still relays (a replaced session) marks the old run’s actors gone at once', async (t) => {
  const ta = manualTimers();
  const tb = manualTimers();
  const a = makeInspector({ host: HOST_A, ...ta });
  const b1 = runOfB('old', tb);
  const first = b1.inspector.relay(async (batch) => a.ingest(HOST_B, batch));
  await settleBoth(ta, tb);
  tb.advance(3000);
  const b2 = runOfB('new', tb);
  const second = b2.inspector.relay(async (batch) => a.ingest(HOST_B, batch));
  await settleBoth(ta, tb);
  const byRun = (run: string | undefined) => a.hello().actors.filter((x) => x.aid.startsWith(`${HOST_B}/${run}.`));
  const oldRun = byRun(b1.inspector.hello().hosts[0]?.run);
  const newRun = byRun(b2.inspector.hello().hosts[0]?.run);
  t.true(oldRun.length > 0 && oldRun.every((x) => x.gone), 'old run gone, without any peerGone');
  t.true(newRun.length > 0 && newRun.every((x) => !x.gone), 'new run live');
  // A late record of the old run (its relay had it queued) does not bring it back.
  b1.actor.send({ type: 'go' });
  await settleBoth(ta, tb);
  t.true(byRun(b1.inspector.hello().hosts[0]?.run).every((x) => x.gone), 'still gone');
  first.stop();
  second.stop();
  b1.actor.stop();
  b2.actor.stop();
});
