/**
 * A durable counter. With `--durable` its count lives in `powers.store` and
 * survives restarts; without, it starts from `params.start` (default 0) each time.
 */
import { Far } from '@endo/far';

interface Powers {
  store?: { get(key: string): unknown; set(key: string, value: unknown): void };
  log(...args: unknown[]): void;
}

export const make = (powers: Powers, params: { start?: number } | null) => {
  let memory = params?.start ?? 0;
  const read = (): number => (powers.store ? ((powers.store.get('count') as number | undefined) ?? memory) : memory);
  const write = (n: number) => {
    if (powers.store) powers.store.set('count', n);
    else memory = n;
  };
  return Far('Counter', {
    increment(by = 1) {
      if (typeof by !== 'number' || !Number.isFinite(by)) throw new TypeError(`increment(by): by must be a number`);
      const next = read() + by;
      write(next);
      return next;
    },
    read,
    reset() {
      write(0);
      return 0;
    },
  });
};
