/**
 * What this process holds, for leak checks over many cycles: the heap after
 * forced full GCs (objects apart from compiled code), and the active handles and requests by type
 * (`process.getActiveResourcesInfo()`). Compare two footprints taken at the
 * same quiet point of a loop (nothing in flight), never one against zero.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// --expose-gc at run time: a context made after the flag has `gc` (the worker was not started with it).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Rounds of GC; weak callbacks and finalizers run between them (a macrotask each), so what they free is counted. */
const GC_ROUNDS = 4;

/** V8's spaces of compiled code: they grow as hot functions tier up over a long loop, which is no retention by the code under test. */
const CODE_SPACES: ReadonlySet<string> = new Set(['code_space', 'code_large_object_space']);

/**
 * The heap after full GCs, in bytes: `data` is what objects take (every space
 * but compiled code), `code` the compiled code. A leak shows in `data`; `code`
 * grows for a while in any long loop (tiering up), then stops.
 */
export const settledHeap = async (): Promise<{ data: number; code: number }> => {
  for (let i = 0; i < GC_ROUNDS; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  gc();
  let data = 0;
  let code = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (CODE_SPACES.has(s.space_name)) code += s.space_used_size;
    else data += s.space_used_size;
  }
  return { data, code };
};

/** Handles that come and go on their own (ava's writes to its parent, a file being closed). */
const TRANSIENT: ReadonlySet<string> = new Set(['TTYWrap', 'CloseReq', 'FSReqCallback']);

/** Active handles and requests by type, the transient ones left out. */
export const activeResources = (): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (!TRANSIENT.has(r)) counts[r] = (counts[r] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
};

/**
 * Active resources once the pending timers and immediates are at most `atMost`,
 * waiting up to `ms` (a timer between samples): a sample taken in the middle of
 * a burst of work counts what is in flight as held. Answers the last sample
 * either way, so a real leak still shows in it.
 */
export const settledResources = async (atMost: number, ms: number): Promise<Record<string, number>> => {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = activeResources();
    if ((r['Timeout'] ?? 0) + (r['Immediate'] ?? 0) <= atMost || Date.now() >= deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

export const MiB = 1024 * 1024;
