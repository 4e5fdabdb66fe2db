/**
 * The visualizer of a tribe's first host shows every sister's bootstrap
 * machine, live: three hosts, each machine `ready` (relayed by the sisters
 * over their sessions), and a sister killed and respawned shows again.
 */
import test from 'ava';
import type { ActorInfo } from '../../runtime/viz/model.js';
import { example, tempHome } from '../helpers/host.js';
import { openVizStream } from '../helpers/viz.js';
import { tribe } from '../helpers/cli.js';
import { eventually, psOf, slotPids, startTribe, tribeReady } from '../helpers/tribe.js';

const READY_MS = 45_000;

test('npm start: a tribe of three with the examples; the first host\'s visualizer shows every sister\'s bootstrap machine ready, and a respawned one again', async (t) => {
  const home = tempHome(t);
  // What `npm start` runs (tribe host --examples), on a home of the test's own.
  const first = await startTribe(t, home, ['--examples', '--viz', '0']);
  t.truthy(first.viz, 'slot 0 serves the visualizer');
  t.true(first.output.some((l) => l.includes('(the visualizer: every machine of every sister, live)')), 'it says where to look');
  t.is((await tribe(['call', 'counter', 'increment', '--home', home])).stdout.trim(), '1');
  const ps = await eventually(() => tribeReady(home, 3), READY_MS, 'three sisters ready', () => psOf(home));
  const ids = [ps.id as string, ...ps.tribe!.sisters!.map((x) => x.vatId)];
  const stream = openVizStream(first.viz!);
  t.teardown(() => stream.close());
  const hello = await stream.hello;
  const actors = new Map<string, ActorInfo>(hello.actors.map((a) => [a.aid, a]));
  const values = new Map<string, unknown>(hello.latest.map((s) => [s.aid, s.value]));
  const contexts = new Map<string, unknown>(hello.latest.filter((s) => s.context !== undefined).map((s) => [s.aid, s.context]));
  const readyHosts = () => {
    for (const u of stream.updates) {
      if (u.k === 'actor') actors.set(u.actor.aid, u.actor);
      if (u.k === 'step') values.set(u.aid, u.value);
      if (u.k === 'step' && u.context !== undefined) contexts.set(u.aid, u.context);
    }
    return new Set([...actors.values()].filter((a) => a.tag.group === 'tribe' && values.get(a.aid) === 'ready' && !a.gone).map((a) => a.host));
  };
  await eventually(async () => ids.every((id) => readyHosts().has(id)), READY_MS, 'a ready bootstrap machine of each sister on the page', async () => [...readyHosts()]);
  t.deepEqual([...readyHosts()].sort(), [...ids].sort());
  // A sister killed and respawned: its new run's bootstrap machine reaches ready on the page too.
  const victim = ps.tribe!.sisters!.find((x) => x.slot === 2)!;
  const runsBefore = new Set([...actors.values()].filter((a) => a.host === victim.vatId && a.tag.group === 'tribe').map((a) => a.aid));
  process.kill(slotPids(home).get(2)!, 'SIGKILL');
  const fresh = () =>
    [...actors.values()].filter((a) => a.host === victim.vatId && a.tag.group === 'tribe' && !runsBefore.has(a.aid) && values.get(a.aid) === 'ready');
  await eventually(async () => {
    readyHosts();
    return fresh().length > 0;
  }, READY_MS, "the respawned sister's bootstrap machine ready on the page", async () => [...actors.values()].filter((a) => a.host === victim.vatId).map((a) => [a.aid, values.get(a.aid)]));
  t.is(fresh().length, 1, 'one new bootstrap machine: the new run of slot 2');
  // Its new record differs from the one its sisters hold: sync sagas push it, and the page shows them.
  const committedSagas = () => {
    readyHosts();
    return [...actors.values()].filter((a) => a.tag.group === 'sync' && values.get(a.aid) === 'committed');
  };
  await eventually(async () => committedSagas().length > 0, READY_MS, 'a committed sync saga on the page', async () =>
    [...actors.values()].filter((a) => a.tag.group === 'sync').map((a) => [a.tag.name, values.get(a.aid)]),
  );
  t.regex(committedSagas()[0]!.tag.name, /^saga [→←] [a-z2-7]{8} (registry|names)$/);
  // The naming service is a triple service: each sister's Raft role machine is on the page, one of them leading.
  const namesMachines = () => {
    readyHosts();
    return [...actors.values()].filter((a) => a.tag.group === 'replicas' && a.tag.name === 'sister.names (raft)' && !a.gone);
  };
  await eventually(
    async () => new Set(namesMachines().map((a) => a.host)).size === 3 && namesMachines().some((a) => values.get(a.aid) === 'leader'),
    READY_MS,
    "the naming service's three role machines on the page, one leading",
    async () => namesMachines().map((a) => [a.host.slice(0, 8), values.get(a.aid)]),
  );
  t.deepEqual([...new Set(namesMachines().map((a) => a.host))].sort(), [...ids].sort());
  // The leader's machine shows the replicas and each one's lag (ps shows the same). A step carries its
  // context when it changed: a name published now is a commit of the naming service, so a new step.
  const leading = namesMachines().find((a) => values.get(a.aid) === 'leader')!;
  const commitBefore = (contexts.get(leading.aid) as { commitIndex?: number } | undefined)?.commitIndex ?? -1;
  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'viz-probe', '--home', home])).code, 0);
  const shown = await eventually(
    async () => {
      readyHosts();
      const c = contexts.get(leading.aid) as { members?: string[]; lag?: Record<string, number>; commitIndex?: number } | undefined;
      return c && (c.commitIndex ?? -1) > commitBefore ? c : undefined;
    },
    READY_MS,
    "the naming service leader's context after a commit",
    async () => contexts.get(leading.aid),
  );
  t.deepEqual([...(shown?.members ?? [])].sort(), [...ids].sort(), 'its members');
  t.deepEqual(Object.keys(shown?.lag ?? {}).sort(), ids.filter((id) => id !== leading.host).sort(), 'a lag for each other replica');
});
