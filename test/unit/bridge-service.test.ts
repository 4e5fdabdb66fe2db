/**
 * protocols/bridge/bridge-service.ts over in-memory hop links: rendezvous,
 * routes of the right parity, forwarding both ways, ends, bounds, timeouts,
 * backpressure, and a third party that cannot join or read a route.
 */
import test, { type ExecutionContext } from 'ava';
import { encodeRelay, Op } from '../../protocols/bridge/codec.js';
import { makeBridgeService, RENDEZVOUS_MS } from '../../protocols/bridge/bridge-service.js';
import { BridgeLimitError, BridgeMalformedError, BridgeRendezvousTimeoutError, RelayBackpressureError, RelayEndedError } from '../../protocols/bridge/errors.js';
import { routeParity } from '../../protocols/bridge/hop.js';
import { BRIDGE_NONCE_BYTES } from '../../protocols/session/messages.js';
import { fakeHop, type FakeHop, vatIdOf } from '../helpers/hop-link.js';
import { manualTimers } from '../helpers/manual-timers.js';

// The bridge sorts between A and C, so their routes have different parities.
const B = vatIdOf('m');
const A = vatIdOf('a');
const C = vatIdOf('t');
const X = vatIdOf('x');

const nonceOf = (n: number) => new Uint8Array(BRIDGE_NONCE_BYTES).fill(n);

const setup = (limits?: Parameters<typeof makeBridgeService>[0]['limits']) => {
  const clock = manualTimers();
  const service = makeBridgeService({ self: B, clock, ...(limits ? { limits } : {}) });
  const a = fakeHop(A);
  const c = fakeHop(C);
  const x = fakeHop(X);
  const provide = (from: FakeHop, to: FakeHop['link']['peer'], nonce: Uint8Array, req = 1) => service.control(from.link, { op: Op.Provide, req, peer: to, nonce });
  const accept = (from: FakeHop, to: FakeHop['link']['peer'], nonce: Uint8Array, req = 1) => service.control(from.link, { op: Op.Accept, req, peer: to, nonce });
  const relay = (from: FakeHop, route: number, bytes: number[]) => service.relay(from.link, encodeRelay(route, Uint8Array.from(bytes)));
  return { clock, service, a, c, x, provide, accept, relay };
};

/** The route of the one Ready `hop` got for `req`. */
const readyRoute = (t: ExecutionContext, hop: FakeHop, req: number): number => {
  const ready = hop.controls().filter((c) => c.op === Op.Ready);
  t.is(ready.length, 1, `one Ready to ${hop.link.peer.slice(0, 1)}`);
  const r = ready[0]!;
  t.is(r.op === Op.Ready ? r.req : -1, req, 'Ready names the request');
  return r.op === Op.Ready ? r.route : -1;
};

const paired = (s: ReturnType<typeof setup>, t: ExecutionContext, order: 'provide-first' | 'accept-first' = 'provide-first') => {
  const n = nonceOf(7);
  if (order === 'provide-first') {
    s.provide(s.a, C, n, 11);
    t.deepEqual(s.a.sent, [], 'the first waits: nothing sent');
    s.accept(s.c, A, n, 22);
  } else {
    s.accept(s.c, A, n, 22);
    t.deepEqual(s.c.sent, [], 'the first waits: nothing sent');
    s.provide(s.a, C, n, 11);
  }
  const ra = readyRoute(t, s.a, 11);
  const rc = readyRoute(t, s.c, 22);
  s.a.clear();
  s.c.clear();
  return { ra, rc };
};

const ends = (hop: FakeHop) => hop.controls().filter((c) => c.op === Op.End);
const refusals = (hop: FakeHop) => hop.controls().filter((c) => c.op === Op.Refused);

