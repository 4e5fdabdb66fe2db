/** Bench actor for memory: `makeMany(n)` creates n small Far objects (each with its own state) and keeps them. */
import { Far } from '@endo/far';

export const make = () => {
  const kept: unknown[] = [];
  return Far('Many', {
    makeMany(n: number) {
      for (let i = 0; i < n; i += 1) {
        let count = i;
        kept.push(
          Far('Small', {
            get: () => count,
            inc: () => {
              count += 1;
              return count;
            },
          }),
        );
      }
      return kept.length;
    },
    count: () => kept.length,
  });
};
