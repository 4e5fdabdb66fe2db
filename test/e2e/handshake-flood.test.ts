/**
 * Handshake floods over real TCP (docs/security.md "Hostile peers", protocol.md
 * §4.8): above COOKIE_DEMAND_THRESHOLD inbound handshakes in flight the host
 * answers a Hello with a Cookie and does no DH or signing until the Hello comes
 * back with it; the listener holds at most MAX_INBOUND_CONNECTIONS sockets and
 * refuses more at accept. Under both, a good peer still gets in.
 */
import '@endo/init';
import test from 'ava';
import { E } from '@endo/far';
import { decodePayload, Tag } from '../../protocols/framing/frames.js';
import { DEFAULT_DOMAIN, makeInitiatorSteps } from '../../protocols/session/handshake.js';
import { initiatePath } from '../../protocols/session/path.js';
import { CIPHERS } from '../../protocols/session/crypto.js';
import type { VatId } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import type { Host } from '../../runtime/index.js';
import { COOKIE_DEMAND_THRESHOLD } from '../../protocols/session/session-limits.js';
import { dialTcp, MAX_INBOUND_CONNECTIONS } from '../../runtime/tcp.js';
import { fixture, withHost } from '../helpers/host.js';
import { fakeIdentity, rawTcpPeer, realClock, watchedHost } from '../helpers/peers.js';
import { within } from '../helpers/bounded.js';

/** The flooders below must outlive the test, not the handshake timer. */
const pathLimits = { handshakeTimeoutMs: 120_000 };

/**
 * A handshake left half done: ProtocolOffered and a valid Hello, then nothing.
 * Resolves with the tags of the frames the host answered with, once it has
 * answered (so the host has counted it), and keeps the socket open.
 */
const halfHandshake = async (host: Host) => {
  const peer = await rawTcpPeer(host.address!.port);
  const steps = makeInitiatorSteps({
    crypto: nodeCrypto,
    identity: fakeIdentity(),
    domain: DEFAULT_DOMAIN,
    ciphers: CIPHERS,
    wanted: host.id as VatId,
  });
  const open = steps.open(0, new Uint8Array(0));
  for (const f of open.send) peer.write(f);
  const accepted = await peer.next();
  const answer = await peer.next();
  return { peer, steps, tags: [accepted?.tag, answer?.tag], answer };
};

/** A good peer with its own identity; resolves with the handshake frame tags it received. */
const goodPeer = async (host: Host) => {
  const received: number[] = [];
  const path = await initiatePath({
    stream: await dialTcp('127.0.0.1', host.address!.port),
    identity: fakeIdentity(),
    crypto: nodeCrypto,
    clock: realClock,
    wanted: host.id as VatId,
    inspect: (ev: any) => {
      if (ev.type === '@xstate.event' && ev.event.type === 'frame.received') received.push(ev.event.tag);
    },
  });
  return { path, received };
};

