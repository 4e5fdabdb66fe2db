/** Discovery over real UDP on loopback: sisters hear each other; strangers, forgeries and junk are dropped and counted. */
import test, { type ExecutionContext } from 'ava';
import { createHook } from 'node:async_hooks';
import { createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  type Discovery,
  type DiscoveryOptions,
  MAX_ANNOUNCEMENT_BYTES,
  startDiscovery,
} from '../../runtime/tribe/discovery.js';
import { IO_MS, until, within } from '../helpers/bounded.js';

const HOST = '127.0.0.1';
/** Ports per test, so that the tests of this file (run concurrently) never share a range. */
const RANGE_STRIDE = 8;
/**
 * Below Linux's ephemeral ports (32768–60999), which other tests' sockets take at
 * random; random per run so that two runs on one machine rarely meet. A port taken
 * anyway is skipped by the module itself (it takes the first free one).
 */
let nextBase = 20_000 + Math.floor(Math.random() * 10_000);
const freshRange = (): number => {
  const base = nextBase;
  nextBase += RANGE_STRIDE;
  return base;
};

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();
const datagramOf = (secret: Uint8Array, payload: Uint8Array, magic = 'TRB1'): Buffer => {
  const m = Buffer.from(magic, 'latin1');
  return Buffer.concat([m, createHmac('sha256', secret).update(m).update(payload).digest(), payload]);
};

interface Sister {
  readonly d: Discovery;
  /** Payloads heard (as text), with the port each came from. */
  readonly heard: Map<string, number>;
  readonly problems: string[];
}

const sister = async (
  t: ExecutionContext,
  name: string,
  opts: Pick<DiscoveryOptions, 'basePort' | 'secret'> & Partial<DiscoveryOptions>,
): Promise<Sister> => {
  const heard = new Map<string, number>();
  const problems: string[] = [];
  const d = await startDiscovery({
    address: HOST,
    ports: 4,
    intervalMs: 50,
    payload: () => Buffer.from(name),
    onHeard: (payload, from) => heard.set(text(payload), from.port),
    onProblem: (message) => problems.push(message),
    ...opts,
  });
  t.teardown(() => within(d.close(), IO_MS, `discovery ${name} to close`));
  return { d, heard, problems };
};

/** A plain socket for crafted datagrams, torn down with the test. */
const rawSocket = async (t: ExecutionContext, port = 0): Promise<Socket | undefined> => {
  const socket = createSocket('udp4');
  const bound = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, HOST, () => resolve(true));
  });
  if (!bound) {
    socket.close();
    return undefined;
  }
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket;
};

test('three sisters with one secret hear each other, from the ports they hear on', async (t) => {
  const basePort = freshRange();
  const secret = randomBytes(32);
  const all = [await sister(t, 'a', { basePort, secret }), await sister(t, 'b', { basePort, secret }), await sister(t, 'c', { basePort, secret })];
  // Each took the first free port of the range (another program may hold one of them).
  const ports = all.map((s) => s.d.port!);
  t.true(ports.every((p, i) => p >= basePort && p < basePort + 4 && (i === 0 || p > ports[i - 1]!)), JSON.stringify(ports));
  const names = ['a', 'b', 'c'];
  const everyoneHeard = () => all.every((s, i) => names.every((n, j) => i === j || s.heard.get(n) === all[j]!.d.port));
  await until(everyoneHeard, IO_MS, 'each sister to hear the other two', () => JSON.stringify(all.map((s) => [...s.heard])));
  for (const [i, s] of all.entries()) {
    t.false(s.heard.has(names[i]!), 'a sister does not hear herself');
    t.true(s.d.stats().sent > 0);
    t.deepEqual(s.problems, []);
  }
});

test('a host with another secret is not heard: its datagrams are dropped as bad MACs', async (t) => {
  const basePort = freshRange();
  const secret = randomBytes(32);
  const a = await sister(t, 'a', { basePort, secret });
  await sister(t, 'stranger', { basePort, secret: randomBytes(32) });
  await sister(t, 'b', { basePort, secret });
  await until(() => a.heard.has('b') && a.d.stats().dropped.mac >= 3, IO_MS, 'a to hear b and drop the stranger', () => JSON.stringify(a.d.stats()));
  t.false(a.heard.has('stranger'));
  const { dropped } = a.d.stats();
  t.deepEqual({ ...dropped, mac: 0 }, { short: 0, magic: 0, mac: 0, size: 0, self: 0 }, 'nothing else dropped');
});

