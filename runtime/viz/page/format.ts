/** How the page writes ids, times, sizes and state values: short, stable, and safe for any input. */
import { activePaths } from '../model.js';

/** VatIds are 52 base32 characters; 8 tell the hosts of one tribe apart at a glance (the full id is in the tooltip). */
const SHORT_ID = 8;

/** Any field of a record as text (records are untrusted: a number or an object must not throw). */
export const asText = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

export const shortId = (id: unknown): string => asText(id).slice(0, SHORT_ID);

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Wall-clock time of day with milliseconds (local time): 14:02:07.123. */
export const clock = (t: number): string => {
  if (!Number.isFinite(t)) return '--:--:--.---';
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
};

/**
 * A byte count: '812 B', '9.4 KB', '12 MB'; `short` for table cells, at most
 * five characters: '812B', '9.4K', '12M'.
 */
export const bytes = (n: number, short = false): string => {
  if (!Number.isFinite(n)) return '–';
  if (n < 1024) return short ? `${n}B` : `${n} B`;
  const units = short ? ['K', 'M', 'G', 'T'] : [' KB', ' MB', ' GB', ' TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
};

export const count = (n: number): string => {
  if (!Number.isFinite(n)) return '–';
  if (n < 1000) return String(n);
  if (n < 10_000) return `${(n / 1000).toFixed(1)}k`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
};

/** 850ms, 12s, 3m 04s, 2h 05m, 3d 4h. */
export const duration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return `${hrs}h ${pad(m % 60)}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
};

/** The active leaf paths of a state value: {alive: {phase: 'running', watchdog: 'idle'}} → ['alive.phase.running', 'alive.watchdog.idle']. */
export const leafPaths = (value: unknown): string[] => {
  const paths = activePaths(value).filter((p) => p !== '');
  return paths.filter((p) => !paths.some((q) => q.length > p.length && q.startsWith(`${p}.`)));
};

/**
 * A state as a few words: each top-level state with the last key of its
 * active leaves ('established › watching', 'alive › running, watching',
 * 'handshaking › awaitingAccepted', 'closed'). The full paths go in tooltips.
 */
export const stateText = (leaves: readonly string[]): string => {
  if (leaves.length === 0) return '—';
  const tops = new Map<string, string[]>();
  for (const leaf of leaves) {
    const keys = leaf.split('.');
    const top = keys[0] ?? '';
    const list = tops.get(top) ?? [];
    if (keys.length > 1) list.push(keys[keys.length - 1] ?? '');
    tops.set(top, list);
  }
  return [...tops].map(([top, ends]) => (ends.length ? `${top} › ${ends.join(', ')}` : top)).join(' · ');
};

/** JSON for a tooltip or the context view, bounded so a huge context cannot stall the page. */
export const json = (v: unknown, max = 4000): string => {
  let text: string;
  try {
    text = JSON.stringify(v, null, 2) ?? String(v);
  } catch {
    text = '(unprintable)';
  }
  return text.length > max ? `${text.slice(0, max)}\n…` : text;
};
