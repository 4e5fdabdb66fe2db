/**
 * A scripted hostile initiator against a real responder (protocols/saga/
 * responder.ts on a SQLite store): it builds its turns itself with sealTurn,
 * as initiator.ts does, and breaks one thing each time. Every refusal must
 * carry its named error, end the saga aborted, leave the responder's durable
 * space as it was and its temp space empty.
 */
import test, { type ExecutionContext } from 'ava';
import { type AckBody, parseTurn, type SealedTurn, sealTurn, TURN_VERSION, type Turn, type TurnHeader, type TurnKind, type WireEntry } from '../../protocols/saga/codec.js';
import { FINE_BITS, type SagaLimits } from '../../protocols/saga/limits.js';
import { bucketOfKey, toHex } from '../../protocols/saga/space.js';
import type { SigningKey } from '../../protocols/session/crypto.js';
import { nodeCrypto as crypto } from '../../runtime/crypto-node.js';
import { dump, entries, makeSide, type Side, type Wire, wire } from './saga-fixtures.js';

const SPACE = 'notes';
/** The Init summarizes at bits = 1: two coarse buckets, so an entry can fall in one the responder did not ask for. */
const BITS = 1;
const coarse = (key: string) => bucketOfKey(crypto, key) >>> (FINE_BITS - BITS);
const keysIn = (c: number, n: number, prefix: string) => {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (coarse(`${prefix}${i}`) === c) out.push(`${prefix}${i}`);
  return out;
};
/** Keys only the initiator has, all in coarse bucket 0: the responder asks for bucket 0 only. */
const EXTRA = keysIn(0, 6, 'extra/');
const OUTSIDE = keysIn(1, 1, 'outside/')[0]!;
const mallory = crypto.ed25519FromSeed(crypto.sha256(new TextEncoder().encode('saga test mallory')));

const wireEntry = (key: string, value = `value of ${key}`): WireEntry => [key, value, 9000, 'hostile', 0];

/** A saga the test drives turn by turn: `a` talks to `b`'s responder through `w`. */
interface Scene {
  readonly a: Side;
  readonly b: Side;
  readonly w: Wire;
  readonly saga: string;
  /** The responder's durable space before the saga, to compare with after. */
  readonly before: { rows: ReturnType<typeof dump>; root: string };
  /** The Ack the responder answered the Init with. */
  readonly ack: AckBody;
  readonly init: SealedTurn<'init'>;
  /** Seals the next turn of this saga, chained to the last one in `sent` (unless `over` says otherwise), and appends it there. */
  turn<K extends TurnKind>(k: K, b: Turn<K>['b'], over?: Partial<TurnHeader> & { key?: SigningKey }): SealedTurn<K>;
  readonly sent: SealedTurn[];
}

const begin = async (t: ExecutionContext, limits: Partial<SagaLimits> = {}): Promise<Scene> => {
  const a = makeSide(t, 'a');
  // Simulated timers: no real timer outlives a test, and `pending()` tells whether the saga left one.
  const b = makeSide(t, 'b', limits, { manualClock: true });
  const shared = entries(8, { prefix: 'shared/' });
  b.store.putMany(SPACE, shared);
  a.store.putMany(SPACE, [...shared, ...EXTRA.map((key, i) => ({ key, value: `from a ${i}`, clock: 5000 + i, origin: 'a', deleted: false }))]);
  const before = { rows: dump(b.store, SPACE), root: b.store.root(SPACE) };
  const w = wire(a, b);
  const saga = toHex(crypto.randomBytes(16));
  const sent: SealedTurn[] = [];
  // A turn's seq is its place in the chain: Init 0, Ack 1, then the initiator's turns.
  const turn = <K extends TurnKind>(k: K, body: Turn<K>['b'], over: Partial<TurnHeader> & { key?: SigningKey } = {}): SealedTurn<K> => {
    const { key = a.key, ...header } = over;
    const last = sent[sent.length - 1];
    const s = sealTurn(crypto, key, { v: TURN_VERSION, k, saga, seq: sent.length, from: a.id, to: b.id, space: SPACE, prev: last?.hash ?? '', at: 1, b: body, ...header } as Turn<K>);
    sent.push(s);
    return s;
  };
  const summary = a.store.summary(SPACE, BITS);
  const init = turn('init', { root: summary.root, count: summary.count, bits: BITS, buckets: summary.buckets, head: '' });
  const ackBytes = await w.init(init.bytes);
  const ack = parseTurn(ackBytes, b.party.limits).turn as Turn<'ack'>;
  // The Ack is the responder's turn: the chain goes on from its hash.
  sent.push({ turn: ack, bytes: ackBytes, hash: toHex(crypto.sha256(ackBytes)) });
  return { a, b, w, saga, before, ack: ack.b, init, turn, sent };
};

