/**
 * Tutorial, section 3: a durable counter. Spawned with `--durable`, the vat gets
 * `powers.store`, a key → plain-data map kept in the host's SQLite file. Writes
 * made during a turn are committed together when the turn ends, before the
 * reply leaves the vat.
 */
import { Far } from '@endo/far';
import type { Powers } from 'tribe-runtime';

export const make = (powers: Powers) => {
  const { store, log } = powers;
  if (!store) throw new Error('counter needs a store: spawn it with --durable');
  const read = () => store.get<number>('count') ?? 0;
  log('starting at', read());
  return Far('Counter', {
    increment(by = 1) {
      if (typeof by !== 'number' || !Number.isInteger(by) || by < 1) {
        throw new RangeError(`increment(by): by must be a positive integer, got ${JSON.stringify(by)}`);
      }
      const next = read() + by;
      store.set('count', next);
      return next;
    },
    read,
  });
};
