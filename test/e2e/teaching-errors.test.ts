/**
 * The errors actor authors meet first, word for word as `tribe` prints them: each
 * names the cause and the fix. And what an error thrown by an actor looks like
 * to a caller in another vat, on another host, and at the host API.
 */
import test from 'ava';
import { E, reviveError } from '../../runtime/index.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { fixture, tempHome, withHost } from '../helpers/host.js';

const NO_CONSOLE =
  "AmbientAuthorityError: console.log() is not available to actor code: a vat has no console. Use powers.log(...args) instead; it prints one line on the host's output, prefixed with the vat's name";
const NO_CLOCK = (what: string) =>
  `AmbientAuthorityError: ${what} reads the clock, which a vat has only when granted: spawn it with --grant clock (spawnVat({ grants: ['clock'] })), or use the timer power: powers.timer.now()`;
const STORE_ACCEPTS =
  'The store keeps plain data (null, booleans, finite numbers, strings, and arrays and plain objects of these) and references to durable objects';
/** Marshal's rendering of the value (the part in parentheses) depends on the error taming; the rest is fixed. */
const PLAIN_OBJECT =
  /^NotPassableError: a plain object with methods \(.*\) cannot be sent to another vat or host; wrap it: Far\('Name', \{ method\(\) \{…\} \}\) makes an object that is sent by reference$/;
const INSTANCE =
  /^NotPassableError: an object with both methods and data fields \(like "x" in .*\), such as a class instance, cannot be sent to another vat or host; send a Far object whose methods use the data, Far\('Name', \{ method\(\) \{…\} \}\), or plain data without methods$/;

test('tribe call: each mistake prints one line naming the cause and the fix', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home);
  const spawned = await tribe(['spawn', fixture('teaching.ts'), '--name', 'teach', '--durable', '--home', home]);
  t.is(spawned.code, 0, spawned.stderr);
  const cases: Array<[string[], string | RegExp]> = [
    [['consoleLog'], NO_CONSOLE],
    [['setTimeout'], "AmbientAuthorityError: setTimeout() is not available to actor code: a vat has no ambient timers. Use `await powers.timer.delay(ms)` instead; it resolves after ms milliseconds"],
    [['setInterval'], 'AmbientAuthorityError: setInterval() is not available to actor code: a vat has no ambient timers. Use a loop around `await powers.timer.delay(ms)` instead'],
    [['dateNow'], NO_CLOCK('Date.now()')],
    [['newDate'], NO_CLOCK('new Date()')],
    [['random'], "AmbientAuthorityError: Math.random() needs the random grant: spawn the vat with --grant random (spawnVat({ grants: ['random'] }))"],
    [['plainObject'], PLAIN_OBJECT],
    [['classInstance'], INSTANCE],
    [['store', '"undefined"'], `StoreValueError: store value at k is undefined: store null for "no value", or delete the key with store.delete(key). ${STORE_ACCEPTS}`],
    [['store', '"date"'], `StoreValueError: store value at k is a Date: store its time as a number (date.getTime()) or an ISO string. ${STORE_ACCEPTS}`],
    [['store', '"map"'], `StoreValueError: store value at k is a Map: store Object.fromEntries(map) or [...map] (an array of [key, value] pairs). ${STORE_ACCEPTS}`],
    [['store', '"instance"'], `StoreValueError: store value at k is an instance of class Point: store its fields as a plain object ({ ...value }) and rebuild the instance when you read it. ${STORE_ACCEPTS}`],
    [['store', '"nested"'], `StoreValueError: store value at k.when[1] is undefined: store null for "no value", or delete the key with store.delete(key). ${STORE_ACCEPTS}`],
    // An actor's own error class keeps its name on the way out.
    [['fail', '5'], 'InsufficientFundsError: need 5 more'],
  ];
  for (const [args, expected] of cases) {
    const r = await tribe(['call', 'teach', ...args, '--home', home]);
    t.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    t.is(r.stdout, '');
    const line = r.stderr.replace(/\n$/, '');
    t.false(line.includes('\n'), `one line for ${args.join(' ')}`);
    if (typeof expected === 'string') t.is(line, `tribe: ${expected}`, args.join(' '));
    else t.regex(line.replace(/^tribe: /, ''), expected, args.join(' '));
  }
  // A date from a given time reads no clock and needs no grant; the vat kept serving through all of the above.
  t.is((await tribe(['call', 'teach', 'fromTime', '0', '--home', home])).stdout, '"1970-01-01T00:00:00.000Z"\n');

  // make() that returns a plain object or a class instance: the spawn says what to return.
  for (const [root, expected] of [
    ['plain', "a plain object with methods (hello); wrap it: return Far('Name', { hello… })"],
    ['instance', "an instance of class Point; class instances cannot be sent to another vat or host, so wrap its methods: return Far('Point', { method: (...args) => instance.method(...args) })"],
  ] as const) {
    const r = await tribe(['spawn', fixture('teaching.ts'), '--params', JSON.stringify({ root }), '--home', home]);
    t.is(r.code, 1);
    t.is(
      r.stderr,
      `tribe: ActorStartError: make() of ${fixture('teaching.ts')} must return a Far object (the root other vats call), but returned ${expected}\n`,
    );
  }
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0, `the host's output:\n${host.output.join('\n')}`);
});

