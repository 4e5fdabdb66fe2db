/**
 * Three-party handoff on CapTP connections (capabilities/connection.ts with
 * capabilities/handoff.ts): three parties in one process, each pair joined by
 * an in-memory wire (handoff-parties.ts). B holds a reference to C's object and
 * hands it to A; A should end up with C's object over its own link to C, with
 * CapTP's order kept, and with a proxy through B whenever that cannot be.
 */
import '@endo/init';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import test from 'ava';
import { E } from '@endo/far';
import { ConnectionAbortedError } from '../../capabilities/errors.js';
import { checkGiftNotes, MAX_GIFTS_PER_MESSAGE, MAX_HINTS } from '../../capabilities/gift-notes.js';
import { quietMarshalLogging } from '../../runtime/quiet-console.js';
import { LOCAL_MS, until, within } from '../helpers/bounded.js';
import { calls, connect, fetchOwn, HOST, makeParty, quiesce, triangle } from './handoff-parties.js';

// Refused claims are expected here; keep @endo/marshal's per-error dump out of the output.
quietMarshalLogging(false);

test('B hands C\'s object to A: A holds the very presence it gets from C, and its calls go to C', async (t) => {
  const { a, b, c } = triangle();
  const cInB = await fetchOwn(b, c);
  t.is(await within(E(b.boot('a')).keep(cInB), LOCAL_MS, 'keep'), 1);
  const kept = a.kept[0];
  t.is(kept, await fetchOwn(a, c), 'the same presence as from C directly');
  t.deepEqual(a.conn('b').handoffStats(), { direct: 1, proxied: 0 });
  t.deepEqual(a.settled, [['direct', undefined]]);
  t.like(c.handoffs.stats(), { provided: 1, claimed: 1, pending: 0, waiting: 0 });
  t.like(b.handoffs.stats(), { given: 1 });

  t.is(await E(kept).label(), 'c');
  t.is(calls(a.conn('b'), 'label', 'out'), 0, 'nothing of it goes through B');
  t.is(calls(a.conn('c'), 'label', 'out'), 1);
  t.is(calls(c.conn('a'), 'label', 'in'), 1);
  // The message that carried it said so.
  const carried = a.conn('b').trace().find((e) => e.dir === 'in' && e.method === 'keep');
  t.is(carried?.gifts, 1);

  // Passed on again it is each party's own view of it.
  t.is(await E(a.boot('b')).whichIs(kept), 'c', 'B gets back its own presence of C\'s object');
  t.is(await E(a.boot('c')).whichIs(kept), 'own', 'C gets its own object');
  t.is(calls(a.conn('b'), 'whichIs', 'out'), 1);
  // Named by B again, it is the same direct presence at A (A knows it as C's, from fetchOwn).
  t.is(await E(b.boot('a')).whichIs(cInB), 'c');
});

test('the message carrying a gift, and every later one on that connection, are delivered in order', async (t) => {
  const { a, b, c, ac } = triangle();
  const cInB = await fetchOwn(b, c);
  const bootA = await b.boot('a');
  await E(a.boot('c')).label(); // A's bootstrap of C is in place; only the claim crosses now
  ac.yx.hold(); // C's answers to A wait: the claim is answered but A does not hear of it
  const sent = [E(bootA).record(1), E(bootA).keep(cInB), E(bootA).record(2), E(bootA).keep(cInB), E(bootA).record(3)];
  await quiesce();
  t.deepEqual(a.log, [1], 'everything behind the gift waits');
  t.like(c.handoffs.stats(), { claimed: 1 });
  ac.yx.release();
  await within(Promise.all(sent), LOCAL_MS, 'the calls');
  t.deepEqual(a.log, [1, 'kept', 2, 'kept', 3]);
  t.is(a.kept[0], a.kept[1], 'the second mention needs no gift: it is the same import');
  t.is(a.kept[0], await fetchOwn(a, c));
  const notes = a.conn('b').trace().filter((e) => e.dir === 'in' && e.gifts !== undefined);
  t.is(notes.length, 1, 'one note, on the first message that names it');
  t.like(b.handoffs.stats(), { given: 1 });
});

