/**
 * Globals a vat's compartment gets in place of ambient authority it lacks, so
 * that actor code reaching for it fails with an AmbientAuthorityError that names
 * the power or grant to use instead.
 *
 * Why shims rather than catching and rewrapping: without them, SES's compartment
 * answers a missing global with `undefined` (its scope handling makes free names
 * read as undefined), so `console.log(x)` fails with "Cannot read properties of
 * undefined (reading 'log')" and `setTimeout(f)` with "setTimeout is not a
 * function" — messages that match any undefined value and so cannot be
 * recognised and rewritten reliably at a later layer, and that would still be
 * cryptic where actor code catches them itself. A shim fails at the call site,
 * with the fix in the message. The same holds for the tamed clock and random:
 * SES says "secure mode Calling %SharedDate%.now() throws", which names neither
 * the grant nor the timer power.
 *
 * The cost: `typeof console !== 'undefined'` and `'setTimeout' in globalThis`
 * checks now pass, so a guarded log in helper code throws where it used to be
 * skipped. Actor modules may import only their own relative files, so such
 * guards are the author's own code, and a log that silently vanished would teach
 * less than one that throws. The shims are not a way to the real thing: they
 * hold no authority and are hardened; console is not mapped onto `powers.log`
 * because output is a power the vat is handed, not a global.
 */
import { AmbientAuthorityError } from './errors.js';
import type { Grant } from './link.js';

const refuse = (message: string): never => {
  throw harden(new AmbientAuthorityError(message));
};

const CONSOLE_METHODS = [
  'log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'dirxml', 'table', 'group', 'groupCollapsed',
  'groupEnd', 'time', 'timeEnd', 'timeLog', 'count', 'countReset', 'assert', 'clear',
] as const;

const makeConsole = () =>
  harden(
    Object.fromEntries(
      CONSOLE_METHODS.map((m) => [
        m,
        () =>
          refuse(
            `console.${m}() is not available to actor code: a vat has no console. ` +
              "Use powers.log(...args) instead; it prints one line on the host's output, prefixed with the vat's name",
          ),
      ]),
    ),
  );

const noTimers = (what: string, fix: string) => () =>
  refuse(`${what} is not available to actor code: a vat has no ambient timers. ${fix}`);

const TIMERS = {
  setTimeout: noTimers('setTimeout()', 'Use `await powers.timer.delay(ms)` instead; it resolves after ms milliseconds'),
  setInterval: noTimers('setInterval()', 'Use a loop around `await powers.timer.delay(ms)` instead'),
  setImmediate: noTimers('setImmediate()', 'Use `await powers.timer.delay(0)` instead'),
};

const noClock = (what: string): never =>
  refuse(
    `${what} reads the clock, which a vat has only when granted: spawn it with --grant clock ` +
      "(spawnVat({ grants: ['clock'] })), or use the timer power: powers.timer.now()",
  );

/** The compartment's Date with the clock-reading forms refusing; dates from a given time still work. */
const makeDate = (SharedDate: DateConstructor) => {
  const TeachingDate = function (this: unknown, ...args: unknown[]) {
    if (new.target === undefined) return noClock('Date()');
    if (args.length === 0) return noClock('new Date()');
    return Reflect.construct(SharedDate, args, new.target);
  };
  Object.defineProperties(TeachingDate, {
    name: { value: 'Date' },
    length: { value: SharedDate.length },
    prototype: { value: SharedDate.prototype },
    now: { value: () => noClock('Date.now()') },
    parse: { value: SharedDate.parse },
    UTC: { value: SharedDate.UTC },
  });
  return harden(TeachingDate);
};

/** The compartment's Math with `random` refusing; every other member is the shared one. */
const makeMath = (SharedMath: Math) => {
  const members = Object.getOwnPropertyDescriptors(SharedMath);
  members.random = {
    ...members.random,
    value: () => refuse("Math.random() needs the random grant: spawn the vat with --grant random (spawnVat({ grants: ['random'] }))"),
  };
  return harden(Object.create(Object.getPrototypeOf(SharedMath), members));
};

/**
 * Installs the shims on a fresh compartment's global object. Granted globals
 * (the realm's own Date or Math, set by the loader) are left alone.
 */
export const installTeachingGlobals = (globals: Record<string, any>, grants: readonly Grant[]): void => {
  globals['console'] = makeConsole();
  Object.assign(globals, harden({ ...TIMERS }));
  if (!grants.includes('clock')) globals['Date'] = makeDate(globals['Date']);
  if (!grants.includes('random')) globals['Math'] = makeMath(globals['Math']);
};
