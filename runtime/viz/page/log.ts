/**
 * The event log, newest first, over the whole history held, virtualized:
 * rows have one fixed height, only those in view (plus a margin) exist in
 * the DOM, each keyed by its history index and placed with a transform, so a
 * new step adds one row and moves the others without relaying out the list.
 *
 * In live mode the log follows the newest entry; in history mode it stops
 * growing (new entries are recorded, not shown) and keeps the scrubber's row
 * in view.
 */
import { h } from './dom.js';
import { asText, clock, leafPaths, shortId, stateText } from './format.js';
import { callRow } from './messages.js';
import type { Entry, VizModel } from './state.js';

/** Must match `.log-row` height in app.css. */
const ROW_H = 22;
/** Rows kept beyond the visible ones, above and below: scrolling a little never shows a blank. */
const MARGIN = 30;
/** Cap on rows in the DOM whatever the viewport: the log stays cheap on a tall screen. */
export const MAX_LOG_ROWS = 300;

export class EventLog {
  readonly #root: HTMLElement;
  readonly #spacer: HTMLElement;
  readonly #rows = new Map<number, HTMLElement>();
  #rewrites = 0;
  #model: VizModel | undefined;
  /** Entries shown: [start, end), newest (end - 1) at the top. */
  #start = 0;
  #end = 0;
  #current: number | undefined;
  /** Cached so that drawing never forces a layout to read them. */
  #scrollTop = 0;
  #viewH = 600;
  #pendingScroll = 0;

  constructor(root: HTMLElement, onScrub: (index: number) => void) {
    this.#root = root;
    this.#spacer = h('div', { class: 'log-spacer' });
    root.replaceChildren(this.#spacer);
    root.addEventListener('click', (e) => {
      const row = (e.target as Element).closest<HTMLElement>('[data-index]');
      if (!row?.dataset.index) return;
      const index = Number(row.dataset.index);
      onScrub(this.#model ? this.#model.indexOf(row.dataset.host, Number(row.dataset.seq), index) : index);
    });
    root.addEventListener('scroll', () => {
      this.#scrollTop = root.scrollTop;
      if (this.#pendingScroll === 0) this.#pendingScroll = requestAnimationFrame(() => {
        this.#pendingScroll = 0;
        this.#draw();
      });
    });
    new ResizeObserver(() => {
      this.#viewH = root.clientHeight || this.#viewH;
      this.#draw();
    }).observe(root);
  }

  clear(): void {
    for (const row of this.#rows.values()) row.remove();
    this.#rows.clear();
    this.#start = 0;
    this.#end = 0;
    this.#current = undefined;
    this.#scrollTo(0);
  }

  /** Live: everything up to the newest entry; `toTop` when coming back from history. */
  renderLive(model: VizModel, toTop = false): void {
    this.#model = model;
    this.#forgetMoved(model);
    const { history } = model;
    const added = this.#end > 0 ? history.end - this.#end : 0;
    this.#start = history.start;
    this.#end = history.end;
    // A reader scrolled down keeps looking at the same rows while new ones arrive on top.
    if (toTop) this.#scrollTo(0);
    else if (this.#scrollTop > 0 && added > 0) this.#scrollTo(this.#scrollTop + added * ROW_H);
    this.#current = undefined;
    this.#draw();
  }

  /** History: the log as it was (entries recorded since are not shown), with `current` marked and in view. */
  renderAt(model: VizModel, current: number): void {
    this.#model = model;
    this.#forgetMoved(model);
    const { history } = model;
    this.#start = history.start;
    this.#end = Math.max(Math.min(this.#end, history.end), current + 1);
    this.#current = current;
    const top = (this.#end - 1 - current) * ROW_H;
    if (top < this.#scrollTop || top + ROW_H > this.#scrollTop + this.#viewH) {
      this.#scrollTo(Math.max(0, top - Math.floor(this.#viewH / 2)));
    }
    this.#draw();
  }

  /**
   * Rows are cached by index; when the model moved entries (a late, older step
   * went in), the rows from where it moved them are rebuilt — all of them if
   * more than one rewrite happened since the last draw.
   */
  #forgetMoved(model: VizModel): void {
    if (model.rewrites === this.#rewrites) return;
    const from = model.rewrites === this.#rewrites + 1 ? model.movedFrom : Number.NEGATIVE_INFINITY;
    this.#rewrites = model.rewrites;
    for (const [index, row] of this.#rows) {
      if (index < from) continue;
      row.remove();
      this.#rows.delete(index);
    }
  }

  #scrollTo(top: number): void {
    // Grow the spacer first, or the browser clamps the new scroll position to the old height.
    this.#spacer.style.height = `${Math.max(0, this.#end - this.#start) * ROW_H}px`;
    this.#root.scrollTop = top;
    this.#scrollTop = top;
  }

  #draw(): void {
    const model = this.#model;
    if (!model) return;
    const count = Math.max(0, this.#end - this.#start);
    this.#spacer.style.height = `${count * ROW_H}px`;
    const first = Math.max(0, Math.floor(this.#scrollTop / ROW_H) - MARGIN);
    const last = Math.min(count, first + Math.min(MAX_LOG_ROWS, Math.ceil(this.#viewH / ROW_H) + 2 * MARGIN));
    // Positions [first, last) from the top are indices (end - 1 - last, end - 1 - first].
    const newest = this.#end - 1 - first;
    const oldest = this.#end - last;
    for (const [index, row] of this.#rows) {
      if (index < oldest || index > newest) {
        row.remove();
        this.#rows.delete(index);
      }
    }
    const fresh = document.createDocumentFragment();
    for (let index = newest; index >= oldest; index--) {
      let row = this.#rows.get(index);
      if (!row) {
        row = this.#row(model, index, model.history.at(index));
        this.#rows.set(index, row);
        fresh.append(row);
      }
      row.style.transform = `translateY(${(this.#end - 1 - index) * ROW_H}px)`;
      const current = index === this.#current;
      if (row.classList.contains('current') !== current) {
        row.classList.toggle('current', current);
        if (current) row.setAttribute('aria-selected', 'true');
        else row.removeAttribute('aria-selected');
      }
    }
    this.#spacer.append(fresh);
  }

  #row(model: VizModel, index: number, e: Entry | undefined): HTMLElement {
    if (!e) return h('div', { class: 'log-row', 'data-index': index });
    const time = h('span', { class: 'time' }, clock(e.t));
    const host = h('span', { class: 'host', title: e.host }, shortId(e.host));
    if (e.k === 'gap') {
      const text = `⚠ ${e.dropped} records dropped by the relay`;
      return h(
        'div',
        { class: 'log-row gap', role: 'row', 'data-index': index, 'data-host': e.host, 'data-gap': e.dropped },
        time,
        host,
        h('span', { class: 'warning' }, text),
      );
    }
    if (e.k === 'call') return callRow(model, index, e, time, host);
    const actor = model.actors.get(e.aid);
    const leaves = leafPaths(e.value);
    const label = asText(e.label ?? e.event);
    const cls = `log-row status-${asText(e.status)}${e.remote ? ' remote' : ''}`;
    return h(
      'div',
      { class: cls, role: 'row', 'data-index': index, 'data-seq': e.seq, 'data-host': e.host },
      time,
      host,
      h('span', { class: 'actor', title: e.aid }, actor ? asText(actor.tag.name) : e.aid),
      h('span', { class: 'event', title: e.label !== undefined ? `${label} (${asText(e.event)})` : label }, label),
      h('span', { class: 'state', title: leaves.join('\n') }, stateText(leaves)),
    );
  }
}