test('fallback: when the owner cannot be reached, the reference is a working proxy through the donor', async (t) => {
  const { a, b, c } = triangle();
  a.reach = async () => {
    throw new Error('no route to C');
  };
  const cInB = await fetchOwn(b, c);
  await within(E(b.boot('a')).keep(cInB), LOCAL_MS, 'keep');
  const kept = a.kept[0];
  t.deepEqual(a.conn('b').handoffStats(), { direct: 0, proxied: 1 });
  t.is(await E(kept).label(), 'c');
  t.is(calls(a.conn('b'), 'label', 'out'), 1, 'through B');
  t.is(calls(b.conn('c'), 'label', 'out'), 1, 'and on to C');
  t.not(kept, await fetchOwn(a, c), 'not the direct presence');
  t.is(await E(a.boot('b')).whichIs(kept), 'c', 'B gets its own presence back');
  // The unclaimed gift waits at C until it expires.
  t.like(c.handoffs.stats(), { provided: 1, pending: 1 });
  c.clock.advance(60_000);
  t.like(c.handoffs.stats(), { expired: 1, pending: 0 });
});

test('fallback: when the owner refuses the donor\'s gift, the claim expires and the reference is a proxy through the donor', async (t) => {
  const { a, b, c } = triangle({ c: { maxGiftsPerDonor: 0, claimWaitMs: 500 } });
  const cInB = await fetchOwn(b, c);
  const kept = E(b.boot('a')).keep(cInB);
  await quiesce();
  t.like(c.handoffs.stats(), { refused: 1, waiting: 1 }, 'B\'s gift was refused; A\'s claim waits');
  t.deepEqual(a.log, []);
  c.clock.advance(500);
  await within(kept, LOCAL_MS, 'keep');
  t.deepEqual(a.conn('b').handoffStats(), { direct: 0, proxied: 1 });
  t.is(a.settled.length, 1);
  t.is(a.settled[0]?.[0], 'proxied');
  t.regex(a.settled[0]?.[1] ?? '', /^GiftExpiredError: /);
  t.is(await E(a.kept[0]).label(), 'c');
  t.is(calls(a.conn('b'), 'label', 'out'), 1);
  t.like(c.handoffs.stats(), { pending: 0, waiting: 0 });
});

test('a reference whose owner is the recipient itself is not a gift: A gets its own object back', async (t) => {
  const { a, b } = triangle();
  const aInB = await fetchOwn(b, a);
  await within(E(b.boot('a')).keep(aInB), LOCAL_MS, 'keep');
  t.is(a.kept[0], a.own);
  t.like(b.handoffs.stats(), { given: 0 });
  t.deepEqual(a.conn('b').handoffStats(), { direct: 0, proxied: 0 });
});

test('a donor\'s own objects go as CapTP sends them, without gifts', async (t) => {
  const { a, b } = triangle();
  await E(b.boot('a')).keep(b.own);
  t.is(await E(a.kept[0]).label(), 'b');
  t.like(b.handoffs.stats(), { given: 0 });
  t.false(a.conn('b').trace().some((e) => e.gifts !== undefined));
});

test('a gift claimed while its message waits behind a late bootstrap answer is still the direct presence', async (t) => {
  // A answers B's second bootstrap request late (that bootstrap is a promise). B's
  // record(1) waits for that answer, and keep(C's object) behind it; A claims keep's
  // gift in the meantime, and the claimed presence must still be what keep gets.
  const a = makeParty('a');
  const b = makeParty('b');
  const c = makeParty('c');
  let open!: () => void;
  const late = new Promise<void>((r) => (open = r));
  let asked = 0;
  connect(a, b, { bootX: (boot) => () => (++asked === 1 ? boot : late.then(() => boot)) });
  connect(b, c);
  connect(a, c);
  const cInB = await fetchOwn(b, c);
  await E(a.boot('c')).label();
  const bootA = await b.boot('a');
  const again = b.conn('a').getBootstrap();
  const sent = [E(bootA).record(1), E(bootA).keep(cInB)];
  await quiesce();
  t.like(c.handoffs.stats(), { claimed: 1 }, 'A claimed the gift before its bootstrap answer went out');
  t.deepEqual(a.log, [], 'both wait for the bootstrap answer');
  open();
  await within(Promise.all([again, ...sent]), LOCAL_MS, 'the calls');
  t.deepEqual(a.log, [1, 'kept']);
  t.is(a.kept[0], await fetchOwn(a, c), 'the direct presence');
  t.deepEqual(a.conn('b').handoffStats(), { direct: 1, proxied: 0 });
  await E(a.kept[0]).label();
  t.is(calls(a.conn('b'), 'label', 'out'), 0);
});

