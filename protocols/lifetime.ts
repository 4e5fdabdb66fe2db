/**
 * One lifetime per thing that can end: a path, a session, a session table, a
 * dial. Any number of parties may wait for the end (`closed`) or hang work on it
 * (`onClose`); only the holder of the kit's `close` can end it, once. A lifetime
 * made with a parent ends when the parent does, with the parent's reason — a
 * table's dials end when the table closes — and once it has ended the parent
 * forgets it, so a long-lived parent does not collect finished children.
 *
 * Models: Endo's daemon context (`cancelled`, `onCancel`, `thisDiesIfThatDies`)
 * and capnweb's `onRpcBroken`; unlike a single-slot `onClose(handler)`, a
 * second party never replaces the first one's hook.
 *
 * Failure semantics: `closed` never rejects (it resolves with the reason); a
 * hook that throws does not stop the others, and its error goes nowhere (the
 * thing has ended already). Hooks run synchronously inside `close`, in the order
 * they were added, so a party sees the end in the same turn; one added after the
 * end runs on a microtask, never inside the caller.
 */

export interface Lifetime {
  /** Resolves once, with the reason, when it ends. */
  readonly closed: Promise<Error>;
  readonly isClosed: boolean;
  /** Why it ended; undefined while it lasts. */
  readonly reason: Error | undefined;
  /** Runs `hook(reason)` when it ends. Returns a function that removes the hook (a no-op once it ran). */
  onClose(hook: (reason: Error) => void): () => void;
  /**
   * `work`'s outcome, unless this ends first: then it rejects with the reason at
   * once, and `late` receives a value the work still produces (to close a
   * stream that arrives after the dial was cancelled, say).
   */
  whileOpen<T>(work: PromiseLike<T>, late?: (value: T) => void): Promise<T>;
}

export interface LifetimeKit {
  readonly lifetime: Lifetime;
  /**
   * Ends it: every hook runs with `reason`. Only the first call counts (it
   * returns true). Without a reason, it ended because its work is done.
   */
  close(reason?: Error): boolean;
}

/** The reason of a lifetime closed without one: what hung from it finished normally. */
export class LifetimeEndedError extends Error {
  override name = 'LifetimeEndedError';
}

const runQuietly = (hook: (reason: Error) => void, reason: Error) => {
  try {
    hook(reason);
  } catch {
    // A hook's failure has nowhere to go: the thing it watched has ended.
  }
};

export const makeLifetime = (parent?: Lifetime): LifetimeKit => {
  let reason: Error | undefined;
  let hooks = new Set<(reason: Error) => void>();
  let settle!: (reason: Error) => void;
  const closed = new Promise<Error>((resolve) => (settle = resolve));

  const close = (why: Error = new LifetimeEndedError('ended')): boolean => {
    if (reason) return false;
    reason = why;
    const run = [...hooks];
    hooks = new Set();
    settle(why);
    for (const hook of run) runQuietly(hook, why);
    return true;
  };

  const onClose = (hook: (reason: Error) => void): (() => void) => {
    const r = reason;
    if (r) {
      queueMicrotask(() => runQuietly(hook, r));
      return () => {};
    }
    // A hook added twice runs twice: each registration is its own party.
    const own = (why: Error) => hook(why);
    hooks.add(own);
    return () => void hooks.delete(own);
  };

  const whileOpen = <T>(work: PromiseLike<T>, late?: (value: T) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let cancelled = reason !== undefined;
      if (reason) reject(reason);
      const forget = cancelled
        ? () => {}
        : onClose((why) => {
            cancelled = true;
            reject(why);
          });
      work.then(
        (value) => {
          forget();
          if (cancelled) late?.(value);
          else resolve(value);
        },
        (err: unknown) => {
          forget();
          if (!cancelled) reject(err);
        },
      );
    });

  const lifetime: Lifetime = {
    closed,
    get isClosed() {
      return reason !== undefined;
    },
    get reason() {
      return reason;
    },
    onClose,
    whileOpen,
  };
  if (parent?.reason) close(parent.reason);
  else if (parent) onClose(parent.onClose((why) => close(why)));
  return { lifetime, close };
};
