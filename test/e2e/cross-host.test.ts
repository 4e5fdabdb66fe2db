/**
 * E() between hosts over real TCP on loopback and real secure sessions: vats
 * and hosts on different hosts call each other, pass references both ways and
 * through a third host, and see a named error when a session drops.
 */
import '@endo/init';
import test from 'ava';
import { E, Far } from '@endo/far';
import { parseSturdyRef } from '../../capabilities/sturdy-ref.js';
import { startHost, type Host } from '../../runtime/index.js';
import { fixture, tempHome, withHost } from '../helpers/host.js';

const quiet = { spareWorkers: 0 } as const;

const twoHosts = async (t: any): Promise<[Host, Host]> => [await withHost(t, quiet), await withHost(t, quiet)];

test('a vat on one host calls a vat on another through a sturdy ref', async (t) => {
  const [a, b] = await twoHosts(t);
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const { root: alice } = await a.spawnVat({ module: fixture('party.ts'), name: 'alice', params: { label: 'alice' } });
  const ref = b.makeSturdyRef('bob');
  t.regex(ref, new RegExp(`^tribe://${b.id}@127\\.0\\.0\\.1:${b.address!.port}/[a-z2-7]{32}$`));
  t.is(await E(alice).lookupAndCall(ref, 'label'), 'bob');
  // A second lookup reuses the session and the channel.
  t.is(await E(alice).lookupAndCall(ref, 'echo', 42), 42);
  const [sa] = a.ps().sessions;
  t.is(a.ps().sessions.length, 1);
  t.is(sa!.peer, b.id);
  t.is(b.ps().sessions.length, 1);
  t.is(b.ps().sessions[0]!.peer, a.id);
  // The vat talks to the remote vat over its own channel, not through its host.
  t.true(a.ps().vats.find((v) => v.name === 'alice')!.peers.includes(`${b.id}/bob`));
  // And the other way, over the same channel: bob enlivens a ref to alice.
  const { root: bob } = { root: await b.enliven(ref) };
  t.is(await E(bob).lookupAndCall(a.makeSturdyRef('alice'), 'label'), 'alice');
  t.deepEqual(
    b.ps().vats.find((v) => v.name === 'bob')!.peers.filter((p) => p.startsWith(a.id)),
    [`${a.id}/alice`],
    'one channel between the two vats, used from both sides',
  );
});

test('references pass both ways between hosts, with identity kept', async (t) => {
  const [a, b] = await twoHosts(t);
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const bob = await a.enliven(b.makeSturdyRef('bob'));
  // B's object comes to A …
  const thing = await E(bob).makeThing('t1');
  t.is(await E(thing).owner(), 'bob');
  // … and keeps its identity in later messages: sent home it is the object B made,
  // and B sending it again gives A the presence it already holds.
  t.true(await E(bob).isMine(thing), "B's thing comes home as itself");
  t.is(await E(bob).echo(thing), thing, 'B sends it back as the same presence');
  // … and A's object goes to B, which calls back into A.
  const greeter = Far('Greeter', { hello: (x: string) => `hello ${x} from A` });
  t.is(await E(bob).callBack(greeter, 'bob'), 'hello bob from A');
  // Sent in two messages, it is one presence on B; sent back, it is A's own object.
  t.is(await E(bob).keep(greeter), 1);
  t.true(await E(bob).isKept(greeter), 'the second message brings B the presence of the first');
  t.false(await E(bob).isKept(Far('Greeter', { hello: () => 'other' })), 'another object is not it');
  t.false(await E(bob).isMine(greeter), 'an object of A is not one B made');
  t.is(await E(bob).echo(greeter), greeter, "A's object comes home as itself");
  // Promises go both ways too.
  const { promise, settler } = await E(bob).pending();
  const awaited = E(bob).awaitIt(promise);
  await E(settler).settle('done');
  t.is(await awaited, 'got done');
  // Errors keep their messages.
  await t.throwsAsync(() => E(bob).fail('nope'), { message: /nope/ });
});

