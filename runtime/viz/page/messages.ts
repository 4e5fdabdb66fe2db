/**
 * Messages between actors on the page: where a call's arrow starts and ends
 * (the lanes of the vats at its two ends), how a call or an answer reads, and
 * the per-actor view — calls in and out with their rates, errors and
 * latencies per peer, the references held, the calls not traced.
 *
 * A vat's lane is its lifecycle machine (the `vats` group of its host): a
 * call from alice to bob is an arrow from alice's lane to bob's. An endpoint
 * without such an actor here (a host's own `@host`, a vat on a host that does
 * not relay) gets a lane of its own, named after the endpoint.
 */
import type { CallRecord, VatCallsRecord } from '../model.js';
import { h, setText } from './dom.js';
import { asText, count, shortId } from './format.js';
import type { VizModel } from './state.js';

/** How far back the rates look. */
export const RATE_WINDOW_MS = 10_000;
/** Latencies kept per peer for the median. */
const LATENCIES = 64;
/** Endpoints whose numbers the page keeps (a busy tribe's vats and hosts); the oldest seen go first. */
const MAX_ENDPOINTS = 2048;

/** The lane key of an endpoint: its vat's lifecycle actor if known, else the endpoint itself. */
export const endpointLane = (model: VizModel, endpoint: string): string => model.vatLanes.get(endpoint) ?? `ep:${endpoint}`;

/** `<VatId>/<name>` → its host and name (a malformed id is all name). */
export const splitEndpoint = (endpoint: string): { host: string; name: string } => {
  const at = endpoint.indexOf('/');
  return at < 0 ? { host: '', name: endpoint } : { host: endpoint.slice(0, at), name: endpoint.slice(at + 1) };
};

/** An endpoint as a person reads it: the name, and the host when it is not the page's. */
export const endpointText = (model: VizModel, endpoint: string): string => {
  const { host, name } = splitEndpoint(asText(endpoint));
  return host === model.self ? name : `${name}@${shortId(host)}`;
};

/**
 * A call's row in the event log: the actor column names the caller → callee,
 * the event column the method (or the answer), the state column the outcome.
 * Classes: `call`, `answer`, `error`, `pipelined` (tests and styles use them).
 */
export const callRow = (model: VizModel, index: number, c: CallRecord, time: HTMLElement, host: HTMLElement): HTMLElement => {
  const label = callLabel(c);
  const outcome = c.phase === 'call' ? (c.pipelined ? 'pipelined' : c.oneway ? 'one-way' : 'sent') : c.outcome === 'error' ? asText(c.error ?? 'Error') : 'ok';
  const cls = `log-row call ${c.phase}${c.outcome === 'error' ? ' error' : ''}${c.pipelined ? ' pipelined' : ''}`;
  const between = `${endpointText(model, c.from)} → ${endpointText(model, c.to)}`;
  return h(
    'div',
    { class: cls, role: 'row', 'data-index': index, 'data-host': c.host, 'data-call': c.phase, 'data-method': asText(c.method) },
    time,
    host,
    h('span', { class: 'actor', title: `${asText(c.from)} → ${asText(c.to)}` }, between),
    h('span', { class: 'event', title: label }, c.phase === 'call' ? `→ ${label}` : `← ${label}`),
    h('span', { class: 'state' }, outcome),
  );
};

/** What a call's arrow says: `buy()` (⇢ pipelined); its answer: `buy ✓ 0.4 ms` or `buy ✗ RangeError 3 ms`. */
export const callLabel = (c: CallRecord): string => {
  const method = asText(c.method);
  if (c.phase === 'call') return `${method}()${c.pipelined ? ' ⇢' : ''}${c.oneway ? ' (one-way)' : ''}`;
  const ms = typeof c.ms === 'number' ? ` ${c.ms < 10 ? c.ms.toFixed(2) : Math.round(c.ms)} ms` : '';
  return c.outcome === 'error' ? `${method} ✗ ${asText(c.error ?? 'Error')}${ms}` : `${method} ✓${ms}`;
};

