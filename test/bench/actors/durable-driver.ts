/**
 * Bench driver for durable turns: holds a reference handed to it (not looked
 * up by name: a durable object reaches its callers as a reference) and times
 * sequential calls inside this vat.
 */
import { E, Far } from '@endo/far';

interface Powers {
  timer: { now(): number };
}

export const make = (powers: Powers) => {
  let target: any;
  return Far('DurableDriver', {
    hold(t: unknown) {
      target = t;
      return true;
    },
    /** n calls of `method`, each awaited before the next. Returns elapsed ms. */
    async sequential(method: string, n: number) {
      const start = powers.timer.now();
      for (let i = 0; i < n; i += 1) {
        if ((await E(target)[method](i)) !== i) throw Error(`wrong answer to ${method}(${i})`);
      }
      return powers.timer.now() - start;
    },
  });
};