test("a third host's actor passed along is handed off: the receiving vat calls it directly, after the donor host is gone too", async (t) => {
  const [a, b] = await twoHosts(t);
  const c = await withHost(t, quiet);
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  await c.spawnVat({ module: fixture('party.ts'), name: 'carol', params: { label: 'carol' } });
  const { root: alice } = await a.spawnVat({ module: fixture('party.ts'), name: 'alice', params: { label: 'alice' } });
  const bob = await a.enliven(b.makeSturdyRef('bob'));
  const carol = await a.enliven(c.makeSturdyRef('carol'));
  // B gets a reference to C's actor from A, and calls it.
  t.is(await E(bob).callMethod(carol, 'label'), 'carol');
  t.is(await E(bob).keep(carol), 1);
  t.is(await E(bob).callKept('echo', 'via A'), 'via A');
  // B's host dialled C's (the hints A's host put in the gift note) and bob has its own channel to carol.
  t.true(b.ps().sessions.some((s) => s.peer === c.id), "B's host has a session with C's");
  t.true(b.ps().vats.find((v) => v.name === 'bob')!.peers.includes(`${c.id}/carol`));
  // One gift, or two if bob collected its first presence before the second message: never a proxy.
  const bobStatus = b.ps().vats.find((v) => v.name === 'bob')!;
  t.true(bobStatus.handoffs >= 1 && bobStatus.proxied === 0, JSON.stringify(bobStatus));
  // A vat does the same with refs it enlivens itself.
  const carolRef = c.makeSturdyRef('carol');
  t.is(await E(alice).lookupAndCall(carolRef, 'label'), 'carol');
  t.true(await E(bob).isKeptByName(carolRef), "bob's handed-on carol is the presence carol's sturdy ref gives it");
  // On the message trace: bob's calls to carol, made on B, pass no frame through host A.
  const framesAt = (h: Host) => h.ps().sessions.reduce((n, s) => n + s.framesIn + s.framesOut, 0);
  const bobOnB = b.names.lookup('bob');
  t.is(await E(bobOnB).callKept('echo', 'warm'), 'warm');
  const before = framesAt(a);
  for (let i = 0; i < 5; i += 1) t.is(await E(bobOnB).callKept('echo', i), i);
  t.is(framesAt(a), before, 'no frame passed through host A');
  // The donor host goes away: B's reference to carol does not depend on it.
  await a.stop();
  t.is(await E(b.names.lookup('bob')).callKept('echo', 'A is gone'), 'A is gone');
});

test('a dropped session rejects pending calls with SessionLostError, and later calls at once', async (t) => {
  const [a, b] = await twoHosts(t);
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const { root: alice } = await a.spawnVat({ module: fixture('party.ts'), name: 'alice', params: { label: 'alice' } });
  const ref = b.makeSturdyRef('bob');
  const bob = await a.enliven(ref);
  const { promise } = await E(bob).pending();
  const waiting = E(bob).awaitIt(promise); // B never settles it
  t.is(await E(alice).keep(await E(alice).lookupAndCall(ref, 'makeThing', 'x')), 1);
  t.is(await E(alice).callKept('owner'), 'bob');
  const vatPending = E(alice).lookupAndCall(ref, 'awaitIt', promise);
  a.remote!.diagnostics.dropSession(b.id, new Error('cut by the test'));
  await t.throwsAsync(waiting, { name: 'SessionLostError' });
  await t.throwsAsync(() => E(bob).label(), { name: 'SessionLostError' });
  await t.throwsAsync(vatPending, { message: /SessionLostError/ });
  await t.throwsAsync(() => E(alice).callKept('owner'), { message: /SessionLostError/ });
  // A new enliven makes a new session.
  t.is(await E(await a.enliven(ref)).label(), 'bob');
});

test('revoked, unknown and mis-addressed refs fail with named errors', async (t) => {
  const [a, b] = await twoHosts(t);
  const c = await withHost(t, quiet);
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const ref = b.makeSturdyRef('bob');
  const other = b.makeSturdyRef('bob');
  t.not(ref, other);
  t.is(await E(await a.enliven(ref)).label(), 'bob');
  b.revokeSturdyRef(ref);
  await t.throwsAsync(() => a.enliven(ref), { message: /SturdyRefError: unknown or revoked/ });
  t.is(await E(await a.enliven(other)).label(), 'bob', 'other refs to the same actor still work');
  t.throws(() => b.revokeSturdyRef(ref), { name: 'SturdyRefError' });
  t.throws(() => a.revokeSturdyRef(other), { name: 'SturdyRefError', message: /belongs to host/ });
  // Right address, wrong VatId: the session refuses (NotMe), nothing is reached.
  const wrongId = other.replace(b.id, c.id);
  await t.throwsAsync(() => a.enliven(wrongId), { name: 'NotMeError' });
  // Not a ref at all.
  await t.throwsAsync(() => a.enliven('tribe://nope'), { name: 'SturdyRefError' });
  t.throws(() => b.makeSturdyRef('nobody'), { name: 'NameNotFoundError' });
  // Nothing listens there (and A has no session with that VatId to use instead).
  const nowhere = wrongId.replace(`:${b.address!.port}/`, ':1/');
  await t.throwsAsync(() => a.enliven(nowhere), { name: 'DialError' });
  // With a live session to the VatId, the address is only a hint: the session is used.
  t.is(await E(await a.enliven(other.replace(`:${b.address!.port}/`, ':1/'))).label(), 'bob');
});

