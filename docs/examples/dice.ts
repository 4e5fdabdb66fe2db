/**
 * Tutorial, section 7 (grants): Math.random() throws inside a vat unless the vat
 * was spawned with `--grant random`.
 */
import { Far } from '@endo/far';

export const make = () =>
  Far('Dice', {
    roll: () => 1 + Math.floor(Math.random() * 6),
  });