for (const order of ['provide-first', 'accept-first'] as const) {
  test(`${order}: both get Ready, routes of each link's parity, bytes cross unchanged and in order both ways`, (t) => {
    const s = setup();
    const { ra, rc } = paired(s, t, order);
    t.is(routeParity(B, A), 0);
    t.is(routeParity(B, C), 1);
    t.is(ra % 2, routeParity(B, A), "A's route id has the bridge's parity on that link");
    t.is(rc % 2, routeParity(B, C), "C's route id has the bridge's parity on that link");
    t.not(ra, 0);
    t.not(rc, 0);
    t.true(s.service.owns(A, ra));
    t.true(s.service.owns(C, rc));
    t.false(s.service.owns(A, ra + 1));
    t.false(s.service.owns(C, rc + 1));
    t.like(s.service.stats(), { pending: 0, routes: 2 });

    s.relay(s.a, ra, [1, 2, 3]);
    s.relay(s.a, ra, [4]);
    s.relay(s.a, ra, [5, 6]);
    t.deepEqual(
      s.c.relays().map((r) => [r.route, [...r.bytes]]),
      [
        [rc, [1, 2, 3]],
        [rc, [4]],
        [rc, [5, 6]],
      ],
    );
    t.deepEqual(s.a.sent, [], 'nothing echoed to the sender');
    s.relay(s.c, rc, [9, 8]);
    s.relay(s.c, rc, [7]);
    t.deepEqual(
      s.a.relays().map((r) => [r.route, [...r.bytes]]),
      [
        [ra, [9, 8]],
        [ra, [7]],
      ],
    );
    t.like(s.service.stats(), { relayedFrames: 5, relayedBytes: 9, dropped: 0 });
    t.is(s.clock.pending(), 0, 'no rendezvous timer left once paired');
  });
}

test('a large chunk crosses byte for byte', (t) => {
  const s = setup();
  const { ra, rc } = paired(s, t);
  const big = Uint8Array.from({ length: 64 * 1024 }, (_, i) => (i * 7 + 3) & 0xff);
  s.service.relay(s.a.link, encodeRelay(ra, big));
  const got = s.c.relays();
  t.is(got.length, 1);
  t.is(got[0]!.route, rc);
  t.deepEqual(got[0]!.bytes, big);
});

test('End from one side ends both; later Relay frames on either route are dropped and counted', (t) => {
  const s = setup();
  const { ra, rc } = paired(s, t);
  s.service.control(s.a.link, { op: Op.End, route: ra, code: 'relay-ended', message: 'closed by its end' });
  t.deepEqual(ends(s.a), [], 'the side that ended it is not told');
  const e = ends(s.c);
  t.is(e.length, 1);
  t.like(e[0], { op: Op.End, route: rc, code: new RelayEndedError('').code });
  t.is(s.service.stats().routes, 0);
  s.relay(s.a, ra, [1]);
  s.relay(s.c, rc, [2]);
  t.deepEqual(s.a.relays(), []);
  t.deepEqual(s.c.relays(), []);
  t.like(s.service.stats(), { dropped: 2, relayedFrames: 0 });
  // A second End for the same route changes nothing.
  s.service.control(s.c.link, { op: Op.End, route: rc, code: 'relay-ended', message: '' });
  t.is(ends(s.a).length, 0);
  t.is(ends(s.c).length, 1);
});

test("a hop link's end ends its routes: the other end gets End relay-ended", (t) => {
  const s = setup();
  const { ra, rc } = paired(s, t);
  s.a.close();
  const e = ends(s.c);
  t.is(e.length, 1, 'C is told its route ended');
  t.like(e[0], { op: Op.End, route: rc, code: 'relay-ended' });
  t.is(s.service.stats().routes, 0, 'no route left on either link');
  s.relay(s.c, rc, [1]);
  t.is(s.service.stats().dropped, 1, "C's later bytes are dropped");
  t.deepEqual(s.a.sent, [], 'nothing is sent on the closed link');
  t.not(ra, rc);
});

test("a hop link's end drops its pending rendezvous: no later Ready, and no timer left", (t) => {
  const s = setup();
  const n = nonceOf(3);
  s.provide(s.a, C, n, 5);
  t.is(s.service.stats().pending, 1);
  s.a.close();
  t.is(s.service.stats().pending, 0);
  t.is(s.clock.pending(), 0, 'its timer was cleared');
  s.accept(s.c, A, n, 6);
  t.deepEqual(s.c.controls(), [], 'C waits: the provider has gone');
  t.deepEqual(s.a.sent, []);
  s.clock.advance(RENDEZVOUS_MS);
  t.like(refusals(s.c), [{ op: Op.Refused, req: 6, code: 'rendezvous-timeout' }]);
  t.deepEqual(s.a.sent, [], 'A is never told anything on its closed link');
});

