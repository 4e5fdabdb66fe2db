/**
 * Bench driver for depth-2 pipelining: `E(E(target).getChild()).ping(i)`, the
 * second call sent on the first call's answer before that answer is back (one
 * round trip per pair where CapTP pipelines). Each pair is awaited before the
 * next is sent. Times itself with the vat's `timer` power, like driver.ts.
 */
import { E, Far } from '@endo/far';

interface Powers {
  names: { lookup(name: string): Promise<unknown> };
  timer: { now(): number };
}

export const make = (powers: Powers) => {
  let target: unknown;
  return Far('BenchPipeDriver', {
    async connect(name: string) {
      target = await powers.names.lookup(name);
      return (await E(E(target as any).getChild()).ping(7)) === 7;
    },
    /** n pipelined pairs (getChild → ping), each pair awaited before the next. Returns elapsed ms. */
    async pipelined(n: number) {
      const t: any = target;
      let last = -1;
      const start = powers.timer.now();
      for (let i = 0; i < n; i += 1) last = await E(E(t).getChild()).ping(i);
      const ms = powers.timer.now() - start;
      if (last !== n - 1) throw Error(`bad answer ${last}`);
      return ms;
    },
  });
};
