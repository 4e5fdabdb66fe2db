/**
 * `tribe sync` and `tribe space`: the sync saga and keyed spaces from the
 * command line. Progress goes to stderr while a sync or an import runs; the
 * outcome goes to stdout.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { E } from '@endo/far';
import { shortVatId } from '../../protocols/session/vat-id.js';
import { SpaceKeyNotFoundError, UsageError } from '../errors.js';
import type { SyncReport, SyncSagaView, SyncStatus } from '../host-api.js';

/** How often a running sync prints the sagas in flight. */
const PROGRESS_MS = 1_000;
/** Bytes of entries per control call of an import: each call is one fsynced transaction, and refreshes the summary of every bucket it touched, so bigger batches import faster (a control line holds at most 8 MiB: a batch, counted as its JSON lines, at most doubles in it). */
const IMPORT_BATCH_BYTES = 2 * 1024 * 1024;

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
const ago = (t: number) => `${Math.max(0, Math.round((Date.now() - t) / 1000))} s ago`;

const sagaLine = (s: SyncSagaView): string => {
  const dir = s.role === 'initiator' ? '→' : '←';
  const of = s.total ? ` of ≤ ${s.total.toLocaleString('en-US')}` : '';
  return `${dir} ${shortVatId(s.peer)} ${s.space}: ${s.state}, ${s.entries.toLocaleString('en-US')}${of} entries, ${mib(s.bytes)}, ${s.chunks} chunks`;
};

export const formatSyncStatus = (st: SyncStatus): string => {
  const lines: string[] = [];
  lines.push(st.inFlight.length === 0 ? 'no saga in flight' : `${st.inFlight.length} saga(s) in flight:`);
  for (const s of st.inFlight) lines.push(`  ${sagaLine(s)} (started ${ago(s.startedAt)})`);
  lines.push('', 'last saga with each sister:');
  if (st.last.length === 0) lines.push('  none yet');
  for (const s of st.last) {
    const dir = s.role === 'initiator' ? 'push →' : 'pull ←';
    lines.push(`  ${dir} ${shortVatId(s.peer)} ${s.space.padEnd(10)} ${s.state.padEnd(9)} ${s.endedAt ? ago(s.endedAt) : ''}  ${s.outcome ?? ''}`);
  }
  lines.push('', 'spaces here:');
  for (const s of st.spaces) lines.push(`  ${s.space.padEnd(16)} ${String(s.count).padStart(9)} entries  root ${s.root.slice(0, 16)}`);
  if (st.recovered > 0) lines.push('', `${st.recovered} saga(s) were open when this host last stopped: aborted, their temp space removed`);
  return `${lines.join('\n')}\n`;
};

export const formatSyncReport = (r: SyncReport): string => {
  const lines = r.results.map((x) => {
    const dir = x.direction === 'push' ? '→' : '←';
    const head = `${dir} slot ${x.slot} (${shortVatId(x.peer)}) ${x.space}:`;
    if (x.state === 'failed') return `${head} failed after ${x.ms} ms: ${x.error}`;
    if (x.state === 'synced') return `${head} in sync (ended after the Ack) in ${x.ms} ms`;
    return `${head} committed ${x.entries.toLocaleString('en-US')} entries (${x.applied.toLocaleString('en-US')} changed the receiver) in ${x.ms} ms`;
  });
  if (r.results.length === 0) lines.push('no connected sister to sync with');
  for (const [space, root] of Object.entries(r.roots)) lines.push(`${space}: root ${root}`);
  return `${lines.join('\n')}\n`;
};

/** Runs `tribe sync` on `control`, printing the sagas in flight while it waits. */
export const runSync = async (control: unknown, req: { space?: string; with?: string }, json: boolean): Promise<SyncReport> => {
  let done = false;
  const progress = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, PROGRESS_MS));
      if (done) return;
      const st = (await E(control as any).syncStatus().catch(() => undefined)) as SyncStatus | undefined;
      for (const s of st?.inFlight ?? []) if (s.role === 'initiator' || s.total) process.stderr.write(`  ${sagaLine(s)}\n`);
    }
  })();
  try {
    const report = (await E(control as any).sync(harden(req))) as SyncReport;
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatSyncReport(report));
    return report;
  } finally {
    done = true;
    await progress;
  }
};