interface PeerNumbers {
  out: number;
  in: number;
  errors: number;
  latencies: number[];
}

interface EndpointNumbers {
  out: number;
  in: number;
  errors: number;
  /** Times of recent calls out and in, for the rates. */
  readonly recentOut: number[];
  readonly recentIn: number[];
  readonly peers: Map<string, PeerNumbers>;
  /** Calls not traced (over the vat's rate), with when they were reported. */
  readonly dropped: { t: number; n: number }[];
  refs: VatCallsRecord['refs'];
}

const trim = (times: number[], now: number) => {
  while (times.length > 0 && times[0]! < now - RATE_WINDOW_MS) times.shift();
};

/** Every endpoint's call numbers, from the records the page sees (a page keeps counting from its hello). */
export class CallStats {
  readonly #by = new Map<string, EndpointNumbers>();
  /** Calls not traced, over all vats, with when (the header's rate). */
  readonly #dropped: { t: number; n: number }[] = [];

  clear(): void {
    this.#by.clear();
    this.#dropped.length = 0;
  }

  #of(endpoint: string): EndpointNumbers {
    let e = this.#by.get(endpoint);
    if (!e) {
      e = { out: 0, in: 0, errors: 0, recentOut: [], recentIn: [], peers: new Map(), dropped: [], refs: undefined };
      this.#by.set(endpoint, e);
      if (this.#by.size > MAX_ENDPOINTS) this.#by.delete(this.#by.keys().next().value!);
    }
    return e;
  }

