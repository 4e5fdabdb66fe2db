/**
 * The statechart diagram: a machine definition laid out by elkjs (layered,
 * top to bottom, one layout across all levels so a transition may leave a
 * nested state for a distant one) and drawn as SVG.
 *
 * The two halves are apart on purpose: `layoutStatechart` is pure, async and
 * costly (the caller keeps one layout per definition hash); `drawStatechart`
 * only turns boxes and polylines into elements, and `highlight` only flips
 * classes, so following a running actor costs no layout.
 *
 * How a definition becomes a diagram:
 * - transitions with targets are edges; all of them between one source and one
 *   target set share a route and stack their labels ("event [guard]", one line
 *   each), which keeps a machine's many abort edges to one line of ink;
 * - a transition without targets (actions only) is listed inside its state,
 *   under the key and the entry/invoke caption, as UML draws internal ones;
 * - a compound state marks its initial child with a dot and an arrow; a
 *   parallel state's regions sit side by side as dashed boxes;
 * - every string is untrusted (definitions come from other hosts): it is
 *   measured by length, clipped, and set as textContent only;
 * - a compound or parallel state can be folded (`foldDefinition`): it is laid
 *   out as one box, its inner transitions dropped and those that cross its
 *   border drawn from or to the box.
 */
import type { ELK as ElkEngine, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { MachineDef, StateNodeDef, TransitionDef } from '../model.js';

/** An elkjs engine: the page's runs in a Web Worker (elk-api + elk-worker), tests use elk.bundled in-thread. */
export type { ElkEngine };

export interface Point {
  x: number;
  y: number;
}
export interface Box extends Point {
  width: number;
  height: number;
}

export interface ChartLayout {
  width: number;
  height: number;
  /** Every state of the definition once, parents before their children. */
  nodes: LaidNode[];
  /** Every transition of the definition once, in definition order. */
  edges: LaidEdge[];
}

export interface LaidNode extends Box {
  path: string;
  key: string;
  type: StateNodeDef['type'];
  /** Path of the parent state; absent for the root. */
  parent?: string;
  /** It is its parent's initial child. */
  initial: boolean;
  /** Where the initial marker of this (initial) child is drawn: the dot's centre and the arrow into the box. */
  initialMarker?: { dot: Point; points: Point[] };
  /** Entry actions and invoked actors, short. */
  caption?: string;
  /** The parent is parallel: this is one of its regions. */
  region: boolean;
  /** It has children in the definition (not the root): its header folds and unfolds it. */
  foldable: boolean;
  /** Folded: drawn as one box, its children hidden. */
  folded: boolean;
}

export interface LaidEdge {
  /** `<source path>#<index in the source's transitions>`. */
  id: string;
  source: string;
  targets: string[];
  event: string;
  guard?: string;
  actions: string[];
  /**
   * Absolute polyline from the source's border to the first target's border;
   * empty for a transition drawn as a line inside its source (no targets, or
   * a target the definition does not have).
   */
  points: Point[];
  /** Routes to the further targets of a transition with several. */
  branches?: Point[][];
  label: Box;
}

/**
 * Text metrics the layout reserves room for. statechart.css sets the same
 * sizes in a monospace face (advance 0.6 em), so the estimates are close.
 */
const KEY_CHAR = 7.2; // 12 px
const TEXT_CHAR = 6.6; // 11 px
const CAPTION_CHAR = 6; // 10 px
const LINE = 14;
const TITLE = 22;
const PAD = 10;
const DOT = 10;
/** Room before a foldable state's key for its ▾ / ▸ mark. */
const FOLD_MARK = 14;
/** Longest label drawn: guards with parameters get long, and a label wider than its neighbours spreads a whole layer. */
const MAX_CHARS = 48;
const MAX_CAPTION = 40;

export const clip = (text: string, max = MAX_CHARS): string =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** An edge's label: "event [guard]". */
export const transitionText = (t: { readonly event: string; readonly guard?: string | undefined }): string =>
  clip(t.guard ? `${t.event} [${t.guard}]` : t.event);

/**
 * 'raise' entries are XState's scheduling of `after` transitions, which the
 * diagram already shows as edges. `hidden` counts the states a fold hides.
 */
const captionOf = (n: StateNodeDef, hidden = 0): string | undefined => {
  const entry = n.entry.filter((name) => name !== 'raise');
  const parts = [
    ...(hidden > 0 ? [`${hidden} state${hidden === 1 ? '' : 's'} folded`] : []),
    ...(entry.length ? [`entry / ${entry.join(', ')}`] : []),
    ...(n.invoke.length ? [`invoke / ${n.invoke.join(', ')}`] : []),
  ];
  return parts.length ? clip(parts.join(' · '), MAX_CAPTION) : undefined;
};

const stateId = (path: string) => `s:${path}`;
const initialId = (path: string) => `i:${path}`;
/** The container of edges that belong to no state: those into or around the root. */
const GRAPH = null;

interface Indexed {
  readonly node: StateNodeDef;
  readonly parent: StateNodeDef | undefined;
  /** States a fold hides inside this one (0 when it is not folded). */
  readonly hidden: number;
  /** Transitions listed inside the state, by index. */
  readonly inside: number[];
}

/** One route: the transitions of one source to one target set. */
interface Bundle {
  readonly id: string;
  readonly source: string;
  readonly targets: readonly string[];
  readonly members: number[];
}

const indexStates = (def: MachineDef, hidden: ReadonlyMap<string, number>): Map<string, Indexed> => {
  const states = new Map<string, Indexed>();
  const visit = (node: StateNodeDef, parent: StateNodeDef | undefined) => {
    states.set(node.path, { node, parent, hidden: hidden.get(node.path) ?? 0, inside: [] });
    for (const child of node.children) visit(child, node);
  };
  visit(def.root, undefined);
  return states;
};

/** Sorts transitions into routes and inside lines (the latter recorded on their state). */
const bundleTransitions = (states: Map<string, Indexed>): Bundle[] => {
  const bundles = new Map<string, Bundle>();
  for (const { node, inside } of states.values()) {
    node.transitions.forEach((t, index) => {
      if (t.targets.length === 0 || !t.targets.every((target) => states.has(target))) {
        inside.push(index);
        return;
      }
      const key = `${node.path}\u0000${t.targets.join('\u0000')}`;
      const bundle = bundles.get(key) ?? { id: `b${bundles.size}`, source: node.path, targets: t.targets, members: [] };
      bundle.members.push(index);
      bundles.set(key, bundle);
    });
  }
  return [...bundles.values()];
};

/** A transition listed inside its state: "event [guard]", and "→ target" for a target the chart does not have. */
const insideText = (t: { readonly event: string; readonly guard?: string | undefined; readonly targets: readonly string[] }) =>
  t.targets.length ? clip(`${t.guard ? `${t.event} [${t.guard}]` : t.event} → ${t.targets.join(', ')}`) : transitionText(t);

/** The key, the caption and the inside lines: an atomic state's whole box, a compound state's top band. */
const headerSize = ({ node, inside, hidden }: Indexed, foldable: boolean) => {
  const caption = captionOf(node, hidden);
  const widths = [
    node.key.length * KEY_CHAR + (foldable ? FOLD_MARK : 0),
    (caption?.length ?? 0) * CAPTION_CHAR,
    ...inside.map((i) => insideText(node.transitions[i]!).length * TEXT_CHAR),
  ];
  return {
    width: Math.ceil(Math.max(...widths) + 2 * PAD),
    height: TITLE + (caption ? LINE : 0) + inside.length * LINE + 4,
  };
};

const parentOf = (states: Map<string, Indexed>, path: string) => states.get(path)?.parent?.path;

const ancestors = (states: Map<string, Indexed>, path: string): string[] => {
  const out: string[] = [];
  for (let p: string | undefined = path; p !== undefined; p = parentOf(states, p)) out.push(p);
  return out;
};

/**
 * The ELK node an edge belongs in: the nearest state holding both ends. When
 * one end contains the other (or a state loops to itself) that is the
 * container's parent, since an ELK edge lives beside its ends, not in them.
 */
const containerOf = (states: Map<string, Indexed>, source: string, target: string): string | null => {
  const up = new Set(ancestors(states, target));
  const common = ancestors(states, source).find((p) => up.has(p)) ?? '';
  if (common !== source && common !== target) return common;
  return parentOf(states, common) ?? GRAPH;
};

const elkLabel = (node: StateNodeDef, members: readonly number[]) => {
  const lines = members.map((i) => transitionText(node.transitions[i]!));
  // elkjs leaves a label without text where it found it (at the container's origin).
  return {
    text: lines.join('\n'),
    width: Math.ceil(Math.max(...lines.map((l) => l.length * TEXT_CHAR)) + 6),
    height: lines.length * LINE,
  };
};

type EdgesByContainer = Map<string | null, ElkExtendedEdge[]>;

const elkEdges = (states: Map<string, Indexed>, bundles: readonly Bundle[]): EdgesByContainer => {
  const byContainer: EdgesByContainer = new Map();
  const add = (container: string | null, edge: ElkExtendedEdge) => {
    const list = byContainer.get(container) ?? [];
    list.push(edge);
    byContainer.set(container, list);
  };
  for (const { node } of states.values()) {
    if (node.initial !== undefined && node.type !== 'parallel' && states.has(node.initial)) {
      add(node.path, { id: initialId(node.path), sources: [initialId(node.path)], targets: [stateId(node.initial)] });
    }
  }
  for (const bundle of bundles) {
    const source = states.get(bundle.source)!.node;
    bundle.targets.forEach((target, n) => {
      add(containerOf(states, bundle.source, target), {
        id: `${bundle.id}:${n}`,
        sources: [stateId(bundle.source)],
        targets: [stateId(target)],
        ...(n === 0 ? { labels: [{ id: `${bundle.id}:label`, ...elkLabel(source, bundle.members) }] } : {}),
      });
    });
  }
  return byContainer;
};

/** Boxes of one layer line up at the top (regions of different heights would otherwise float). */
const TOP = { 'elk.alignment': 'TOP' } as const;
/** An initial dot opens its state's first row. */
const FIRST = { 'elk.layered.layering.layerConstraint': 'FIRST' } as const;

const elkNode = (states: Map<string, Indexed>, edges: EdgesByContainer, node: StateNodeDef, foldable: ReadonlySet<string>): ElkNode => {
  const header = headerSize(states.get(node.path)!, foldable.has(node.path));
  const final = node.type === 'final' ? 8 : 0;
  if (node.children.length === 0) {
    return {
      id: stateId(node.path),
      width: Math.max(header.width + final, 64),
      height: Math.max(header.height + final, 34),
      layoutOptions: TOP,
    };
  }
  const dot = node.type !== 'parallel' && node.initial !== undefined && states.has(node.initial);
  const children = node.children.map((child) => elkNode(states, edges, child, foldable));
  return {
    id: stateId(node.path),
    children: dot ? [{ id: initialId(node.path), width: DOT, height: DOT, layoutOptions: FIRST }, ...children] : children,
    edges: edges.get(node.path) ?? [],
    layoutOptions: {
      'elk.padding': `[top=${header.height + 8},left=${PAD + 4},bottom=${PAD + 4},right=${PAD + 4}]`,
      ...TOP,
      'elk.nodeSize.constraints': 'MINIMUM_SIZE',
      // elkjs 0.12 applies a compound node's minimum size before turning the
      // graph for DOWN, so it is given as (height, width); the test that every
      // compound box holds its header catches a fix upstream.
      'elk.nodeSize.minimum': `(${header.height + 2 * PAD}, ${header.width})`,
    },
  };
};

const LAYOUT_OPTIONS = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  'elk.spacing.nodeNode': '28',
  'elk.layered.spacing.nodeNodeBetweenLayers': '32',
  'elk.spacing.edgeNode': '16',
  'elk.layered.spacing.edgeNodeBetweenLayers': '16',
  'elk.spacing.edgeEdge': '12',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '10',
  'elk.spacing.edgeLabel': '4',
  'elk.padding': '[top=8,left=8,bottom=8,right=8]',
} as const;