test('a mismatched nonce or a wrong peer never pairs', (t) => {
  const s = setup();
  s.provide(s.a, C, nonceOf(1), 1);
  s.accept(s.c, A, nonceOf(2), 2);
  s.accept(s.x, A, nonceOf(1), 3);
  s.accept(s.c, X, nonceOf(1), 4);
  s.provide(s.c, A, nonceOf(1), 5); // both provide: no one accepts
  t.deepEqual(s.a.controls(), []);
  t.deepEqual(s.c.controls(), []);
  t.deepEqual(s.x.controls(), []);
  t.is(s.service.stats().routes, 0);
  t.is(s.service.stats().pending, 5);
  // The right one still pairs with A's waiting Provide.
  s.accept(s.c, A, nonceOf(1), 6);
  readyRoute(t, s.a, 1);
  readyRoute(t, s.c, 6);
});

test('a host cannot pair with itself through Provide and Accept', (t) => {
  const s = setup();
  s.provide(s.a, A, nonceOf(1), 1);
  s.accept(s.a, A, nonceOf(1), 2);
  t.is(s.a.controls().filter((c) => c.op === Op.Ready).length, 0);
  t.is(s.service.stats().routes, 0);
});

test('the same side sending Provide twice with one nonce gets Refused bridge-limit; the first still pairs', (t) => {
  const s = setup();
  const n = nonceOf(9);
  s.provide(s.a, C, n, 1);
  s.provide(s.a, C, n, 2);
  t.like(refusals(s.a), [{ op: Op.Refused, req: 2, code: new BridgeLimitError('').code }]);
  t.is(s.service.stats().refused['bridge-limit'], 1);
  s.a.clear();
  s.accept(s.c, A, n, 3);
  readyRoute(t, s.a, 1);
  readyRoute(t, s.c, 3);
});

test('maxPending bounds the rendezvous waiting per link', (t) => {
  const s = setup({ maxPending: 2 });
  s.provide(s.a, C, nonceOf(1), 1);
  s.provide(s.a, C, nonceOf(2), 2);
  t.deepEqual(s.a.controls(), []);
  s.provide(s.a, C, nonceOf(3), 3);
  t.like(refusals(s.a), [{ op: Op.Refused, req: 3, code: 'bridge-limit' }]);
  t.is(s.service.stats().pending, 2);
  // Another link has its own bound.
  s.provide(s.c, X, nonceOf(4), 4);
  s.provide(s.c, X, nonceOf(5), 5);
  t.deepEqual(s.c.controls(), []);
  // One pairs: A has room again.
  s.accept(s.c, A, nonceOf(1), 6);
  s.a.clear();
  s.provide(s.a, C, nonceOf(3), 7);
  t.deepEqual(refusals(s.a), []);
});

test('maxRoutes bounds live routes per link: both sides are refused, whichever waits', (t) => {
  const s = setup({ maxRoutes: 1 });
  paired(s, t);
  // Both of A and C are full: a second rendezvous is refused on both.
  s.provide(s.a, C, nonceOf(2), 31);
  s.accept(s.c, A, nonceOf(2), 32);
  t.like(refusals(s.a), [{ req: 31, code: 'bridge-limit' }]);
  t.like(refusals(s.c), [{ req: 32, code: 'bridge-limit' }]);
  s.a.clear();
  s.c.clear();
  // X has room, A has not: when A comes last…
  s.provide(s.x, A, nonceOf(3), 41);
  s.accept(s.a, X, nonceOf(3), 42);
  t.like(refusals(s.a), [{ req: 42, code: 'bridge-limit' }]);
  t.like(refusals(s.x), [{ req: 41, code: 'bridge-limit' }]);
  s.a.clear();
  s.x.clear();
  // …and when A waits and X comes last.
  s.accept(s.a, X, nonceOf(4), 51);
  s.provide(s.x, A, nonceOf(4), 52);
  t.like(refusals(s.a), [{ req: 51, code: 'bridge-limit' }]);
  t.like(refusals(s.x), [{ req: 52, code: 'bridge-limit' }]);
  t.is(s.service.stats().routes, 2, 'only the first pair lives');
  t.is(s.service.stats().refused['bridge-limit'], 6);
  t.is(s.clock.pending(), 0);
});

test('a rendezvous nobody comes to is refused rendezvous-timeout after rendezvousMs, not before', (t) => {
  const s = setup({ rendezvousMs: 500 });
  const n = nonceOf(1);
  s.provide(s.a, C, n, 8);
  s.clock.advance(499);
  t.deepEqual(s.a.controls(), [], 'not yet at 499 ms');
  s.clock.advance(1);
  t.like(refusals(s.a), [{ op: Op.Refused, req: 8, code: new BridgeRendezvousTimeoutError('').code }]);
  t.is(s.service.stats().pending, 0);
  t.is(s.clock.pending(), 0);
  s.accept(s.c, A, n, 9);
  t.deepEqual(s.c.controls(), [], 'the late one waits in turn');
  t.deepEqual(
    s.a.controls().map((c) => c.op),
    [Op.Refused],
  );
});

