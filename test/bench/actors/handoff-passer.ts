/**
 * Handoff bench, vat B: the third party. It looks up vat A and vat C (names or
 * sturdy refs' text) and hands references to C's objects on to A. For the
 * latency measurement it makes a fresh counter of C before each sample
 * (`prepare`), then `handOn(i)` passes it to A, which calls it once; the
 * embedder times `handOn` against `callHeld`, where A calls a fresh counter it
 * made itself, so the difference between the two is the handoff's cost.
 */
import { E, Far } from '@endo/far';

interface Powers {
  names: { lookup(name: string): Promise<unknown> };
}

export const make = (powers: Powers) => {
  let a: any;
  let c: any;
  const fresh = new Map<number, unknown>();
  const take = (i: number) => {
    const ref = fresh.get(i);
    fresh.delete(i);
    if (ref === undefined) throw Error(`no prepared object ${i}`);
    return ref;
  };
  return Far('HandoffPasser', {
    async connect(aName: string, cName: string) {
      [a, c] = await Promise.all([powers.names.lookup(aName), powers.names.lookup(cName)]);
      return (await E(c).ping(7)) === 7;
    },
    /** Hands C's root on to A, kept there as `key`. */
    handRoot: (key: string) => E(a).setTarget(key, c),
    /** Makes a fresh counter of C and hands it on to A as `key`. */
    async handCounter(key: string) {
      return E(a).setTarget(key, await E(c).makeCounter());
    },
    /** A fresh counter of C for handOn(i), made before the clock starts. */
    async prepare(i: number) {
      fresh.set(i, await E(c).makeCounter());
      return true;
    },
    /** One handoff: counter i to A, whose first call on it answers this. */
    handOn: (i: number) => E(a).useOnce(take(i)),
    /** The baseline: the same call through A, on a counter A already holds. */
    callHeld: (i: number) => E(a).useHeld(i),
  });
};
