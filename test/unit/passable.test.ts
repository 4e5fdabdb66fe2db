import '@endo/init';
import test from 'ava';
import { Far } from '@endo/far';
import { makeMarshal } from '@endo/marshal';
import { explainMarshalError, notFar, rewriteSentError } from '../../capabilities/passable.js';

const { serialize } = makeMarshal(undefined, undefined, { serializeBodyFormat: 'capdata', errorTagging: 'off' });
/** The message marshal refuses `value` with, as CapTP would send it. */
const refusal = (value: unknown): string => {
  try {
    serialize(harden(value) as never);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('marshal accepted it');
};
const sent = (name: string, message: string) => ({ body: JSON.stringify({ '@qclass': 'error', name, message }), slots: [] });
const bodyOf = (capdata: { body: string }) => JSON.parse(capdata.body) as { name: string; message: string };

class Point {
  x = 1;
  norm() {
    return this.x;
  }
}

test('each marshal refusal of an actor mistake gets an explanation that names the fix', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ hello: () => 1 }, /^a plain object with methods .* wrap it: Far\('Name'/],
    [() => 1, /^a function .* wrap it in a Far object/],
    [new Point(), /^an object with both methods and data fields \(like "x"/],
    [new Map(), /^an object with a prototype of its own( \(.*\))?, such as a class instance, a Date, a Map or a Set, cannot be sent/],
    [new Date(0), /^an object with a prototype of its own/],
    [new Uint8Array(2), /^a typed array( \(.*\))? cannot be sent to another vat or host; send Array\.from\(bytes\) or a string$/],
  ];
  for (const [value, expected] of cases) {
    const message = refusal(value);
    t.regex(explainMarshalError(message) ?? `unexplained: ${message}`, expected, message);
  }
  t.is(explainMarshalError('out of range: 7'), undefined);
});

test('a sent rejection keeps a custom class name in its message; standard and prefixed ones are unchanged', (t) => {
  t.deepEqual(bodyOf(rewriteSentError(sent('InsufficientFundsError', 'need 5 more'))), {
    '@qclass': 'error',
    name: 'InsufficientFundsError',
    message: 'InsufficientFundsError: need 5 more',
  } as never);
  for (const [name, message] of [
    ['RangeError', 'out of range'],
    ['Error', 'plain'],
    ['VatExistsError', 'VatExistsError: a vat named "x" is already running'],
    ['not a name', 'odd'],
  ] as const) {
    const capdata = sent(name, message);
    t.is(rewriteSentError(capdata), capdata, `${name} is left alone`);
  }
  const refused = bodyOf(rewriteSentError(sent('Error', refusal({ hello: () => 1 }))));
  t.is(refused.name, 'NotPassableError');
  t.regex(refused.message, /^NotPassableError: a plain object with methods/);
  // Not an error body, or not JSON: passed through untouched.
  const result = { body: '{"@qclass":"slot","index":0}', slots: ['o+1'] };
  t.is(rewriteSentError(result), result);
  const broken = { body: '{"@qclass":"error",', slots: [] };
  t.is(rewriteSentError(broken), broken);
});

test('notFar accepts Far objects and says what each other root is and what to return', (t) => {
  t.is(notFar(Far('Ok', { m: () => 1 })), undefined);
  t.is(notFar({ hello: () => 1, bye: () => 2, n: 3 }), "a plain object with methods (hello, bye); wrap it: return Far('Name', { hello…, bye… })");
  t.regex(notFar({ n: 3 }) ?? '', /^plain data; the root is what other vats call/);
  t.regex(notFar([1]) ?? '', /^an array;/);
  t.regex(notFar(new Point()) ?? '', /^an instance of class Point; .*return Far\('Point'/);
  t.is(notFar(42), "a number; return Far('Name', { method() {…} })");
  t.is(notFar(undefined), "undefined; return Far('Name', { method() {…} })");
});