test('hostile datagrams are dropped and counted by reason; good ones are still heard', async (t) => {
  const basePort = freshRange();
  const secret = randomBytes(32);
  // The raw socket sits in the range before the sister starts, so it receives her announcements.
  let raw: Socket | undefined;
  for (let port = basePort; !raw && port < basePort + 4; port++) raw = await rawSocket(t, port);
  if (!raw) return t.fail('no free port in the range for the raw socket');
  const own = new Promise<Buffer>((resolve) => raw.once('message', (msg) => resolve(msg)));
  const a = await sister(t, 'a', { basePort, secret });
  t.not(a.d.port, raw.address().port);
  const send = (bytes: Uint8Array) => raw.send(bytes, a.d.port!, HOST);

  const flipped = datagramOf(secret, Buffer.from('forged'));
  flipped[4 + 7]! ^= 0x01;
  send(datagramOf(secret, Buffer.from('x')).subarray(0, 35)); // short: one byte less than magic + MAC
  send(datagramOf(secret, Buffer.from('other magic'), 'TRB2'));
  send(flipped);
  send(datagramOf(secret, Buffer.alloc(MAX_ANNOUNCEMENT_BYTES + 1, 1)));
  send(await within(own, IO_MS, "the sister's own announcement")); // replayed to her
  send(datagramOf(secret, Buffer.from('good')));
  send(datagramOf(secret, Buffer.alloc(MAX_ANNOUNCEMENT_BYTES, 2))); // the largest allowed

  const expected = { short: 1, magic: 1, mac: 1, size: 1, self: 1 };
  await until(
    () => a.heard.size === 2 && JSON.stringify(a.d.stats().dropped) === JSON.stringify(expected),
    IO_MS,
    'the good datagrams heard and each bad one dropped',
    () => JSON.stringify({ stats: a.d.stats(), heard: [...a.heard.keys()].map((k) => k.slice(0, 10)) }),
  );
  t.is(a.heard.get('good'), raw.address().port);
  t.true(a.heard.has(Buffer.alloc(MAX_ANNOUNCEMENT_BYTES, 2).toString()));
  t.is(a.d.stats().heard, 2);
  t.deepEqual(a.problems, []);
});

test('when every port of the range is taken, a third host cannot hear, says so once, and is still heard', async (t) => {
  const basePort = freshRange();
  const secret = randomBytes(32);
  const opts = { basePort, secret, ports: 2 };
  const a = await sister(t, 'a', opts);
  const b = await sister(t, 'b', opts);
  t.deepEqual([a.d.port, b.d.port], [basePort, basePort + 1]);
  const c = await sister(t, 'c', opts);
  t.is(c.d.port, undefined);
  t.is(c.problems.length, 1);
  t.regex(c.problems[0]!, /every port of 127\.0\.0\.1 ports \d+–\d+ is taken/);
  await until(() => a.heard.has('c') && b.heard.has('c'), IO_MS, 'a and b to hear c', () => JSON.stringify([[...a.heard], [...b.heard]]));
  c.d.announceNow();
  t.is(c.problems.length, 1, 'reported once');
});

test('an IPv6 address works the same (::1)', async (t) => {
  const basePort = freshRange();
  const secret = randomBytes(32);
  const a = await sister(t, 'a', { basePort, secret, address: '::1' });
  const b = await sister(t, 'b', { basePort, secret, address: '::1' });
  await until(() => a.heard.has('b') && b.heard.has('a'), IO_MS, 'a and b to hear each other over ::1');
  t.is(a.heard.get('b'), b.d.port);
});

