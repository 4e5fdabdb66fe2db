/**
 * A promise bounded in time by a clock the caller passes in (layers below
 * runtime/ own no timers): resolves or rejects as `answer` does, or rejects
 * with `late()` after `ms`, and clears its timer either way.
 */
export interface DeadlineClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const answerWithin = <T>(clock: DeadlineClock, answer: Promise<T>, ms: number, late: () => Error): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(late()), ms);
    answer.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (err) => {
        clock.clearTimeout(timer);
        reject(err);
      },
    );
  });
