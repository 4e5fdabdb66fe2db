/**
 * Bench target for durable turns: `target()` is an object whose `ping(i)` counts
 * the call in its state and answers `i`, and whose `peek(i)` answers `i` and
 * changes nothing. In a durable vat it is an instance of a durable kind (each
 * ping is a committed write, and the driver holds it as a durable reference);
 * in any other vat the same code keeps its count in a closure.
 */
import { Far } from '@endo/far';
import type { Powers } from '../../../runtime/index.js';

export const make = (powers: Powers) => {
  const { store } = powers;
  if (!store) {
    let n = 0;
    const plain = Far('Target', {
      ping(i: number) {
        n += 1;
        return i;
      },
      peek: (i: number) => i,
      count: () => n,
    });
    return Far('Targets', { target: () => plain });
  }
  const makeTarget = store.defineKind('Target', () => ({ n: 0 }), {
    ping({ state }, i: number) {
      state.n += 1;
      return i;
    },
    peek: (_c, i: number) => i,
    count: ({ state }) => state.n,
  });
  const kept: unknown[] = [];
  const makeSmall = store.defineKind('Small', (i: number) => ({ count: i }), {
    get: ({ state }) => state.count,
    inc({ state }) {
      state.count += 1;
      return state.count;
    },
  });
  return Far('Targets', {
    target() {
      let t = store.get('target');
      if (!t) {
        t = makeTarget();
        store.set('target', t);
      }
      return t;
    },
    /** `n` durable objects stored under keys (they outlive the vat's run, not resident after a restart). */
    stored(n: number) {
      const base = store.keys('s').length;
      for (let i = 0; i < n; i += 1) store.set(`s${String(base + i).padStart(6, '0')}`, makeSmall(base + i));
      return base + n;
    },
    /** `n` durable objects kept resident (held here), like actors/many.ts keeps plain ones. */
    makeMany(n: number) {
      for (let i = 0; i < n; i += 1) kept.push(makeSmall(i));
      return kept.length;
    },
    first: () => store.get('s000000'),
  });
};
