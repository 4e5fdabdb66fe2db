/** Bench target: the smallest useful actor. `ping(i)` answers `i`. */
import { Far } from '@endo/far';

export const make = () => Far('Pinger', { ping: (i: number) => i });
