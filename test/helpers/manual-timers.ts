/**
 * Timers a test fires by hand: `advance(ms)` moves the clock and runs what is
 * due, in order; `pending()` says how many wait.
 */
export const manualTimers = () => {
  let now = 1_000_000;
  let queue: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  return {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => {
      const id = ++ids;
      queue.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (id: unknown) => {
      queue = queue.filter((q) => q.id !== id);
    },
    advance(ms: number) {
      now += ms;
      for (;;) {
        const due = queue.filter((q) => q.at <= now).sort((x, y) => x.at - y.at)[0];
        if (!due) return;
        queue = queue.filter((q) => q !== due);
        due.fn();
      }
    },
    pending: () => queue.length,
  };
};
