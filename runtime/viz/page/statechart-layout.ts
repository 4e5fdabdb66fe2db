/**
 * The statechart's layout: a machine definition turned into an ELK graph
 * (layered, top to bottom, one layout across all levels so a transition may
 * leave a nested state for a distant one), and ELK's result turned back into
 * boxes and polylines (`ChartLayout`). Pure and async: no DOM.
 */
import type { ELK as ElkEngine, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { MachineDef, StateNodeDef } from '../model.js';
import { foldableStates, foldDefinition } from './statechart-fold.js';
import { CAPTION_CHAR, CAPTION_LINE, captionOf, DOT, FOLD_MARK, insideText, KEY_CHAR, LINE, PAD, TEXT_CHAR, TITLE, transitionLines } from './statechart-text.js';

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
  caption?: string[];
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

const stateId = (path: string) => `s:${path}`;
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

/** The key, the caption and the inside lines: an atomic state's whole box, a compound state's top band. */
const headerSize = ({ node, inside, hidden }: Indexed, foldable: boolean) => {
  const caption = captionOf(node, hidden);
  const widths = [
    node.key.length * KEY_CHAR + (foldable ? FOLD_MARK : 0),
    ...caption.map((line) => line.length * CAPTION_CHAR),
    ...inside.map((i) => insideText(node.transitions[i]!).length * TEXT_CHAR),
  ];
  return {
    width: Math.ceil(Math.max(...widths) + 2 * PAD),
    height: TITLE + caption.length * CAPTION_LINE + inside.length * LINE + 4,
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
  const lines = members.flatMap((i) => transitionLines(node.transitions[i]!));
  // elkjs leaves a label without text where it found it (at the container's origin).
  return {
    text: lines.join('\n'),
    width: Math.ceil(Math.max(...lines.map((l) => l.length * TEXT_CHAR)) + 6),
    height: lines.length * LINE,
  };
};

type EdgesByContainer = Map<string | null, ElkExtendedEdge[]>;

/**
 * A state's transitions to itself leave and enter by two ports on its right
 * side: left to ELK, a loop takes the left side, where an initial state's
 * marker is drawn.
 */
const loopPorts = (path: string) => ({ out: `${stateId(path)}:loop-out`, in: `${stateId(path)}:loop-in` });
const EAST = { 'elk.port.side': 'EAST' } as const;
const loopShape = (path: string) => ({
  ports: [
    { id: loopPorts(path).out, width: 0, height: 0, layoutOptions: EAST },
    { id: loopPorts(path).in, width: 0, height: 0, layoutOptions: EAST },
  ],
  layoutOptions: { 'elk.portConstraints': 'FIXED_SIDE' },
});

const elkEdges = (states: Map<string, Indexed>, bundles: readonly Bundle[]): EdgesByContainer => {
  const byContainer: EdgesByContainer = new Map();
  const add = (container: string | null, edge: ElkExtendedEdge) => {
    const list = byContainer.get(container) ?? [];
    list.push(edge);
    byContainer.set(container, list);
  };
  for (const bundle of bundles) {
    const source = states.get(bundle.source)!.node;
    bundle.targets.forEach((target, n) => {
      const loop = target === bundle.source;
      add(containerOf(states, bundle.source, target), {
        id: `${bundle.id}:${n}`,
        sources: [loop ? loopPorts(target).out : stateId(bundle.source)],
        targets: [loop ? loopPorts(target).in : stateId(target)],
        ...(n === 0 ? { labels: [{ id: `${bundle.id}:label`, ...elkLabel(source, bundle.members) }] } : {}),
      });
    });
  }
  return byContainer;
};

/**
 * Gaps between boxes, routes and labels. ELK reads spacing from the node whose
 * children it places, so every compound state carries them, not only the graph.
 */
const SPACING = {
  'elk.spacing.nodeNode': '12',
  'elk.layered.spacing.nodeNodeBetweenLayers': '12',
  'elk.spacing.edgeNode': '6',
  'elk.layered.spacing.edgeNodeBetweenLayers': '6',
  'elk.spacing.edgeEdge': '6',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '4',
  'elk.spacing.edgeLabel': '2',
} as const;

/** Boxes of one layer line up at the top (regions of different heights would otherwise float). */
const TOP = { 'elk.alignment': 'TOP' } as const;
/**
 * An initial child keeps room at its left for the dot and arrow that mark it,
 * drawn there (as a node of its own the dot took a whole layer of height in
 * every compound state). ELK layered ignores `elk.margins`, so the room is an
 * empty label outside the box, level with its title band.
 */
const MARKER = DOT + 12;
const markerRoom = (path: string) => ({
  labels: [{ id: `i:${path}`, text: ' ', width: MARKER, height: TITLE }],
  layoutOptions: { 'elk.nodeLabels.placement': 'OUTSIDE H_LEFT V_TOP H_PRIORITY', 'elk.spacing.labelNode': '0' },
});

const isInitial = (states: Map<string, Indexed>, path: string) => {
  const parent = states.get(path)?.parent;
  return parent !== undefined && parent.type !== 'parallel' && parent.initial === path;
};

interface Shape {
  readonly foldable: ReadonlySet<string>;
  /** States with a transition to themselves. */
  readonly loops: ReadonlySet<string>;
}

const elkNode = (states: Map<string, Indexed>, edges: EdgesByContainer, node: StateNodeDef, shape: Shape): ElkNode => {
  const header = headerSize(states.get(node.path)!, shape.foldable.has(node.path));
  const final = node.type === 'final' ? 8 : 0;
  const marker = isInitial(states, node.path) ? markerRoom(node.path) : { labels: [], layoutOptions: {} };
  const loop = shape.loops.has(node.path) ? loopShape(node.path) : { ports: [], layoutOptions: {} };
  const own = { labels: marker.labels, ports: loop.ports };
  const ownOptions = { ...TOP, ...marker.layoutOptions, ...loop.layoutOptions };
  if (node.children.length === 0) {
    return {
      id: stateId(node.path),
      width: Math.max(header.width + final, 64),
      height: Math.max(header.height + final, 34),
      ...own,
      layoutOptions: ownOptions,
    };
  }
  const children = node.children.map((child) => elkNode(states, edges, child, shape));
  return {
    id: stateId(node.path),
    children,
    edges: edges.get(node.path) ?? [],
    ...own,
    layoutOptions: {
      ...ownOptions,
      ...SPACING,
      'elk.padding': `[top=${header.height + 8},left=${PAD + 4},bottom=${PAD + 4},right=${PAD + 4}]`,
      'elk.nodeSize.constraints': 'MINIMUM_SIZE',
      // elkjs 0.12 applies a compound node's minimum size before turning the
      // graph for DOWN, so it is given as (height, width); the test that every
      // compound box holds its header catches a fix upstream.
      'elk.nodeSize.minimum': `(${header.height + 2 * PAD}, ${header.width})`,
    },
  };
};

const LAYOUT_OPTIONS = {
  ...SPACING,
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  'elk.padding': '[top=8,left=8,bottom=8,right=8]',
} as const;

export const round = (v: number | undefined) => Math.round((v ?? 0) * 10) / 10;
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
  foldable: ReadonlySet<string>,
) =>
  [...states.values()].map(({ node, parent, hidden }): LaidNode => {
    const initial = isInitial(states, node.path);
    const caption = captionOf(node, hidden);
    const box = shapes.get(stateId(node.path))!;
    // The dot in the room left of the box, its arrow level with the key.
    const mid = round(box.y + TITLE / 2);
    return {
      path: node.path,
      key: node.key,
      type: node.type,
      ...box,
      ...(parent ? { parent: parent.path } : {}),
      initial,
      ...(initial
        ? {
            initialMarker: {
              dot: { x: round(box.x - MARKER + DOT / 2), y: mid },
              points: [{ x: round(box.x - MARKER + DOT), y: mid }, { x: box.x, y: mid }],
            },
          }
        : {}),
      ...(caption.length ? { caption } : {}),
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
    // The members' labels stack in the block ELK placed, each over as many lines as it wraps to.
    let line = 0;
    return bundle.members.map((index): LaidEdge => {
      const lines = transitionLines(node.transitions[index]!);
      const label = {
        x: block.x + 3,
        y: block.y + line * LINE,
        width: Math.max(...lines.map((l) => l.length)) * TEXT_CHAR,
        height: lines.length * LINE,
      };
      line += lines.length;
      return { ...edgeFields(node, index), points: polyline(first), ...(branches.length ? { branches } : {}), label };
    });
  });

const insideEdges = (states: Map<string, Indexed>, shapes: Map<string, Box>) =>
  [...states.values()].flatMap(({ node, inside, hidden }) => {
    const box = shapes.get(stateId(node.path))!;
    const top = box.y + TITLE + captionOf(node, hidden).length * CAPTION_LINE;
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
    children: [elkNode(states, edges, shown.def.root, { foldable, loops: new Set(bundles.filter((b) => b.targets.includes(b.source)).map((b) => b.source)) })],
    edges: edges.get(GRAPH) ?? [],
  };
  const result = await engine.layout(graph);
  const { shapes, routes } = flatten(result);
  return {
    width: Math.ceil(result.width ?? 0),
    height: Math.ceil(result.height ?? 0),
    nodes: laidNodes(states, shapes, foldable),
    edges: inDefinitionOrder(states, [...routedEdges(states, bundles, routes), ...insideEdges(states, shapes)]),
  };
};

