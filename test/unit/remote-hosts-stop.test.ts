/**
 * Stopping a host's session layer while dials, handshakes and crossed-connection
 * waits are in flight, over an in-memory network: one manual delivery queue and a
 * simulated clock per host, so every interleaving replays exactly.
 */
import '@endo/init';
import test from 'ava';
import { makeNameRegistry } from '../../capabilities/names.js';
import { encodeFrame, Tag } from '../../protocols/framing/frames.js';
import type { ByteStream } from '../../protocols/framing/byte-stream.js';
import { type MemoryStream, makeMemoryStreamPair } from '../../protocols/framing/memory-stream.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { type RemoteHosts, startRemoteHosts } from '../../runtime/remote-hosts.js';
import type { Listener } from '../../runtime/tcp.js';
import { makeIdentity, makeManualQueue, makeSimClock, type SimClock } from './session-fixtures.js';

type Queue = ReturnType<typeof makeManualQueue>;

/** Hosts by name; a dial completes on the next delivery step, so a stop can fall before it. */
const makeNet = (q: Queue) => {
  const accepting = new Map<string, (s: ByteStream) => void>();
  const streams = new Map<string, MemoryStream[]>();
  let onDial: ((from: string, to: string, mine: MemoryStream) => void) | undefined;
  const own = (name: string, s: MemoryStream) => streams.set(name, [...(streams.get(name) ?? []), s]);
  const transport = (name: string) => ({
    listen: async (onStream: (s: ByteStream) => void): Promise<Listener> => {
      accepting.set(name, onStream);
      return { host: name, port: 1, connections: 0, idle: async () => {}, close: async () => void accepting.delete(name) };
    },
    dial: (host: string) =>
      new Promise<ByteStream>((resolve, reject) =>
        q.schedule(() => {
          const accept = accepting.get(host);
          if (!accept) return reject(new Error(`nobody listens at ${host}`));
          const [mine, theirs] = makeMemoryStreamPair({ schedule: q.schedule, addresses: [host, name] });
          own(name, mine);
          own(host, theirs);
          onDial?.(name, host, mine);
          accept(theirs);
          resolve(mine);
        }),
      ),
  });
  return {
    transport,
    streamsOf: (name: string) => streams.get(name) ?? [],
    onDial: (fn: typeof onDial) => {
      onDial = fn;
    },
  };
};

const inspector = { tap: () => ({ inspect: () => {}, retag: () => {} }) };

const startHost = (net: ReturnType<typeof makeNet>, name: string, clock: SimClock, identity = makeIdentity(nodeCrypto)) =>
  startRemoteHosts({
    identity,
    crypto: nodeCrypto,
    listen: { host: name, port: 1 },
    supervisor: {} as never,
    names: makeNameRegistry(),
    refs: { lookup: () => undefined, add: () => {}, remove: () => false } as never,
    print: () => {},
    inspector: inspector as never,
    transport: net.transport(name),
    clock,
  });

/** One delivery, then every promise reaction it caused. */
const step = async (q: Queue) => {
  q.run(1);
  await new Promise<void>((r) => setImmediate(r));
};
const drain = async (q: Queue) => {
  for (let i = 0; i < 10_000; i++) {
    await step(q);
    if (q.length === 0) {
      await new Promise<void>((r) => setImmediate(r));
      if (q.length === 0) return i;
    }
  }
  throw new Error('the network never went quiet');
};

/** How a promise ended, without waiting for it. */
const outcome = <T>(p: Promise<T>) => {
  const o: { value?: T; error?: Error; settled: boolean } = { settled: false };
  p.then(
    (value) => Object.assign(o, { value, settled: true }),
    (error: Error) => Object.assign(o, { error, settled: true }),
  );
  return o;
};

const assertStopped = (t: any, remote: RemoteHosts, clock: SimClock, streams: MemoryStream[], label: string) => {
  const st = remote.stats();
  t.deepEqual(
    { sessions: st.sessions, dialing: st.dialing, waiting: st.waiting, inFlight: st.inFlight, handshakes: st.handshakesInFlight },
    { sessions: 0, dialing: 0, waiting: 0, inFlight: 0, handshakes: 0 },
    `${label}: nothing left in the table`,
  );
  t.deepEqual(remote.sessions(), [], `${label}: no session after stop`);
  t.is(clock.pending, 0, `${label}: no timer left`);
  t.deepEqual(
    streams.filter((s) => !s.isClosed).map((s) => s.remoteAddress),
    [],
    `${label}: every stream closed`,
  );
};

