/**
 * Three-party handoff in one host (capabilities/handoff.ts): a reference that
 * reaches vat A through the host, the embedder API or another vat ends up
 * called over A's own channel to its owner. Proven on the message traces, not
 * by timing; and the middle party may end afterwards.
 */
import test, { type ExecutionContext } from 'ava';
import { E, Far, type HostOptions } from '../../runtime/index.js';
import { fixture, makeVatWatcher, withHost } from '../helpers/host.js';

type Entry = { dir: string; type: string; method?: string; gifts?: number; target?: string };
const party = fixture('party.ts');
const calls = (trace: readonly Entry[], method: string) => trace.filter((e) => e.type === 'CTP_CALL' && e.method === method);

test('the embedder hands vat C and C\'s things to vat A: A calls them over its own channel, not through the host', async (t) => {
  const host = await withHost(t, { traceLimit: 500 });
  const { root: a } = await host.spawnVat({ module: party, name: 'a', params: { label: 'A' } });
  const { root: c } = await host.spawnVat({ module: party, name: 'c', params: { label: 'C' } });
  const things = [await E(c).makeThing('t1'), await E(c).makeThing('t2')];
  t.is(await E(a).keepMany(things), 2);
  t.deepEqual(await E(a).callEach('owner'), ['C', 'C']);
  t.is(await E(a).keep(c), 1);
  t.is(await E(a).callKept('label'), 'C');

  const admin = await host.vatAdmin('a');
  const viaHost: Entry[] = await E(admin).trace('host');
  const direct: Entry[] = await E(admin).trace('c');
  t.is(viaHost.find((e) => e.method === 'keepMany')?.gifts, 2, 'the host marked both references as gifts');
  t.is(calls(direct, 'owner').length, 2, "A called C's things over its channel to C");
  t.is(calls(direct, 'label').length, 1);
  t.is(calls(viaHost, 'owner').length + calls(viaHost, 'label').length, 0, 'and never through the host');
  t.like((await E(admin).stats()).handoff, { direct: 3, proxied: 0 });
});

test('vat B hands C on to vat A; A keeps calling C after B is stopped, and after B crashes', async (t) => {
  const watcher = makeVatWatcher();
  const host = await withHost(t, { traceLimit: 500, inspect: watcher.inspect });
  const { root: a } = await host.spawnVat({ module: party, name: 'a', params: { label: 'A' } });
  const { root: c } = await host.spawnVat({ module: party, name: 'c', params: { label: 'C' } });
  for (const [b, end] of [
    ['b1', () => host.terminateVat('b1')],
    ['b2', async () => {
      void E(host.names.lookup('b2')).spin().catch(() => {});
      await watcher.ended('b2');
    }],
  ] as const) {
    const { root: middle } = await host.spawnVat({ module: party, name: b, params: { label: b }, limits: { timeBudgetMs: 300 } });
    const thing = await E(c).makeThing(`via-${b}`);
    // B gets A and the thing (handed on by the host), and hands the thing to A itself.
    t.is(await E(middle).handOn(a, 'keep', thing), 1);
    t.is(await E(a).callKept('owner'), 'C');
    const admin = await host.vatAdmin('a');
    const viaB: Entry[] = await E(admin).trace(b);
    t.is(viaB.find((e) => e.method === 'keep')?.gifts, 1, `${b} handed the thing on as a gift`);
    const handed = (await E(admin).stats()).handoff.direct;
    await end();
    t.is(await E(a).callKept('title'), `via-${b}`, `A still reaches the thing after ${b} ended`);
    t.is((await E(admin).stats()).handoff.direct, handed, `the gifts ${b} handed A still count once ${b}'s channel is gone`);
    t.is(calls(viaB, 'owner').length + calls(viaB, 'title').length, 0, `no call went through ${b}`);
    const viaHost: Entry[] = await E(admin).trace('host');
    t.is(calls(viaHost, 'owner').length + calls(viaHost, 'title').length, 0, 'nor through the host');
  }
});

