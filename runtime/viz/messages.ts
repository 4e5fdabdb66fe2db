/**
 * Messages between actors, on the host's side: the call-tracing reports of
 * this host's vats (vats/call-trace.ts) become `call` and `vat-calls` records
 * (model.ts), and the recent ones are kept for a new page. Relayed records of
 * a peer arrive through check.ts, which reads them with `readCall` /
 * `readVatCalls` below.
 *
 * What a record may hold is decided here, whoever made it: endpoint ids, a
 * method name (redacted like any text), an outcome, an error's class name, a
 * latency. Anything else a report carries is not read.
 *
 * Failure semantics: a vat's malformed report is dropped whole (a vat's own
 * runtime wrote it, so it means a bug, not an attack, and the page loses one
 * report); a peer's malformed record is a VizRelayError (check.ts).
 */
import type { CallRecord, VatCallsRecord } from './model.js';
import { redactText } from './redact.js';

/** Calls and answers kept for a new page (it starts with them, then gets the live ones). */
export const RECENT_CALLS = 2000;
/** Vats whose latest references held are kept (a vat that ended keeps its row until pushed out). */
const MAX_VAT_STATS = 4096;
/** Longest method name, endpoint id or error name kept. */
const MAX_TEXT = 200;
/** Records in one vat report at most (a vat posts ≤ 2 × its call rate per second, in 20 ms slices). */
const MAX_REPORT = 1000;
const MAX_PEERS = 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The fields of a call record, checked; `fail` says what is wrong (it throws).
 * `host` is the host the record is about; `vat` must be one end of the call.
 */
export const readCall = (host: string, u: Record<string, unknown>, fail: (what: string) => never): CallRecord => {
  const text = (v: unknown, what: string): string =>
    typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT ? v : fail(`${what} must be a string of 1 to ${MAX_TEXT} characters`);
  const num = (v: unknown, what: string): number =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(`${what} must be a finite number ≥ 0`);
  const vat = text(u['vat'], 'call vat');
  const from = text(u['from'], 'call from');
  const to = text(u['to'], 'call to');
  const mine = `${host}/${vat}`;
  if (vat.includes('/') || (from !== mine && to !== mine)) fail(`a call record must have its vat ${JSON.stringify(mine.slice(0, 80))} at one end`);
  const phase = u['phase'];
  if (phase !== 'call' && phase !== 'answer') fail('call phase must be "call" or "answer"');
  const outcome = u['outcome'];
  if (outcome !== undefined && outcome !== 'ok' && outcome !== 'error') fail('call outcome must be "ok" or "error"');
  const error = u['error'] === undefined ? undefined : text(u['error'], 'call error');
  if (error !== undefined && !/^[A-Za-z_$][\w$]*$/.test(error)) fail('call error must be a class name');
  for (const flag of ['pipelined', 'oneway'] as const) if (u[flag] !== undefined && u[flag] !== true) fail(`call ${flag} must be true or absent`);
  return {
    k: 'call',
    host,
    vat: redactText(vat),
    n: num(u['n'], 'call n'),
    phase,
    t: num(u['t'], 'call t'),
    from: redactText(from),
    to: redactText(to),
    method: redactText(text(u['method'], 'call method')),
    ...(u['pipelined'] === true ? { pipelined: true as const } : {}),
    ...(u['oneway'] === true ? { oneway: true as const } : {}),
    ...(phase === 'answer' && outcome !== undefined ? { outcome } : {}),
    ...(phase === 'answer' && outcome === 'error' && error !== undefined ? { error } : {}),
    ...(phase === 'answer' && u['ms'] !== undefined ? { ms: num(u['ms'], 'call ms') } : {}),
  };
};

/** The fields of a vat-calls record, checked as `readCall` does. */
export const readVatCalls = (host: string, u: Record<string, unknown>, fail: (what: string) => never): VatCallsRecord => {
  const vat = u['vat'];
  if (typeof vat !== 'string' || vat.length === 0 || vat.length > MAX_TEXT || vat.includes('/')) fail('vat-calls vat must be a vat name');
  const num = (v: unknown, what: string): number =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(`${what} must be a finite number ≥ 0`);
  const refs = u['refs'];
  if (refs !== undefined && (!Array.isArray(refs) || refs.length > MAX_PEERS)) fail(`vat-calls refs must be a list of at most ${MAX_PEERS}`);
  return {
    k: 'vat-calls',
    host,
    vat: redactText(vat as string),
    t: num(u['t'], 'vat-calls t'),
    dropped: num(u['dropped'], 'vat-calls dropped'),
    ...(refs !== undefined
      ? {
          refs: (refs as unknown[]).map((r) => {
            if (!isObject(r) || typeof r['peer'] !== 'string' || r['peer'].length > MAX_TEXT) return fail('vat-calls ref');
            return { peer: redactText(r['peer']), imports: num(r['imports'], 'imports'), exports: num(r['exports'], 'exports') };
          }),
        }
      : {}),
  };
};

export interface CallLog {
  /** A report from this host's vat `vat`: its records, checked, or none when the report is malformed. */
  fromVat(vat: string, report: unknown): (CallRecord | VatCallsRecord)[];
  /** Keeps a record (this host's or a peer's) for the next page's hello. */
  remember(u: CallRecord | VatCallsRecord): void;
  /** Recent calls, oldest first. */
  recent(): CallRecord[];
  /** Each vat's latest references held and drop count. */
  vatStats(): VatCallsRecord[];
}

class Malformed extends Error {}
const malformed = (what: string): never => {
  throw new Malformed(what);
};

export const makeCallLog = (opts: { readonly host: string; readonly now: () => number; readonly limit?: number }): CallLog => {
  const limit = opts.limit ?? RECENT_CALLS;
  let calls: CallRecord[] = [];
  const stats = new Map<string, VatCallsRecord>();
  const remember = (u: CallRecord | VatCallsRecord) => {
    if (u.k === 'call') {
      calls.push(u);
      // Trimmed in slices, not per record: one copy per `limit / 4` records.
      if (calls.length > limit + (limit >> 2)) calls = calls.slice(-limit);
      return;
    }
    const key = `${u.host}/${u.vat}`;
    const prev = stats.get(key);
    stats.delete(key);
    stats.set(key, prev && u.refs === undefined && prev.refs !== undefined ? { ...u, refs: prev.refs } : u);
    if (stats.size > MAX_VAT_STATS) stats.delete(stats.keys().next().value!);
  };
  return {
    fromVat(vat, report) {
      try {
        if (!isObject(report) || !Array.isArray(report['calls']) || report['calls'].length > MAX_REPORT) return malformed('report');
        const out: (CallRecord | VatCallsRecord)[] = (report['calls'] as unknown[]).map((c) =>
          isObject(c) ? readCall(opts.host, { ...c, vat }, malformed) : malformed('call'),
        );
        const dropped = report['dropped'];
        if (report['refs'] !== undefined || (typeof dropped === 'number' && dropped > 0)) {
          out.push(readVatCalls(opts.host, { vat, t: opts.now(), dropped: dropped ?? 0, refs: report['refs'] }, malformed));
        }
        return out;
      } catch (err) {
        if (err instanceof Malformed) return [];
        throw err;
      }
    },
    remember,
    recent: () => calls.slice(-limit),
    vatStats: () => [...stats.values()],
  };
};
