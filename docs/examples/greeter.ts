/**
 * Tutorial, section 2: the smallest useful actor. `make(powers, params)` runs once
 * when the vat starts and returns the root object, which the host publishes
 * under the vat's name.
 */
import { Far } from '@endo/far';
import type { Powers } from 'tribe-runtime';

interface Params {
  greeting?: string;
}

export const make = (_powers: Powers, { greeting = 'Hello' }: Params = {}) => {
  let greeted = 0;
  return Far('Greeter', {
    greet(name: string) {
      greeted += 1;
      return `${greeting}, ${name}!`;
    },
    count: () => greeted,
  });
};