const round = (v: number | undefined) => Math.round((v ?? 0) * 10) / 10;
const boxOf = (n: { x?: number; y?: number; width?: number; height?: number }): Box => ({
  x: round(n.x),
  y: round(n.y),
  width: round(n.width),
  height: round(n.height),
});

/** Collects every laid-out node and edge of the ELK result by id. */
const flatten = (graph: ElkNode) => {
  const shapes = new Map<string, Box>();
  const routes = new Map<string, ElkExtendedEdge>();
  const visit = (n: ElkNode) => {
    shapes.set(n.id, boxOf(n));
    for (const e of n.edges ?? []) routes.set(e.id, e);
    for (const c of n.children ?? []) visit(c);
  };
  visit(graph);
  return { shapes, routes };
};

/** An edge's route as one polyline (ELK may split a route crossing levels into sections). */
const polyline = (edge: ElkExtendedEdge | undefined): Point[] => {
  const points: Point[] = [];
  for (const s of edge?.sections ?? []) {
    for (const p of [s.startPoint, ...(s.bendPoints ?? []), s.endPoint]) {
      const last = points[points.length - 1];
      if (!last || last.x !== round(p.x) || last.y !== round(p.y)) points.push({ x: round(p.x), y: round(p.y) });
    }
  }
  return points;
};

