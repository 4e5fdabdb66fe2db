/**
 * Handoff bench, vat C: the object every reference points at. `ping(i)` answers
 * `i` on the root and on each counter; `makeCounter()` answers a fresh non-root
 * object (no name reaches it, so it can only travel as a reference).
 */
import { Far } from '@endo/far';

export const make = () => {
  const makeCounter = () => {
    let count = 0;
    return Far('HandoffCounter', {
      ping: (i: number) => i,
      increment: () => {
        count += 1;
        return count;
      },
    });
  };
  return Far('HandoffTarget', { ping: (i: number) => i, makeCounter });
};
