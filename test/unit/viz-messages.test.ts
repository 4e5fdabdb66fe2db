/**
 * Messages between actors: a vat's call tracer (vats/call-trace.ts) fed real
 * CapTP message shapes, the host's reading of its reports and of a peer's
 * relayed call records (runtime/viz/messages.ts, check.ts), and the
 * inspector's part (who looks, what a page and a peer get).
 */
import '@endo/init';
import test from 'ava';
import fc from 'fast-check';
import type { CapTPMessage } from '../../capabilities/connection.js';
import { checkUpdates } from '../../runtime/viz/check.js';
import { makeInspector } from '../../runtime/viz/inspector.js';
import { makeCallLog } from '../../runtime/viz/messages.js';
import type { CallRecord, Update } from '../../runtime/viz/model.js';
import { type CallReport, errorNameOf, makeCallTracer } from '../../vats/call-trace.js';
import { manualTimers } from '../helpers/manual-timers.js';

const HOST = 'h'.repeat(52);
const PEER = 'p'.repeat(52);
const THIRD = 't'.repeat(52);
const SWISS = 'abcdefghijklmnopqrstuvwxyz234567';
const RELAY = { name: 'VizRelayError' };

const callMsg = (questionID: string | undefined, method: string, args = '[]', target = 'o-1'): CapTPMessage => ({
  type: 'CTP_CALL',
  epoch: 0,
  ...(questionID ? { questionID } : {}),
  target,
  method: { body: `["${method}",${args}]`, slots: [] },
});
const returnOk = (answerID: string, body = '"the result"'): CapTPMessage => ({ type: 'CTP_RETURN', epoch: 0, answerID, result: { body, slots: [] } });
const returnError = (answerID: string, name: string, message: string): CapTPMessage => ({
  type: 'CTP_RETURN',
  epoch: 0,
  answerID,
  exception: { body: JSON.stringify({ '@qclass': 'error', name, message }), slots: [] },
});

const tracer = (limits?: { callsPerSecond?: number; outstanding?: number }) => {
  const timers = manualTimers();
  let precise = 0;
  const reports: CallReport[] = [];
  let refs = [{ peer: `${HOST}/@host`, imports: 1, exports: 2 }];
  const t = makeCallTracer({
    self: `${HOST}/alice`,
    now: timers.now,
    precise: () => precise,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    post: (r) => void reports.push(r),
    refs: () => refs,
    ...(limits ? { limits } : {}),
  });
  return {
    t,
    timers,
    reports,
    calls: () => reports.flatMap((r) => r.calls),
    setPrecise: (v: number) => (precise = v),
    setRefs: (r: typeof refs) => (refs = r),
  };
};

test('off: nothing is traced, nothing is posted, no timer runs', (t) => {
  const x = tracer();
  const hook = x.t.hook(`${HOST}/bob`, false);
  hook('out', callMsg('q-1', 'label'));
  hook('in', returnOk('q-1'));
  x.timers.advance(5000);
  t.deepEqual(x.reports, []);
  t.is(x.timers.pending(), 0);
});

test('a call and its answer: method, both ends, outcome and latency — never the arguments or the result', (t) => {
  const x = tracer();
  x.t.set(true);
  const hook = x.t.hook(`${PEER}/bob`, false);
  x.setPrecise(10);
  hook('out', callMsg('q-1', 'buy', `["${SWISS}",42]`));
  x.setPrecise(12.5);
  hook('in', returnOk('q-1', `"${SWISS}"`));
  x.timers.advance(20);
  const [call, answer] = x.calls();
  t.like(call, { n: 1, phase: 'call', from: `${HOST}/alice`, to: `${PEER}/bob`, method: 'buy' });
  t.like(answer, { n: 1, phase: 'answer', from: `${HOST}/alice`, to: `${PEER}/bob`, method: 'buy', outcome: 'ok', ms: 2.5 });
  t.false(JSON.stringify(x.reports).includes(SWISS), 'no argument or result value');
  t.false('pipelined' in call! || 'oneway' in call!);
});