// --- no deadlock: handoff's own calls pass messages that wait for gifts ---

/** A receives at once a gift from B owned by C and a gift from C owned by B. */
const crossedGifts = async (stripOob: boolean, prefetch: boolean) => {
  const { a, b, c, ab, ac } = triangle();
  // With A's bootstraps of B and C in place, only the claims' answers have to pass.
  if (prefetch) await Promise.all([a.boot('b'), a.boot('c')]);
  if (stripOob) {
    for (const dir of [ab.xy, ab.yx, ac.xy, ac.yx]) {
      dir.tamper = ({ oob: _oob, ...msg }) => msg;
    }
  }
  const cInB = await fetchOwn(b, c);
  const bInC = await fetchOwn(c, b);
  const fromB = await b.boot('a');
  const fromC = await c.boot('a');
  // Both messages reach A in the same turn: A's connection to B waits on a claim
  // answered over its connection to C, which waits on a claim answered over the first.
  ab.yx.hold();
  ac.yx.hold();
  const sent = [E(fromB).keep(cInB), E(fromC).keep(bInC)];
  await quiesce();
  ab.yx.release();
  ac.yx.release();
  return { a, b, c, ab, ac, sent };
};

test('no deadlock: A waits on two gifts at once, each claimed over the other\'s waiting connection; the claims\' answers pass', async (t) => {
  const { a, b, c, ab, ac, sent } = await crossedGifts(false, false);
  await within(Promise.all(sent), LOCAL_MS, 'both keeps');
  t.deepEqual(a.log, ['kept', 'kept']);
  t.deepEqual(new Set(a.kept), new Set([await fetchOwn(a, c), await fetchOwn(a, b)]));
  t.deepEqual(a.conn('b').handoffStats(), { direct: 1, proxied: 0 });
  t.deepEqual(a.conn('c').handoffStats(), { direct: 1, proxied: 0 });
  // What passed: the answers to A's bootstrap request and to its claim, marked by B and C.
  for (const [peer, dir] of [['b', ab.yx], ['c', ac.yx]] as const) {
    const asked = a.conn(peer).trace().filter((e) => e.dir === 'out' && (e.type === 'CTP_BOOTSTRAP' || e.method === 'acceptFrom'));
    t.deepEqual(asked.map((e) => e.method ?? e.type), ['CTP_BOOTSTRAP', 'acceptFrom'], peer);
    for (const q of asked) {
      const answer = dir.sent.find((m) => m['type'] === 'CTP_RETURN' && m['answerID'] === q.questionID);
      t.is(answer?.['oob'], true, `${peer}'s answer to ${q.method ?? q.type} is marked`);
    }
    const ordinary = dir.sent.find((m) => m['type'] === 'CTP_CALL' && String((m['method'] as { body: string }).body).startsWith('["keep"'));
    t.is(ordinary?.['oob'], undefined, 'the gift\'s own message is not marked');
  }
});

