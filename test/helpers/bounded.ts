/**
 * Bounded waits for tests. ava's own timeout (120 s, package.json) ends the whole
 * worker process without running teardowns, so a hang there loses the failing test's
 * name and can leave hosts and homes behind. A wait bounded here instead fails its
 * own test, with what it was waiting for, and the teardowns run.
 *
 * Bounds are generous (they only decide how long a hang takes to report, never
 * whether a passing run passes): a loaded 2-CPU machine is many times slower than
 * an idle one, and each bound stays well under ava's 120 s.
 */

/** In-process work: a memory stream, a handshake, a local event. */
export const LOCAL_MS = 10_000;
/** One round trip through real sockets, workers or a host (a vat start included). */
export const IO_MS = 30_000;
/** A child process starting or ending (a Node start with SES lockdown and a store). */
export const PROCESS_MS = 60_000;

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

/**
 * Resolves or rejects as `promise` does, or rejects with a WaitTimeoutError naming
 * `what` after `ms`. The timer does not keep the process alive (a wait on nothing
 * that can still happen is ava's "never resolved" failure instead), and a bounded
 * promise nobody awaits does not turn into an unhandled rejection.
 */
export const within = <T>(promise: PromiseLike<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const bounded = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(`${what}: not within ${ms} ms`)), ms);
    timer.unref();
    promise.then(resolve, reject);
  }).finally(() => clearTimeout(timer));
  bounded.catch(() => {});
  return bounded;
};

/**
 * Polls `check` every few milliseconds until it holds; rejects after `ms` with
 * `what` and, if given, `describe()` of what was seen last. For states that have
 * no event to await (a handle released some turns after its owner's exit).
 */
export const until = async (check: () => boolean, ms: number, what: string, describe?: () => string): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(`${what}: not within ${ms} ms${describe ? ` (last seen: ${describe()})` : ''}`);
    }
    // A timer, not setImmediate: a busy poll would take CPU from the very threads it waits for.
    await new Promise((r) => setTimeout(r, 5));
  }
};
