/**
 * A small seeded PRNG (mulberry32) so a simulation is a function of its seed.
 * `fork(label)` derives an independent stream, so drawing one more number for
 * the network does not shift every client's and node's choices.
 */
export interface Random {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  /** Integer in [lo, hi]. */
  readonly int: (lo: number, hi: number) => number;
  readonly chance: (p: number) => boolean;
  readonly pick: <T>(items: readonly T[]) => T;
  readonly fork: (label: string) => Random;
}

const mix = (seed: number, label: string): number => {
  let h = seed ^ 0x9e3779b9;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
};

export const makeRandom = (seed: number): Random => {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const random: Random = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick from nothing');
      return items[Math.floor(next() * items.length)]!;
    },
    fork: (label) => makeRandom(mix(seed, label)),
  };
  return random;
};
