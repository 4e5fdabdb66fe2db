/**
 * A steady load of calls on a counter (test/fixtures/durable-counters.ts) for tests
 * that cut links under it: lanes of sequential increments, what was made and what
 * came back, and the end-of-test check that every call was counted exactly once.
 * Also `poll`, for states read over a control socket (a `ps` is a round trip).
 */
import type { ExecutionContext } from 'ava';
import { E } from '../../runtime/index.js';
import { IO_MS, until, WaitTimeoutError, within } from './bounded.js';

/**
 * Polls `read` (a `ps` over a control socket) until `ok` holds; a WaitTimeoutError naming
 * `what` and the last value after `ms`; at once an Error if `wrong` names what went wrong.
 */
export const poll = async <T>(read: () => Promise<T>, ok: (v: T) => boolean, ms: number, what: string, wrong?: (v: T) => string | undefined): Promise<T> => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await within(read(), IO_MS, `${what}: a ps`);
    const bad = wrong?.(v);
    if (bad !== undefined) throw new Error(`${what}: ${bad} (seen: ${JSON.stringify(v)})`);
    if (ok(v)) return v;
    if (Date.now() >= deadline) throw new WaitTimeoutError(`${what}: not within ${ms} ms (last seen: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

export interface LoadStats {
  /** Calls made, answered, and each answer (the count after that increment). */
  made: number;
  acked: number;
  readonly values: number[];
  /** A lane that sees a failure records it and stops. */
  readonly errors: unknown[];
  lastAckAt: number;
  /** The longest time between two answers; a test may reset it to 0 to time one phase. */
  longestPauseMs: number;
}

export interface CallLoad {
  readonly stats: LoadStats;
  /** Until `n` calls in all were answered (or one failed). */
  answered(n: number, what: string): Promise<void>;
  /** Until `n` more calls than now were answered (or one failed). */
  more(n: number, what: string): Promise<void>;
  /** No new calls; settles when every lane's last call has. */
  stop(): Promise<unknown>;
}

/** `lanes` loops of sequential increments until stopped: what was made, what came back, any failure, and the longest pause between answers. */
export const startLoad = (counter: unknown, lanes: number): CallLoad => {
  const stats: LoadStats = { made: 0, acked: 0, values: [], errors: [], lastAckAt: Date.now(), longestPauseMs: 0 };
  let stopping = false;
  const lane = async () => {
    while (!stopping) {
      stats.made += 1;
      try {
        stats.values.push((await E(counter as { increment(): number }).increment()) as number);
        stats.acked += 1;
        const now = Date.now();
        stats.longestPauseMs = Math.max(stats.longestPauseMs, now - stats.lastAckAt);
        stats.lastAckAt = now;
      } catch (err) {
        stats.errors.push(err);
        return;
      }
    }
  };
  const all = Promise.all(Array.from({ length: lanes }, lane));
  const answered = (n: number, what: string) =>
    until(() => stats.acked >= n || stats.errors.length > 0, IO_MS, what, () => `${stats.acked} answered, errors ${stats.errors.map(String)}`);
  return {
    stats,
    answered,
    more: (n, what) => answered(stats.acked + n, what),
    stop: () => {
      stopping = true;
      return all;
    },
  };
};

/** Every call answered once, none failed, and the service (`local`, the counter not over the link) counted each: the end of a test. */
export const allCountedOnce = async (t: ExecutionContext, load: CallLoad, local: unknown) => {
  await within(load.stop(), IO_MS, 'every call to settle');
  const { made, acked, values, errors } = load.stats;
  t.deepEqual(errors.map(String), [], 'no call failed');
  t.is(acked, made, 'every call made was answered');
  t.deepEqual(
    [...values].sort((x, y) => x - y),
    Array.from({ length: made }, (_, i) => i + 1),
    'each call counted exactly once: the answers are 1..made, none twice, none missing',
  );
  t.is(await E(local as { read(): number }).read(), acked, 'the service host counted every answered call, once');
};
