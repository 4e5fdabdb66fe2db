/**
 * Batches the messages one side of a link sends in one turn into one post, and
 * holds CapTP's drops (garbage-collection notices) until something else is
 * sent or a short delay passes.
 *
 * Why: between threads and hosts, each post wakes the receiving thread, and on
 * a virtual machine a wake costs tens of µs of CPU on both sides
 * (docs/performance.md). A burst of calls made in one turn then costs one wake,
 * not one per call; and a drop, which nothing waits for, rides with the next
 * call instead of waking three threads on its own.
 *
 * Guarantees (test/unit/outbox.test.ts, a property over any interleaving):
 * - order: items are posted in the order pushed, none twice, none lost while
 *   the outbox is open;
 * - latency: an item that is not a drop is posted at the end of the turn it
 *   was pushed in (the `turnEnd` power: setImmediate in a worker or a host),
 *   or at once with `batchTurns: false`;
 *   a drop at the latest `holdMs` after it was pushed, or earlier with the
 *   next other item;
 * - size: a batch holds at most `maxBatch` items, and reaches `maxBatchSize` at
 *   most by its last item; a full batch is posted at once.
 *
 * `close()` posts what is waiting (a graceful end); `discard()` drops it (the
 * link is gone). Either way later pushes are ignored.
 */

export interface OutboxTimer {
  /** Runs `fn` once the current turn (its microtasks included) is over. */
  turnEnd(fn: () => void): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** How long a drop may wait for company: far below any GC pressure that would notice, and at most 20 lone wakes a second. */
export const DROP_HOLD_MS = 50;
/** Items per post: a burst of 100 outstanding calls fits; bounded so that one post stays small for the receiver's turn. */
export const MAX_BATCH_ITEMS = 256;
/**
 * Size per post (as `size` counts it): a batch this big gains nothing more from
 * batching, and a turn that sends megabytes must not make its receiver hold
 * them all at once (a peer that stops reading is cut off per message, at the
 * session's bound, not per batch).
 */
export const MAX_BATCH_SIZE = 64 * 1024;

export interface Outbox<T> {
  push(item: T): void;
  /** Posts what waits, now. */
  flush(): void;
  /** Posts what waits, then ignores later pushes. */
  close(): void;
  /** Forgets what waits, then ignores later pushes. */
  discard(): void;
  /** Items waiting (tests, diagnostics). */
  readonly waiting: number;
}

export const makeOutbox = <T>(opts: {
  /** One batch, in order; never empty. */
  post(items: T[]): void;
  /** Items that may wait up to holdMs (CapTP's CTP_DROP). */
  isDrop(item: T): boolean;
  timer: OutboxTimer;
  holdMs?: number;
  maxBatch?: number;
  /** An item's size (string length, bytes); default 0. A batch reaching maxBatchSize is posted at once. */
  size?(item: T): number;
  maxBatchSize?: number;
  /** false: an item that is not a drop is posted at once (with the drops held before it); for links that batch below. Default true. */
  batchTurns?: boolean;
}): Outbox<T> => {
  const { post, isDrop, timer } = opts;
  const holdMs = opts.holdMs ?? DROP_HOLD_MS;
  const maxBatch = opts.maxBatch ?? MAX_BATCH_ITEMS;
  const batchTurns = opts.batchTurns ?? true;
  const sizeOf = opts.size ?? (() => 0);
  const maxBatchSize = opts.maxBatchSize ?? MAX_BATCH_SIZE;
  let size = 0;
  let items: T[] = [];
  let turnScheduled = false;
  let holdTimer: unknown;
  let ended = false;

  const flush = () => {
    if (holdTimer !== undefined) {
      timer.clearTimeout(holdTimer);
      holdTimer = undefined;
    }
    if (items.length === 0) return;
    const batch = items;
    items = [];
    size = 0;
    post(batch);
  };
  const atTurnEnd = () => {
    turnScheduled = false;
    flush();
  };
  return {
    push(item) {
      if (ended) return;
      items.push(item);
      size += sizeOf(item);
      if (items.length >= maxBatch || size >= maxBatchSize) return flush();
      if (!isDrop(item)) {
        if (!batchTurns) return flush();
        if (!turnScheduled) {
          turnScheduled = true;
          timer.turnEnd(atTurnEnd);
        }
      } else if (holdTimer === undefined && !turnScheduled) {
        holdTimer = timer.setTimeout(() => {
          holdTimer = undefined;
          flush();
        }, holdMs);
      }
    },
    flush,
    close() {
      if (ended) return;
      flush();
      ended = true;
    },
    discard() {
      ended = true;
      items = [];
      size = 0;
      if (holdTimer !== undefined) timer.clearTimeout(holdTimer);
      holdTimer = undefined;
    },
    get waiting() {
      return items.length;
    },
  };
};
