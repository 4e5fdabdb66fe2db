/**
 * Reaching another host's endpoint for a three-party handoff
 * (runtime/sessions/reach.ts, docs/protocol.md 7.4): over real TCP on loopback
 * between in-process hosts, a host finds or dials the owner's host at the hints
 * it was given (a wrong one fails with NotMe and the next is tried), asks the
 * owner's gateway `open(endpoint, from)`, and hands its vat the channel. The
 * observable is each vat's peer list (`ps`): a vat is listed with a remote peer
 * once the host handed it that channel's port.
 */
import '@endo/init';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { E, Far } from '@endo/far';
import { makeSessionMux } from '../../capabilities/session-mux.js';
import type { VatId } from '../../protocols/session/vat-id.js';
import type { Host, HostOptions } from '../../runtime/index.js';
import { MAX_REACH_HINTS } from '../../runtime/sessions/reach.js';
import { IO_MS, until } from '../helpers/bounded.js';
import { fixture } from '../helpers/host.js';
import { countingRelay, scriptedSession, watchedHost } from '../helpers/peers.js';

const short = (id: string) => id.slice(0, 8);
const addr = (h: Host) => `127.0.0.1:${h.address!.port}`;
const host = (t: ExecutionContext, opts: HostOptions = {}) => watchedHost(t, { listen: '127.0.0.1:0', ...opts });
const peersOf = (h: Host, vat: string) => h.ps().vats.find((v) => v.name === vat)?.peers ?? [];
const sessionPeers = (h: Host) => h.ps().sessions.map((s) => s.peer);
const spawn = (h: Host, name: string) => h.spawnVat({ module: fixture('party.ts'), name, params: { label: name } });

/** H2 with vat 'a', H3 with vat 'c', and H1, a bystander whose address is a wrong hint for H3. */
const threeHosts = async (t: ExecutionContext) => {
  const [h1, h2, h3] = await Promise.all([host(t), host(t), host(t)]);
  await Promise.all([spawn(h2.host, 'a'), spawn(h3.host, 'c')]);
  return { h1, h2, h3 };
};

test("a reach dials the owner's host at its hint, and both vats get the channel", async (t) => {
  const { h2, h3 } = await threeHosts(t);
  const [b, c] = [h2.host, h3.host];
  t.deepEqual(sessionPeers(b), []);
  t.deepEqual([peersOf(b, 'a'), peersOf(c, 'c')], [[], []]);
  await b.remote!.reach(c.id as VatId, [addr(c)], 'c', 'a');
  t.deepEqual(sessionPeers(b), [c.id]);
  t.true(peersOf(b, 'a').includes(`${c.id}/c`), 'vat a was handed its end before reach resolved');
  t.true(peersOf(c, 'c').includes(`${b.id}/a`), 'vat c got the other end');
  t.is(b.remote!.diagnostics.stats().reachRoundTrips, 1);
  // Once both ends are confirmed, another reach needs neither a hint nor a round trip.
  await b.remote!.reach(c.id as VatId, [], 'c', 'a');
  t.is(b.remote!.diagnostics.stats().reachRoundTrips, 1);
  // The host itself, on either end, over the same session.
  await b.remote!.reach(c.id as VatId, [], 'c', '@host');
  t.true(peersOf(c, 'c').includes(`${b.id}/@host`));
  await b.remote!.reach(c.id as VatId, [], '@host', 'a');
  t.true(peersOf(b, 'a').includes(`${c.id}/@host`));
  t.is(b.remote!.diagnostics.stats().reachRoundTrips, 3);
  t.is(h2.lines.filter((l) => /^session with \S+ up/.test(l)).length, 1, 'one session');
  t.is(b.ps().sessions[0]!.channels, 4, '@gw, a↔c, @host↔c, a↔@host');
});

