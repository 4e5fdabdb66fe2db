/**
 * Tutorial, section 8 (budgets): an actor that can be made to misbehave.
 * `work(ms)` keeps its vat busy for ms milliseconds without yielding;
 * `hoard(mb)` keeps allocating and holding about mb MiB of JavaScript objects;
 * `buffer(mb)` allocates and holds one mb MiB typed array, memory outside the V8 heap.
 */
import { Far } from '@endo/far';
import type { Powers } from 'tribe-runtime';

export const make = (powers: Powers) => {
  const hoarded: unknown[] = [];
  const buffers: Uint8Array[] = [];
  return Far('Busy', {
    work(ms: number) {
      const end = powers.timer.now() + ms;
      while (powers.timer.now() < end) {
        // spin: no await, so the vat cannot answer anything else meanwhile
      }
      return `worked ${ms} ms`;
    },
    hoard(mb: number) {
      // About 1 MiB of small objects per step, all kept reachable.
      for (let i = 0; i < mb; i++) hoarded.push(Array.from({ length: 1 << 15 }, (_, j) => ({ j })));
      return `holding ${hoarded.length} steps`;
    },
    buffer(mb: number) {
      buffers.push(new Uint8Array(mb * 2 ** 20));
      const total = buffers.reduce((sum, b) => sum + b.byteLength, 0);
      return `holding ${total / 2 ** 20} MiB in buffers`;
    },
  });
};