/** Stages a first, well-formed Delta of two entries, so the temp space the refusal must discard is not empty. */
const stageOne = async (t: ExecutionContext, s: Scene) => {
  t.deepEqual(
    s.ack.want.map(([c]) => c),
    [0],
    'the responder asks for the bucket where only the initiator has entries',
  );
  t.is(await s.w.delta(s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[0]!), wireEntry(EXTRA[1]!)] }).bytes), 2);
  t.is(s.b.store.tempRows(), 2);
};

/** The call was refused with `name`, and the saga ended cleanly: aborted for that, nothing committed, nothing staged left. */
const refused = async (t: ExecutionContext, s: Scene, call: Promise<unknown>, name: string) => {
  const err = await t.throwsAsync(call);
  t.is(err?.name, name, err?.message);
  t.true(err?.message.startsWith(`${name}: `));
  const [record] = s.b.store.sagas({ peer: s.a.id });
  t.like(record, { saga: s.saga, role: 'responder', state: 'aborted', errorName: name });
  t.like(await s.b.endOf('responder'), { state: 'aborted', errorName: name });
  t.deepEqual(dump(s.b.store, SPACE), s.before.rows);
  t.is(s.b.store.root(SPACE), s.before.root);
  t.is(s.b.store.tempRows(), 0);
  t.is(s.w.responder.active, 0);
  t.deepEqual(s.b.book.list(), []);
  t.is(s.b.clock?.pending(), 0, 'the ended saga left no timer');
};

/** Flips one byte of the JSON part: inside the first entry's value, so the turn still parses. */
const tamperPayload = (bytes: Uint8Array, inside: string): Uint8Array => {
  const out = bytes.slice();
  const at = Buffer.from(out).indexOf(inside, 64);
  if (at < 0) throw new Error(`${inside} not in the turn`);
  out[at]! ^= 0x01;
  return out;
};

test('a Delta with one byte of its payload changed: SagaSignatureError', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  const d = s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!, 'payload')] });
  const bytes = tamperPayload(d.bytes, 'payload');
  t.notThrows(() => parseTurn(bytes, s.b.party.limits), 'still a well-formed turn: only its signature tells');
  await refused(t, s, s.w.delta(bytes), 'SagaSignatureError');
});

test('a Delta with one byte of its signature changed: SagaSignatureError', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  const bytes = s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!)] }).bytes.slice();
  bytes[17]! ^= 0x80;
  await refused(t, s, s.w.delta(bytes), 'SagaSignatureError');
});

test("a Delta signed by a third key, claiming to come from the real peer: SagaSignatureError", async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  await refused(t, s, s.w.delta(s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!)] }, { key: mallory }).bytes), 'SagaSignatureError');
});

test('Delta turns out of order (turn 4 before turn 3): SagaOrderError', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!)] });
  const fourth = s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[3]!)] });
  t.is(fourth.turn.seq, 4);
  await refused(t, s, s.w.delta(fourth.bytes), 'SagaOrderError');
});

test('a Delta turn sent again: SagaReplayError', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  await refused(t, s, s.w.delta(s.sent[2]!.bytes), 'SagaReplayError');
});

test('a Delta whose prev is not the previous turn: SagaOrderError', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  await refused(t, s, s.w.delta(s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!)] }, { prev: s.init.hash }).bytes), 'SagaOrderError');
});

test('a Delta addressed to another party, or of another space: SagaOrderError', async (t) => {
  const bystander = makeSide(t, 'bystander');
  for (const over of [{ to: bystander.id }, { space: 'other' }]) {
    const s = await begin(t);
    await stageOne(t, s);
    await refused(t, s, s.w.delta(s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!)] }, over).bytes), 'SagaOrderError');
  }
});

test('an entry in a bucket the responder did not ask for: SagaMalformedError', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  t.is(coarse(OUTSIDE), 1);
  await refused(t, s, s.w.delta(s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!), wireEntry(OUTSIDE)] }).bytes), 'SagaMalformedError');
});

