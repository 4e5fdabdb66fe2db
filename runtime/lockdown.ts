/**
 * The lockdown a program gets by importing the package, chosen so that the
 * program's own errors print as Node prints them.
 *
 * E(), Far and CapTP need a locked-down realm (SES), and lockdown is global: it
 * freezes the intrinsics of the whole program, so it cannot be confined to this
 * package. What need not be global is SES's error handling. `@endo/init`'s
 * lockdown traps uncaught exceptions (printed as `SES_UNCAUGHT_EXCEPTION`, exit
 * 255), logs unhandled rejections and carries on (exit 0), and hides stacks. Here:
 *
 * - `errorTrapping: 'none'`, `unhandledRejectionTrapping: 'none'`: SES installs no
 *   process handlers; Node's own rules apply (an unhandled rejection is raised as an
 *   uncaught exception unless the program says otherwise).
 * - `errorTaming: 'unsafe-debug'`: `error.stack` is the stack V8 and Node write
 *   (`'unsafe'` would rewrite it in SES's shape, which Node's inspect does not take
 *   for a stack). Safe taming keeps stacks from untrusted code in the same realm;
 *   none runs here: actors run in vat workers, each locked down on its own
 *   (runtime/vat-worker.ts, @endo/init's defaults), which this module does not touch.
 * - One thing lockdown does that Node's report cannot cope with: SES's override
 *   taming turns `Error.prototype.constructor` (and TypeError's) into an accessor,
 *   and `util.inspect` then prints a plain `new Error('x')` as `{}` — which is what
 *   Node's report of an uncaught error uses. So, while no one else handles uncaught
 *   exceptions, `reportUncaught` prints what Node would (message, stack, own
 *   properties, cause; not the source line above them) and exits with Node's code
 *   for it, 1.
 *
 * The lockdown itself is `@endo/init`'s, with these options passed through the
 * environment (./lockdown-env.js says how): so a program that imports
 * `@endo/init` as well, before or after this package, locks down once. A
 * `LOCKDOWN_*` environment variable the user sets still wins, as in any SES
 * program; a realm locked down before this package is imported is used as it is.
 */
import { setHere, untrapped } from './lockdown-env.js';
// After ./lockdown-env.js, which sets the options this lockdown reads: keep this order.
import '@endo/init';
import { writeSync } from 'node:fs';
import { inspect, types } from 'node:util';

/** How many `cause` links an uncaught error's report follows. */
const MAX_CAUSES = 8;

/**
 * A stand-in for `error` that util.inspect shows as an error: the same own
 * properties (the stack read out, the cause made a stand-in too), on a prototype
 * whose `constructor` is a data property again.
 */
const inspectable = (value: unknown, causes = 0): unknown => {
  if (!types.isNativeError(value) || causes > MAX_CAUSES) return value;
  const own = Object.getOwnPropertyDescriptors(value);
  own['stack'] = { value: value.stack, writable: true, configurable: true, enumerable: false };
  const cause = own['cause'];
  if (cause && 'value' in cause) own['cause'] = { ...cause, value: inspectable(cause.value, causes + 1) };
  const proto = Object.create(Object.getPrototypeOf(value), { constructor: { value: value.constructor, configurable: true } });
  return Object.create(proto, own);
};

/** `value` as Node's report of an uncaught error shows it. */
const describeUncaught = (value: unknown): string =>
  typeof value === 'string' ? value : inspect(inspectable(value));

const reportUncaught = (error: unknown): void => {
  // Another listener is the program handling its errors itself: Node neither prints nor exits then.
  if (process.listenerCount('uncaughtException') > 1) return;
  // Synchronous, so that the report is out before the exit.
  writeSync(2, `${describeUncaught(error)}\n\nNode.js ${process.version}\n`);
  process.exit(1);
};

for (const name of setHere) delete process.env[name];
if (untrapped) process.on('uncaughtException', reportUncaught);
