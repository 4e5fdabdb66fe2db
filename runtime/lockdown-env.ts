/**
 * The first half of ./lockdown.ts, in a module of its own because it must run
 * before `@endo/init` is evaluated: SES's lockdown reads each option it is not
 * given from a `LOCKDOWN_*` environment variable, and @endo/init gives none. So
 * the options are put in the environment here, for that one lockdown, and
 * ./lockdown.ts takes them out again right after it — workers and child processes
 * started later (vats among them) never see them.
 *
 * A variable the user set is left as it is; a realm already locked down (the
 * program imported @endo/init, or called lockdown(), first) gets nothing.
 */

/** What the program's lockdown uses unless the environment says otherwise (why: ./lockdown.ts). */
const PROGRAM_LOCKDOWN = {
  LOCKDOWN_ERROR_TRAPPING: 'none',
  LOCKDOWN_UNHANDLED_REJECTION_TRAPPING: 'none',
  LOCKDOWN_ERROR_TAMING: 'unsafe-debug',
} as const;

/** Whether the lockdown about to run is the one this package chose the options of. */
export const lockingDownHere = !Object.isFrozen(Object.prototype);

/** The variables set here, to be taken out once the lockdown has run. */
export const setHere: readonly string[] = lockingDownHere
  ? Object.entries(PROGRAM_LOCKDOWN).flatMap(([name, value]) => {
      if (process.env[name]) return [];
      process.env[name] = value;
      return [name];
    })
  : [];

/** Whether SES will leave uncaught exceptions to Node (and to ./lockdown.ts's report). */
export const untrapped = lockingDownHere && process.env['LOCKDOWN_ERROR_TRAPPING'] === 'none';
