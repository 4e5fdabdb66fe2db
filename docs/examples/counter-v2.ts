/**
 * Tutorial, section 3 ("Upgrading a vat"): version 2 of counter.ts, for
 * `tribe upgrade counter docs/examples/counter-v2.ts --params '{"step":10}'`.
 * It reads the store version 1 wrote (the key 'count') and changes the behaviour:
 * it counts in steps of `params.step` and can count down. Without a step its
 * make() throws, so the upgrade fails and the vat rolls back to version 1.
 */
import { Far } from '@endo/far';
import type { Powers } from 'tribe-runtime';

export const make = (powers: Powers, params?: { step?: number }) => {
  const { store, log } = powers;
  if (!store) throw new Error('counter needs a store: spawn it with --durable');
  const step = params?.step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 1) {
    throw new RangeError(`counter v2 needs params.step, a positive integer, e.g. --params '{"step":10}'`);
  }
  const read = () => store.get<number>('count') ?? 0;
  log('v2 starting at', read(), 'in steps of', step);
  return Far('Counter', {
    increment() {
      const next = read() + step;
      store.set('count', next);
      return next;
    },
    decrement() {
      const next = read() - step;
      store.set('count', next);
      return next;
    },
    read,
  });
};
