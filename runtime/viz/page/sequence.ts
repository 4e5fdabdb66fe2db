/**
 * The sequence diagram of the last steps up to the scrubber: one lane per
 * actor involved, time flowing down. An event an actor sent (`source`) is an
 * arrow from the sender's lane; an event from the counterpart on a peer host
 * (`remote`) is a dashed arrow from the counterpart's lane (or from a lane
 * for that host when no counterpart is known); anything else is a dot on the
 * actor's own lane. The SVG is rebuilt per frame: it is capped at WINDOW rows.
 */
import type { CallRecord, StepRecord } from '../model.js';
import { svg } from './dom.js';
import { asText, clock, leafPaths, shortId, stateText } from './format.js';
import { callLabel, endpointLane, endpointText, splitEndpoint } from './messages.js';
import type { Entry, VizModel } from './state.js';

/** Rows drawn: enough to follow a handshake across hosts, few enough to rebuild every frame. */
export const WINDOW = 60;
/** How far back a focused diagram looks for steps involving the selected actor. */
const FOCUS_SCAN = 20_000;
const GUTTER = 70;
/** Lanes share the panel's width between these bounds; past the lower one the diagram scrolls sideways. */
const MIN_LANE_W = 112;
const MAX_LANE_W = 180;
const ROW_H = 24;
const CHAR_W = 6.2;
/** Lane heads: a title and a sub-line, each wrapped over up to this many lines rather than cut. */
const TITLE_LINES = 3;
const SUB_LINES = 2;
const TITLE_LINE_H = 13;
const SUB_LINE_H = 11;
/** A wide estimate of a lane title's character (11 px, semibold): a wrapped line must fit its box. */
const HEAD_CHAR_W = 7;
/** The head's height for the most lines its lanes need. */
const headHeight = (titleLines: number, subLines: number) => 18 + titleLines * TITLE_LINE_H + subLines * SUB_LINE_H;
/** Lanes widen up to this to hold a long name in TITLE_LINES lines (the diagram scrolls sideways past the panel). */
const NAME_LANE_W = 260;

/**
 * `text` in lines of at most `max` characters, broken after a separator
 * (space . - _ / @ ·) where one is near, else anywhere; past `lines` lines the
 * last ends in … (the lane's tooltip has the whole).
 */
