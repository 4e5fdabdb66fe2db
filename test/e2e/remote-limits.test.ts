/**
 * The bounds on what an authenticated peer may make a host hold (docs/protocol.md
 * §7, §10; docs/security.md "Tickets"), over real TCP against a real host: a
 * ticket redeems once and a vat or host keeps at most 10,000 unredeemed; a
 * session holds at most 4,096 channels; capdata carries at most 10,000 slots; a
 * frame is at most 2 MiB. Each bound gives its named error (or ends that one
 * session), and the host goes on serving others. The ticket and channel bounds
 * are exercised shrunk (SessionLimits; 10,000 CapTP round trips take half a
 * minute on this machine), and their defaults are checked against the docs.
 */
import '@endo/init';
import test from 'ava';
import { E, Far } from '@endo/far';
import { makeConnection, type Connection } from '../../capabilities/connection.js';
import { MAX_SLOTS } from '../../capabilities/captp-schema.js';
import { makeSessionMux, type SessionMux } from '../../capabilities/session-mux.js';
import { parseSturdyRef } from '../../capabilities/sturdy-ref.js';
import { HEADER_BYTES, MAX_FRAME_BYTES, Tag } from '../../protocols/framing/frames.js';
import { channelBytes } from '../helpers/frames.js';
import { AEAD_TAG_BYTES } from '../../protocols/session/crypto.js';
import type { Host } from '../../runtime/index.js';
import { DEFAULT_SESSION_LIMITS, MAX_CHANNELS_PER_SESSION } from '../../protocols/session/session-limits.js';
import { fixture, withHost } from '../helpers/host.js';
import { scriptedSession, watchedHost } from '../helpers/peers.js';
import { within } from '../helpers/bounded.js';

/** Small bounds, so that a test reaches them in a few hundred round trips. */
const sessionLimits = { maxHostTickets: 50, maxVatTickets: 50, maxChannelsPerSession: 64 };

const swissOf = (ref: string) => parseSturdyRef(ref).swiss;
const short = (id: string) => id.slice(0, 8);

/** A scripted peer host: a real session, our own channel mux over it, the host's gateway. */
const peerSession = async (host: Host, limits?: { maxFrameBytes: number }) => {
  const { path, id } = await scriptedSession(host, limits ? { limits } : {});
  const mux = makeSessionMux({ path, name: 'scripted', gateway: Far('Nothing', {}) });
  const gateway = await mux.gateway();
  return { path, id, mux, gateway };
};

/** Our end of channel `local`↔`remote`: a CapTP connection whose bootstrap is the remote's RemoteGate. */
const channel = (mux: SessionMux, local: string, remote: string): Connection => {
  let conn!: Connection;
  const send = mux.open(local, remote, { deliver: (m) => conn.dispatch(m), close: (reason) => conn.abort(reason) });
  conn = makeConnection({ name: `${local}->${remote}`, send });
  return conn;
};

const hostWithActors = async (t: any) => {
  const watched = await watchedHost(t, { sessionLimits });
  await watched.host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  watched.host.names.publish('hosted', Far('Hosted', { where: () => 'host' }));
  return watched;
};

/** A second, ordinary host reaches `host`'s bob: the host serves others. */
const servesOthers = async (t: any, host: Host) => {
  const other = await withHost(t, { spareWorkers: 0 });
  t.is(await E(await other.enliven(host.makeSturdyRef('bob'))).label(), 'bob');
};

test('the defaults are the bounds the docs state', (t) => {
  t.deepEqual(
    { ...DEFAULT_SESSION_LIMITS },
    { cookieDemandThreshold: 32, crossedWaitMs: 15_000, maxHostTickets: 10_000, maxVatTickets: 10_000, maxChannelsPerSession: 4096, maxRefHops: 4 },
  );
  t.is(MAX_CHANNELS_PER_SESSION, 4096);
  t.is(MAX_SLOTS, 10_000);
  t.is(MAX_FRAME_BYTES, 2 * 1024 * 1024);
});

