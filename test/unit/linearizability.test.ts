/** test/sim/linearizability.ts: known histories both ways, pending ops, the bound, and a generated-history property. */
import test from 'ava';
import fc from 'fast-check';
import {
  type CounterInput,
  checkLinearizable,
  counterModel,
  formatExplanation,
  type Operation,
  type RegisterInput,
  registerModel,
} from '../sim/linearizability.js';

let ids = 0;
/** An op on [invoke, respond]; respond undefined = never answered. */
const op = <I>(client: string, input: I, invoke: number, respond?: number, output?: unknown): Operation<I, any> => ({
  id: ++ids,
  client,
  input,
  invoke,
  ...(respond === undefined ? {} : { respond, output }),
});
const inc: CounterInput = { type: 'increment' };
const read = { type: 'read' } as const;
const write = (value: number): RegisterInput => ({ type: 'write', value });
const cas = (from: number | null, to: number): RegisterInput => ({ type: 'cas', from, to });

const verdict = (h: Operation<any, any>[], model: 'counter' | 'register' = 'register') =>
  model === 'counter' ? checkLinearizable(counterModel, h) : checkLinearizable(registerModel, h);

test('sequential register history is linearizable, and the order is returned', (t) => {
  const h = [op('a', write(1), 0, 1, true), op('b', read, 2, 3, 1), op('a', write(2), 4, 5, true), op('b', read, 6, 7, 2)];
  const v = verdict(h);
  t.is(v.result, 'ok');
  if (v.result === 'ok') t.deepEqual(v.order, h.map((o) => o.id));
});

test('stale read after a completed write is a violation, and the explanation names the read', (t) => {
  const h = [op('a', write(1), 0, 1, true), op('a', write(2), 2, 3, true), op('b', read, 4, 5, 1)];
  const v = verdict(h);
  t.is(v.result, 'violation');
  if (v.result !== 'violation') return;
  t.regex(v.explanation.blocked, /read → 1/);
  t.regex(v.explanation.blocked, /model would answer 2/);
  t.regex(formatExplanation(v.explanation), /not linearizable: after 2 ops \(state 2\)/);
});

test('a read concurrent with a write may see either value', (t) => {
  t.is(verdict([op('a', write(1), 0, 1, true), op('a', write(2), 2, 6, true), op('b', read, 3, 4, 1)]).result, 'ok');
  t.is(verdict([op('a', write(1), 0, 1, true), op('a', write(2), 2, 6, true), op('b', read, 3, 4, 2)]).result, 'ok');
  // Two reads by clients in real-time order cannot see the new value and then the old one.
  const flipped = [op('a', write(1), 0, 1, true), op('a', write(2), 2, 10, true), op('b', read, 3, 4, 2), op('c', read, 5, 6, 1)];
  t.is(verdict(flipped).result, 'violation');
});

test('concurrent increments may order either way; a lost increment is a violation', (t) => {
  t.is(verdict([op('a', inc, 0, 5, 2), op('b', inc, 1, 4, 1), op('c', read, 6, 7, 2)], 'counter').result, 'ok');
  t.is(verdict([op('a', inc, 0, 5, 1), op('b', inc, 1, 4, 2)], 'counter').result, 'ok');
  // Both answered 1: one increment was lost.
  t.is(verdict([op('a', inc, 0, 5, 1), op('b', inc, 1, 4, 1)], 'counter').result, 'violation');
  // Two completed increments, then a read of 1.
  t.is(verdict([op('a', inc, 0, 1, 1), op('b', inc, 2, 3, 2), op('c', read, 4, 5, 1)], 'counter').result, 'violation');
});

test('a duplicated increment (applied twice) is a violation', (t) => {
  // One client's increment was retried and applied twice: it answers 2, and so does the next read.
  t.is(verdict([op('a', inc, 0, 1, 2), op('b', read, 2, 3, 2)], 'counter').result, 'violation');
  // Two clients: a's increment applied twice makes b's answer 3.
  t.is(verdict([op('a', inc, 0, 1, 1), op('b', inc, 2, 3, 3)], 'counter').result, 'violation');
});