const laidNodes = (
  states: Map<string, Indexed>,
  shapes: Map<string, Box>,
  routes: Map<string, ElkExtendedEdge>,
  foldable: ReadonlySet<string>,
) =>
  [...states.values()].map(({ node, parent, hidden }): LaidNode => {
    const initial = parent?.initial === node.path && parent.type !== 'parallel';
    const dot = initial ? shapes.get(initialId(parent.path)) : undefined;
    const caption = captionOf(node, hidden);
    return {
      path: node.path,
      key: node.key,
      type: node.type,
      ...shapes.get(stateId(node.path))!,
      ...(parent ? { parent: parent.path } : {}),
      initial,
      ...(dot
        ? {
            initialMarker: {
              dot: { x: dot.x + dot.width / 2, y: dot.y + dot.height / 2 },
              points: polyline(routes.get(initialId(parent!.path))),
            },
          }
        : {}),
      ...(caption ? { caption } : {}),
      region: parent?.type === 'parallel',
      foldable: foldable.has(node.path),
      folded: hidden > 0,
    };
  });

const edgeFields = (node: StateNodeDef, index: number) => {
  const t = node.transitions[index]!;
  return {
    id: `${node.path}#${index}`,
    source: node.path,
    targets: [...t.targets],
    event: t.event,
    ...(t.guard !== undefined ? { guard: t.guard } : {}),
    actions: [...t.actions],
  };
};