test('the default rendezvous wait is RENDEZVOUS_MS', (t) => {
  const s = setup();
  s.accept(s.c, A, nonceOf(1), 1);
  s.clock.advance(RENDEZVOUS_MS - 1);
  t.deepEqual(s.c.controls(), []);
  s.clock.advance(1);
  t.like(refusals(s.c), [{ code: 'rendezvous-timeout' }]);
});

test('a backlog over maxBacklogBytes ends the route on both ends with relay-backpressure instead of forwarding', (t) => {
  const s = setup({ maxBacklogBytes: 100 });
  const { ra, rc } = paired(s, t);
  s.c.backlog = 100;
  s.relay(s.a, ra, [1]);
  t.is(s.c.relays().length, 1, 'at the bound it still forwards');
  s.c.clear();
  s.c.backlog = 101;
  s.relay(s.a, ra, [2]);
  t.deepEqual(s.c.relays(), [], 'not forwarded');
  const code = new RelayBackpressureError('').code;
  t.like(ends(s.a), [{ route: ra, code }]);
  t.like(ends(s.c), [{ route: rc, code }]);
  t.is(s.service.stats().routes, 0);
  s.c.backlog = 0;
  s.relay(s.a, ra, [3]);
  t.deepEqual(s.c.relays(), [], 'the route is gone');
  t.is(s.service.stats().dropped, 1);
});

test('a third party cannot join or read an A↔C route', (t) => {
  const s = setup();
  const { ra, rc } = paired(s, t);
  // Guessing nonces: X's Accepts and Provides naming A or C wait alone.
  for (let i = 0; i < 10; i++) {
    s.accept(s.x, A, nonceOf(100 + i), i + 1);
    s.provide(s.x, C, nonceOf(7), i + 100); // even the right nonce: the rendezvous is A's and C's
  }
  t.deepEqual(
    s.x.controls().filter((c) => c.op === Op.Ready),
    [],
  );
  // Relay frames X sends with A's (or C's) route ids go nowhere: route ids are per link.
  s.relay(s.x, ra, [6, 6, 6]);
  s.relay(s.x, rc, [6, 6, 6]);
  t.deepEqual(s.a.relays(), []);
  t.deepEqual(s.c.relays(), []);
  t.is(s.service.stats().dropped, 2);
  // An End from X for those ids ends nothing.
  s.service.control(s.x.link, { op: Op.End, route: ra, code: 'relay-ended', message: '' });
  s.service.control(s.x.link, { op: Op.End, route: rc, code: 'relay-ended', message: '' });
  s.relay(s.a, ra, [1]);
  t.like(s.c.relays(), [{ route: rc }]);
  t.deepEqual(ends(s.a), []);
  t.deepEqual(ends(s.c), []);
  // X sees none of A's bytes.
  t.deepEqual(s.x.relays(), []);
});

test('two routes between the same pair stay apart', (t) => {
  const s = setup();
  s.provide(s.a, C, nonceOf(1), 1);
  s.accept(s.c, A, nonceOf(1), 2);
  s.provide(s.a, C, nonceOf(2), 3);
  s.accept(s.c, A, nonceOf(2), 4);
  const readies = (h: FakeHop) => new Map(h.controls().flatMap((c) => (c.op === Op.Ready ? [[c.req, c.route] as const] : [])));
  const ra = readies(s.a);
  const rc = readies(s.c);
  t.not(ra.get(1), ra.get(3));
  s.a.clear();
  s.c.clear();
  s.relay(s.a, ra.get(3)!, [3]);
  s.relay(s.a, ra.get(1)!, [1]);
  t.deepEqual(
    s.c.relays().map((r) => [r.route, r.bytes[0]]),
    [
      [rc.get(4), 3],
      [rc.get(2), 1],
    ],
  );
});

test('a malformed Relay frame throws BridgeMalformedError (the caller aborts the hop)', (t) => {
  const s = setup();
  t.throws(() => s.service.relay(s.a.link, new Uint8Array(4)), { instanceOf: BridgeMalformedError });
  t.throws(() => s.service.relay(s.a.link, encodeRelay(0, new Uint8Array([1]))), { instanceOf: BridgeMalformedError });
});