test('identity: the handed-on presence is the one A gets by name and by sturdy ref, and C gets its own thing back', async (t) => {
  const host = await withHost(t, { traceLimit: 100 });
  const { root: a } = await host.spawnVat({ module: party, name: 'a', params: { label: 'A' } });
  const { root: b } = await host.spawnVat({ module: party, name: 'b', params: { label: 'B' } });
  const { root: c } = await host.spawnVat({ module: party, name: 'c', params: { label: 'C' } });
  // By handoff from B first, then by name: one presence.
  t.is(await E(b).handOn(a, 'keep', c), 1);
  t.true(await E(a).isKeptByName('c'), 'handoff then name: the same presence');
  // By name first, then by handoff from the host.
  t.is(await E(a).pingPeer('c'), 'C');
  t.is(await E(a).keep(c), 1);
  t.true(await E(a).isKeptByName('c'), 'name then handoff: the same presence');
  t.true(await E(a).isKeptByName(host.makeSturdyRef('c')), 'and the sturdy ref enlivens to it too');
  // A thing of C, kept by B and handed on to A, goes back to C as C's own object, and back to
  // B as the very presence B handed on.
  const thing = await E(c).makeThing('mine');
  t.is(await E(b).keep(thing), 1);
  t.is(await E(b).passKeptTo(a, 'keep'), 1);
  t.true(await E(a).passKeptTo(c, 'isMine'), 'C gets its own thing back from A');
  t.true(await E(a).passKeptTo(b, 'isKept'), 'B gets back the presence it handed on');
});

test('a hundred references handed on in one message are all claimed directly, in one turn of A', async (t) => {
  const host = await withHost(t, { traceLimit: 0 });
  const { root: a } = await host.spawnVat({ module: party, name: 'a', params: { label: 'A' } });
  const { root: b } = await host.spawnVat({ module: party, name: 'b', params: { label: 'B' } });
  const { root: c } = await host.spawnVat({ module: party, name: 'c', params: { label: 'C' } });
  const things = await E(c).makeThings(100);
  t.is(await E(b).handOn(a, 'keepMany', things), 100);
  const names: string[] = await E(a).callEach('title');
  t.deepEqual(names, Array.from({ length: 100 }, (_, i) => `t${i}`));
  t.like((await E(await host.vatAdmin('a')).stats()).handoff, { direct: 100, proxied: 0 });
  t.like((await E(await host.vatAdmin('c')).stats()).handoff, { claimed: 200, pending: 0, waiting: 0 });
});

test('GC: once A drops a handed-on thing, C, B and the channels between them release it', async (t) => {
  const host = await withHost(t, { exposeGc: true });
  const { root: a } = await host.spawnVat({ module: party, name: 'a', params: { label: 'A' } });
  const { root: b } = await host.spawnVat({ module: party, name: 'b', params: { label: 'B' } });
  const { root: c } = await host.spawnVat({ module: party, name: 'c', params: { label: 'C' } });
  const [adminA, adminB, adminC] = await Promise.all(['a', 'b', 'c'].map((n) => host.vatAdmin(n)));
  const dropped = async (admin: any, peer: string): Promise<number> => (await E(admin).stats()).peers[peer]?.gc.DROPPED ?? 0;
  // B asks C for a thing and hands it to A; the host never holds it.
  t.is(await E(b).makeAndHandOn(c, a, 'keep', 'gc-thing'), 1);
  t.is(await E(a).callKept('owner'), 'C');
  const before = { ca: await dropped(adminC, 'a'), cb: await dropped(adminC, 'b'), ba: await dropped(adminB, 'a') };
  await E(a).dropAll();
  t.true(await E(adminA).collectGarbage(), 'gc available in the vat worker');
  // A's drops travel on its channels to C and to B, ahead of these calls.
  t.is(await E(a).pingPeer('c'), 'C');
  t.is(await E(a).pingPeer('b'), 'B');
  t.true((await dropped(adminC, 'a')) > before.ca, 'C released its export to A (the claimed gift)');
  t.true((await dropped(adminB, 'a')) > before.ba, 'B released its export to A (the slot the gift stood for)');
  // B held the thing only for A: now B's own presence goes, and C hears of it.
  t.true(await E(adminB).collectGarbage());
  t.is(await E(b).pingPeer('c'), 'C');
  t.true((await dropped(adminC, 'b')) > before.cb, 'C released its export to B');
  t.like((await E(adminC).stats()).handoff, { pending: 0, waiting: 0 });
});