const routedEdges = (states: Map<string, Indexed>, bundles: readonly Bundle[], routes: Map<string, ElkExtendedEdge>) =>
  bundles.flatMap((bundle) => {
    const node = states.get(bundle.source)!.node;
    const first = routes.get(`${bundle.id}:0`);
    const block = boxOf(first?.labels?.[0] ?? {});
    const branches = bundle.targets.slice(1).map((_, n) => polyline(routes.get(`${bundle.id}:${n + 1}`)));
    return bundle.members.map((index, line): LaidEdge => {
      const t = node.transitions[index]!;
      const text = transitionText(t);
      return {
        ...edgeFields(node, index),
        points: polyline(first),
        ...(branches.length ? { branches } : {}),
        label: { x: block.x + 3, y: block.y + line * LINE, width: text.length * TEXT_CHAR, height: LINE },
      };
    });
  });

const insideEdges = (states: Map<string, Indexed>, shapes: Map<string, Box>) =>
  [...states.values()].flatMap(({ node, inside, hidden }) => {
    const box = shapes.get(stateId(node.path))!;
    const top = box.y + TITLE + (captionOf(node, hidden) ? LINE : 0);
    return inside.map((index, line): LaidEdge => ({
      ...edgeFields(node, index),
      points: [],
      label: { x: box.x + PAD, y: top + line * LINE, width: insideText(node.transitions[index]!).length * TEXT_CHAR, height: LINE },
    }));
  });

const inDefinitionOrder = (states: Map<string, Indexed>, edges: readonly LaidEdge[]) => {
  const byId = new Map(edges.map((e) => [e.id, e]));
  return [...states.values()].flatMap(({ node }) => node.transitions.map((_, index) => byId.get(`${node.path}#${index}`)!));
};

/** The states with children, but the root: those a click on their header folds. */
const foldableStates = (def: MachineDef): Set<string> => {
  const out = new Set<string>();
  const visit = (n: StateNodeDef) => {
    if (n.children.length > 0 && n !== def.root) out.add(n.path);
    for (const c of n.children) visit(c);
  };
  visit(def.root);
  return out;
};

const countStates = (n: StateNodeDef): number => n.children.reduce((sum, c) => sum + 1 + countStates(c), 0);

/**
 * `def` with each state in `folded` (that has children) as one box: its
 * children gone, the transitions of its descendants that leave it moved onto
 * it, those that stay inside it dropped, and every target inside it pointed at
 * it. Identical transitions that this brings together are kept once. Returns
 * the states each fold hides, by the folded state's path.
 */
