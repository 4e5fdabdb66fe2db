/** `tribe refs` and `tribe refs revoke ID`: the sturdy refs a host minted, by id. */
import type { StoredSturdyRef } from '../store.js';

/** UTC to the second, as in the log files but shorter. */
const when = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export const formatRefs = (refs: readonly StoredSturdyRef[]): string => {
  if (refs.length === 0) return 'no sturdy refs (make one with: tribe ref NAME)\n';
  const rows = [
    ['ID', 'NAME', 'CREATED', 'REVOKED'],
    ...refs.map((r) => [r.id, r.name, when(r.createdAt), r.revokedAt === undefined ? '-' : when(r.revokedAt)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`;
};

export const formatRevoked = (ref: StoredSturdyRef): string => `revoked ref ${ref.id} (to ${ref.name})\n`;
