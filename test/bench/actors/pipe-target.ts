/**
 * Bench target for depth-2 pipelining: `getChild()` answers an object, and
 * `ping(i)` on that object answers `i`. The child is made once, so a caller that
 * pipelines `E(E(root).getChild()).ping(i)` exercises the promise pipeline, not
 * object allocation.
 */
import { Far } from '@endo/far';

export const make = () => {
  const child = Far('PipeChild', { ping: (i: number) => i });
  return Far('PipeTarget', {
    ping: (i: number) => i,
    getChild: () => child,
  });
};
