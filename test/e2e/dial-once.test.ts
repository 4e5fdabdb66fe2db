/**
 * One session per peer (docs/protocol.md §8, docs/architecture.md): many
 * concurrent enlivens from one host to refs of the same peer — by the host
 * itself, by `connect`, by several vats at once — dial that peer once. The refs
 * point at a counting TCP relay in front of the peer, so every dial is seen.
 */
import '@endo/init';
import test from 'ava';
import { E } from '@endo/far';
import { SessionLostError } from '../../capabilities/errors.js';
import { fixture } from '../helpers/host.js';
import { countingRelay, watchedHost } from '../helpers/peers.js';

test('10 concurrent enlivens of one ref, and of 10 refs of the same peer, dial that peer once', async (t) => {
  const a = await watchedHost(t);
  const b = await watchedHost(t);
  const relay = await countingRelay(t, b.host.address!.port);
  await b.host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  // Refs that name the relay instead of B's own port (same VatId: the relay cannot impersonate).
  const viaRelay = (ref: string) => ref.replace(`:${b.host.address!.port}/`, `:${relay.port}/`);
  const one = viaRelay(b.host.makeSturdyRef('bob'));
  const many = Array.from({ length: 10 }, () => viaRelay(b.host.makeSturdyRef('bob')));

  const sameRef = await Promise.all(Array.from({ length: 10 }, () => a.host.enliven(one)));
  t.deepEqual(await Promise.all(sameRef.map((r) => E(r).label())), Array(10).fill('bob'));
  const manyRefs = await Promise.all([...many.map((r) => a.host.enliven(r)), a.host.connect(one, 'bobby')]);
  t.deepEqual(await Promise.all(manyRefs.map((r) => E(r).label())), Array(11).fill('bob'));

  t.is(relay.dials(), 1, 'one TCP connection to the peer');
  t.is(a.lines.filter((l) => /^session with \S+ up/.test(l)).length, 1, a.lines.join('\n'));
  t.is(b.lines.filter((l) => /^session with \S+ up/.test(l)).length, 1, b.lines.join('\n'));
  t.is(a.host.ps().sessions.length, 1);
});

test('vats that look up refs of the same peer at once, while the host enlivens one, share one dial', async (t) => {
  const a = await watchedHost(t);
  const b = await watchedHost(t);
  const relay = await countingRelay(t, b.host.address!.port);
  await b.host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const viaRelay = (ref: string) => ref.replace(`:${b.host.address!.port}/`, `:${relay.port}/`);
  const callers = [];
  for (let i = 0; i < 5; i++) callers.push((await a.host.spawnVat({ module: fixture('party.ts'), name: `caller${i}` })).root);

  const labels = await Promise.all([
    ...callers.map((c) => E(c).lookupAndCall(viaRelay(b.host.makeSturdyRef('bob')), 'label')),
    ...callers.map((c) => E(c).lookupAndCall(viaRelay(b.host.makeSturdyRef('bob')), 'label')),
    E(a.host.enliven(viaRelay(b.host.makeSturdyRef('bob')))).label(),
  ]);
  t.deepEqual(labels, Array(11).fill('bob'));
  t.is(relay.dials(), 1, 'one TCP connection to the peer');
  t.is(a.lines.filter((l) => /^session with \S+ up/.test(l)).length, 1, a.lines.join('\n'));

  // Once that session is gone, the next burst dials once more, not once per caller.
  const peer = a.host.ps().sessions[0]!.peer;
  a.host.remote!.diagnostics.dropSession(peer, new SessionLostError('dropped by the test'));
  await a.nextLine(/^session with \S+ ended/);
  const again = await Promise.all(callers.map((c) => E(c).lookupAndCall(viaRelay(b.host.makeSturdyRef('bob')), 'label')));
  t.deepEqual(again, Array(5).fill('bob'));
  t.is(relay.dials(), 2);
});
