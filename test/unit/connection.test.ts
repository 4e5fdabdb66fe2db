/**
 * CapTP connections wired back to back in memory. The link can hold messages,
 * so a call can be left pending on purpose instead of raced with a timer.
 */
import '@endo/init';
import test from 'ava';
import { E, Far } from '@endo/far';
import { makeConnection, type CapTPMessage, type Connection, type ConnectionOptions } from '../../capabilities/connection.js';
import { ConnectionAbortedError, ProtocolViolationError } from '../../capabilities/errors.js';
import { quietMarshalLogging } from '../../runtime/quiet-console.js';

// Remote exceptions are expected here; keep @endo/marshal's per-error dump out of the output.
quietMarshalLogging(false);

/** Two connections joined by an in-memory link that delivers at once unless held. */
const makePair = (opts: { a?: Partial<ConnectionOptions>; b?: Partial<ConnectionOptions> } = {}) => {
  let held = false;
  const queue: Array<() => void> = [];
  const wire: Array<{ from: 'a' | 'b'; msg: CapTPMessage }> = [];
  const deliver = (fn: () => void) => (held ? queue.push(fn) : fn());
  const a: Connection = makeConnection({
    name: 'a',
    send: (msg) => {
      wire.push({ from: 'a', msg });
      deliver(() => b.dispatch(msg));
    },
    ...opts.a,
  });
  const b: Connection = makeConnection({
    name: 'b',
    send: (msg) => {
      wire.push({ from: 'b', msg });
      deliver(() => a.dispatch(msg));
    },
    ...opts.b,
  });
  return {
    a,
    b,
    wire,
    hold: () => {
      held = true;
    },
    release() {
      held = false;
      while (queue.length > 0) queue.shift()!();
    },
  };
};

const counterBootstrap = () => {
  let n = 0;
  return Far('Counter', {
    incr: (by = 1) => (n += by),
    echo: (x: unknown) => x,
    fail: (msg: string) => {
      throw new Error(msg);
    },
    never: () => new Promise(() => {}),
  });
};