test('… and without the oob marks the same exchange stalls until the claim deadline, then falls back to proxies', async (t) => {
  const { a, b, c, sent } = await crossedGifts(true, true);
  await quiesce(20);
  t.deepEqual(a.log, [], 'neither message was delivered');
  // The owners answered both claims; the answers wait behind the messages that wait for them.
  t.like(b.handoffs.stats(), { claimed: 1, pending: 0, waiting: 0 });
  t.like(c.handoffs.stats(), { claimed: 1, pending: 0, waiting: 0 });
  // Only the recipient's claim deadline is left to end it.
  t.deepEqual([a.clock.pending, b.clock.pending, c.clock.pending], [2, 0, 0]);
  let settledAny = false;
  for (const p of sent) p.then(() => (settledAny = true), () => (settledAny = true));
  await quiesce(20);
  t.false(settledAny);
  t.deepEqual(a.log, []);
  // 2 × claimWaitMs later both claims give up: the messages arrive, their references proxies.
  a.clock.advance(2 * 10_000);
  await quiesce(20);
  t.is(a.log.length, 2, 'both messages delivered');
  t.like(a.conn('b').handoffStats(), { direct: 0, proxied: 1 });
  t.like(a.conn('c').handoffStats(), { direct: 0, proxied: 1 });
});

test('an owner that never answers a claim holds the donor\'s messages only until the claim deadline', async (t) => {
  const { a, b, c, ac } = triangle();
  const cInB = await fetchOwn(b, c);
  const bootA = await b.boot('a');
  await E(a.boot('c')).label();
  // C never answers: whatever A sends it is held for ever.
  ac.xy.hold();
  const sent = [E(bootA).record(1), E(bootA).keep(cInB), E(bootA).record(2)];
  for (const s of sent) s.catch(() => {});
  await quiesce();
  t.deepEqual(a.log, [1]);
  a.clock.advance(2 * 10_000 - 1);
  await quiesce();
  t.deepEqual(a.log, [1], 'still waiting just before the deadline');
  a.clock.advance(1);
  await quiesce();
  t.deepEqual(a.log, [1, 'kept', 2], 'then delivered, in order');
  t.like(a.conn('b').handoffStats(), { direct: 0, proxied: 1 });
  t.is(await E(a.kept[0]).label(), 'c', 'through B, the proxy works');
});

test('A and C hand each other, at once, a gift B owns: both settle (no connection a claim is answered on waits)', async (t) => {
  for (const stripOob of [false, true]) {
    const { a, b, c, ac } = triangle();
    if (stripOob) for (const dir of [ac.xy, ac.yx]) dir.tamper = ({ oob: _oob, ...msg }) => msg;
    const bInA = await fetchOwn(a, b);
    const bInC = await fetchOwn(c, b);
    const cBoot = await a.boot('c');
    const aBoot = await c.boot('a');
    const sent = [E(cBoot).keep(bInA), E(aBoot).keep(bInC)];
    await within(Promise.all(sent), LOCAL_MS, `both keeps${stripOob ? ' (oob stripped on A–C)' : ''}`);
    t.is(a.kept[0], bInA, 'A holds B\'s object as it got it from B');
    t.is(c.kept[0], bInC);
    t.like(b.handoffs.stats(), { claimed: 2 });
  }
});

// --- hostile input ---

const NOTE = { slot: 'o+5', owner: `${HOST}/c`, nonce: 'a'.repeat(26) };
const BAD_GIFTS: Array<[string, unknown]> = [
  ['not a list', 'o+5'],
  ['a record', NOTE],
  ['null', null],
  ['an empty list', []],
  [`more than ${MAX_GIFTS_PER_MESSAGE} notes`, Array.from({ length: MAX_GIFTS_PER_MESSAGE + 1 }, () => NOTE)],
  ['a note that is not a record', [null]],
  ['a note that is a list', [[NOTE.slot, NOTE.owner, NOTE.nonce]]],
  ['an import slot', [{ ...NOTE, slot: 'o-5' }]],
  ['a promise slot', [{ ...NOTE, slot: 'p+5' }]],
  ['a slot without a number', [{ ...NOTE, slot: 'o+' }]],
  ['a slot past 15 digits', [{ ...NOTE, slot: `o+${'9'.repeat(16)}` }]],
  ['a numeric slot', [{ ...NOTE, slot: 5 }]],
  ['an owner without a host', [{ ...NOTE, owner: 'c' }]],
  ['an owner without an endpoint', [{ ...NOTE, owner: `${HOST}/` }]],
  ['a numeric owner', [{ ...NOTE, owner: 42 }]],
  ['a 25-character nonce', [{ ...NOTE, nonce: 'a'.repeat(25) }]],
  ['an uppercase nonce', [{ ...NOTE, nonce: 'A'.repeat(26) }]],
  ['no nonce', [{ slot: NOTE.slot, owner: NOTE.owner }]],
  ['hints that are not a list', [{ ...NOTE, hints: '127.0.0.1:1' }]],
  [`more than ${MAX_HINTS} hints`, [{ ...NOTE, hints: Array.from({ length: MAX_HINTS + 1 }, (_, i) => `h${i}:1`) }]],
  ['a hint with a space', [{ ...NOTE, hints: ['127.0.0.1 1'] }]],
  ['an empty hint', [{ ...NOTE, hints: [''] }]],
  ['a durable note with a nonce too', [{ ...NOTE, key: `d:${'a'.repeat(26)}` }]],
  ['a durable key of another form', [{ slot: NOTE.slot, owner: NOTE.owner, key: `x:${'a'.repeat(26)}` }]],
  ['a durable key too short', [{ slot: NOTE.slot, owner: NOTE.owner, key: `d:${'a'.repeat(25)}` }]],
  ['a durable key that is not a string', [{ slot: NOTE.slot, owner: NOTE.owner, key: 42 }]],
  ['a numeric hint', [{ ...NOTE, hints: [4000] }]],
  ['one bad note among good ones', [NOTE, NOTE, { ...NOTE, nonce: 'x' }]],
];

