/**
 * The page's two ways in: the `/api/stream` event stream (a hello, then
 * batches of updates) and `/api/history` for older steps. Records are
 * checked for the shape the page relies on and malformed ones are dropped,
 * so a bad record costs one row, not the page.
 */
import type { Hello, StepRecord, Update } from '../model.js';

export interface StreamHandlers {
  readonly hello: (hello: Hello) => void;
  /** A batch, and when it arrived (performance.now()). */
  readonly updates: (updates: Update[], arrived: number) => void;
  readonly connection: (open: boolean) => void;
}

/** EventSource retries by itself after a dropped connection; after a refused one it gives up, so the page retries, backing off to this. */
const MAX_RETRY_MS = 10_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const isStep = (u: Record<string, unknown>): boolean =>
  u['k'] === 'step' && isText(u['host']) && isText(u['aid']) && isText(u['event']) && isNum(u['seq']) && isNum(u['t']);

const isCall = (u: Record<string, unknown>): boolean =>
  u['k'] === 'call' &&
  isText(u['host']) &&
  isText(u['vat']) &&
  isText(u['from']) &&
  isText(u['to']) &&
  isText(u['method']) &&
  isNum(u['t']) &&
  isNum(u['n']) &&
  (u['phase'] === 'call' || u['phase'] === 'answer');

/** The fields each record kind must have for the page to draw it. */
const wellFormed = (u: unknown): u is Update => {
  if (!isObject(u)) return false;
  switch (u['k']) {
    case 'host':
      return isText(u['host']);
    case 'def':
      return isObject(u['def']) && isText(u['def']['hash']) && isText(u['def']['id']) && isObject(u['def']['root']);
    case 'actor': {
      const a = u['actor'];
      return isObject(a) && isText(a['aid']) && isText(a['host']) && isText(a['def']) && isObject(a['tag']);
    }
    case 'step':
      return isStep(u);
    case 'health':
      return isText(u['host']) && Array.isArray(u['sessions']) && u['sessions'].every(isObject);
    case 'gap':
      return isText(u['host']) && isNum(u['dropped']);
    case 'call':
      return isCall(u);
    case 'vat-calls':
      return isText(u['host']) && isText(u['vat']) && isNum(u['t']) && isNum(u['dropped']) && (u['refs'] === undefined || (Array.isArray(u['refs']) && u['refs'].every(isObject)));
    default:
      return false;
  }
};

const list = <T>(v: unknown, keep: (x: unknown) => x is T): T[] => (Array.isArray(v) ? v.filter(keep) : []);

export const parseUpdates = (data: string): Update[] => list(JSON.parse(data), wellFormed);

export const parseHello = (data: string): Hello | undefined => {
  const v: unknown = JSON.parse(data);
  if (!isObject(v) || !isText(v['self'])) return undefined;
  const ofKind = (k: string) => (x: unknown): x is never => wellFormed(x) && x.k === k;
  return {
    k: 'hello',
    self: v['self'],
    hosts: list(v['hosts'], ofKind('host')),
    defs: list(v['defs'], (d): d is never => wellFormed({ k: 'def', def: d })),
    actors: list(v['actors'], (a): a is never => wellFormed({ k: 'actor', actor: a })),
    latest: list(v['latest'], ofKind('step')),
    history: list(v['history'], ofKind('step')),
    health: list(v['health'], ofKind('health')),
    calls: list(v['calls'], ofKind('call')),
    vatCalls: list(v['vatCalls'], ofKind('vat-calls')),
  };
};

/** Opens the stream; it reconnects until closed. */
export const openStream = (url: string, on: StreamHandlers): { close(): void } => {
  let source: EventSource | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let delay = 500;
  const connect = () => {
    const es = new EventSource(url);
    source = es;
    es.onopen = () => {
      delay = 500;
      on.connection(true);
    };
    es.onerror = () => {
      on.connection(false);
      if (es.readyState !== EventSource.CLOSED) return;
      es.close();
      retry = setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    };
    es.addEventListener('hello', (e) => {
      try {
        const hello = parseHello((e as MessageEvent<string>).data);
        if (hello) on.hello(hello);
      } catch (error) {
        console.warn('tribe viz: bad hello', error);
      }
    });
    es.addEventListener('updates', (e) => {
      const arrived = performance.now();
      try {
        on.updates(parseUpdates((e as MessageEvent<string>).data), arrived);
      } catch (error) {
        console.warn('tribe viz: bad update batch', error);
      }
    });
  };
  connect();
  return {
    close() {
      clearTimeout(retry);
      source?.close();
    },
  };
};

/** Steps older than `before` (oldest first) from the host's store. */
export const fetchOlder = async (before: number, limit: number): Promise<StepRecord[]> => {
  const res = await fetch(`/api/history?before=${encodeURIComponent(before)}&limit=${limit}`);
  if (!res.ok) throw new Error(`history: HTTP ${res.status}`);
  return list(await res.json(), (x): x is StepRecord => isObject(x) && isStep(x));
};