test('tickets redeem once, at a vat and at the host; a second redeem is SturdyRefError and the session stays', async (t) => {
  const { host } = await hostWithActors(t);
  const { path, mux, gateway } = await peerSession(host);

  const atVat = await E(gateway).enliven(swissOf(host.makeSturdyRef('bob')), 'me');
  t.is(atVat.endpoint, 'bob');
  const vatGate = await channel(mux, 'me', 'bob').getBootstrap();
  t.is(await E(await E(vatGate).redeem(atVat.ticket)).label(), 'bob');
  await t.throwsAsync(E(vatGate).redeem(atVat.ticket), { message: /^SturdyRefError: no such ticket/ });

  const atHost = await E(gateway).enliven(swissOf(host.makeSturdyRef('hosted')), 'me');
  t.is(atHost.endpoint, '@host');
  const hostGate = await channel(mux, 'me', '@host').getBootstrap();
  t.is(await E(await E(hostGate).redeem(atHost.ticket)).where(), 'host');
  await t.throwsAsync(E(hostGate).redeem(atHost.ticket), { message: /^SturdyRefError: no such ticket/ });
  // A ticket is redeemable only where it was admitted.
  const another = await E(gateway).enliven(swissOf(host.makeSturdyRef('hosted')), 'me');
  await t.throwsAsync(E(vatGate).redeem(another.ticket), { message: /^SturdyRefError: no such ticket/ });
  t.is(await E(await E(hostGate).redeem(another.ticket)).where(), 'host');

  t.false(path.lifetime.isClosed);
  t.is(host.ps().sessions.length, 1);
});

for (const [where, name, max] of [
  ['a vat', 'bob', sessionLimits.maxVatTickets],
  ['the host', 'hosted', sessionLimits.maxHostTickets],
] as const) {
  test(`${where} keeps at most maxTickets unredeemed tickets: the oldest goes first`, async (t) => {
    const { host } = await hostWithActors(t);
    const { path, mux, gateway } = await peerSession(host);
    const swiss = swissOf(host.makeSturdyRef(name));
    const tickets: string[] = [];
    // One at a time: the order of admission is the order of dropping.
    for (let i = 0; i <= max; i++) tickets.push((await E(gateway).enliven(swiss, 'me')).ticket);
    t.is(new Set(tickets).size, tickets.length, 'every ticket is fresh');
    const gate = await channel(mux, 'me', name === 'bob' ? 'bob' : '@host').getBootstrap();
    await t.throwsAsync(E(gate).redeem(tickets[0]!), { message: /^SturdyRefError: no such ticket/ });
    t.truthy(await E(gate).redeem(tickets[1]!));
    t.truthy(await E(gate).redeem(tickets[max]!));
    t.false(path.lifetime.isClosed);
    await servesOthers(t, host);
  });
}

test('a session holds at most maxChannelsPerSession channels: one more is RemoteLimitError for that enliven only', async (t) => {
  const { host } = await hostWithActors(t);
  const { path, gateway } = await peerSession(host);
  const hosted = swissOf(host.makeSturdyRef('hosted'));
  const max = sessionLimits.maxChannelsPerSession;
  // '@gw'↔'@gw' is the first channel; each new `from` opens one more ('@host'↔from).
  await Promise.all(Array.from({ length: max - 1 }, (_, i) => E(gateway).enliven(hosted, `c${i}`)));
  t.is(host.ps().sessions[0]?.channels, max);
  await t.throwsAsync(E(gateway).enliven(hosted, 'one-more'), { message: new RegExp(`^RemoteLimitError: .*more than ${max} channels`) });
  // A vat's channel counts the same.
  await t.throwsAsync(E(gateway).enliven(swissOf(host.makeSturdyRef('bob')), 'one-more'), { message: /^RemoteLimitError/ });
  // Channels that exist go on working, and the session stays.
  t.is((await E(gateway).enliven(hosted, 'c0')).endpoint, '@host');
  t.false(path.lifetime.isClosed);
  t.is(host.ps().sessions[0]?.channels, max);
  await servesOthers(t, host);
});

/** A well-formed CTP_CALL whose method carries `n` slots, on a channel the host does not have. */
const callWithSlots = (n: number) =>
  channelBytes(['me', 'nobody', { type: 'CTP_CALL', questionID: 'q-1', target: 'o+1', method: { body: '#["x",[]]', slots: Array(n).fill('o-1') } }]);

/** An enliven answered on the same session (frames arrive in order): the session was still up after what came before. */
const stillAnswers = async (t: any, gateway: unknown) => {
  await t.throwsAsync(E(gateway as any).enliven('a'.repeat(32), 'me'), { message: /^SturdyRefError: unknown or revoked/ });
};