const isCall = (m: Record<string, unknown>, method: string) =>
  m['type'] === 'CTP_CALL' && String((m['method'] as { body?: unknown } | undefined)?.body).startsWith(`["${method}"`);

test('checkGiftNotes: at most MAX_GIFTS_PER_MESSAGE notes, each well formed', (t) => {
  t.is(checkGiftNotes(Array.from({ length: MAX_GIFTS_PER_MESSAGE }, () => NOTE)), undefined);
  t.is(checkGiftNotes([{ ...NOTE, hints: Array.from({ length: MAX_HINTS }, () => '[::1]:4000') }]), undefined);
  for (const [what, gifts] of BAD_GIFTS) t.is(typeof checkGiftNotes(gifts), 'string', what);
});

for (const [what, gifts] of BAD_GIFTS) {
  test(`a gifts field with ${what} aborts the connection with ProtocolViolationError; nothing else breaks`, async (t) => {
    const { a, b, c, ab } = triangle();
    const bootA = await b.boot('a');
    ab.yx.tamper = (m) => (isCall(m, 'record') ? { ...m, gifts } : m);
    const call = E(bootA).record(1);
    await t.throwsAsync(within(call, LOCAL_MS, 'record'), { name: 'ConnectionAbortedError' });
    t.is(a.conn('b').aborted?.name, 'ProtocolViolationError');
    t.regex(a.conn('b').aborted?.message ?? '', /^ProtocolViolationError: a->b: /);
    t.deepEqual(a.log, [], 'the message was not delivered');
    t.deepEqual(a.conn('b').handoffStats(), { direct: 0, proxied: 0 }, 'nothing was claimed');
    t.like(c.handoffs.stats(), { waiting: 0, pending: 0 });
    // A's other connection, and B's, still work.
    t.is(await E(a.boot('c')).label(), 'boot c');
    t.is(await E(b.boot('c')).label(), 'boot c');
    t.is(a.conn('c').aborted, undefined);
  });
}

test('an oob mark on an ordinary call is ignored: it waits behind a message waiting for its gift; real handoff calls pass', async (t) => {
  const { a, b, c, ab, ac } = triangle();
  const cInB = await fetchOwn(b, c);
  const bootA = await b.boot('a');
  const decoy = await E(bootA).decoy();
  await E(a.boot('c')).label();
  ac.yx.hold(); // A's claim at C is answered, but A does not hear of it yet
  ab.yx.tamper = (m) => (m['type'] === 'CTP_CALL' ? { ...m, oob: true } : m);
  const sent = [E(bootA).keep(cInB), E(bootA).record(2), E(decoy).acceptFrom()];
  // A claim on A's own table, over B's bootstrap: a handoff call, which may pass.
  const claimAtA = E(bootA).acceptFrom(c.id, 'q'.repeat(26));
  await quiesce();
  t.deepEqual(a.log, [], 'keep waits for its gift; record and the decoy wait behind it');
  t.like(a.handoffs.stats(), { waiting: 1 }, 'the handoff call passed');
  ac.yx.release();
  await within(Promise.all(sent), LOCAL_MS, 'the calls');
  t.deepEqual(a.log, ['kept', 2, 'decoy']);
  t.is(a.conn('b').aborted, undefined, 'a mark on a wrong message is ignored, not a violation');
  a.clock.advance(60_000);
  await t.throwsAsync(claimAtA, { message: /^GiftExpiredError: / });
});

