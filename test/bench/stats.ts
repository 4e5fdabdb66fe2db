/** Small statistics and process-measurement helpers for the bench suite. */
import { readdirSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly samples: readonly number[];
}

export const summarize = (samples: readonly number[]): Summary => ({
  median: median(samples),
  min: Math.min(...samples),
  max: Math.max(...samples),
  samples: samples.map((x) => Math.round(x * 1000) / 1000),
});

/** The q-quantile (0 ≤ q ≤ 1) by the nearest-rank method: a value that was measured. */
export const quantile = (xs: readonly number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

/** No single bench step takes this long; a stuck session or vat fails the run instead of hanging it. */
export const STEP_TIMEOUT_MS = 120_000;
export const timed = <T>(what: string, p: Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A full GC in this thread (the same trick the vat worker uses: the flag, then `gc` from a fresh context). */
let gcFn: (() => void) | undefined;
export const gcHere = (): void => {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
};

/** Full GC, one task for finalizers to run, full GC again: the worker-side `gc` op. */
export const gcAndSettle = async (): Promise<true> => {
  gcHere();
  await new Promise((r) => setTimeout(r, 0));
  gcHere();
  return true;
};

const kbField = (status: string, field: string): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : 0;
};

/** Processes whose parent is `pid` (esbuild's service processes, for instance). */
const childPids = (pid: number): number[] => {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) comes after the parenthesised command name, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
};

export interface MemorySample {
  /** RSS of this process: the main thread and every worker thread (vats) share it. */
  readonly rss: number;
  /** Sum of the RSS of this process's child processes (not counted in `rss`). */
  readonly childRss: number;
  readonly childProcesses: number;
  readonly threads: number;
}

export const sampleMemory = (): MemorySample => {
  let childRss = 0;
  const kids = childPids(process.pid);
  for (const pid of kids) {
    try {
      childRss += kbField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
    } catch {
      // Gone meanwhile.
    }
  }
  let threads = 0;
  try {
    threads = Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  } catch {
    // Not Linux.
  }
  return { rss: process.memoryUsage.rss(), childRss, childProcesses: kids.length, threads };
};

/**
 * RSS at a quiet point: run `collect` (full GCs), then wait until RSS holds still
 * (three samples 100 ms apart within 64 KiB): V8 unmaps freed pages a little
 * after a GC, and a sample taken too early counts them.
 */
export const quietRss = async (collect: () => Promise<void>): Promise<MemorySample> => {
  await collect();
  let last = sampleMemory();
  let still = 0;
  for (let i = 0; i < 30 && still < 3; i += 1) {
    await sleep(100);
    const next = sampleMemory();
    still = Math.abs(next.rss - last.rss) < 64 * 1024 ? still + 1 : 0;
    last = next;
  }
  return last;
};

export const MiB = 1024 * 1024;
/** Fixed digits with thousands separators (toLocaleString ignores options after SES lockdown). */
export const fmt = (x: number, digits = 1): string => {
  if (!Number.isFinite(x)) return 'n/a';
  const [int, frac] = Math.abs(x).toFixed(digits).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${x < 0 && Number(x.toFixed(digits)) !== 0 ? '-' : ''}${grouped}${frac ? `.${frac}` : ''}`;
};

/** One line of the bench table; `ratio` (ours / baseline) is added by the runner. */
export interface RowInput {
  readonly section: string;
  readonly metric: string;
  readonly unit: string;
  readonly ours: number;
  readonly baseline?: number;
  readonly baselineName?: string;
  readonly note?: string;
  /** What the goals summary calls the baseline of a goal row ("raw" when absent). */
  readonly goalBaseline?: string;
}