test('hintsFor: the address this host dialed, its own advertised address, the address a peer that dialed in told, [] for others', async (t) => {
  const { h1, h2, h3 } = await threeHosts(t);
  const [a, b, c] = [h1.host, h2.host, h3.host];
  t.deepEqual(b.remote!.hintsFor(c.id as VatId), []);
  await b.remote!.reach(c.id as VatId, [addr(c)], 'c', 'a');
  t.deepEqual(b.remote!.hintsFor(c.id as VatId), [addr(c)]);
  t.deepEqual(b.remote!.hintsFor(b.id as VatId), [addr(b)]);
  t.deepEqual(b.remote!.hintsFor(a.id as VatId), []);
  // C was dialed: B's address there is its outgoing port, where no one listens, so C asks B where it listens.
  await until(() => c.remote!.hintsFor(b.id as VatId).length > 0, IO_MS, 'C to learn where B listens');
  t.deepEqual(c.remote!.hintsFor(b.id as VatId), [addr(b)]);
  // A dial that worked, and stays known after the session is gone.
  b.remote!.diagnostics.dropSession(c.id, new Error('cut by the test'));
  await h2.nextLine(/^session with \S+ ended/);
  t.deepEqual(b.remote!.hintsFor(c.id as VatId), [addr(c)]);
  // A sturdy ref enlivened over a session the peer dialed: the ref's address is what there is to know.
  a.names.publish('hosted', Far('Hosted', { where: () => 'A' }));
  c.names.publish('hosted', Far('Hosted', { where: () => 'C' }));
  t.is(await E(await c.enliven(a.makeSturdyRef('hosted'))).where(), 'A');
  await until(() => a.remote!.hintsFor(c.id as VatId).length > 0, IO_MS, 'A to learn where C listens');
  t.deepEqual(a.remote!.hintsFor(c.id as VatId), [addr(c)], 'what C told A');
  t.is(await E(await a.enliven(c.makeSturdyRef('hosted'))).where(), 'C');
  t.deepEqual(sessionPeers(a), [c.id], 'over the session C dialed');
  t.deepEqual(a.remote!.hintsFor(c.id as VatId), [addr(c)]);
  t.is(a.remote!.diagnostics.stats().knownAddresses, 1);
});

test('a wrong hint fails with NotMe and the next is tried; only wrong hints are HandoffUnreachableError', async (t) => {
  const { h1, h2, h3 } = await threeHosts(t);
  const [a, b, c] = [h1.host, h2.host, h3.host];
  const reach = (hints: string[]) => b.remote!.reach(c.id as VatId, hints, 'c', 'a');

  const err = await t.throwsAsync(reach(['not a hint', addr(a), '127.0.0.1:1']), { name: 'HandoffUnreachableError' });
  t.regex(err.message, new RegExp(`^HandoffUnreachableError: no session with host ${short(c.id)}: tried ${addr(a)}, 127\\.0\\.0\\.1:1; the last failed with DialError`));
  t.is((err.cause as Error).name, 'DialError');
  const notMe = await t.throwsAsync(reach([addr(a)]), { name: 'HandoffUnreachableError' });
  t.is((notMe.cause as Error).name, 'NotMeError');
  await t.throwsAsync(reach([]), { name: 'HandoffUnreachableError', message: /no usable address hint/ });
  await t.throwsAsync(reach([`${'x'.repeat(100)}:1`, '[::1', 'a b:1']), { message: /no usable address hint/ });
  // At most MAX_REACH_HINTS are looked at: the right one fifth is never dialed.
  t.is(MAX_REACH_HINTS, 4);
  const tooFar = await t.throwsAsync(reach(['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3', addr(a), addr(c)]), { name: 'HandoffUnreachableError' });
  t.notRegex(tooFar.message, new RegExp(addr(c)));
  t.deepEqual(sessionPeers(b), [], 'nothing reached, nothing kept');

  await reach(['127.0.0.1:1', addr(a), addr(c)]);
  t.deepEqual(sessionPeers(b), [c.id]);
  t.true(peersOf(b, 'a').includes(`${c.id}/c`));
  t.deepEqual(b.remote!.hintsFor(a.id as VatId), [], 'a NotMe address is not remembered');
  t.deepEqual(b.remote!.hintsFor(c.id as VatId), [addr(c)]);
});