/** Everything already queued in microtasks and CapTP's promise chains has run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

test('E() calls round trip in both directions', async (t) => {
  const { a, b } = makePair({
    a: { bootstrap: counterBootstrap() },
    b: { bootstrap: Far('B', { hello: (who: string) => `hello ${who}` }) },
  });
  const counter = b.getBootstrap();
  t.is(await E(counter).incr(), 1);
  t.is(await E(counter).incr(5), 6);
  t.deepEqual(await E(counter).echo({ x: [1, 'two', null] }), { x: [1, 'two', null] });
  t.is(await E(a.getBootstrap()).hello('a'), 'hello a');
  const err = await t.throwsAsync(E(counter).fail('nope'));
  t.is(err?.message, 'nope');
  // A remote exception is the caller's business; the connection lives on.
  t.is(a.aborted, undefined);
  t.is(b.aborted, undefined);
  t.is(await E(counter).incr(), 7);
});

test('references passed as arguments come back as the same local object', async (t) => {
  const { b } = makePair({ a: { bootstrap: counterBootstrap() } });
  const local = Far('Local', { ping: () => 'pong' });
  const back = await E(b.getBootstrap()).echo(local);
  t.is(back, local);
});

test('trace() records CTP_CALL and CTP_RETURN with method names, in order, when traceLimit > 0', async (t) => {
  const { a, b } = makePair({ a: { bootstrap: counterBootstrap(), traceLimit: 100 }, b: { traceLimit: 100 } });
  const counter = b.getBootstrap();
  await E(counter).incr();
  await E(counter).echo('x');
  const out = b.trace().filter((e) => e.dir === 'out');
  const calls = out.filter((e) => e.type === 'CTP_CALL');
  t.deepEqual(
    calls.map((e) => e.method),
    ['incr', 'echo'],
  );
  const inbound = a.trace().filter((e) => e.dir === 'in' && e.type === 'CTP_CALL');
  t.deepEqual(
    inbound.map((e) => e.method),
    ['incr', 'echo'],
  );
  // Every call is answered by a CTP_RETURN naming its question.
  const returns = a.trace().filter((e) => e.dir === 'out' && e.type === 'CTP_RETURN');
  for (const call of calls) t.true(returns.some((r) => r.answerID === call.questionID), `answer to ${call.questionID}`);
  // Order on b's side: bootstrap question, its answer, then each call before its answer.
  const types = b.trace().map((e) => `${e.dir}:${e.type}${e.method ? `:${e.method}` : ''}`);
  t.deepEqual(types.slice(0, 6), [
    'out:CTP_BOOTSTRAP',
    'in:CTP_RETURN',
    'out:CTP_CALL:incr',
    'in:CTP_RETURN',
    'out:CTP_CALL:echo',
    'in:CTP_RETURN',
  ]);
});

test('trace() is off by default and keeps only the last traceLimit entries', async (t) => {
  const { a, b } = makePair({ a: { bootstrap: counterBootstrap(), traceLimit: 3 } });
  const counter = b.getBootstrap();
  for (let i = 0; i < 5; i++) await E(counter).incr();
  t.deepEqual(b.trace(), []);
  const trace = a.trace();
  t.is(trace.length, 3);
  t.deepEqual(trace.at(-1), { dir: 'out', type: 'CTP_RETURN', answerID: trace.at(-1)?.answerID });
  // trace() returns a copy.
  (trace as unknown[]).length = 0;
  t.is(a.trace().length, 3);
});

test('abort() rejects pending calls with the given error; later calls reject at once', async (t) => {
  const aborts: Error[] = [];
  const p = makePair({ a: { bootstrap: counterBootstrap() }, b: { onAbort: (e) => aborts.push(e) } });
  const counter = await p.b.getBootstrap();
  p.hold();
  const pending = E(counter).incr();
  const pending2 = E(counter).never();
  const reason = new ConnectionAbortedError('test says stop');
  p.b.abort(reason);
  t.is(await t.throwsAsync(pending), reason);
  t.is(await t.throwsAsync(pending2), reason);
  t.is(p.b.aborted, reason);
  const later = await t.throwsAsync(E(counter).incr());
  t.is(later, reason);
  await t.throwsAsync(p.b.getBootstrap(), { is: reason });
  t.deepEqual(aborts, [reason]);
  // Nothing new went out after the abort except the disconnect notice.
  const afterAbort = p.wire.filter((w) => w.from === 'b').map((w) => w.msg.type);
  t.is(afterAbort.at(-1), 'CTP_DISCONNECT');
  t.is(afterAbort.filter((x) => x === 'CTP_DISCONNECT').length, 1);
});

test('abort is idempotent: the first reason sticks and onAbort runs once', async (t) => {
  const aborts: Error[] = [];
  const { a, b, wire } = makePair({ a: { bootstrap: counterBootstrap() }, b: { onAbort: (e) => aborts.push(e) } });
  const counter = await b.getBootstrap();
  const first = new Error('first');
  b.abort(first);
  b.abort(new Error('second'));
  b.abort();
  t.is(b.aborted, first);
  t.deepEqual(aborts, [first]);
  t.is(wire.filter((w) => w.from === 'b' && w.msg.type === 'CTP_DISCONNECT').length, 1);
  await t.throwsAsync(E(counter).incr(), { is: first });
  // The peer learned of it and aborted too.
  t.is(a.aborted?.name, 'ConnectionAbortedError');
});

test('abort() with no reason uses a ConnectionAbortedError naming the connection', async (t) => {
  const { a, b } = makePair({ a: { bootstrap: counterBootstrap() } });
  const counter = await b.getBootstrap();
  b.abort();
  t.true(b.aborted instanceof ConnectionAbortedError);
  t.regex(b.aborted?.message ?? '', /^ConnectionAbortedError: b: /);
  const err = await t.throwsAsync(E(counter).incr());
  t.is(err?.name, 'ConnectionAbortedError');
  t.true(a.aborted instanceof ConnectionAbortedError);
});

test('the peer\'s abort rejects our pending calls with ConnectionAbortedError', async (t) => {
  const p = makePair({ a: { bootstrap: counterBootstrap() } });
  const counter = await p.b.getBootstrap();
  const pending = E(counter).never();
  await settle();
  p.a.abort(new Error('a is going away'));
  const err = await t.throwsAsync(pending);
  t.is(err?.name, 'ConnectionAbortedError');
  t.regex(err?.message ?? '', /peer disconnected/);
  t.true(p.b.aborted instanceof ConnectionAbortedError);
});

test('a send that throws aborts the connection instead of leaving calls hanging', async (t) => {
  const c = makeConnection({
    name: 'c',
    send: () => {
      throw new Error('port closed');
    },
  });
  const err = await t.throwsAsync(c.getBootstrap());
  t.is(err?.name, 'ConnectionAbortedError');
  t.regex(err?.message ?? '', /send failed/);
  t.is((c.aborted?.cause as Error | undefined)?.message, 'port closed');
});

const HOSTILE: Array<[string, unknown]> = [
  ['null', null],
  ['a number', 42],
  ['a string', 'CTP_CALL'],
  ['type 42', { type: 42 }],
  ['type NOPE', { type: 'NOPE' }],
  ['an unknown CTP_ type', { type: 'CTP_NOPE' }],
  ['an array', ['CTP_CALL']],
];

for (const [what, msg] of HOSTILE) {
  test(`dispatch of ${what} aborts with ProtocolViolationError and tells the peer`, async (t) => {
    const sent: CapTPMessage[] = [];
    const c = makeConnection({ name: 'c', send: (m) => void sent.push(m), bootstrap: counterBootstrap() });
    const q = c.getBootstrap();
    c.dispatch(msg);
    t.true(c.aborted instanceof ProtocolViolationError, `aborted with ${String(c.aborted)}`);
    t.is(c.aborted?.name, 'ProtocolViolationError');
    await t.throwsAsync(q, { instanceOf: ProtocolViolationError });
    t.is(sent.at(-1)?.type, 'CTP_DISCONNECT');
    // Later input is ignored, not processed.
    c.dispatch({ type: 'CTP_BOOTSTRAP', questionID: 'q-1', epoch: 0 });
    await settle();
    t.is(sent.filter((m) => m.type === 'CTP_RETURN').length, 0);
  });
}

/** A connection with a bootstrap export (o-1 from the peer's side) already handed out. */
const bootstrapped = async () => {
  const sent: CapTPMessage[] = [];
  const c = makeConnection({ name: 'c', send: (m) => void sent.push(m), bootstrap: counterBootstrap() });
  c.dispatch({ type: 'CTP_BOOTSTRAP', questionID: 'q-1', epoch: 0 });
  await settle();
  return { c, sent };
};