test('a payload over the limit, a payload that throws and an onHeard that throws go to onProblem, once each', async (t) => {
  const basePort = freshRange();
  const secret = randomBytes(32);
  let payload = Buffer.alloc(MAX_ANNOUNCEMENT_BYTES + 1);
  const a = await sister(t, 'a', { basePort, secret, payload: () => payload });
  t.deepEqual(a.problems, [`discovery: AnnouncementTooLargeError: an announcement of ${MAX_ANNOUNCEMENT_BYTES + 1} bytes is over ${MAX_ANNOUNCEMENT_BYTES}; not sent`]);
  a.d.announceNow();
  t.is(a.problems.length, 1);
  t.is(a.d.stats().sent, 0);

  const thrower = new Error('no payload today');
  const b = await sister(t, 'b', {
    basePort,
    secret,
    payload: () => {
      throw thrower;
    },
    onHeard: () => {
      throw new Error('listener broke');
    },
  });
  t.deepEqual(b.problems, ['discovery: no payload today']);
  payload = Buffer.from('a again');
  a.d.announceNow();
  await until(() => b.problems.length === 2, IO_MS, 'b to hear a and report its listener', () => JSON.stringify(b.problems));
  t.is(b.problems[1], 'discovery: onHeard threw: listener broke');
  a.d.announceNow();
  await until(() => b.d.stats().heard >= 2, IO_MS, 'b to hear a again');
  t.is(b.problems.length, 2, 'the same problem is not reported again');
});

test.serial('close() leaves no timer or socket, is idempotent, and frees the port', async (t) => {
  const basePort = freshRange();
  const secret = randomBytes(32);
  // A repeat of this distinctive length is the discovery's timer; every UDP handle made meanwhile is its socket.
  const intervalMs = 77;
  const live = new Map<number, string>();
  let tracking = false;
  const hook = createHook({
    init: (id, type, _trigger, resource) => {
      if (!tracking) return;
      if (type === 'UDPWRAP' || (type === 'Timeout' && (resource as { _repeat?: number })._repeat === intervalMs)) live.set(id, type);
    },
    destroy: (id) => void live.delete(id),
  }).enable();
  t.teardown(() => void hook.disable());

  // Handles that keep the process alive (unref'd ones are not listed).
  const keepingAlive = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap' || r === 'Timeout').length;
  const before = keepingAlive();
  tracking = true;
  const a = await sister(t, 'a', { basePort, secret, intervalMs });
  tracking = false;
  t.deepEqual([...live.values()].sort(), ['Timeout', 'UDPWRAP'], 'the hook saw the timer and the socket');
  t.is(keepingAlive(), before, 'neither keeps the process alive');
  const first = a.d.close();
  t.is(a.d.close(), first, 'a second close is the same close');
  await within(first, IO_MS, 'close');
  await until(() => live.size === 0, IO_MS, 'timer and socket released', () => JSON.stringify([...live.values()]));
  t.notThrows(() => a.d.announceNow(), 'announcing after close is a no-op');

  const again = await sister(t, 'again', { basePort, secret });
  t.is(again.d.port, a.d.port, 'the port is free again');
});

test('options are checked, each error naming its field', async (t) => {
  const ok: DiscoveryOptions = { address: HOST, secret: new Uint8Array(32), payload: () => new Uint8Array(), onHeard: () => {} };
  const cases: [Partial<DiscoveryOptions>, RegExp][] = [
    [{ address: 'localhost' }, /^address /],
    [{ ports: 0 }, /^ports /],
    [{ ports: 65 }, /^ports /],
    [{ ports: 1.5 }, /^ports /],
    [{ basePort: 0 }, /^basePort /],
    [{ basePort: 65535, ports: 2 }, /^basePort .* 65534 /],
    [{ basePort: 65536, ports: 1 }, /^basePort /],
    [{ secret: new Uint8Array(31) }, /^secret /],
    [{ secret: new Uint8Array(33) }, /^secret /],
    [{ intervalMs: 49 }, /^intervalMs /],
    [{ intervalMs: Number.NaN }, /^intervalMs /],
  ];
  for (const [bad, message] of cases) {
    await t.throwsAsync(startDiscovery({ ...ok, ...bad }), { instanceOf: RangeError, message }, JSON.stringify(bad));
  }
});

test('an address that is not this machine\'s is a DiscoveryAddressError', async (t) => {
  // TEST-NET-1 (RFC 5737): never assigned to a host.
  const err = await t.throwsAsync(startDiscovery({ address: '192.0.2.1', basePort: freshRange(), secret: new Uint8Array(32), payload: () => new Uint8Array(), onHeard: () => {} }));
  t.is(err?.name, 'DiscoveryAddressError');
  t.regex(err?.message ?? '', /EADDRNOTAVAIL/);
});