test('an entry with a lone surrogate in its key, value or origin: SagaMalformedError (SQLite would store U+FFFD, not what was digested)', async (t) => {
  const bad: WireEntry[] = [
    [`${EXTRA[2]}\ud800`, 'v', 9000, 'hostile', 0],
    [EXTRA[2]!, 'v\udc00', 9000, 'hostile', 0],
    [EXTRA[2]!, 'v', 9000, 'hostile\ud83d', 0],
  ];
  for (const e of bad) {
    const s = await begin(t);
    await stageOne(t, s);
    await refused(t, s, s.w.delta(s.turn('delta', { total: 6, entries: [e] }).bytes), 'SagaMalformedError');
  }
});

test('a malformed turn of the saga in flight (an empty key, a value past maxValueBytes, a negative total, a Commit without counts): SagaMalformedError', async (t) => {
  const bad: Array<(s: Scene) => Promise<unknown>> = [
    (s) => s.w.delta(s.turn('delta', { total: 6, entries: [['', 'v', 9000, 'hostile', 0]] }).bytes),
    (s) => s.w.delta(s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!, 'x'.repeat(s.b.party.limits.maxValueBytes))] }).bytes),
    (s) => s.w.delta(s.turn('delta', { total: -1, entries: [] }).bytes),
    (s) => s.w.commit(s.turn('commit', { chunks: 1 } as Turn<'commit'>['b']).bytes),
  ];
  for (const send of bad) {
    const s = await begin(t, { maxValueBytes: 64 });
    await stageOne(t, s);
    await refused(t, s, send(s), 'SagaMalformedError');
  }
});

test('a Commit whose counts are not what was staged: SagaOrderError', async (t) => {
  for (const counts of [
    { chunks: 1, entries: 3 },
    { chunks: 2, entries: 2 },
    { chunks: 0, entries: 0 },
  ]) {
    const s = await begin(t);
    await stageOne(t, s);
    await refused(t, s, s.w.commit(s.turn('commit', counts).bytes), 'SagaOrderError');
  }
});

test('a Commit signed by a third key: SagaSignatureError', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  await refused(t, s, s.w.commit(s.turn('commit', { chunks: 1, entries: 2 }, { key: mallory }).bytes), 'SagaSignatureError');
});

test('a Commit or a Committed turn sent as a Delta: SagaOrderError', async (t) => {
  for (const [k, body] of [
    ['commit', { chunks: 1, entries: 2 }],
    ['committed', { root: '0'.repeat(64), count: 1, applied: 1 }],
  ] as const) {
    const s = await begin(t);
    await stageOne(t, s);
    await refused(t, s, s.w.delta(s.turn<TurnKind>(k, body).bytes), 'SagaOrderError');
  }
});

test('temp space past maxSagaBytes: SagaRefusedError', async (t) => {
  const s = await begin(t, { maxSagaBytes: 200 });
  await stageOne(t, s);
  await refused(t, s, s.w.delta(s.turn('delta', { total: 6, entries: [wireEntry(EXTRA[2]!, 'x'.repeat(200))] }).bytes), 'SagaRefusedError');
});

test("a peer's abort turn ends the saga: SagaAbortedError; one signed by a third key is refused and changes nothing", async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  const forged = s.turn('abort', { reason: 'forged' }, { key: mallory });
  await t.throwsAsync(s.w.abort(forged.bytes), { name: 'SagaSignatureError' });
  t.is(s.w.responder.active, 1, 'a forged abort does not end the saga');
  t.is(s.b.store.tempRows(), 2);
  s.sent.pop();
  await s.w.abort(s.turn('abort', { reason: 'changed my mind' }).bytes);
  t.like(await s.b.endOf('responder'), { state: 'aborted', errorName: 'SagaAbortedError' });
  t.like(s.b.store.sagas()[0], { state: 'aborted', errorName: 'SagaAbortedError' });
  t.deepEqual(dump(s.b.store, SPACE), s.before.rows);
  t.is(s.b.store.tempRows(), 0);
});

test('a turn of a saga not in flight is refused (SagaOrderError) and cannot touch the saga in flight, which then commits only its own entries', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  const otherSaga = toHex(crypto.randomBytes(16));
  const foreign = s.turn('delta', { total: 1, entries: [wireEntry(EXTRA[5]!, 'foreign')] }, { saga: otherSaga });
  s.sent.pop();
  await t.throwsAsync(s.w.delta(foreign.bytes), { name: 'SagaOrderError' });
  t.is(s.b.store.tempRows(), 2, 'the saga in flight keeps what it staged');
  t.true(s.b.store.sagas().every((r) => r.saga !== otherSaga), 'no record for a saga that never began');
  const committed = parseTurn(await s.w.commit(s.turn('commit', { chunks: 1, entries: 2 }).bytes), s.b.party.limits).turn as Turn<'committed'>;
  t.like(committed.b, { applied: 2 });
  t.deepEqual(s.b.store.entries(SPACE, 'extra/').map((e) => e.key).sort(), [EXTRA[0], EXTRA[1]].sort());
  t.like(s.b.store.sagas()[0], { saga: s.saga, state: 'committed', applied: 2 });
  t.is(s.b.store.tempRows(), 0);
});