test('an endpoint that does not run there is HandoffUnreachableError from its host, and the session stays', async (t) => {
  const { h2, h3 } = await threeHosts(t);
  const [b, c] = [h2.host, h3.host];
  const reach = (endpoint: string, from: string) => b.remote!.reach(c.id as VatId, [addr(c)], endpoint, from);
  await t.throwsAsync(reach('nobody', 'a'), { name: 'HandoffUnreachableError', message: /^HandoffUnreachableError: no endpoint "nobody" runs on this host/ });
  t.deepEqual(sessionPeers(b), [c.id]);
  // Refused here, before anything is asked of the peer.
  const before = b.remote!.diagnostics.stats().reachRoundTrips;
  await t.throwsAsync(reach('no such/vat', 'a'), { name: 'HandoffUnreachableError', message: /malformed endpoint/ });
  await t.throwsAsync(reach('c', 'ghost'), { name: 'HandoffUnreachableError', message: /vat "ghost" is not running/ });
  await t.throwsAsync(b.remote!.reach(b.id as VatId, [], 'a', '@host'), { name: 'RangeError' });
  t.is(b.remote!.diagnostics.stats().reachRoundTrips, before);
  // The same session serves the next reach.
  await reach('c', 'a');
  t.true(peersOf(c, 'c').includes(`${b.id}/a`));
  t.is(h2.lines.filter((l) => /^session with \S+ (up|ended)/.test(l)).length, 1, h2.lines.join('\n'));
});

test('concurrent reaches dial once, and share one round trip per (peer, endpoint, from)', async (t) => {
  const { h2, h3 } = await threeHosts(t);
  const [b, c] = [h2.host, h3.host];
  const relay = await countingRelay(t, c.address!.port);
  const triples = [
    ['c', 'a'],
    ['c', '@host'],
    ['@host', 'a'],
  ] as const;
  await Promise.all(triples.flatMap(([endpoint, from]) => Array.from({ length: 5 }, () => b.remote!.reach(c.id as VatId, [relay.address], endpoint, from))));
  t.is(relay.dials(), 1, 'one TCP connection to the peer');
  t.is(b.remote!.diagnostics.stats().reachRoundTrips, triples.length);
  t.true(peersOf(b, 'a').includes(`${c.id}/c`));
  t.true(peersOf(c, 'c').includes(`${b.id}/@host`));
  t.deepEqual(b.remote!.hintsFor(c.id as VatId), [relay.address]);
});

test('a peer that opens channels past maxChannelsPerSession gets RemoteLimitError; malformed opens a clean error; the session stays', async (t) => {
  const max = 16;
  const { host: h, lines } = await host(t, { sessionLimits: { maxChannelsPerSession: max } });
  await spawn(h, 'c');
  const { path, id } = await scriptedSession(h);
  const mux = makeSessionMux({ path, name: 'scripted', gateway: Far('Nothing', {}) });
  const gateway = await mux.gateway();

  // A vat's channel: the vat is handed the peer's end at once.
  await E(gateway).open('c', 'x');
  t.true(peersOf(h, 'c').includes(`${id}/x`));
  for (const [endpoint, from] of [
    [42, 'x'],
    ['c', '@gw'],
    ['@gw', 'x'],
    ['c', 'a/b'],
    ['c', null],
    ['', 'x'],
    ['c', 'y'.repeat(129)],
  ]) {
    await t.throwsAsync(E(gateway).open(endpoint, from), { message: /^HandoffUnreachableError: malformed endpoint/ }, `${endpoint} ${from}`);
  }
  await t.throwsAsync(E(gateway).open('nobody', 'x'), { message: /^HandoffUnreachableError: no endpoint "nobody"/ });

  // '@gw' and c↔x are two; each new `from` opens one more.
  await Promise.all(Array.from({ length: max - 2 }, (_, i) => E(gateway).open('@host', `p${i}`)));
  t.is(h.ps().sessions[0]!.channels, max);
  await t.throwsAsync(E(gateway).open('@host', 'one-more'), { message: new RegExp(`^RemoteLimitError: .*more than ${max} channels`) });
  await t.throwsAsync(E(gateway).open('c', 'one-more'), { message: /^RemoteLimitError/ });
  t.false(peersOf(h, 'c').includes(`${id}/one-more`), 'nothing handed to the vat for a refused channel');
  // Opening a channel that exists is no new channel.
  await E(gateway).open('@host', 'p0');
  await E(gateway).open('c', 'x');
  t.false(path.lifetime.isClosed);
  t.is(h.ps().sessions[0]!.channels, max);
  t.false(lines.some((l) => /session with \S+ ended/.test(l)), lines.join('\n'));

  // And the host goes on serving others.
  const other = await host(t);
  await spawn(other.host, 'a');
  await other.host.remote!.reach(h.id as VatId, [addr(h)], 'c', 'a');
  t.true(peersOf(h, 'c').includes(`${other.host.id}/a`));
});
