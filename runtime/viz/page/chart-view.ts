/**
 * How the statechart sits in its panel: its scale, panning, and the panel
 * expanded over the page. Content (which chart, what is lit) is chart.ts's.
 *
 * Scale: by default the chart is shown at 1:1 when it fits the panel, and
 * shrunk to fit when it does not, down to `MIN_FIT` (below that it scrolls);
 * it is never blown up, so text reads at the sizes statechart.css sets. The
 * zoom button toggles between that and 1:1; Ctrl (⌘) + wheel, or the + / - / 0
 * keys (main.ts), zoom by steps. A chart larger than its panel pans by
 * dragging its background, or with the scrollbars.
 *
 * Expanded: the chart panel covers the page but a margin (button, or the F
 * key; Escape leaves), so a large machine reads at 1:1.
 */
import { setText } from './dom.js';

export interface ChartControls {
  /** Toggles between fitting the chart to the panel and its natural size. */
  readonly zoom: HTMLButtonElement;
  /** Expands the chart panel over the page, and back. */
  readonly expand: HTMLButtonElement;
}

/** A chart larger than its panel shrinks to fit until its text would be unreadable, then scrolls. */
const MIN_FIT = 0.75;
/** The range of an explicit zoom, and one step of it (a wheel notch, a key). */
const MIN_ZOOM = 0.25;
const MAX_ZOOM = 3;
const ZOOM_STEP = 1.2;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export class ChartView {
  readonly #root: HTMLElement;
  readonly #panel: HTMLElement;
  readonly #controls: ChartControls;
  #svg: SVGSVGElement | undefined;
  /** 'fit' (1:1 when it fits, shrunk when not) or an explicit scale. */
  #zoom: 'fit' | number = 'fit';
  #scale = 1;

  /** `root` is the scrolling chart area; `panel` the section that expands. */
  constructor(root: HTMLElement, panel: HTMLElement, controls: ChartControls) {
    this.#root = root;
    this.#panel = panel;
    this.#controls = controls;
    controls.zoom.addEventListener('click', () => (this.#zoom === 'fit' ? this.zoomTo(1) : this.fit()));
    controls.expand.addEventListener('click', () => this.setExpanded(!this.expanded));
    new ResizeObserver(() => this.#apply()).observe(root);
    root.addEventListener('wheel', (e) => this.#wheel(e), { passive: false });
    this.#pannable();
    this.#apply();
  }

  get expanded(): boolean {
    return this.#panel.dataset['expanded'] === 'true';
  }

  setExpanded(on: boolean): void {
    this.#panel.dataset['expanded'] = String(on);
    setText(this.#controls.expand, on ? 'Collapse' : 'Expand');
    this.#controls.expand.title = on ? 'Back to the page (Esc or F)' : 'Expand the chart over the page (F)';
    this.#controls.expand.setAttribute('aria-pressed', String(on));
    // The ResizeObserver refits the chart to the new room.
  }

  /** Shows `svg` (drawn at its natural size in its width and height attributes) at the current zoom. */
  show(svg: SVGSVGElement | undefined): void {
    this.#svg = svg;
    this.#apply();
  }

  fit(): void {
    this.#zoom = 'fit';
    this.#apply();
  }

  zoomTo(scale: number, anchor?: { x: number; y: number }): void {
    const before = this.#scale;
    this.#zoom = clamp(scale, MIN_ZOOM, MAX_ZOOM);
    // Keep the chart point under `anchor` (client coordinates) where it is.
    const rect = this.#root.getBoundingClientRect();
    const at = anchor ?? { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
    const [cx, cy] = [this.#root.scrollLeft + at.x - rect.x, this.#root.scrollTop + at.y - rect.y];
    this.#apply();
    const ratio = this.#scale / before;
    this.#root.scrollLeft = cx * ratio - (at.x - rect.x);
    this.#root.scrollTop = cy * ratio - (at.y - rect.y);
  }

  /** One zoom step in (`direction` 1) or out (-1). */
  zoomStep(direction: 1 | -1, anchor?: { x: number; y: number }): void {
    this.zoomTo(this.#scale * ZOOM_STEP ** direction, anchor);
  }

  #wheel(e: WheelEvent): void {
    if (!(e.ctrlKey || e.metaKey) || !this.#svg) return;
    e.preventDefault();
    this.zoomStep(e.deltaY < 0 ? 1 : -1, { x: e.clientX, y: e.clientY });
  }

  /** Dragging the background (not a fold header, which is a button) scrolls the chart. */
  #pannable(): void {
    let from: { x: number; y: number; left: number; top: number; id: number } | undefined;
    this.#root.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || (e.target as Element).closest?.('[data-fold]') || !this.#overflows()) return;
      from = { x: e.clientX, y: e.clientY, left: this.#root.scrollLeft, top: this.#root.scrollTop, id: e.pointerId };
      this.#root.setPointerCapture(e.pointerId);
      this.#root.dataset['panning'] = 'true';
    });
    this.#root.addEventListener('pointermove', (e) => {
      if (!from || e.pointerId !== from.id) return;
      this.#root.scrollLeft = from.left - (e.clientX - from.x);
      this.#root.scrollTop = from.top - (e.clientY - from.y);
    });
    const end = (e: PointerEvent) => {
      if (!from || e.pointerId !== from.id) return;
      from = undefined;
      delete this.#root.dataset['panning'];
    };
    this.#root.addEventListener('pointerup', end);
    this.#root.addEventListener('pointercancel', end);
  }

  #overflows(): boolean {
    return this.#root.scrollWidth > this.#root.clientWidth || this.#root.scrollHeight > this.#root.clientHeight;
  }

  #apply(): void {
    const el = this.#svg;
    const fit = this.#zoom === 'fit';
    if (el) {
      const width = Number(el.getAttribute('width')) || 1;
      const height = Number(el.getAttribute('height')) || 1;
      const style = getComputedStyle(this.#root);
      const padX = Number.parseFloat(style.paddingLeft) + Number.parseFloat(style.paddingRight);
      const padY = Number.parseFloat(style.paddingTop) + Number.parseFloat(style.paddingBottom);
      const room = Math.min((this.#root.clientWidth - padX) / width, (this.#root.clientHeight - padY) / height);
      this.#scale = this.#zoom === 'fit' ? clamp(room, MIN_FIT, 1) : this.#zoom;
      el.style.width = `${Math.round(width * this.#scale)}px`;
      el.style.height = `${Math.round(height * this.#scale)}px`;
      el.dataset['scale'] = String(Math.round(this.#scale * 1000) / 1000);
    }
    // The button says what a click does (nothing, when the fit is 1:1 already); its title what is shown now.
    const zoom = this.#controls.zoom;
    setText(zoom, fit ? '1:1' : 'Fit');
    zoom.disabled = fit && this.#scale === 1;
    zoom.title = `${Math.round(this.#scale * 100)}%: ${fit ? 'click for natural size' : 'click to fit the panel'} (Ctrl + wheel, or + − 0, zoom)`;
    this.#root.dataset['pannable'] = String(this.#overflows());
    // The room this scale was chosen for: a test waits for it to match the panel after a resize.
    this.#root.dataset['fitted'] = `${this.#root.clientWidth}x${this.#root.clientHeight}`;
  }
}
