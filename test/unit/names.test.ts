/** The host-local name registry. */
import test from 'ava';
import fc from 'fast-check';
import { InvalidNameError, NameNotFoundError, NameTakenError } from '../../capabilities/errors.js';
import { assertValidName, makeNameRegistry, NAME_PATTERN, type NameEntry } from '../../capabilities/names.js';

const entry = (name: string, owner: string, ref: unknown = { name }, home: NameEntry['home'] = {}): NameEntry => ({
  name,
  ref,
  owner,
  home,
});

/** The documented rule, written independently of NAME_PATTERN. */
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const isValidByRule = (s: string) =>
  s.length >= 1 && s.length <= 128 && ALNUM.includes(s[0]!) && [...s].every((c) => c.length === 1 && `${ALNUM}._-`.includes(c));

test('publish then lookup returns the entry; has and list see it', (t) => {
  const names = makeNameRegistry();
  const ref = { id: 1 };
  const e = entry('counter', 'vat-a', ref, { vat: 'vat-a', key: 'root' });
  names.publish(e);
  t.is(names.lookup('counter'), e);
  t.is(names.lookup('counter').ref, ref);
  t.deepEqual(names.lookup('counter').home, { vat: 'vat-a', key: 'root' });
  t.true(names.has('counter'));
  t.false(names.has('other'));
  t.deepEqual(names.list(), [e]);
});

test('lookup of a name nobody published throws NameNotFoundError', (t) => {
  const names = makeNameRegistry();
  const err = t.throws(() => names.lookup('ghost'));
  t.is(err?.name, 'NameNotFoundError');
  t.true(err instanceof NameNotFoundError);
  t.regex(err?.message ?? '', /ghost/);
  // Names that are also Object.prototype keys are not found either.
  for (const n of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    t.throws(() => names.lookup(n), { instanceOf: NameNotFoundError }, n);
    t.false(names.has(n), n);
  }
});

test('the owner may republish its name; another owner gets NameTakenError and the entry is unchanged', (t) => {
  const names = makeNameRegistry();
  names.publish(entry('svc', 'a', 1));
  names.publish(entry('svc', 'a', 2));
  t.is(names.lookup('svc').ref, 2);
  const err = t.throws(() => names.publish(entry('svc', 'b', 3)));
  t.is(err?.name, 'NameTakenError');
  t.true(err instanceof NameTakenError);
  t.regex(err?.message ?? '', /svc.*\ba\b/);
  t.is(names.lookup('svc').ref, 2);
  t.is(names.lookup('svc').owner, 'a');
});

test('list is sorted by name', (t) => {
  const names = makeNameRegistry();
  for (const n of ['zeta', 'alpha', 'Mid', '9lives', 'beta']) names.publish(entry(n, 'host'));
  const listed = names.list().map((e) => e.name);
  t.deepEqual(listed, [...listed].sort((a, b) => a.localeCompare(b)));
  t.is(listed.length, 5);
  // list() is a copy: changing it changes nothing.
  names.list().pop();
  t.is(names.list().length, 5);
});

test('dropOwner removes exactly that owner\'s names', (t) => {
  const names = makeNameRegistry();
  names.publish(entry('a1', 'a'));
  names.publish(entry('a2', 'a'));
  names.publish(entry('b1', 'b'));
  names.dropOwner('a');
  t.deepEqual(
    names.list().map((e) => e.name),
    ['b1'],
  );
  t.throws(() => names.lookup('a1'), { instanceOf: NameNotFoundError });
  // The dropped names are free for anyone now.
  names.publish(entry('a1', 'b'));
  t.is(names.lookup('a1').owner, 'b');
  names.dropOwner('nobody');
  t.is(names.list().length, 2);
});

test('remove succeeds only for the owner', (t) => {
  const names = makeNameRegistry();
  names.publish(entry('x', 'a'));
  t.false(names.remove('x', 'b'));
  t.true(names.has('x'));
  t.false(names.remove('missing', 'a'));
  t.true(names.remove('x', 'a'));
  t.false(names.has('x'));
  t.false(names.remove('x', 'a'), 'a second remove finds nothing');
});

test('invalid names are refused with InvalidNameError and nothing is published', (t) => {
  const names = makeNameRegistry();
  for (const bad of ['', '-lead', '.lead', '_lead', 'has space', 'slash/y', 'new\nline', 'x'.repeat(129), 'é', 'a\u0000', 'ok\n']) {
    const err = t.throws(() => names.publish(entry(bad, 'host')), undefined, JSON.stringify(bad));
    t.is(err?.name, 'InvalidNameError', JSON.stringify(bad));
    t.true(err instanceof InvalidNameError);
  }
  for (const bad of [undefined, null, 42, {}, ['a']]) {
    t.throws(() => assertValidName(bad), { instanceOf: InvalidNameError });
  }
  t.deepEqual(names.list(), []);
  for (const good of ['a', 'A', '0', 'a.b-c_d', 'x'.repeat(128), '9-._']) t.is(assertValidName(good), good);
});

test('property: a name is accepted exactly when the documented rule allows it', (t) => {
  const nameish = fc.string({
    unit: fc.oneof(
      fc.constantFrom(...`${ALNUM}._-`),
      fc.constantFrom(' ', '/', '\n', '\r', '\u0000', 'é', '\u2028', '😀', ':', '@'),
    ),
    maxLength: 140,
  });
  fc.assert(
    fc.property(fc.oneof(nameish, fc.string(), fc.string({ unit: 'binary' })), (s) => {
      const names = makeNameRegistry();
      let accepted: boolean;
      try {
        names.publish(entry(s, 'host'));
        accepted = true;
      } catch (err) {
        if (!(err instanceof InvalidNameError)) throw err;
        accepted = false;
      }
      if (accepted !== isValidByRule(s)) return false;
      if (accepted !== NAME_PATTERN.test(s)) return false;
      return accepted ? names.lookup(s).name === s : names.list().length === 0;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
