/**
 * Handoff bench, vat A: holds references to vat C's objects under keys, however
 * it got them — looked up by itself (`lookup`), handed on by someone else
 * (`setTarget`), or made through a reference it holds (`makeOwn`) — and times
 * sequential `E(ref).ping(i)` round trips on any of them with the vat's `timer`
 * power, the same loop as driver.ts. `useOnce` / `holdFresh` / `useHeld` serve
 * the handoff-latency measurement, which the embedder times.
 */
import { E, Far } from '@endo/far';
import { sequentialPings } from './timed-pings.js';

interface Powers {
  names: { lookup(name: string): Promise<unknown> };
  timer: { now(): number };
}

export const make = (powers: Powers) => {
  const targets = new Map<string, unknown>();
  /** Objects this vat made for itself ahead of a latency sample, by sample number. */
  const held = new Map<number, unknown>();
  const target = (key: string): any => {
    const t = targets.get(key);
    if (t === undefined) throw Error(`no target ${key}`);
    return t;
  };
  const keep = async (key: string, ref: unknown) => {
    targets.set(key, ref);
    return (await E(ref as any).ping(7)) === 7;
  };
  return Far('HandoffHolder', {
    /** The direct reference: `name` (a published name, or a sturdy ref's text) looked up by this vat. */
    async lookup(key: string, name: string) {
      return keep(key, await powers.names.lookup(name));
    },
    /** A reference someone else handed on to this vat. */
    setTarget: (key: string, ref: unknown) => keep(key, ref),
    /** A fresh counter made through the reference held as `from`. */
    async makeOwn(key: string, from: string) {
      return keep(key, await E(target(from)).makeCounter());
    },
    /** n calls on the reference held as `key`, each awaited before the next. Returns elapsed ms. */
    sequential: (key: string, n: number) => sequentialPings(target(key), n, () => powers.timer.now()),
    /** The first call on a reference just handed on; answers once that call is answered. Keeps nothing. */
    async useOnce(ref: unknown) {
      return E(ref as any).ping(1);
    },
    /** Makes a fresh counter through `from` and keeps it for `useHeld(i)`: the latency baseline's object. */
    async holdFresh(i: number, from: string) {
      held.set(i, await E(target(from)).makeCounter());
      return true;
    },
    /** The same call as useOnce, on a counter this vat already holds (no reference crosses). Forgets it. */
    async useHeld(i: number) {
      const ref = held.get(i);
      held.delete(i);
      if (ref === undefined) throw Error(`no held object ${i}`);
      return E(ref as any).ping(1);
    },
  });
};
