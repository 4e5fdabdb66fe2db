/**
 * Tutorial, section 5 (pipelining): looks up the library in another vat and asks a
 * shelf for its titles. E(E(library).shelf(name)).titles() sends both calls at
 * once: the second is addressed to the *answer* of the first, so there is one
 * round trip, not two. `find(name)` (section 6) shows the message of an error
 * that actor code catches.
 */
import { E, Far } from '@endo/far';
import type { Powers } from 'tribe-runtime';

export const make = (powers: Powers) =>
  Far('Reader', {
    titlesOn(shelf: string) {
      const library = powers.names.lookup('library');
      return E(E(library).shelf(shelf)).titles();
    },
    /** Section 10: a shelf handed to this vat by someone else is called directly in the library's vat. */
    titlesOf(shelf: unknown) {
      return E(shelf as { titles(): string[] }).titles();
    },
    /** What actor code sees when it catches an error from another vat or the host. */
    async find(name: string) {
      try {
        await powers.names.lookup(name);
        return `${name} is published`;
      } catch (err) {
        return (err as Error).message;
      }
    },
  });
