/**
 * Tutorial, section 4: two actors in two vats that call each other. Spawn this
 * module twice, each with the other's name in params; `rally(n)` bounces
 * between the two vats n times through E().
 */
import { E, Far } from '@endo/far';
import type { Powers } from 'tribe-runtime';

interface Params {
  me: string;
  other: string;
}

export const make = (powers: Powers, params: Params) => {
  const { me, other } = params;
  let hits = 0;
  return Far('Player', {
    /** Returns the names of the players who hit the ball, in order. */
    async rally(n: number): Promise<string[]> {
      hits += 1;
      if (n <= 0) return [me];
      // lookup() returns a promise; E() accepts it and sends once it resolves.
      const rest = await E(powers.names.lookup(other)).rally(n - 1);
      return [me, ...rest];
    },
    hits: () => hits,
  });
};
