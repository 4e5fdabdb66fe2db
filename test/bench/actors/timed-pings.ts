/**
 * The timed loop the bench vats share (driver.ts, handoff-holder.ts): n calls of
 * `E(target).ping(i)`, each awaited before the next, timed with the vat's
 * `timer` power. Returns elapsed ms; throws if the last answer is wrong.
 */
import { E } from '@endo/far';

export const sequentialPings = async (target: any, n: number, now: () => number): Promise<number> => {
  let last = -1;
  const start = now();
  for (let i = 0; i < n; i += 1) last = await E(target).ping(i);
  const ms = now() - start;
  if (last !== n - 1) throw Error(`bad answer ${last}`);
  return ms;
};