  #peer(e: EndpointNumbers, peer: string): PeerNumbers {
    let p = e.peers.get(peer);
    if (!p) {
      p = { out: 0, in: 0, errors: 0, latencies: [] };
      e.peers.set(peer, p);
    }
    return p;
  }

  add(c: CallRecord): void {
    const from = this.#of(c.from);
    const to = this.#of(c.to);
    const fromPeer = this.#peer(from, c.to);
    const toPeer = this.#peer(to, c.from);
    if (c.phase === 'call') {
      from.out++;
      to.in++;
      fromPeer.out++;
      toPeer.in++;
      from.recentOut.push(c.t);
      to.recentIn.push(c.t);
      trim(from.recentOut, c.t);
      trim(to.recentIn, c.t);
      return;
    }
    if (c.outcome === 'error') {
      from.errors++;
      to.errors++;
      fromPeer.errors++;
      toPeer.errors++;
    }
    if (typeof c.ms === 'number') {
      fromPeer.latencies.push(c.ms);
      if (fromPeer.latencies.length > LATENCIES) fromPeer.latencies.shift();
    }
  }

  vat(r: VatCallsRecord): void {
    const e = this.#of(`${r.host}/${r.vat}`);
    if (r.refs) e.refs = r.refs;
    if (r.dropped > 0) {
      e.dropped.push({ t: r.t, n: r.dropped });
      this.#dropped.push({ t: r.t, n: r.dropped });
      for (const list of [e.dropped, this.#dropped]) while (list.length > 0 && list[0]!.t < r.t - RATE_WINDOW_MS) list.shift();
    }
  }

  /** Calls not traced per second, over the last RATE_WINDOW_MS, over all vats (`endpoint`: one). */
  droppedRate(now: number, endpoint?: string): number {
    const list = endpoint === undefined ? this.#dropped : (this.#by.get(endpoint)?.dropped ?? []);
    let n = 0;
    for (const d of list) if (d.t >= now - RATE_WINDOW_MS) n += d.n;
    return (n * 1000) / RATE_WINDOW_MS;
  }

  get(endpoint: string): EndpointNumbers | undefined {
    return this.#by.get(endpoint);
  }
}

const rate = (times: readonly number[], now: number) => {
  let n = 0;
  for (const t of times) if (t >= now - RATE_WINDOW_MS) n++;
  return (n * 1000) / RATE_WINDOW_MS;
};
const perSecond = (r: number) => `${r < 10 ? r.toFixed(1) : Math.round(r)}/s`;
const median = (xs: readonly number[]): string => {
  if (xs.length === 0) return '–';
  const s = [...xs].sort((a, b) => a - b);
  const m = s[Math.floor(s.length / 2)]!;
  return m < 10 ? m.toFixed(2) : String(Math.round(m));
};

/**
 * The per-actor view: shown above the statechart when the selected actor is
 * a vat (its lifecycle machine). Rebuilt when asked (a small table), at most
 * once per frame.
 */
export class ActorCallsView {
  readonly #root: HTMLElement;
  readonly #summary: HTMLElement;
  readonly #table: HTMLElement;

  constructor(root: HTMLElement) {
    this.#root = root;
    this.#summary = h('div', { class: 'calls-summary' });
    this.#table = h('div', { class: 'calls-table' });
    root.replaceChildren(this.#summary, this.#table);
    root.hidden = true;
  }

  /** The vat endpoint of the selected actor (`<host>/<name>`), or undefined for an actor that is not a vat. */
  static endpointOf(model: VizModel, aid: string | undefined): string | undefined {
    const actor = aid === undefined ? undefined : model.actors.get(aid);
    if (actor?.tag.group !== 'vats' || actor.parent !== undefined) return undefined;
    return `${actor.host}/${asText(actor.tag.name)}`;
  }

  render(model: VizModel, aid: string | undefined, now = Date.now()): void {
    const endpoint = ActorCallsView.endpointOf(model, aid);
    this.#root.hidden = endpoint === undefined;
    if (endpoint === undefined) return;
    this.#root.dataset.endpoint = endpoint;
    const e = model.calls.get(endpoint);
    if (!e) {
      setText(this.#summary, 'No calls seen yet (calls are traced while this page is open).');
      this.#table.replaceChildren();
      this.#root.dataset.calls = '0';
      return;
    }
    trim(e.recentOut, now);
    trim(e.recentIn, now);
    const dropped = model.calls.droppedRate(now, endpoint);
    const parts = [
      `out ${count(e.out)} (${perSecond(rate(e.recentOut, now))})`,
      `in ${count(e.in)} (${perSecond(rate(e.recentIn, now))})`,
      `errors ${count(e.errors)}`,
    ];
    if (dropped > 0) parts.push(`⚠ ${perSecond(dropped)} not traced`);
    setText(this.#summary, parts.join('  ·  '));
    this.#root.dataset.calls = String(e.out + e.in);
    this.#root.dataset.errors = String(e.errors);
    const refs = new Map((e.refs ?? []).map((r) => [asText(r.peer), r]));
    const peers = [...new Set([...e.peers.keys(), ...refs.keys()])].sort();
    const head = h('tr', {}, ...['Peer', 'Out', 'In', 'Errors', 'p50 ms', 'Imports', 'Exports'].map((t) => h('th', {}, t)));
    const rows = peers.map((peer) => {
      const p = e.peers.get(peer);
      const r = refs.get(peer);
      return h(
        'tr',
        { 'data-peer': peer, title: peer },
        h('td', { class: 'peer' }, endpointText(model, peer)),
        h('td', {}, String(p?.out ?? 0)),
        h('td', {}, String(p?.in ?? 0)),
        h('td', { class: p && p.errors > 0 ? 'bad' : '' }, String(p?.errors ?? 0)),
        h('td', {}, median(p?.latencies ?? [])),
        h('td', { class: 'imports' }, r ? String(r.imports) : '–'),
        h('td', { class: 'exports' }, r ? String(r.exports) : '–'),
      );
    });
    this.#table.replaceChildren(h('table', {}, h('thead', {}, head), h('tbody', {}, ...rows)));
  }
}