test('a connection without the handoff option strips gifts and oob marks: the reference is a proxy through the donor', async (t) => {
  const a = makeParty('a');
  const b = makeParty('b');
  const c = makeParty('c');
  const ab = connect(a, b, { plainX: true });
  connect(b, c);
  connect(a, c);
  const cInB = await fetchOwn(b, c);
  await within(E(b.boot('a')).keep(cInB), LOCAL_MS, 'keep');
  t.true(ab.yx.sent.some((m) => Array.isArray(m['gifts'])), 'B sent a note');
  t.true(ab.yx.sent.some((m) => m['oob'] === true), 'and marks');
  t.is(await E(a.kept[0]).label(), 'c');
  t.is(calls(a.conn('b'), 'label', 'out'), 1, 'through B');
  t.not(a.kept[0], await fetchOwn(a, c));
  t.deepEqual(a.conn('b').handoffStats(), { direct: 0, proxied: 0 });
  t.is(a.conn('b').aborted, undefined);
  // B's gift waits at C for a claim that never comes, and expires.
  t.like(c.handoffs.stats(), { pending: 1 });
  c.clock.advance(60_000);
  t.like(c.handoffs.stats(), { pending: 0, expired: 1 });
});

// --- abort draining ---

/** B sends A record(1), keep(C's object), record(2) while A's link to C is held: the gift waits, record(1) is in. */
const giftWaitingAtA = async (p: ReturnType<typeof triangle>) => {
  const { a, b, c, ac } = p;
  const cInB = await fetchOwn(b, c);
  const bootA = await b.boot('a');
  await E(a.boot('c')).label();
  ac.yx.hold();
  const sent = [E(bootA).record(1), E(bootA).keep(cInB), E(bootA).record(2)];
  for (const s of sent) s.catch(() => {});
  await quiesce();
  return sent;
};

for (const [who, close] of [
  ['the donor closes its end (its CTP_DISCONNECT arrives)', (p: ReturnType<typeof triangle>) => p.b.conn('a').abort(new ConnectionAbortedError('b is going away'))],
  ['the recipient\'s link to the donor closes', (p: ReturnType<typeof triangle>) => p.a.conn('b').abort(new ConnectionAbortedError('link closed'))],
] as const) {
  test(`abort draining: ${who} while a message waits for its gift — it and those behind it are still delivered once claimed`, async (t) => {
    const p = triangle();
    const { a, c, ac } = p;
    await giftWaitingAtA(p);
    t.deepEqual(a.log, [1]);
    close(p);
    await quiesce();
    t.is(a.conn('b').aborted?.name, 'ConnectionAbortedError');
    ac.yx.release();
    await quiesce();
    t.deepEqual(a.log, [1, 'kept', 2]);
    t.is(a.kept[0], await fetchOwn(a, c), 'the direct presence');
    t.is(await E(a.kept[0]).label(), 'c');
    // Then the connection is done: later input is ignored and its references reject.
    a.conn('b').dispatch({ type: 'CTP_CALL', epoch: 0, questionID: 'q-99', target: 'o-1', method: { body: '["record",[3]]', slots: [] } });
    await quiesce();
    t.deepEqual(a.log, [1, 'kept', 2]);
    await t.throwsAsync(E(a.boot('b')).label(), { name: 'ConnectionAbortedError' });
  });
}

