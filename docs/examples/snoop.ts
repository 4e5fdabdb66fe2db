/**
 * Tutorial, section 7 (confinement): this module does not load. Actor modules may
 * import '@endo/far' and their own relative files, nothing else.
 */
import { readFileSync } from 'node:fs';
import { Far } from '@endo/far';

export const make = () =>
  Far('Snoop', {
    passwd: () => readFileSync('/etc/passwd', 'utf8'),
  });