for (const crossed of [false, true]) {
  test(`stop at every step of ${crossed ? 'crossed dials' : 'a dial'}: nothing is adopted after it, nothing is left open`, async (t) => {
    // How many steps a run takes when nobody stops.
    let total = 0;
    {
      const q = makeManualQueue();
      const net = makeNet(q);
      const idB = makeIdentity(nodeCrypto);
      const [a, b] = await Promise.all([startHost(net, 'a', makeSimClock()), startHost(net, 'b', makeSimClock(), idB)]);
      a.connect(idB.vatId, 'b', 1).catch(() => {});
      total = await drain(q);
      await Promise.all([a.close(), b.close()]);
    }
    t.true(total > 5, `a dial takes several steps (${total})`);
    for (let at = 0; at <= total; at++) {
      const q = makeManualQueue();
      const net = makeNet(q);
      const [clockA, clockB] = [makeSimClock(), makeSimClock()];
      const [idA, idB] = [makeIdentity(nodeCrypto), makeIdentity(nodeCrypto)];
      const [a, b] = await Promise.all([startHost(net, 'a', clockA, idA), startHost(net, 'b', clockB, idB)]);
      const fromA = outcome(a.connect(idB.vatId, 'b', 1));
      const fromB = crossed ? outcome(b.connect(idA.vatId, 'a', 1)) : undefined;
      for (let i = 0; i < at; i++) await step(q);
      await a.close();
      await drain(q);
      const label = `stopped at step ${at} of ${total}`;
      t.true(fromA.settled, `${label}: a's connect settled`);
      if (fromA.error) t.is(fromA.error.name, 'HostStoppingError', `${label}: ${fromA.error.message}`);
      assertStopped(t, a, clockA, net.streamsOf('a'), label);
      // The peer learns of it: its side of every session with a is gone too.
      t.is(b.stats().sessions, 0, `${label}: b holds no session with a stopped host`);
      if (fromB) t.true(fromB.settled, `${label}: b's connect settled`);
      await b.close();
      await drain(q);
      assertStopped(t, b, clockB, net.streamsOf('b'), `${label}, then b`);
    }
  });
}

test('a dial that lost the crossed-connection tie decides again as soon as the winning session dies during adoption', async (t) => {
  const q = makeManualQueue();
  const net = makeNet(q);
  const ids = [makeIdentity(nodeCrypto), makeIdentity(nodeCrypto)].sort((x, y) => (x.vatId < y.vatId ? -1 : 1));
  const [winnerId, loserId] = ids as [ReturnType<typeof makeIdentity>, ReturnType<typeof makeIdentity>];
  const [clockW, clockL] = [makeSimClock(), makeSimClock()];
  // The winner's Signature and what follows it reach the loser in one chunk, with a
  // forged Encrypted frame behind them: the loser's path ends while it is being adopted.
  let held: MemoryStream | undefined;
  net.onDial((from, _to, mine) => {
    if (from !== 'w') return;
    held = mine;
    mine.link.tap((bytes) => {
      if (((bytes[0] as number) & 0x1f) === Tag.Signature) mine.link.hold();
    });
  });
  const w = await startHost(net, 'w', clockW, winnerId);
  const l = await startHost(net, 'l', clockL, loserId);
  const fromW = outcome(w.connect(loserId.vatId, 'l', 1));
  const fromL = outcome(l.connect(winnerId.vatId, 'w', 1));
  await drain(q);
  t.true(fromW.settled, "the winner's own dial is established (it sent its Signature)");
  t.false(fromL.settled, "the loser waits for the winner's session");
  const chunks = held!.link.takeHeld();
  t.true(chunks.length > 0, 'the Signature was held');
  held!.link.release();
  const forged = encodeFrame(Tag.Encrypted, new Uint8Array(40).fill(7));
  const all = [...chunks, forged];
  const joined = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of all) {
    joined.set(c, at);
    at += c.length;
  }
  held!.link.inject(joined);
  await drain(q);
  // No simulated time passed: the loser did not sit out CROSSED_WAIT_MS.
  t.true(fromL.settled, "the loser's connect settled without waiting out the crossed-connection wait");
  t.is(fromL.error, undefined, fromL.error?.message);
  const [sw, sl] = [w.sessions(), l.sessions()];
  t.is(sw.length, 1);
  t.is(sl.length, 1);
  // A live session comes back without a dial: both sides hold the same one.
  const onW = await w.connect(loserId.vatId, 'l', 1);
  t.is(onW.path.sessionId, fromL.value!.path.sessionId);
  t.is(sw[0]!.peer, loserId.vatId);
  t.is(sl[0]!.peer, winnerId.vatId);
  await Promise.all([w.close(), l.close()]);
  await drain(q);
  assertStopped(t, w, clockW, net.streamsOf('w'), 'winner');
  assertStopped(t, l, clockL, net.streamsOf('l'), 'loser');
});