export const foldDefinition = (def: MachineDef, folded: ReadonlySet<string>): { def: MachineDef; hidden: Map<string, number> } => {
  const hidden = new Map<string, number>();
  if (folded.size === 0) return { def, hidden };
  // Outermost folds win: a fold inside a folded state changes nothing.
  const owner = new Map<string, string>();
  const visit = (n: StateNodeDef, fold: string | undefined) => {
    const here = fold ?? (folded.has(n.path) && n.children.length > 0 && n !== def.root ? n.path : undefined);
    if (here !== undefined) owner.set(n.path, here);
    for (const c of n.children) visit(c, here);
  };
  visit(def.root, undefined);
  const shown = (path: string) => owner.get(path) ?? path;
  const inner = (n: StateNodeDef): StateNodeDef[] => n.children.flatMap((c) => [c, ...inner(c)]);
  const rebuild = (n: StateNodeDef): StateNodeDef => {
    const retarget = (t: TransitionDef): TransitionDef => ({ ...t, targets: [...new Set(t.targets.map(shown))] });
    if (owner.get(n.path) !== n.path) return { ...n, transitions: n.transitions.map(retarget), children: n.children.map(rebuild) };
    hidden.set(n.path, countStates(n));
    const seen = new Set<string>();
    const transitions: TransitionDef[] = [];
    for (const [from, t] of [n, ...inner(n)].flatMap((s) => s.transitions.map((t) => [s, t] as const))) {
      const moved = retarget(t);
      // Inside the fold: a transition between its states, or one that stays in a hidden state.
      if (from !== n && (moved.targets.length === 0 || moved.targets.every((x) => x === n.path))) continue;
      const key = JSON.stringify([moved.event, moved.guard ?? null, moved.targets]);
      if (seen.has(key)) continue;
      seen.add(key);
      transitions.push(moved);
    }
    const { initial: _initial, ...rest } = n;
    return { ...rest, children: [], transitions };
  };
  return { def: { ...def, root: rebuild(def.root) }, hidden };
};

/**
 * Lays out a machine definition with elkjs (layered, hierarchyHandling
 * INCLUDE_CHILDREN so edges may cross levels) on `engine`, with the states in
 * `folded` folded (`foldDefinition`). Pure: no DOM.
 */
export const layoutStatechart = async (def: MachineDef, engine: ElkEngine, folded: ReadonlySet<string> = new Set()): Promise<ChartLayout> => {
  const foldable = foldableStates(def);
  const shown = foldDefinition(def, folded);
  const states = indexStates(shown.def, shown.hidden);
  const bundles = bundleTransitions(states);
  const edges = elkEdges(states, bundles);
  const graph: ElkNode = {
    id: 'graph',
    layoutOptions: { ...LAYOUT_OPTIONS },
    children: [elkNode(states, edges, shown.def.root, foldable)],
    edges: edges.get(GRAPH) ?? [],
  };
  const result = await engine.layout(graph);
  const { shapes, routes } = flatten(result);
  return {
    width: Math.ceil(result.width ?? 0),
    height: Math.ceil(result.height ?? 0),
    nodes: laidNodes(states, shapes, routes, foldable),
    edges: inDefinitionOrder(states, [...routedEdges(states, bundles, routes), ...insideEdges(states, shapes)]),
  };
};

// ---- Drawing ----

export interface StatechartView {
  readonly element: SVGSVGElement;
  /** Marks exactly the states whose path is in `activePaths` (class `active`, aria-current). */
  highlight(activePaths: readonly string[]): void;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Baselines within a line box and a title band, for the font sizes in statechart.css. */
const LINE_BASE = 10.5;
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
  if (n.caption) {
    g.append(make(doc, 'text', { class: 'caption', x, y: n.y + TITLE + LINE_BASE - 1, 'text-anchor': anchor }, n.caption));
  }
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
  const text = routed ? transitionText(e) : insideText(e);
  if (routed) g.append(make(doc, 'rect', { class: 'label-bg', x: e.label.x - 2, y: e.label.y, width: e.label.width + 4, height: e.label.height }));
  g.append(make(doc, 'text', { class: 'label', x: e.label.x, y: e.label.y + LINE_BASE }, text));
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