test('an Init replayed after its saga committed: SagaReplayError, and the saga stays committed', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  await s.w.commit(s.turn('commit', { chunks: 1, entries: 2 }).bytes);
  const after = { rows: dump(s.b.store, SPACE), root: s.b.store.root(SPACE) };
  t.not(after.root, s.before.root);
  const err = await t.throwsAsync(s.w.init(s.init.bytes));
  t.is(err?.name, 'SagaReplayError');
  // A Delta or Commit of the finished saga, too.
  await t.throwsAsync(s.w.delta(s.sent[2]!.bytes), { name: 'SagaReplayError' });
  await t.throwsAsync(s.w.commit(s.sent[3]!.bytes), { name: 'SagaReplayError' });
  t.deepEqual(
    s.b.store.sagas().map((r) => [r.saga, r.state]),
    [[s.saga, 'committed']],
  );
  t.deepEqual(dump(s.b.store, SPACE), after.rows);
  t.is(s.b.store.tempRows(), 0);
  t.is(s.w.responder.active, 0);
});

test('an Init replayed while its saga is in flight: SagaReplayError, and the saga in flight goes on', async (t) => {
  const s = await begin(t);
  await stageOne(t, s);
  await t.throwsAsync(s.w.init(s.init.bytes), { name: 'SagaReplayError' });
  t.is(s.w.responder.active, 1);
  t.is(s.b.store.tempRows(), 2);
  await s.w.commit(s.turn('commit', { chunks: 1, entries: 2 }).bytes);
  t.like(s.b.store.sagas()[0], { saga: s.saga, state: 'committed' });
});

test('an Init signed by a third key, or from a peer with no known key: refused before any saga begins', async (t) => {
  const a = makeSide(t, 'a');
  const b = makeSide(t, 'b', {}, { manualClock: true });
  const stranger = makeSide(t, 'stranger');
  const w = wire(a, b);
  const init = (from: Side, key: SigningKey) =>
    sealTurn(crypto, key, { v: TURN_VERSION, k: 'init', saga: toHex(crypto.randomBytes(16)), seq: 0, from: from.id, to: b.id, space: SPACE, prev: '', at: 1, b: { root: '1'.repeat(64), count: 1, bits: 0, buckets: ['1'.repeat(16)], head: '' } });
  await t.throwsAsync(w.init(init(a, mallory).bytes), { name: 'SagaSignatureError' });
  await t.throwsAsync(w.init(init(stranger, stranger.key).bytes), { name: 'SagaRefusedError' });
  const closed = wire(a, b, { accepts: () => false });
  await t.throwsAsync(closed.init(init(a, a.key).bytes), { name: 'SagaRefusedError' });
  t.deepEqual(b.store.sagas(), []);
  t.is(w.responder.active + closed.responder.active, 0);
});

test('a Commit followed at once by a bad turn or an abort, before the commit settles: the saga is recorded committed, as its space is', async (t) => {
  for (const next of ['abort', 'bad delta', 'close'] as const) {
    const s = await begin(t);
    await stageOne(t, s);
    const commit = s.w.commit(s.turn('commit', { chunks: 1, entries: 2 }).bytes);
    if (next === 'abort') await s.w.abort(s.turn('abort', { reason: 'too late' }).bytes).catch(() => {});
    else if (next === 'bad delta') await s.w.delta(s.turn('delta', { total: 1, entries: [wireEntry(EXTRA[4]!)] }, { key: mallory }).bytes).catch(() => {});
    else s.w.responder.close('the host stops');
    const committed = parseTurn(await commit, s.b.party.limits).turn as Turn<'committed'>;
    t.like(committed.b, { applied: 2 }, next);
    t.like(s.b.store.sagas()[0], { saga: s.saga, state: 'committed', applied: 2 }, next);
    t.is(s.b.store.root(SPACE), committed.b.root, next);
    t.is(s.b.store.tempRows(), 0, next);
  }
});