/** `tribe space import SPACE FILE`: JSON lines of {key, value}, sent in batches, with progress. */
const importFile = async (control: any, space: string, file: string): Promise<number> => {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  let batch: { key: string; value: string }[] = [];
  let size = 0;
  let n = 0;
  let lineNo = 0;
  let nextReport = 10_000;
  const flush = async () => {
    if (batch.length === 0) return;
    n += (await E(control).spacePut(space, harden(batch))) as number;
    batch = [];
    size = 0;
    if (n >= nextReport) {
      process.stderr.write(`  imported ${n.toLocaleString('en-US')} entries\n`);
      nextReport = n + 10_000;
    }
  };
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    let e: { key?: unknown; value?: unknown };
    try {
      e = JSON.parse(line);
    } catch {
      throw new UsageError(`${file}:${lineNo}: not JSON (each line is {"key": "…", "value": "…"})`);
    }
    if (typeof e?.key !== 'string' || typeof e.value !== 'string') throw new UsageError(`${file}:${lineNo}: want {"key": string, "value": string}`);
    batch.push({ key: e.key, value: e.value });
    // The line is the entry as JSON (escaped once); inside the control message it is escaped once more, at most doubling.
    size += line.length;
    if (size >= IMPORT_BATCH_BYTES) await flush();
  }
  await flush();
  return n;
};

/** What each `tribe space` action takes after SPACE. */
const SPACE_ACTIONS: Readonly<Record<string, readonly string[]>> = { ls: [], get: ['KEY'], put: ['KEY', 'VALUE'], rm: ['KEY'], import: ['FILE'], root: [] };

/** Checks a `tribe space` command line before any host is asked. */
export const checkSpaceArgs = (action: string, rest: readonly string[]): void => {
  const takes = SPACE_ACTIONS[action];
  if (!takes || !Object.hasOwn(SPACE_ACTIONS, action)) throw new UsageError(`tribe space: unknown action ${JSON.stringify(action)} (${Object.keys(SPACE_ACTIONS).join(', ')})`);
  if (rest.length !== takes.length) {
    throw new UsageError(`tribe space ${action} takes SPACE${takes.map((a) => ` ${a}`).join('')}, got ${rest.length} argument(s) after SPACE`);
  }
};

export const runSpace = async (control: any, action: string, space: string, rest: readonly string[], opts: { prefix?: string; json?: boolean }): Promise<void> => {
  checkSpaceArgs(action, rest);
  const out = (text: string) => process.stdout.write(text);
  switch (action) {
    case 'ls': {
      const entries = (await E(control).spaceList(space, opts.prefix ?? '')) as { key: string; value: string }[];
      out(opts.json ? `${JSON.stringify(entries, null, 2)}\n` : entries.map((e) => `${e.key}\t${e.value}\n`).join(''));
      return;
    }
    case 'get': {
      const v = (await E(control).spaceGet(space, rest[0])) as string | undefined;
      if (v === undefined) throw new SpaceKeyNotFoundError(`no key ${JSON.stringify(rest[0])} in space ${space}`);
      out(`${v}\n`);
      return;
    }
    case 'put':
      await E(control).spacePut(space, harden([{ key: rest[0]!, value: rest[1]! }]));
      return;
    case 'rm':
      await E(control).spaceRemove(space, rest[0]);
      return;
    case 'import': {
      const n = await importFile(control, space, rest[0]!);
      const info = (await E(control).spaceInfo(space)) as { count: number; root: string };
      out(`imported ${n.toLocaleString('en-US')} entries into ${space}: ${info.count.toLocaleString('en-US')} entries, root ${info.root}\n`);
      return;
    }
    case 'root': {
      const info = (await E(control).spaceInfo(space)) as { count: number; root: string };
      out(opts.json ? `${JSON.stringify(info)}\n` : `${info.root}\t${info.count} entries\n`);
      return;
    }
  }
};
