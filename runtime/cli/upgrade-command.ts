/** `tribe upgrade NAME MODULE`: what the host did, in words. */
import type { UpgradedVat } from '../upgrade.js';

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

export const formatUpgrade = (u: UpgradedVat): string =>
  [
    `upgraded ${u.name} (was ${u.was}, now ${u.state})`,
    `  module   ${u.oldModule} → ${u.module}`,
    `  params   ${u.params === u.oldParams ? `${u.params} (kept)` : `${u.oldParams} → ${u.params}`}`,
    `  store    ${u.durable ? `kept: ${plural(u.kept.keys, 'key')}, ${plural(u.kept.objects, 'object')}` : 'none (not durable)'}`,
    '',
  ].join('\n');
