import test from 'ava';
import { E } from '../../runtime/index.js';
import { fixture, withHost } from '../helpers/host.js';

type Entry = { dir: string; type: string; method?: string; gifts?: number };

test('scratch: host hands C to A; A calls C directly', async (t) => {
  const host = await withHost(t, { traceLimit: 500 });
  const { root: a } = await host.spawnVat({ module: fixture('party.ts'), name: 'a', params: { label: 'A' } });
  const { root: c } = await host.spawnVat({ module: fixture('party.ts'), name: 'c', params: { label: 'C' } });
  t.is(await E(a).keep(c), 1);
  t.is(await E(a).callKept('label'), 'C');
  const admin = await host.vatAdmin('a');
  const viaHost: Entry[] = await E(admin).trace('host');
  const direct: Entry[] = await E(admin).trace('c');
  t.log(JSON.stringify(viaHost.slice(-8)));
  t.log(JSON.stringify(direct.slice(-8)));
  t.log(JSON.stringify((await E(admin).stats()).handoff));
  t.true(direct.some((e) => e.dir === 'out' && e.method === 'label'));
  t.false(viaHost.some((e) => e.method === 'label'));
});