test('abort draining: a protocol violation while a message waits for its gift delivers nothing more', async (t) => {
  const p = triangle();
  const { a, c, ac } = p;
  const sent = await giftWaitingAtA(p);
  a.conn('b').dispatch({ type: 'NOT_CAPTP' });
  t.is(a.conn('b').aborted?.name, 'ProtocolViolationError');
  ac.yx.release();
  await quiesce();
  t.deepEqual(a.log, [1]);
  t.deepEqual(a.kept, []);
  t.like(c.handoffs.stats(), { claimed: 1 }, 'the claim itself went through');
  t.deepEqual(a.conn('b').handoffStats(), { direct: 0, proxied: 0 });
  for (const s of sent.slice(1)) await t.throwsAsync(s);
});

test('well-formed notes that name no real gift only cost the recipient a failed claim: the message is delivered', async (t) => {
  const { a, b, c, ab } = triangle({ c: { claimWaitMs: 500 } });
  const bootA = await b.boot('a');
  const forged = [
    { ...NOTE, owner: c.id, nonce: 'f'.repeat(26) }, // C never saw this nonce: the claim waits, then expires
    { ...NOTE, slot: 'o+6', owner: a.id }, // the recipient itself as owner
    { ...NOTE, slot: 'o+7', owner: b.id }, // the donor as owner
  ];
  ab.yx.tamper = (m) => (isCall(m, 'record') ? { ...m, gifts: forged } : m);
  const call = E(bootA).record(1);
  await quiesce();
  t.deepEqual(a.log, []);
  t.like(c.handoffs.stats(), { waiting: 1 });
  c.clock.advance(500);
  await within(call, LOCAL_MS, 'record');
  t.deepEqual(a.log, [1]);
  t.deepEqual(a.conn('b').handoffStats(), { direct: 0, proxied: 3 });
  t.is(a.conn('b').aborted, undefined);
});

test('GC: the recipient dropping a handed-on presence tells both the donor and the owner (CTP_DROP); sent again, it is a new gift', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { a, b, c } = triangle();
  const cInB = await fetchOwn(b, c);
  const bootA = await b.boot('a');
  const drops = (peer: string) => a.conn(peer).trace().filter((e) => e.dir === 'out' && e.type === 'CTP_DROP').length;
  await (async () => {
    await E(bootA).keep(cInB);
    t.is(await E(a.kept[0]).label(), 'c');
    t.deepEqual(a.conn('b').handoffStats(), { direct: 1, proxied: 0 });
  })();
  a.kept.length = 0;
  await until(
    () => {
      gc();
      return drops('b') > 0 && drops('c') > 0;
    },
    LOCAL_MS,
    'CTP_DROP to donor and owner',
    () => `to B ${drops('b')}, to C ${drops('c')}`,
  );
  t.pass('both dropped');
  // B still holds C's object; sent again, A lacks it, so it travels as a new gift.
  await E(bootA).keep(cInB);
  t.is(a.kept[0], await fetchOwn(a, c));
  t.deepEqual(a.conn('b').handoffStats(), { direct: 2, proxied: 0 });
  t.like(b.handoffs.stats(), { given: 2 });
});

test('a note for a slot the recipient already holds is not claimed again', async (t) => {
  const { a, b, c, ab } = triangle();
  const cInB = await fetchOwn(b, c);
  const bootA = await b.boot('a');
  await E(bootA).keep(cInB);
  const note = ab.yx.sent.flatMap((m) => (m['gifts'] as Array<{ slot: string }> | undefined) ?? [])[0];
  t.truthy(note);
  // B names the same slot again with a note (a second, made-up nonce), as a confused or hostile donor would.
  ab.yx.tamper = (m) => (isCall(m, 'keep') ? { ...m, gifts: [{ ...note, nonce: 'z'.repeat(26) }] } : m);
  await within(E(bootA).keep(cInB), LOCAL_MS, 'keep');
  t.is(a.kept[1], a.kept[0]);
  t.is(calls(a.conn('c'), 'acceptFrom', 'out'), 1, 'only the first note was claimed');
  t.like(c.handoffs.stats(), { waiting: 0 });
  t.deepEqual(a.conn('b').handoffStats(), { direct: 1, proxied: 0 });
});