test('a pending op may have taken effect, or not, anywhere after its invocation', (t) => {
  const pending = op('a', inc, 0);
  t.is(verdict([pending, op('b', read, 5, 6, 1)], 'counter').result, 'ok', 'took effect');
  t.is(verdict([op('a', inc, 0), op('b', read, 5, 6, 0)], 'counter').result, 'ok', 'did not');
  t.is(verdict([op('a', inc, 0), op('b', read, 5, 6, 0), op('c', read, 7, 8, 1)], 'counter').result, 'ok', 'took effect late');
  // ...but never before it was invoked, and at most once.
  t.is(verdict([op('b', read, 0, 1, 1), op('a', inc, 2)], 'counter').result, 'violation');
  t.is(verdict([op('a', inc, 0), op('b', read, 5, 6, 2)], 'counter').result, 'violation');
  // A pending write seen, then unseen, is not linearizable.
  const h = [op('a', write(1), 0, 1, true), op('a', write(2), 2), op('b', read, 3, 4, 2), op('c', read, 5, 6, 1)];
  t.is(verdict(h).result, 'violation');
});

test('cas succeeds only on the expected value', (t) => {
  t.is(verdict([op('a', cas(null, 1), 0, 1, true), op('b', cas(null, 2), 2, 3, false), op('b', read, 4, 5, 1)]).result, 'ok');
  t.is(verdict([op('a', cas(null, 1), 0, 1, true), op('b', cas(null, 2), 2, 3, true)]).result, 'violation');
  t.is(verdict([op('a', cas(null, 1), 0, 3, true), op('b', cas(null, 2), 1, 2, true)]).result, 'violation', 'only one of two concurrent cas from null wins');
});

test('the search is bounded: too many configurations is unknown, not a hang', (t) => {
  // Many concurrent pending increments and a read nothing can explain: the search must try every subset.
  const h: Operation<CounterInput, number>[] = [];
  for (let i = 0; i < 30; i++) h.push(op(`c${i}`, inc, i));
  h.push(op('r', read, 100, 101, 1000));
  const v = checkLinearizable(counterModel, h, { maxStates: 2000 });
  t.is(v.result, 'unknown');
  t.true(v.states <= 2000);
});

/** Runs random ops atomically one after another on the model, then widens each op's interval around its point at random. */
const generated = (model: 'counter' | 'register', ops: { kind: number; value: number; before: number; after: number; pending: boolean }[]) => {
  let counter = 0;
  let register: number | null = null;
  const h: Operation<any, any>[] = [];
  ops.forEach((o, i) => {
    const at = i * 10;
    let input: any;
    let output: unknown;
    if (model === 'counter') {
      input = o.kind % 2 === 0 ? inc : read;
      output = (counter += input.type === 'increment' ? 1 : 0);
    } else if (o.kind % 3 === 0) {
      input = write(o.value);
      register = o.value;
      output = true;
    } else if (o.kind % 3 === 1) {
      input = read;
      output = register;
    } else {
      input = cas(o.value % 2 === 0 ? register : o.value, o.value + 100);
      output = register === input.from;
      if (output) register = input.to;
    }
    h.push({ id: i, client: `c${i}`, input, invoke: at - o.before, ...(o.pending ? {} : { respond: at + o.after, output }) });
  });
  return h;
};

test('property: any history made from an atomic sequential run with overlapping intervals is linearizable', (t) => {
  const opArb = fc.record({
    kind: fc.nat(5),
    value: fc.nat(4),
    before: fc.integer({ min: 0, max: 35 }),
    after: fc.integer({ min: 0, max: 35 }),
    pending: fc.nat(9).map((n) => n < 3),
  });
  fc.assert(
    fc.property(fc.constantFrom('counter' as const, 'register' as const), fc.array(opArb, { maxLength: 40 }), (model, ops) => {
      const v = verdict(generated(model, ops), model);
      if (v.result !== 'ok') throw new Error(`${v.result}: ${JSON.stringify(v)}`);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