test(`above ${COOKIE_DEMAND_THRESHOLD} handshakes in flight a Hello gets a Cookie, not a Response; a good peer gets in through the cookie round`, async (t) => {
  const { host } = await watchedHost(t, { pathLimits });
  await host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const flood: Array<Awaited<ReturnType<typeof halfHandshake>>> = [];
  t.teardown(() => {
    for (const f of flood) f.peer.close();
  });
  // One at a time, so that the k-th Hello arrives with exactly k handshakes in flight.
  for (let k = 1; k <= COOKIE_DEMAND_THRESHOLD + 4; k++) flood.push(await halfHandshake(host));
  for (const [i, f] of flood.entries()) {
    const expected = i + 1 <= COOKIE_DEMAND_THRESHOLD ? Tag.Response : Tag.Cookie;
    t.deepEqual(f.tags, [Tag.ProtocolAccepted, expected], `handshake ${i + 1}`);
  }
  t.is(host.remote!.diagnostics.stats().handshakesInFlight, COOKIE_DEMAND_THRESHOLD + 4);

  // A flooder that repeats its Hello without the cookie is refused: Abort bad-cookie.
  const noEcho = flood[COOKIE_DEMAND_THRESHOLD]!;
  const retry = noEcho.steps.open(0, new Uint8Array(0)).send[1]!;
  noEcho.peer.write(retry);
  const refusal = await noEcho.peer.next();
  t.is(refusal?.tag, Tag.Abort);
  t.is((decodePayload(refusal!.payload) as { code: string }).code, 'bad-cookie');
  await within(noEcho.peer.closed, 5000, 'the host to close the bad-cookie connection');

  // One that echoes it gets its Response: the cookie round costs a round trip, nothing more.
  const echo = flood[COOKIE_DEMAND_THRESHOLD + 1]!;
  const again = echo.steps.cookie(Tag.Cookie, echo.answer!.payload);
  for (const f of again.send) echo.peer.write(f);
  t.is((await echo.peer.next())?.tag, Tag.Response);

  // A good peer, and a real host, get in while the flood is still open.
  const good = await goodPeer(host);
  t.deepEqual(good.received, [Tag.ProtocolAccepted, Tag.Cookie, Tag.Response]);
  t.false(good.path.lifetime.isClosed);
  good.path.close();
  const other = await withHost(t, { spareWorkers: 0 });
  t.is(await E(await other.enliven(host.makeSturdyRef('bob'))).label(), 'bob');
  t.is(host.remote!.diagnostics.stats().failures['CookieError'], 1);

  // The flood over (and the other host gone), a Hello is answered at once again.
  await other.stop();
  for (const f of flood) f.peer.close();
  await within(host.remote!.diagnostics.idle(), 10_000, 'the host to drop the flood');
  t.is(host.remote!.diagnostics.stats().handshakesInFlight, 0);
  const after = await goodPeer(host);
  t.deepEqual(after.received, [Tag.ProtocolAccepted, Tag.Response]);
  after.path.close();
});

test(`the listener holds at most ${MAX_INBOUND_CONNECTIONS} sockets: more are refused at accept; a good peer gets in once they go`, async (t) => {
  const { host } = await watchedHost(t, { pathLimits });
  await host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const flood: Array<Awaited<ReturnType<typeof rawTcpPeer>>> = [];
  t.teardown(() => {
    for (const f of flood) f.close();
  });
  // Each flooder offers the protocol and waits for ProtocolAccepted: proof the host took its socket.
  const openOne = async () => {
    const peer = await rawTcpPeer(host.address!.port);
    peer.send(Tag.ProtocolOffered, { versions: ['tribe/1'] });
    flood.push(peer);
    return (await peer.next())?.tag;
  };
  for (let i = 0; i < MAX_INBOUND_CONNECTIONS; i += 32) {
    const tags = await Promise.all(Array.from({ length: Math.min(32, MAX_INBOUND_CONNECTIONS - i) }, openOne));
    t.true(
      tags.every((tag) => tag === Tag.ProtocolAccepted),
      `batch at ${i}: ${tags.join()}`,
    );
  }
  t.is(host.remote!.diagnostics.stats().connections, MAX_INBOUND_CONNECTIONS);

  // The next sockets are closed at accept, before any frame is read or written.
  for (let i = 0; i < 3; i++) {
    const refused = await rawTcpPeer(host.address!.port);
    refused.send(Tag.ProtocolOffered, { versions: ['tribe/1'] });
    t.is(await within(refused.next(), 5000, 'the refused socket to close'), undefined, 'no frame on a refused socket');
    t.true(refused.isClosed);
  }
  // So is a good peer's handshake, and a real host's enliven.
  const good = await t.throwsAsync(
    initiatePath({
      stream: await dialTcp('127.0.0.1', host.address!.port),
      identity: fakeIdentity(),
      crypto: nodeCrypto,
      clock: realClock,
      wanted: host.id as VatId,
    }),
  );
  t.is(good?.name, 'PathLostError');
  const ref = host.makeSturdyRef('bob');
  const other = await withHost(t, { spareWorkers: 0 });
  await t.throwsAsync(other.enliven(ref), { name: 'PathLostError' });
  t.is(host.remote!.diagnostics.stats().connections, MAX_INBOUND_CONNECTIONS);

  // The flood gone, the same host gets in.
  for (const f of flood) f.close();
  await within(host.remote!.diagnostics.idle(), 20_000, 'the host to drop the flood');
  t.is(host.remote!.diagnostics.stats().handshakesInFlight, 0);
  t.is(await E(await other.enliven(ref)).label(), 'bob');
});