export const wrapText = (text: string, max: number, lines: number): string[] => {
  const out: string[] = [];
  let rest = text;
  while (rest.length > max && out.length < lines - 1) {
    let cut = -1;
    for (let i = max; i >= Math.ceil(max / 2); i--) if (/[\s./@_·-]/.test(rest[i - 1]!)) { cut = i; break; }
    if (cut < 0) cut = max;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  out.push(rest.length > max ? `${rest.slice(0, max - 1)}…` : rest);
  return out;
};

interface Lane {
  readonly key: string;
  readonly host: string;
  readonly title: string;
  readonly sub: string;
  readonly aid?: string;
  /** Place in recency: 0 for the lane of the newest row. */
  readonly order: number;
  x: number;
  /** The title and sub-line as drawn, wrapped to the lane's width. */
  titleLines?: string[];
  subLines?: string[];
}

interface Row {
  readonly index: number;
  readonly entry: Entry;
  /** Lane keys: the event's origin (undefined for a self event) and the actor's. */
  readonly from?: string;
  readonly to?: string;
}

const clipText = (text: string, width: number) => {
  const max = Math.max(3, Math.floor(width / CHAR_W));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
};

export interface SequenceOptions {
  /** One past the newest entry drawn. */
  readonly end: number;
  /** Entry to mark as the scrubber's position (history mode). */
  readonly current?: number;
  /** Only steps involving this actor. */
  readonly focus?: string;
}

export class SequenceView {
  readonly #svg: SVGSVGElement;
  #head: SVGGElement | undefined;
  /**
   * The scroller stacks bottom-up (app.css: column-reverse), so it stays at the
   * newest row without being told, and scrollTop is ≤ 0. Both are cached so
   * that a redraw never forces a layout to read them.
   */
  #scrollTop = 0;
  #viewH = 300;
  #viewW = 600;
  #height = 0;
  #laneW = MAX_LANE_W;
  /** The lane heads' height: as many lines as the longest name wraps to. */
  #headH = headHeight(1, 1);

  #model: VizModel | undefined;
  constructor(el: SVGSVGElement, scroller: HTMLElement, onScrub: (index: number) => void, onSelect: (aid: string) => void) {
    this.#svg = el;
    scroller.addEventListener('scroll', () => {
      this.#scrollTop = scroller.scrollTop;
      this.#pinHead();
    });
    new ResizeObserver(() => {
      this.#viewH = scroller.clientHeight || this.#viewH;
      this.#viewW = scroller.clientWidth || this.#viewW;
      this.#pinHead();
    }).observe(scroller);
    el.addEventListener('click', (e) => {
      const target = e.target as Element;
      const lane = target.closest<SVGGElement>('[data-lane-aid]');
      if (lane?.dataset.laneAid) return onSelect(lane.dataset.laneAid);
      const msg = target.closest<SVGGElement>('[data-index]');
      if (!msg?.dataset.index) return;
      const index = Number(msg.dataset.index);
      onScrub(this.#model ? this.#model.indexOf(msg.dataset.host, Number(msg.dataset.seq), index) : index);
    });
  }

  clear(): void {
    this.#svg.replaceChildren();
    this.#head = undefined;
    this.#height = 0;
  }

  render(model: VizModel, opts: SequenceOptions): void {
    this.#model = model;
    const rows = this.#rows(model, opts);
    const lanes = this.#lanes(model, rows);
    const HEAD_H = this.#headH;
    const width = GUTTER + lanes.size * this.#laneW + 8;
    const height = Math.max(HEAD_H + (rows.length + 0.5) * ROW_H, this.#viewH);
    this.#height = height;
    const root = this.#svg;
    root.setAttribute('width', String(width));
    root.setAttribute('height', String(height));
    root.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const body = svg('g', { class: 'body' });
    for (const lane of lanes.values())
      body.append(svg('line', { class: 'lifeline', x1: lane.x, x2: lane.x, y1: HEAD_H, y2: height }));
    rows.forEach((row, i) => {
      body.append(this.#message(row, lanes, HEAD_H + (i + 0.75) * ROW_H, width, row.index === opts.current));
    });
    if (rows.length === 0)
      body.append(svg('text', { class: 'empty', x: 16, y: HEAD_H + ROW_H }, 'No steps in this window.'));
    this.#head = this.#laneHeads(lanes, width);
    root.replaceChildren(this.#defs(), body, this.#head);
    this.#pinHead();
  }

  #rows(model: VizModel, opts: SequenceOptions): Row[] {
    const { history } = model;
    const rows: Row[] = [];
    const floor = Math.max(history.start, opts.focus ? opts.end - FOCUS_SCAN : history.start);
    for (let i = opts.end - 1; i >= floor && rows.length < WINDOW; i--) {
      const e = history.at(i);
      if (!e) continue;
      if (e.k === 'gap') {
        if (!opts.focus) rows.push({ index: i, entry: e });
        continue;
      }
      if (e.k === 'call') {
        // A call goes caller → callee; its answer comes back the other way.
        const caller = endpointLane(model, e.from);
        const callee = endpointLane(model, e.to);
        const [from, to] = e.phase === 'call' ? [caller, callee] : [callee, caller];
        if (opts.focus && from !== opts.focus && to !== opts.focus) continue;
        rows.push({ index: i, entry: e, from, to });
        continue;
      }
      const from = this.#origin(model, e);
      if (opts.focus && e.aid !== opts.focus && from !== opts.focus) continue;
      rows.push({ index: i, entry: e, to: e.aid, ...(from !== undefined ? { from } : {}) });
    }
    return rows.reverse();
  }

  /** The lane an event comes from: its sender, the remote counterpart, or nothing (a self event). */
  #origin(model: VizModel, s: StepRecord): string | undefined {
    if (s.source !== undefined && s.source !== s.aid) return String(s.source);
    if (!s.remote) return undefined;
    const actor = model.actors.get(s.aid);
    if (!actor || actor.tag.peer === undefined) return undefined;
    return model.counterpart(actor) ?? `peer:${actor.tag.peer}`;
  }

  #lanes(model: VizModel, rows: readonly Row[]): Map<string, Lane> {
    const lanes = new Map<string, Lane>();
    const add = (key: string | undefined) => {
      if (key === undefined || lanes.has(key)) return;
      if (key.startsWith('ep:')) {
        // An endpoint with no vat actor here: a host's own (@host), or a vat of a host that does not relay.
        const endpoint = key.slice(3);
        const { host, name } = splitEndpoint(endpoint);
        lanes.set(key, { key, host, title: endpointText(model, endpoint), sub: `${shortId(host)} · ${name === '@host' ? 'host' : 'endpoint'}`, order: lanes.size, x: 0 });
        return;
      }
      if (key.startsWith('peer:')) {
        const host = key.slice(5);
        lanes.set(key, { key, host, title: `host ${shortId(host)}`, sub: 'no counterpart known', order: lanes.size, x: 0 });
        return;
      }
      const actor = model.actors.get(key);
      const host = actor?.host ?? key.split('/')[0] ?? '';
      lanes.set(key, {
        key,
        host,
        aid: key,
        title: actor ? asText(actor.tag.name) : key,
        sub: `${shortId(host)} · ${actor ? (model.defs.get(actor.def)?.id ?? '?') : '?'}`,
        order: lanes.size,
        x: 0,
      });
    };
    // Newest first: when the lanes overflow the panel, those of the rows in view (the newest) are the ones on screen.
    for (let i = rows.length - 1; i >= 0; i--) {
      add(rows[i]!.to);
      add(rows[i]!.from);
    }
    // Lanes that exchange arrows sit side by side (a path and its counterpart on the other host),
    // the pair placed where its newer lane falls; otherwise newest first, so that the lanes of the
    // rows in view (the newest) are on screen when the lanes overflow the panel.
    const partners = new Map<string, string[]>();
    for (const r of rows) {
      // Calls are left out: a host's lane calls every vat, and pairing would pull all lanes behind it.
      if (r.from === undefined || r.to === undefined || r.from === r.to || r.entry.k === 'call') continue;
      partners.set(r.to, [...(partners.get(r.to) ?? []), r.from]);
      partners.set(r.from, [...(partners.get(r.from) ?? []), r.to]);
    }
    const byRecency = [...lanes.values()].sort((a, b) => a.order - b.order);
    const sorted: Lane[] = [];
    const placed = new Set<string>();
    const place = (l: Lane | undefined) => {
      if (!l || placed.has(l.key)) return;
      placed.add(l.key);
      sorted.push(l);
      for (const p of partners.get(l.key) ?? []) place(lanes.get(p));
    };
    for (const l of byRecency) place(l);
    const shared = Math.max(MIN_LANE_W, Math.min(MAX_LANE_W, (this.#viewW - GUTTER - 8) / Math.max(1, sorted.length)));
    // Wide enough for the longest name in TITLE_LINES lines (and a line break's slack), up to NAME_LANE_W.
    const longest = Math.max(0, ...sorted.map((l) => Math.ceil(l.title.length / TITLE_LINES) + 4));
    const laneW = Math.max(shared, Math.min(NAME_LANE_W, longest * HEAD_CHAR_W + 20));
    this.#laneW = laneW;
    const chars = Math.max(3, Math.floor((laneW - 20) / HEAD_CHAR_W));
    let titleLines = 1;
    let subLines = 1;
    for (const lane of sorted) {
      lane.titleLines = wrapText(lane.title, chars, TITLE_LINES);
      lane.subLines = wrapText(lane.sub, chars, SUB_LINES);
      titleLines = Math.max(titleLines, lane.titleLines.length);
      subLines = Math.max(subLines, lane.subLines.length);
    }
    this.#headH = headHeight(titleLines, subLines);
    sorted.forEach((lane, i) => {
      lane.x = GUTTER + i * laneW + laneW / 2;
    });
    return new Map(sorted.map((l) => [l.key, l]));
  }

  #message(row: Row, lanes: Map<string, Lane>, y: number, width: number, current: boolean): SVGGElement {
    const e = row.entry;
    const g = svg('g', { class: current ? 'message current' : 'message', 'data-index': row.index, 'data-host': e.host });
    g.append(svg('rect', { class: 'hit', x: 0, y: y - ROW_H * 0.75, width, height: ROW_H }));
    // Minutes, seconds, milliseconds: the hour is in the tooltip and the log.
    g.append(svg('text', { class: 'time', x: 8, y: y + 4 }, clock(e.t).slice(3)));
    if (e.k === 'gap') {
      g.setAttribute('class', 'gap');
      g.append(svg('line', { class: 'gap-line', x1: GUTTER, x2: width - 8, y1: y, y2: y }));
      g.append(svg('text', { class: 'gap-label', x: GUTTER + 8, y: y - 4 }, `⚠ ${e.dropped} records dropped (${shortId(e.host)})`));
      return g;
    }
    if (e.k === 'call') return this.#call(g, e, row, lanes, y);
    g.setAttribute('data-seq', String(e.seq));
    const to = lanes.get(row.to ?? '')!;
    const from = row.from !== undefined ? lanes.get(row.from) : undefined;
    const label = asText(e.label ?? e.event);
    const state = stateText(leafPaths(e.value));
    const title = svg('title', {}, `${clock(e.t)}  ${label}\n${e.aid}${e.remote ? ' (from peer)' : ''} → ${state}`);
    if (from && from !== to) {
      const dir = to.x > from.x ? 1 : -1;
      g.classList.add(e.remote ? 'remote' : 'sent');
      g.append(
        svg('line', { class: 'arrow', x1: from.x + dir * 4, x2: to.x - dir * 6, y1: y, y2: y, 'marker-end': 'url(#seq-arrowhead)' }),
        svg('circle', { class: 'tail', cx: from.x, cy: y, r: 2.5 }),
        // By the arrowhead: on a long arrow the receiving lane is the one in view.
        svg(
          'text',
          { class: 'label', x: to.x - dir * 10, y: y - 5, 'text-anchor': dir > 0 ? 'end' : 'start' },
          clipText(label, Math.abs(to.x - from.x) - 16),
        ),
      );
    } else {
      g.classList.add('self');
      g.append(
        svg('circle', { class: 'dot', cx: to.x, cy: y, r: 4 }),
        svg('text', { class: 'label', x: to.x + 9, y: y + 4 }, clipText(label, this.#laneW - 14)),
      );
    }
    g.append(title);
    return g;
  }

  /** A call (solid arrow) or its answer (dashed, back to the caller); an error answer is marked; a pipelined call says so. */
  #call(g: SVGGElement, e: CallRecord, row: Row, lanes: Map<string, Lane>, y: number): SVGGElement {
    const from = lanes.get(row.from ?? '')!;
    const to = lanes.get(row.to ?? '')!;
    const label = callLabel(e);
    const error = e.outcome === 'error';
    g.setAttribute('class', `message call-msg ${e.phase}${error ? ' error' : ''}${e.pipelined ? ' pipelined' : ''}`);
    g.setAttribute('data-call', e.phase);
    g.setAttribute('data-method', asText(e.method));
    g.setAttribute('data-from-lane', from.key);
    g.setAttribute('data-to-lane', to.key);
    const dir = to.x >= from.x ? 1 : -1;
    g.append(
      svg('line', { class: 'arrow', x1: from.x + dir * 4, x2: to.x - dir * 6, y1: y, y2: y, 'marker-end': `url(#${error ? 'seq-arrowhead-error' : 'seq-arrowhead'})` }),
      svg('circle', { class: 'tail', cx: from.x, cy: y, r: 2.5 }),
      // By the tail: on a call, the caller's lane is where a reader looks for what it did.
      svg(
        'text',
        { class: 'label', x: from.x + dir * 10, y: y - 5, 'text-anchor': dir > 0 ? 'start' : 'end' },
        clipText(label, Math.max(Math.abs(to.x - from.x) - 16, this.#laneW - 14)),
      ),
      svg('title', {}, `${clock(e.t)}  ${label}\n${asText(e.from)} → ${asText(e.to)}`),
    );
    return g;
  }

  /** Lane heads: the whole name, wrapped (never cut short for a name of up to TITLE_LINES lines), and a tooltip. */
  #laneHeads(lanes: Map<string, Lane>, width: number): SVGGElement {
    const laneW = this.#laneW;
    const HEAD_H = this.#headH;
    const head = svg('g', { class: 'lanes-head' });
    head.append(svg('rect', { class: 'head-bg', x: 0, y: 0, width, height: HEAD_H }));
    const titleRows = Math.max(...[...lanes.values()].map((l) => l.titleLines?.length ?? 1), 1);
    for (const lane of lanes.values()) {
      const g = svg('g', { class: 'lane', 'data-lane-host': lane.host, 'data-lane-title': lane.title, ...(lane.aid ? { 'data-lane-aid': lane.aid } : {}) });
      const title = svg('text', { class: 'lane-title', x: lane.x, y: 18, 'text-anchor': 'middle' });
      for (const [i, line] of (lane.titleLines ?? [lane.title]).entries()) title.append(svg('tspan', { x: lane.x, dy: i === 0 ? 0 : TITLE_LINE_H }, line));
      const sub = svg('text', { class: 'lane-sub', x: lane.x, y: 17 + titleRows * TITLE_LINE_H, 'text-anchor': 'middle' });
      for (const [i, line] of (lane.subLines ?? [lane.sub]).entries()) sub.append(svg('tspan', { x: lane.x, dy: i === 0 ? 0 : SUB_LINE_H }, line));
      g.append(
        svg('rect', { class: 'lane-box', x: lane.x - laneW / 2 + 6, y: 5, width: laneW - 12, height: HEAD_H - 10, rx: 4 }),
        title,
        sub,
        svg('title', {}, `${lane.title}\n${lane.sub}\n${lane.aid ?? lane.host}`),
      );
      head.append(g);
    }
    return head;
  }

  #defs(): SVGDefsElement {
    const defs = svg('defs');
    const marker = svg('marker', {
      id: 'seq-arrowhead',
      viewBox: '0 0 10 10',
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: 'auto-start-reverse',
    });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }));
    const errorMarker = marker.cloneNode(true) as SVGMarkerElement;
    errorMarker.setAttribute('id', 'seq-arrowhead-error');
    errorMarker.firstElementChild?.setAttribute('class', 'arrowhead error');
    defs.append(marker, errorMarker);
    return defs;
  }

  /** Keeps the lane titles in view while the diagram scrolls (SVG has no position: sticky). */
  #pinHead(): void {
    const top = Math.max(0, this.#height - this.#viewH + this.#scrollTop);
    this.#head?.setAttribute('transform', `translate(0 ${Math.round(top)})`);
  }
}