/** Lowercase RFC 4648 base32 (no padding) back to bytes. */
const fromBase32 = (text: string): Uint8Array => {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text) {
    value = ((value << 5) | 'abcdefghijklmnopqrstuvwxyz234567'.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
};

test('swiss numbers are 160 random bits: distinct, and every bit varies (at least 128 bits of secret)', async (t) => {
  const a = await withHost(t, quiet);
  a.names.publish('thing', Far('Thing', {}));
  const swisses = Array.from({ length: 256 }, () => parseSturdyRef(a.makeSturdyRef('thing')).swiss);
  t.is(new Set(swisses).size, swisses.length, 'no two alike');
  const first = fromBase32(swisses[0]!);
  const width = first.length * 8;
  const varying = new Set<number>();
  for (const swiss of swisses) {
    t.regex(swiss, /^[a-z2-7]{32}$/);
    const bytes = fromBase32(swiss);
    bytes.forEach((b, i) => {
      for (let bit = 0; bit < 8; bit++) if (((b ^ first[i]!) >> bit) & 1) varying.add(i * 8 + bit);
    });
  }
  t.is(width, 160);
  // A bit fixed by the code (padding, a counter, a short random part) stays the same in all 256;
  // a random one does with probability 2^-255.
  t.is(varying.size, width, `${width - varying.size} bits never change`);
});

test('a ref of this host enlivens locally, without a session', async (t) => {
  const a = await withHost(t, quiet);
  await a.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const { root: alice } = await a.spawnVat({ module: fixture('party.ts'), name: 'alice', params: { label: 'alice' } });
  const ref = a.makeSturdyRef('bob');
  t.is(await E(await a.enliven(ref)).label(), 'bob');
  t.is(await E(alice).lookupAndCall(ref, 'label'), 'bob');
  t.is(a.ps().sessions.length, 0);
});

test('a connected name lets vats reach the remote actor directly', async (t) => {
  const [a, b] = await twoHosts(t);
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const { root: alice } = await a.spawnVat({ module: fixture('party.ts'), name: 'alice', params: { label: 'alice' } });
  await a.connect(b.makeSturdyRef('bob'), 'remote-bob');
  t.is(await E(alice).pingPeer('remote-bob'), 'bob');
  t.true(a.ps().vats.find((v) => v.name === 'alice')!.peers.includes(`${b.id}/bob`));
});

test('crossed connections end with exactly one session, the same on both sides', async (t) => {
  for (let i = 0; i < 4; i++) {
    const [a, b] = await twoHosts(t);
    const [sa, sb] = await Promise.all([
      a.remote!.diagnostics.connect(b.id as any, `127.0.0.1:${b.address!.port}`),
      b.remote!.diagnostics.connect(a.id as any, `127.0.0.1:${a.address!.port}`),
    ]);
    t.is(sa.path.sessionId, sb.path.sessionId, `round ${i}: both sides kept the same session`);
    t.is(a.ps().sessions.length, 1);
    t.is(b.ps().sessions.length, 1);
    // The survivor is the one the smaller VatId initiated.
    const initiator = sa.path.role === 'initiator' ? a.id : b.id;
    t.is(initiator, [a.id, b.id].sort()[0]!);
  }
});

test('when the remote vat ends, callers on the other host get its termination error', async (t) => {
  const [a, b] = await twoHosts(t);
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const { root: alice } = await a.spawnVat({ module: fixture('party.ts'), name: 'alice', params: { label: 'alice' } });
  const ref = b.makeSturdyRef('bob');
  t.is(await E(alice).lookupAndCall(ref, 'label'), 'bob');
  const bob = await a.enliven(ref);
  await b.terminateVat('bob');
  await t.throwsAsync(() => E(bob).label(), { message: /VatTerminatedError: vat "bob" was stopped/ });
  await t.throwsAsync(() => E(alice).lookupAndCall(ref, 'label'), { message: /SturdyRefError: the actor behind this ref \("bob"\) is not running/ });
  // The session itself is fine: other actors on B are still reachable.
  await b.spawnVat({ module: fixture('party.ts'), name: 'carl', params: { label: 'carl' } });
  t.is(await E(await a.enliven(b.makeSturdyRef('carl'))).label(), 'carl');
  t.is(a.ps().sessions.length, 1);
});

test('sturdy refs survive a restart of their host: same VatId, same port, same swiss', async (t) => {
  const a = await withHost(t, quiet);
  const homeB = tempHome(t);
  let b = await startHost({ home: homeB, control: false, print: () => {}, ...quiet });
  await b.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const ref = b.makeSturdyRef('bob');
  const port = b.address!.port;
  t.is(await E(await a.enliven(ref)).label(), 'bob');
  await b.stop();
  b = await startHost({ home: homeB, control: false, print: () => {}, ...quiet });
  t.teardown(() => b.stop());
  t.is(b.address!.port, port, 'the host listens where it did before');
  t.is(await E(await a.enliven(ref)).label(), 'bob', 'the restored vat answers the old ref');
});