test('an error answer carries the class name only; our named errors keep theirs; the message never leaves', (t) => {
  const x = tracer();
  x.t.set(true);
  const hook = x.t.hook(`${HOST}/bob`, false);
  hook('out', callMsg('q-1', 'fail'));
  hook('out', callMsg('q-2', 'lookup'));
  hook('in', returnError('q-1', 'RangeError', `secret ${SWISS}`));
  hook('in', returnError('q-2', 'Error', `NameNotFoundError: no actor is published as "${SWISS}"`));
  x.timers.advance(20);
  const answers = x.calls().filter((c) => c.phase === 'answer');
  t.like(answers[0], { outcome: 'error', error: 'RangeError' });
  t.like(answers[1], { outcome: 'error', error: 'NameNotFoundError' });
  t.false(JSON.stringify(x.reports).includes(SWISS));
  t.is(errorNameOf({ body: '#{"#error":"x","name":"TypeError"}' }), 'TypeError', 'smallcaps bodies too');
  t.is(errorNameOf({ body: '{"@qclass":"error","name":"<img src=x>","message":""}' }), 'Error', 'a name that is not a class name is not kept');
  t.is(errorNameOf({ body: 'not json' }), 'Error');
});

test('pipelined calls (sent to an unanswered question) and one-way sends are marked', (t) => {
  const x = tracer();
  x.t.set(true);
  const hook = x.t.hook(`${HOST}/target`, false);
  hook('out', callMsg('q-1', 'folder'));
  hook('out', callMsg('q-2', 'file', '[]', 'q-1'));
  hook('out', callMsg(undefined, 'notify'));
  x.timers.advance(20);
  const [folder, file, notify] = x.calls();
  t.false(folder!.pipelined === true);
  t.true(file!.pipelined);
  t.true(notify!.oneway);
});

test('calls from a host are recorded by the vat they reach; a vat peer’s inbound calls are its own to record', (t) => {
  const x = tracer();
  x.t.set(true);
  const fromHost = x.t.hook(`${PEER}/@host`, true);
  const fromVat = x.t.hook(`${HOST}/bob`, false);
  fromHost('in', callMsg('q-7', 'label'));
  fromHost('out', returnOk('q-7'));
  fromVat('in', callMsg('q-9', 'label'));
  fromVat('out', returnOk('q-9'));
  x.timers.advance(20);
  const calls = x.calls();
  t.is(calls.length, 2);
  t.like(calls[0], { phase: 'call', from: `${PEER}/@host`, to: `${HOST}/alice`, method: 'label' });
  t.like(calls[1], { phase: 'answer', outcome: 'ok' });
});

test('bounded per second: calls past the rate are counted as dropped, answers of traced calls still come', (t) => {
  const x = tracer({ callsPerSecond: 3 });
  x.t.set(true);
  x.timers.advance(1000 - (x.timers.now() % 1000));
  x.timers.advance(0);
  const hook = x.t.hook(`${HOST}/bob`, false);
  for (let i = 1; i <= 5; i++) hook('out', callMsg(`q-${i}`, 'tick'));
  for (let i = 1; i <= 5; i++) hook('in', returnOk(`q-${i}`));
  x.timers.advance(1000);
  const calls = x.calls();
  t.is(calls.filter((c) => c.phase === 'call').length, 3);
  t.is(calls.filter((c) => c.phase === 'answer').length, 3, 'the three traced calls are answered; the dropped ones are not');
  t.is(x.reports.reduce((n, r) => n + r.dropped, 0), 2, 'the two others are counted');
  // The next second is measured afresh.
  hook('out', callMsg('q-6', 'tick'));
  x.timers.advance(20);
  t.is(x.calls().filter((c) => c.phase === 'call').length, 4);
});

test('references held are reported when tracing starts and when they change, not otherwise', (t) => {
  const x = tracer();
  x.t.set(true);
  x.timers.advance(0);
  t.deepEqual(x.reports.map((r) => r.refs), [[{ peer: `${HOST}/@host`, imports: 1, exports: 2 }]]);
  x.timers.advance(3000);
  t.is(x.reports.length, 1, 'unchanged: nothing posted');
  x.setRefs([{ peer: `${HOST}/@host`, imports: 1, exports: 3 }]);
  x.timers.advance(1000);
  t.is(x.reports.length, 2);
  x.t.set(false);
  t.is(x.timers.pending(), 0, 'off: no timer left');
});