test('the shims hold no authority: granted clock and random are the real ones, and timers stay out', async (t) => {
  const host = await withHost(t);
  const { root } = await host.spawnVat({ module: fixture('teaching.ts'), name: 'granted', grants: ['clock', 'random'] });
  const before = Date.now();
  const now: number = await E(root).dateNow();
  t.true(now >= before && now <= Date.now(), 'Date.now() is the real clock when granted');
  t.is(typeof (await E(root).random()), 'number');
  // The console and timer shims are there with or without grants: there is no grant for them.
  await t.throwsAsync(E(root).consoleLog(), { message: NO_CONSOLE });
  await t.throwsAsync(E(root).setTimeout(), { message: /^AmbientAuthorityError: setTimeout\(\)/ });
});

test('an error class thrown in one vat: its name reaches another vat as the message prefix, fields stay behind', async (t) => {
  const host = await withHost(t);
  const { root: a } = await host.spawnVat({ module: fixture('teaching.ts'), name: 'a' });
  const { root: b } = await host.spawnVat({ module: fixture('teaching.ts'), name: 'b' });
  // What actor code in vat a sees when b throws (documented in docs/tutorial.md).
  t.deepEqual(await E(a).catchFrom('b', 5), { name: 'Error', message: 'InsufficientFundsError: need 5 more', needed: null });
  // The host API sees the same; reviveError gives back the name.
  const err = await t.throwsAsync(E(b).fail(7));
  t.is(err?.message, 'InsufficientFundsError: need 7 more');
  t.is(reviveError(err).name, 'InsufficientFundsError');
  // A class instance passed as an argument to another vat: the caller's error says what to send.
  const passed = await t.throwsAsync(E(a).passInstance('b'));
  t.regex(passed?.message ?? '', INSTANCE);
});

test('an error class thrown on another host reaches a vat and the host API the same way', async (t) => {
  const a = await withHost(t, { spareWorkers: 0 });
  const b = await withHost(t, { spareWorkers: 0 });
  await b.spawnVat({ module: fixture('teaching.ts'), name: 'bank' });
  const { root: alice } = await a.spawnVat({ module: fixture('teaching.ts'), name: 'alice' });
  const ref = b.makeSturdyRef('bank');
  t.deepEqual(await E(alice).catchFrom(ref, 3), { name: 'Error', message: 'InsufficientFundsError: need 3 more', needed: null });
  const bank = await a.enliven(ref);
  const err = await t.throwsAsync(E(bank).fail(4));
  t.is(err?.message, 'InsufficientFundsError: need 4 more');
  t.is(reviveError(err).name, 'InsufficientFundsError');
  const plain = await t.throwsAsync(E(bank).plainObject());
  t.regex(plain?.message ?? '', PLAIN_OBJECT);
});
