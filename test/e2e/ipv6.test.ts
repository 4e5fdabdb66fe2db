/**
 * Hosts on IPv6 loopback: every address the host prints or stores has one
 * form, `[v6]:port`, and that form parses back (`ps` once showed `::1:PORT`,
 * which --listen refuses).
 */
import '@endo/init';
import { E } from '@endo/far';
import test from 'ava';
import { parseListenAddress } from '../../runtime/tcp.js';
import { fixture, withHost } from '../helpers/host.js';

test('on [::1]: listen, the sturdy ref and both ends of a session print as [::1]:PORT, and each parses', async (t) => {
  const b = await withHost(t, { spareWorkers: 0, listen: '[::1]:0' });
  const a = await withHost(t, { spareWorkers: 0, listen: '[::1]:0' });
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob' });
  const ref = b.makeSturdyRef('bob');
  t.regex(ref, /^tribe:\/\/[a-z2-7]+@\[::1\]:\d+\//);
  t.is(await E(await a.enliven(ref)).label(), 'party');
  for (const host of [a, b]) {
    const ps = host.ps();
    t.regex(ps.listen ?? '', /^\[::1\]:\d+$/);
    t.is(parseListenAddress(ps.listen!).host, '::1');
    t.is(ps.sessions.length, 1);
    const address = ps.sessions[0]!.address;
    t.regex(address, /^\[::1\]:\d+$/, `session address ${address}`);
    t.is(parseListenAddress(address).host, '::1');
  }
});