test('turned off and on again: calls waiting from before are forgotten, not answered late', (t) => {
  const x = tracer();
  x.t.set(true);
  const hook = x.t.hook(`${HOST}/bob`, false);
  hook('out', callMsg('q-1', 'slow'));
  x.t.set(false);
  x.t.set(true);
  hook('in', returnOk('q-1'));
  x.timers.advance(20);
  t.deepEqual(x.calls().filter((c) => c.phase === 'answer'), []);
});

test('outstanding calls are bounded: past the bound the oldest is forgotten', (t) => {
  const x = tracer({ outstanding: 2 });
  x.t.set(true);
  const hook = x.t.hook(`${HOST}/bob`, false);
  for (let i = 1; i <= 3; i++) hook('out', callMsg(`q-${i}`, 'm'));
  for (let i = 1; i <= 3; i++) hook('in', returnOk(`q-${i}`));
  x.timers.advance(20);
  t.deepEqual(
    x.calls().filter((c) => c.phase === 'answer').map((c) => c.n),
    [2, 3],
  );
});

// --- the host's side ---

const call = (over: Record<string, unknown> = {}) => ({
  k: 'call',
  host: PEER,
  vat: 'bob',
  n: 1,
  phase: 'answer',
  t: 1_700_000_000_000,
  from: `${PEER}/bob`,
  to: `${THIRD}/carol`,
  method: 'buy',
  outcome: 'error',
  error: 'RangeError',
  ms: 1.25,
  ...over,
});
const reject = (batch: unknown) => () => checkUpdates(PEER, batch);

test('a peer’s call records pass field by field; unknown fields are dropped', (t) => {
  const [u] = checkUpdates(PEER, [{ ...call(), args: [SWISS], message: 'secret' }]);
  t.deepEqual(u, call() as unknown as Update);
  const [stats] = checkUpdates(PEER, [{ k: 'vat-calls', host: PEER, vat: 'bob', t: 1, dropped: 3, refs: [{ peer: `${THIRD}/carol`, imports: 2, exports: 1, extra: 1 }] }]);
  t.deepEqual(stats, { k: 'vat-calls', host: PEER, vat: 'bob', t: 1, dropped: 3, refs: [{ peer: `${THIRD}/carol`, imports: 2, exports: 1 }] } as Update);
});

test('a peer’s call records speak only of its own vats: its host, and its vat at one end', (t) => {
  t.throws(reject([call({ host: THIRD })]), RELAY);
  t.throws(reject([call({ from: `${THIRD}/x`, to: `${THIRD}/carol` })]), RELAY, 'neither end is the peer’s vat');
  t.throws(reject([call({ vat: 'carol', from: `${PEER}/bob` })]), RELAY, 'the vat named is not an end');
  t.throws(reject([call({ vat: `${PEER}/bob` })]), RELAY, 'a vat is a name, not a full id');
  t.notThrows(() => checkUpdates(PEER, [call({ from: `${THIRD}/carol`, to: `${PEER}/bob` })]), 'called by another host’s vat');
});

test('a peer’s call records: phase, outcome, flags, error names and numbers are checked', (t) => {
  t.throws(reject([call({ phase: 'reply' })]), RELAY);
  t.throws(reject([call({ outcome: 'maybe' })]), RELAY);
  t.throws(reject([call({ pipelined: 'yes' })]), RELAY);
  t.throws(reject([call({ error: 'Range Error: with a message' })]), RELAY);
  t.throws(reject([call({ ms: -1 })]), RELAY);
  t.throws(reject([call({ n: Number.NaN })]), RELAY);
  t.throws(reject([call({ method: 'm'.repeat(201) })]), RELAY);
  t.throws(reject([call({ method: '' })]), RELAY);
  t.throws(reject([{ k: 'vat-calls', host: PEER, vat: 'bob', t: 1, dropped: -1 }]), RELAY);
  t.throws(reject([{ k: 'vat-calls', host: PEER, vat: 'bob', t: 1, dropped: 0, refs: [{ peer: 1 }] }]), RELAY);
});

test('a method name that holds a swiss number is redacted', (t) => {
  const [u] = checkUpdates(PEER, [call({ method: `open_${SWISS}` })]);
  t.false(JSON.stringify(u).includes(SWISS));
});