const call = (target: unknown, body: unknown, extra: object = {}) => ({
  type: 'CTP_CALL',
  epoch: 0,
  questionID: 'q-2',
  target,
  method: { body, slots: [] },
  ...extra,
});

test('a well-formed CTP_CALL on the bootstrap export is answered (control for the garbage cases)', async (t) => {
  const { c, sent } = await bootstrapped();
  c.dispatch(call('o-1', JSON.stringify(['incr', [2]])));
  await settle();
  t.is(c.aborted, undefined);
  const ret = sent.find((m) => m.type === 'CTP_RETURN' && m['answerID'] === 'q-2');
  t.deepEqual(ret?.['result'], { body: '2', slots: [] });
});

test('a CTP_CALL of a method the target lacks is answered with an exception, not an abort', async (t) => {
  const { c, sent } = await bootstrapped();
  c.dispatch(call('o-1', JSON.stringify(['nosuch', []])));
  await settle();
  t.is(c.aborted, undefined);
  const ret = sent.find((m) => m.type === 'CTP_RETURN' && m['answerID'] === 'q-2');
  t.truthy(ret?.['exception']);
});

const GARBAGE_CALLS: Array<[string, unknown]> = [
  ['an export we never made', call('o-999', JSON.stringify(['incr', []]))],
  ['a promise we never exported', call('p-77', JSON.stringify(['incr', []]))],
  ['a target that is not a slot', call('zzz', JSON.stringify(['incr', []]))],
  ['a numeric target', call(42, JSON.stringify(['incr', []]))],
  ['a method body that is not JSON', call('o-1', 'garbage')],
  ['a method body that is not [prop, args]', call('o-1', '{"x":1}')],
  ['a method that is not capdata', { type: 'CTP_CALL', epoch: 0, questionID: 'q-2', target: 'o-1', method: 7 }],
  ['a slot reference past the slots', call('o-1', JSON.stringify(['incr', [{ '@qclass': 'slot', index: 3 }]]))],
  ['no fields at all', { type: 'CTP_CALL' }],
  ['a return for a question never asked', { type: 'CTP_RETURN', epoch: 0, answerID: 'q-77', result: { body: '1', slots: [] } }],
  ['a resolve for a promise never imported', { type: 'CTP_RESOLVE', epoch: 0, promiseID: 'p-5', res: { body: '1', slots: [] } }],
];

for (const [what, msg] of GARBAGE_CALLS) {
  test(`a CapTP message with ${what} aborts with ProtocolViolationError`, async (t) => {
    const { c, sent } = await bootstrapped();
    c.dispatch(msg);
    await settle();
    t.true(c.aborted instanceof ProtocolViolationError, `aborted with ${String(c.aborted)}`);
    t.regex(c.aborted?.message ?? '', /^ProtocolViolationError: c: malformed CTP_/);
    t.is(sent.at(-1)?.type, 'CTP_DISCONNECT');
    t.false(sent.some((m) => m.type === 'CTP_RETURN' && m['answerID'] === 'q-2'), 'nothing was answered');
  });
}

test('a CTP_CALL naming the peer\'s own export is reflected back to the peer as a call, not an abort', async (t) => {
  // Slots are from the sender's point of view: 'o+N' is the sender's export N.
  // CapTP takes it as a reference to an object of the peer and forwards the call
  // there. Recorded here so that a change of this behaviour is noticed.
  const { c, sent } = await bootstrapped();
  c.dispatch(call('o+999', JSON.stringify(['incr', []])));
  await settle();
  t.is(c.aborted, undefined);
  const forwarded = sent.filter((m) => m.type === 'CTP_CALL');
  t.is(forwarded.length, 1);
  t.is(forwarded[0]?.['target'], 'o-999');
});
