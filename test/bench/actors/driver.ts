/**
 * Bench driver: looks up a target by name and times `E(target).ping(i)` round
 * trips inside this vat, with the vat's `timer` power (compartments have no
 * Date.now). The hot loops touch no compartment globals, only locals and `E`.
 */
import { E, Far } from '@endo/far';
import { sequentialPings } from './timed-pings.js';

interface Powers {
  names: { lookup(name: string): Promise<unknown> };
  timer: { now(): number };
}

export const make = (powers: Powers) => {
  let target: unknown;
  return Far('BenchDriver', {
    async connect(name: string) {
      target = await powers.names.lookup(name);
      return (await E(target as any).ping(7)) === 7;
    },
    /** n calls, each awaited before the next is sent. Returns elapsed ms. */
    sequential: (n: number) => sequentialPings(target, n, () => powers.timer.now()),
    /** n calls with `window` of them outstanding at any time (a sliding window). Returns elapsed ms. */
    async concurrent(n: number, window: number) {
      const t: any = target;
      let next = 0;
      let answered = 0;
      const lane = async () => {
        while (next < n) {
          const i = next;
          next += 1;
          if ((await E(t).ping(i)) === i) answered += 1;
        }
      };
      const lanes: Promise<void>[] = [];
      const start = powers.timer.now();
      for (let k = 0; k < window; k += 1) lanes.push(lane());
      await Promise.all(lanes);
      const ms = powers.timer.now() - start;
      if (answered !== n) throw Error(`only ${answered} of ${n} answers were right`);
      return ms;
    },
  });
};