test('property: call records with arbitrary fields pass or are a VizRelayError', (t) => {
  const field = fc.oneof(fc.anything(), fc.constantFrom(PEER, `${PEER}/bob`, 'bob', 'call', 'answer', 'ok', 'error', true, -1, Number.NaN, null, {}), fc.string({ maxLength: 250 }));
  const keys = fc.constantFrom('host', 'vat', 'n', 'phase', 't', 'from', 'to', 'method', 'pipelined', 'oneway', 'outcome', 'error', 'ms', 'dropped', 'refs');
  fc.assert(
    fc.property(fc.constantFrom('call', 'vat-calls'), fc.dictionary(keys, field), (k, fields) => {
      try {
        checkUpdates(PEER, [{ ...call(), ...fields, k }]);
        return true;
      } catch (err) {
        return (err as Error).name === 'VizRelayError';
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('a vat’s report: its records, named after the vat the host knows; a malformed one is dropped whole', (t) => {
  const log = makeCallLog({ host: HOST, now: () => 5 });
  const good = { calls: [{ n: 1, phase: 'call', t: 1, from: `${HOST}/alice`, to: `${HOST}/bob`, method: 'label' }], dropped: 2 };
  const out = log.fromVat('alice', good);
  t.like(out[0], { k: 'call', host: HOST, vat: 'alice', method: 'label' });
  t.deepEqual(out[1], { k: 'vat-calls', host: HOST, vat: 'alice', t: 5, dropped: 2 });
  t.deepEqual(log.fromVat('mallory', good), [], 'a vat cannot report calls of another vat');
  t.deepEqual(log.fromVat('alice', { calls: 'x' }), []);
  t.deepEqual(log.fromVat('alice', null), []);
});

// --- the inspector ---

test('vats trace only while someone looks: a page or a peer’s relay, not the store', (t) => {
  const timers = manualTimers();
  const inspector = makeInspector({ host: HOST, now: timers.now, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout });
  const seen: boolean[] = [];
  inspector.onLooking((on) => seen.push(on));
  const store = inspector.watch(() => {}, { background: true });
  t.deepEqual(seen, [], 'the store is not looking');
  const page = inspector.watch(() => {});
  const relay = inspector.relay(() => Promise.resolve());
  t.deepEqual(seen, [true]);
  page();
  t.deepEqual(seen, [true], 'the relay still looks');
  relay.stop();
  t.deepEqual(seen, [true, false]);
  store();
  const late: boolean[] = [];
  inspector.watch(() => {});
  inspector.onLooking((on) => late.push(on));
  t.deepEqual(late, [true], 'a listener that comes while someone looks hears so at once');
  inspector.close();
  t.deepEqual(seen, [true, false, true, false]);
});

test('a vat’s calls reach the page in the next batch and a new page’s hello; a peer gets them by relay', async (t) => {
  const timers = manualTimers();
  const opts = { now: timers.now, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout };
  const a = makeInspector({ host: HOST, ...opts });
  const b = makeInspector({ host: PEER, ...opts });
  const page: Update[] = [];
  a.watch((batch) => void page.push(...batch));
  const pageB: Update[] = [];
  b.watch((batch) => void pageB.push(...batch));
  a.relay(async (batch) => b.ingest(HOST, batch));
  a.vatCalls('alice', { calls: [{ n: 1, phase: 'call', t: 1, from: `${HOST}/alice`, to: `${PEER}/bob`, method: 'buy', pipelined: true }], dropped: 0 });
  a.vatCalls('alice', { calls: [{ n: 1, phase: 'answer', t: 2, from: `${HOST}/alice`, to: `${PEER}/bob`, method: 'buy', outcome: 'ok', ms: 0.5 }], dropped: 4 });
  timers.advance(40);
  await Promise.resolve();
  timers.advance(40);
  const calls = (us: Update[]) => us.filter((u): u is CallRecord => u.k === 'call');
  t.deepEqual(calls(page).map((c) => c.phase), ['call', 'answer']);
  t.true(page.some((u) => u.k === 'vat-calls' && u.dropped === 4));
  t.deepEqual(calls(a.hello().calls as CallRecord[] as Update[]).length, 2);
  t.deepEqual(calls(pageB).map((c) => `${c.host} ${c.phase} ${c.method}`), [`${HOST} call buy`, `${HOST} answer buy`]);
  t.is(b.hello().calls?.length, 2, 'the peer keeps relayed calls for its own new pages');
  a.close();
  b.close();
});