test(`capdata carries at most ${MAX_SLOTS} slots: one more ends that session with ProtocolViolationError`, async (t) => {
  const { host, nextLine } = await hostWithActors(t);
  const { path, id, gateway } = await peerSession(host);
  // At the bound: well-formed, so only dropped (no such channel); the session goes on.
  path.send(Tag.Deliver, callWithSlots(MAX_SLOTS));
  await stillAnswers(t, gateway);
  t.false(path.lifetime.isClosed);

  const closed = path.lifetime.closed;
  path.send(Tag.Deliver, callWithSlots(MAX_SLOTS + 1));
  t.regex(await nextLine(new RegExp(`session with ${short(id)} ended`)), /ProtocolViolationError: .*malformed CTP_CALL/);
  t.is((await within(closed, 5000, 'the peer to see the session end')).name, 'PathLostError');
  t.is(host.ps().sessions.length, 0);
  await servesOthers(t, host);
});

/**
 * A vat's channel: its host relays the message text unparsed (capabilities/channel-codec.ts),
 * so the checks run in the vat, which reports the fault to its host; the host ends that session.
 */
for (const [what, tag, message] of [
  ['a CTP_CALL without a target', Tag.Deliver, { type: 'CTP_CALL', questionID: 'q-1', method: { body: '#[]', slots: [] } }],
  [`capdata with ${MAX_SLOTS + 1} slots`, Tag.Deliver, { type: 'CTP_CALL', questionID: 'q-1', target: 'o+0', method: { body: '#["x",[]]', slots: Array(MAX_SLOTS + 1).fill('o-1') } }],
  ['a tag that is not the message', Tag.Resolve, { type: 'CTP_BOOTSTRAP', questionID: 'q-1' }],
  ['text that is not JSON', Tag.Deliver, undefined],
] as const) {
  test(`to a vat's channel, ${what} ends that session with ProtocolViolationError; the vat lives`, async (t) => {
    const { host, nextLine } = await hostWithActors(t);
    const { path, id, mux, gateway } = await peerSession(host);
    const atVat = await E(gateway).enliven(swissOf(host.makeSturdyRef('bob')), 'me');
    const vatGate = await channel(mux, 'me', 'bob').getBootstrap();
    const bob = await E(vatGate).redeem(atVat.ticket);
    t.is(await E(bob).label(), 'bob');
    const closed = path.lifetime.closed;
    path.send(tag, message === undefined ? new TextEncoder().encode('["me","bob",{"type":]') : channelBytes(['me', 'bob', message]));
    t.regex(await nextLine(new RegExp(`session with ${short(id)} ended`)), /ProtocolViolationError: vat "bob" got malformed CapTP/);
    await within(closed, 5000, 'the peer to see the session end');
    t.is(host.ps().sessions.length, 0);
    t.is(host.ps().vats.find((v) => v.name === 'bob')?.state, 'running');
    await servesOthers(t, host);
  });
}

/** The largest inner payload a 2 MiB Encrypted frame can carry. */
const MAX_INNER = MAX_FRAME_BYTES - HEADER_BYTES - AEAD_TAG_BYTES;

/** A well-formed channel frame of exactly `bytes` bytes (a CTP_DISCONNECT for a channel the host does not have). */
const frameOfSize = (bytes: number): Uint8Array => {
  const make = (n: number) => channelBytes(['me', 'nobody', { type: 'CTP_DISCONNECT', reason: 'x'.repeat(n) }]);
  const probe = make(1 << 20);
  const exact = make((1 << 20) + bytes - probe.length);
  if (exact.length !== bytes) throw new Error(`could not build a payload of ${bytes} bytes (got ${exact.length})`);
  return exact;
};

test('an Encrypted frame over 2 MiB ends that session with MalformedMessageError; one of exactly 2 MiB is taken', async (t) => {
  const { host, nextLine } = await hostWithActors(t);
  // The limits are not negotiated: this peer allows itself larger frames than the host takes.
  const { path, id, gateway } = await peerSession(host, { maxFrameBytes: 2 * MAX_FRAME_BYTES });
  path.send(Tag.ChannelClose, frameOfSize(MAX_INNER));
  await stillAnswers(t, gateway);
  t.false(path.lifetime.isClosed);

  const closed = path.lifetime.closed;
  path.send(Tag.ChannelClose, frameOfSize(MAX_INNER + 1));
  t.regex(
    await nextLine(new RegExp(`session with ${short(id)} ended`)),
    new RegExp(`MalformedMessageError: frame of ${MAX_FRAME_BYTES + 1} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`),
  );
  t.is((await within(closed, 5000, 'the peer to see the session end')).name, 'PathLostError');
  t.is(host.ps().sessions.length, 0);
  await servesOthers(t, host);
});