/**
 * Three hosts where C only ever dialled A: A knows no address of C's but what C told it
 * (`advertised()` on C's gateway). B gets carol from alice and must reach C with that hint.
 */
const dialledInOwner = async (t: ExecutionContext, cOptions: HostOptions) => {
  const ha = await withHost(t, { spareWorkers: 0 });
  const hb = await withHost(t, { spareWorkers: 0 });
  const hc = await withHost(t, { spareWorkers: 0, ...cOptions });
  await ha.spawnVat({ module: party, name: 'alice', params: { label: 'alice' } });
  const { root: bob } = await hb.spawnVat({ module: party, name: 'bob', params: { label: 'bob' } });
  const { root: carol } = await hc.spawnVat({ module: party, name: 'carol', params: { label: 'carol' } });
  // C dials A and hands alice a reference to carol.
  const aliceAtC = await hc.enliven(ha.makeSturdyRef('alice'));
  t.is(await E(aliceAtC).keep(carol), 1);
  // B's bob reaches alice by her ref; alice hands carol on to bob.
  const aliceAtB = await hb.enliven(ha.makeSturdyRef('alice'));
  t.is(await E(aliceAtB).passKeptTo(bob, 'keep'), 1);
  t.is(await E(bob).callKept('label'), 'carol');
  return { ha, hb, hc };
};

test('an owner host that only dialled in is reached by a third host at the address it told', async (t) => {
  const { hb, hc } = await dialledInOwner(t, {});
  t.like(hb.ps().vats.find((v) => v.name === 'bob'), { handoffs: 1, proxied: 0 });
  t.true(hb.ps().sessions.some((s) => s.peer === hc.id), 'B dialled C');
});

test('fallback: when the owner cannot be reached from the recipient, the reference stays a working proxy, shown in ps and by the rendezvous machine', async (t) => {
  // C tells the hosts it dials a wrong address: nobody else can reach it.
  const { ha, hb, hc } = await dialledInOwner(t, { advertise: '127.0.0.1:1' });
  t.like(hb.ps().vats.find((v) => v.name === 'bob'), { handoffs: 0, proxied: 1 });
  t.false(hb.ps().sessions.some((s) => s.peer === hc.id), 'B never reached C');
  const hello = hb.inspector.hello();
  const machine = hello.actors.find((x) => x.tag.group === 'handoffs');
  t.truthy(machine, 'the rendezvous machine is in the visualizer');
  const last = hello.latest.find((s) => s.aid === machine!.aid);
  t.is(last?.value, 'proxied');
  // And where the owner is reachable, the same machine ends in `direct`: alice got carol from C's host, and bob from B's.
  t.like(ha.ps().vats.find((v) => v.name === 'alice'), { handoffs: 2, proxied: 0 });
  const helloA = ha.inspector.hello();
  const direct = helloA.actors.find((x) => x.tag.group === 'handoffs');
  t.is(helloA.latest.find((s) => s.aid === direct?.aid)?.value, 'direct');
});

test("an object of the embedder's, handed from vat A to vat B, is called by B over B's own connection to the host", async (t) => {
  const host = await withHost(t, { traceLimit: 200 });
  const { root: a } = await host.spawnVat({ module: party, name: 'a', params: { label: 'A' } });
  const { root: b } = await host.spawnVat({ module: party, name: 'b', params: { label: 'B' } });
  let hellos = 0;
  const mine = Far('Mine', {
    hello: (x: string) => {
      hellos += 1;
      return `hello ${x}`;
    },
  });
  t.is(await E(a).keep(mine), 1);
  t.is(await E(a).passKeptTo(b, 'keep'), 1);
  t.is(await E(b).callKept('hello', 'from b'), 'hello from b');
  t.is(hellos, 1);
  const viaA: Entry[] = await E(await host.vatAdmin('b')).trace('a');
  t.is(calls(viaA, 'hello').length, 0, 'B did not call through A');
  t.is(viaA.find((e) => e.method === 'keep')?.gifts, 1);
  t.true(await E(b).passKeptTo(a, 'isKept'), "passed back to A, it is A's presence of it again");
  // mine from A, and A's root from the embedder (passKeptTo's target).
  t.like(host.ps().vats.find((v) => v.name === 'b'), { handoffs: 2, proxied: 0 });
});
