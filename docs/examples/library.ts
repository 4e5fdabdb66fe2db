/**
 * Tutorial, section 5 (pipelining): a library of shelves. `shelf(name)` returns a
 * new object, a reference the caller can call right away.
 */
import { Far } from '@endo/far';

export const make = () => {
  const shelves = new Map<string, string[]>([
    ['poetry', ['Leaves of Grass', 'Ariel']],
    ['science', ['On the Origin of Species']],
  ]);
  return Far('Library', {
    shelf(name: string) {
      const books = shelves.get(name);
      if (!books) throw new Error(`no shelf called ${JSON.stringify(name)}`);
      return Far('Shelf', {
        titles: () => [...books],
        count: () => books.length,
      });
    },
  });
};
