/** `tribe restart NAME`: what the host did, in words. */
import type { RestartedVat } from '../host.js';

export const formatRestart = (r: RestartedVat): string => {
  const limits = [
    ...(r.limits.timeBudgetMs ? [`time budget ${r.limits.timeBudgetMs} ms`] : []),
    ...(r.limits.heapMb ? [`heap ${r.limits.heapMb} MiB`] : []),
  ];
  return [
    `restarted ${r.name} (was ${r.was}, now ${r.state})`,
    `  module   ${r.module}`,
    `  params   ${r.params}`,
    `  durable  ${r.durable ? 'yes (its store is kept)' : 'no'}`,
    `  grants   ${r.grants.join(', ') || 'none'}`,
    `  limits   ${limits.join(', ') || "the host's defaults"}`,
    '',
  ].join('\n');
};
