/**
 * The statechart's drawing: a `ChartLayout` turned into SVG elements, and
 * `highlight`, which only flips classes, so following a running actor costs
 * no layout. Every string is set as textContent only.
 */
import type { MachineDef } from '../model.js';
import { type ChartLayout, type LaidEdge, type LaidNode, type Point, round } from './statechart-layout.js';
import { CAPTION_LINE, DOT, FOLD_MARK, insideText, LINE, PAD, TITLE, transitionLines } from './statechart-text.js';

export interface StatechartView {
  readonly element: SVGSVGElement;
  /** Marks exactly the states whose path is in `activePaths` (class `active`, aria-current). */
  highlight(activePaths: readonly string[]): void;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Baselines within a line box and a title band, for the font sizes in statechart.css. */
const LINE_BASE = 10.5;
const CAPTION_BASE = 9;
const TITLE_BASE = 15.5;
const ARROW = 8;

const make = <K extends keyof SVGElementTagNameMap>(
  doc: Document,
  tag: K,
  attrs: Readonly<Record<string, string | number>>,
  text?: string,
): SVGElementTagNameMap[K] => {
  const element = doc.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
};

/** A <text> of `lines`, one <tspan> each, `step` px apart, the first baseline at `y`. */
const textLines = (doc: Document, attrs: Readonly<Record<string, string | number>>, x: number, y: number, step: number, lines: readonly string[]) => {
  const text = make(doc, 'text', { ...attrs, x, y });
  lines.forEach((line, i) => {
    text.append(make(doc, 'tspan', { x, y: round(y + i * step) }, line));
  });
  return text;
};

const CORNER = 5;

/** A point `by` px from `from` toward `to`. */
const toward = (from: Point, to: Point, by: number): Point => {
  const length = Math.hypot(to.x - from.x, to.y - from.y) || 1;
  return { x: round(from.x + ((to.x - from.x) * by) / length), y: round(from.y + ((to.y - from.y) * by) / length) };
};

/** A polyline with its bends rounded, which makes crossing routes easier to tell from turning ones. */
const pathData = (points: readonly Point[]) => {
  const parts = [`M${points[0]!.x} ${points[0]!.y}`];
  for (let i = 1; i < points.length - 1; i++) {
    const [before, bend, after] = [points[i - 1]!, points[i]!, points[i + 1]!];
    const r = Math.min(CORNER, Math.hypot(bend.x - before.x, bend.y - before.y) / 2, Math.hypot(after.x - bend.x, after.y - bend.y) / 2);
    const [into, out] = [toward(bend, before, r), toward(bend, after, r)];
    parts.push(`L${into.x} ${into.y}`, `Q${bend.x} ${bend.y} ${out.x} ${out.y}`);
  }
  const last = points[points.length - 1]!;
  parts.push(`L${last.x} ${last.y}`);
  return parts.join(' ');
};

/** A filled triangle on the route's last segment, so no marker ids (which would clash between charts) are needed. */
const arrowHead = (points: readonly Point[]) => {
  const tip = points[points.length - 1]!;
  const from = points[points.length - 2]!;
  const length = Math.hypot(tip.x - from.x, tip.y - from.y) || 1;
  const [ux, uy] = [(tip.x - from.x) / length, (tip.y - from.y) / length];
  const [bx, by] = [tip.x - ux * ARROW, tip.y - uy * ARROW];
  return `M${tip.x} ${tip.y} L${round(bx - uy * 4)} ${round(by + ux * 4)} L${round(bx + uy * 4)} ${round(by - ux * 4)} Z`;
};

const isLeaf = (n: LaidNode) => !n.foldable && (n.type === 'atomic' || n.type === 'final' || n.type === 'history');

const drawState = (doc: Document, n: LaidNode): SVGGElement => {
  const classes = ['state', n.region ? 'region' : '', n.parent === undefined ? 'root' : ''].filter(Boolean);
  const g = make(doc, 'g', { class: classes.join(' '), 'data-path': n.path, 'data-type': n.type });
  const leaf = isLeaf(n);
  g.append(make(doc, 'rect', { x: n.x, y: n.y, width: n.width, height: n.height, rx: leaf ? 6 : 8 }));
  if (n.type === 'final') {
    g.append(make(doc, 'rect', { class: 'inner', x: n.x + 4, y: n.y + 4, width: n.width - 8, height: n.height - 8, rx: 4 }));
  }
  const x = leaf ? n.x + n.width / 2 : n.x + PAD + (n.foldable ? FOLD_MARK : 0);
  const anchor = leaf ? 'middle' : 'start';
  if (n.foldable) {
    g.setAttribute('data-folded', String(n.folded));
    // The header band is the control: a click folds or unfolds the state (chart.ts).
    const head = make(doc, 'g', { class: 'fold', 'data-fold': n.path, role: 'button', 'aria-expanded': String(!n.folded) });
    head.append(
      make(doc, 'rect', { class: 'fold-hit', x: n.x, y: n.y, width: n.width, height: TITLE }),
      make(doc, 'text', { class: 'fold-mark', x: n.x + PAD, y: n.y + TITLE_BASE }, n.folded ? '▸' : '▾'),
      make(doc, 'title', {}, n.folded ? `unfold ${n.key}` : `fold ${n.key}`),
    );
    g.append(head);
  }
  g.append(make(doc, 'text', { class: 'key', x, y: n.y + TITLE_BASE, 'text-anchor': anchor }, n.key));
  if (n.caption) g.append(textLines(doc, { class: 'caption', 'text-anchor': anchor }, x, n.y + TITLE + CAPTION_BASE, CAPTION_LINE, n.caption));
  return g;
};

const drawInitial = (doc: Document, marker: NonNullable<LaidNode['initialMarker']>): SVGGElement => {
  const g = make(doc, 'g', { class: 'initial' });
  g.append(make(doc, 'circle', { cx: marker.dot.x, cy: marker.dot.y, r: DOT / 2 - 0.5 }));
  if (marker.points.length >= 2) {
    g.append(make(doc, 'path', { class: 'route', d: pathData(marker.points) }));
    g.append(make(doc, 'path', { class: 'arrow', d: arrowHead(marker.points) }));
  }
  return g;
};

const describe = (e: LaidEdge) =>
  `${e.event}${e.guard ? ` [${e.guard}]` : ''}${e.actions.length ? ` / ${e.actions.join(', ')}` : ''}${e.targets.length ? ` → ${e.targets.join(', ')}` : ''}`;

/** `withRoute` is false for the second and later transitions of a shared route: one line of ink, a label each. */
const drawTransition = (doc: Document, e: LaidEdge, withRoute: boolean): SVGGElement => {
  const routed = e.points.length >= 2;
  const g = make(doc, 'g', { class: routed ? 'transition' : 'transition inside', 'data-event': e.event, 'data-source': e.source });
  g.append(make(doc, 'title', {}, describe(e)));
  if (routed && withRoute) {
    for (const route of [e.points, ...(e.branches ?? [])].filter((r) => r.length >= 2)) {
      g.append(make(doc, 'path', { class: 'route', d: pathData(route) }), make(doc, 'path', { class: 'arrow', d: arrowHead(route) }));
    }
  }
  const lines = routed ? transitionLines(e) : [insideText(e)];
  if (routed) g.append(make(doc, 'rect', { class: 'label-bg', x: e.label.x - 2, y: e.label.y, width: e.label.width + 4, height: e.label.height }));
  g.append(textLines(doc, { class: 'label' }, e.label.x, e.label.y + LINE_BASE, LINE, lines));
  return g;
};

/** Draws a layout as SVG into a new <svg> (created with doc.createElementNS). */
export const drawStatechart = (doc: Document, layout: ChartLayout, def: MachineDef): StatechartView => {
  const svg = make(doc, 'svg', {
    class: 'statechart',
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    role: 'img',
    'aria-label': `statechart ${def.id}`,
  });
  const states = new Map<string, SVGGElement>();
  for (const node of layout.nodes) {
    const g = drawState(doc, node);
    states.set(node.path, g);
    svg.append(g);
  }
  for (const node of layout.nodes) if (node.initialMarker) svg.append(drawInitial(doc, node.initialMarker));
  const routesDrawn = new Set<string>();
  for (const edge of layout.edges) {
    const route = `${edge.source}\u0000${edge.targets.join('\u0000')}`;
    svg.append(drawTransition(doc, edge, !routesDrawn.has(route)));
    routesDrawn.add(route);
  }
  const highlight = (activePaths: readonly string[]) => {
    const active = new Set(activePaths);
    for (const [path, g] of states) {
      if (active.has(path)) {
        g.classList.add('active');
        g.setAttribute('aria-current', 'true');
      } else {
        g.classList.remove('active');
        g.removeAttribute('aria-current');
      }
    }
  };
  return Object.freeze({ element: svg, highlight });
};
