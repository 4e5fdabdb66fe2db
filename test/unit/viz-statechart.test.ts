/**
 * The statechart layout, checked as geometry: every state once, children inside
 * their parents, siblings apart, every transition visible and attached to its
 * ends, labels clear of states, and the same layout for the same definition.
 * The drawing is checked against a fake document of a few lines (the browser
 * e2e test covers it in a real one).
 */
import test from 'ava';
import elkBundled from 'elkjs/lib/elk.bundled.js';
import type { ELK as ElkEngine } from 'elkjs/lib/elk-api.js';
import { setup } from 'xstate';
import { pathMachine } from '../../protocols/session/path.machine.js';
import { machineDef } from '../../runtime/viz/machine-def.js';
import type { MachineDef, StateNodeDef } from '../../runtime/viz/model.js';
import {
  type Box,
  type ChartLayout,
  drawStatechart,
  type LaidNode,
  layoutStatechart,
  type Point,
  transitionLines,
  transitionText,
  wrap,
} from '../../runtime/viz/page/statechart.js';
import { vatLifecycleMachine } from '../../vats/vat-lifecycle.machine.js';

/** elkjs in this thread (the page runs it in a Web Worker): its CommonJS default export is the constructor. */
const engine = new (elkBundled as unknown as new () => ElkEngine)();

/** How far (px) an end of a route may sit from its box's border. */
const NEAR = 3;

/**
 * Nesting three deep, a parallel state with three regions, final states, a
 * self-transition, transitions that stay, transitions into an ancestor and
 * into a descendant, one with two targets, and a compound state whose header
 * (a long transition that stays) is wider than its content.
 */
const deepMachine = setup({
  guards: { ready: () => true },
  actions: { note: () => {} },
}).createMachine({
  id: 'deep',
  initial: 'outer',
  states: {
    outer: {
      initial: 'middle',
      on: {
        'outer.poke': { actions: 'note' },
        'outer.jump': '.middle.second',
        'outer.split': { target: ['#deep.split.left.done', '#deep.split.right.done'] },
      },
      states: {
        middle: {
          initial: 'first',
          states: {
            first: {
              on: {
                again: { target: 'first', reenter: true, actions: 'note' },
                stay: { actions: 'note' },
                next: { target: 'second', guard: 'ready' },
              },
            },
            second: { on: { out: '#deep.split', restart: '#deep.outer' } },
          },
        },
      },
    },
    split: {
      type: 'parallel',
      on: { finish: { target: 'done', guard: 'ready' } },
      states: {
        left: { initial: 'idle', states: { idle: { on: { go: 'done' } }, done: { type: 'final' } } },
        right: { initial: 'idle', states: { idle: { on: { go: { target: 'done', guard: 'ready' } } }, done: { type: 'final' } } },
        quiet: {
          initial: 'only',
          on: { 'a.rather.long.event.this.region.only.listens.to': { actions: 'note' } },
          states: { only: {} },
        },
      },
    },
    done: { type: 'final' },
  },
});

const DEFS: Record<string, MachineDef> = {
  path: machineDef(pathMachine),
  vat: machineDef(vatLifecycleMachine),
  deep: machineDef(deepMachine),
};

const layouts = new Map<string, Promise<ChartLayout>>();
const layoutOf = (name: string) => {
  if (!layouts.has(name)) layouts.set(name, layoutStatechart(DEFS[name]!, engine));
  return layouts.get(name)!;
};

const statesOf = (def: MachineDef): StateNodeDef[] => {
  const out: StateNodeDef[] = [];
  const visit = (n: StateNodeDef) => {
    out.push(n);
    n.children.forEach(visit);
  };
  visit(def.root);
  return out;
};

const contains = (outer: Box, inner: Box, slack = 0.5) =>
  inner.x >= outer.x - slack &&
  inner.y >= outer.y - slack &&
  inner.x + inner.width <= outer.x + outer.width + slack &&
  inner.y + inner.height <= outer.y + outer.height + slack;

const overlap = (a: Box, b: Box) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Distance from a point to the nearest point of a box's border (zero on it). */
const toBorder = (p: Point, b: Box) => {
  const inside = p.x >= b.x && p.x <= b.x + b.width && p.y >= b.y && p.y <= b.y + b.height;
  if (inside) return Math.min(p.x - b.x, b.x + b.width - p.x, p.y - b.y, b.y + b.height - p.y);
  const dx = Math.max(b.x - p.x, 0, p.x - (b.x + b.width));
  const dy = Math.max(b.y - p.y, 0, p.y - (b.y + b.height));
  return Math.hypot(dx, dy);
};

const nodesByPath = (layout: ChartLayout) => new Map(layout.nodes.map((n) => [n.path, n]));

for (const name of Object.keys(DEFS)) {
  test(`${name}: every state of the definition has exactly one laid node`, async (t) => {
    const layout = await layoutOf(name);
    const expected = statesOf(DEFS[name]!).map((s) => s.path);
    t.deepEqual(
      layout.nodes.map((n) => n.path),
      expected,
    );
    for (const node of layout.nodes) {
      t.true(node.width > 0 && node.height > 0, node.path);
      t.true(contains({ x: 0, y: 0, width: layout.width, height: layout.height }, node), `${node.path} inside the chart`);
    }
  });

  test(`${name}: children lie inside their parents and siblings do not overlap`, async (t) => {
    const layout = await layoutOf(name);
    const byPath = nodesByPath(layout);
    for (const node of layout.nodes) {
      if (node.parent === undefined) continue;
      t.true(contains(byPath.get(node.parent)!, node), `${node.path} inside ${node.parent}`);
      for (const other of layout.nodes) {
        if (other !== node && other.parent === node.parent) t.false(overlap(node, other), `${node.path} / ${other.path}`);
      }
    }
  });

  test(`${name}: every transition with targets runs from its source's border to its target's`, async (t) => {
    const layout = await layoutOf(name);
    const byPath = nodesByPath(layout);
    const def = DEFS[name]!;
    let routed = 0;
    for (const state of statesOf(def)) {
      for (const [index, transition] of state.transitions.entries()) {
        const edge = layout.edges.find((e) => e.id === `${state.path}#${index}`);
        if (!edge) {
          t.fail(`${state.path}#${index} has no edge`);
          continue;
        }
        t.is(edge.event, transition.event);
        t.is(edge.guard, transition.guard);
        t.deepEqual(edge.targets, [...transition.targets]);
        if (transition.targets.length === 0) continue;
        routed++;
        const routes = [edge.points, ...(edge.branches ?? [])];
        t.is(routes.length, transition.targets.length, `${edge.id}: a route per target`);
        routes.forEach((route, n) => {
          t.true(route.length >= 2, `${edge.id} is routed`);
          const first = route[0]!;
          const last = route[route.length - 1]!;
          t.true(toBorder(first, byPath.get(state.path)!) <= NEAR, `${edge.id} leaves its source (${first.x},${first.y})`);
          const target = byPath.get(transition.targets[n]!)!;
          t.true(toBorder(last, target) <= NEAR, `${edge.id} reaches ${target.path} (${last.x},${last.y})`);
        });
      }
    }
    t.true(routed > 0);
    t.is(layout.edges.length, statesOf(def).reduce((sum, s) => sum + s.transitions.length, 0), 'one edge per transition');
  });

  test(`${name}: transition labels are clear of states and of other routes' labels`, async (t) => {
    const layout = await layoutOf(name);
    const leaves = layout.nodes.filter((n) => ['atomic', 'final', 'history'].includes(n.type));
    const routed = layout.edges.filter((e) => e.points.length > 0);
    for (const edge of routed) {
      const lines = transitionLines(edge);
      t.true(edge.label.width >= Math.max(...lines.map((l) => l.length)) * 6, `${edge.id}: room for "${lines.join(' / ')}"`);
      t.true(edge.label.height >= lines.length * 14, `${edge.id}: a line each for "${lines.join(' / ')}"`);
      for (const leaf of leaves) t.false(overlap(edge.label, leaf), `${edge.id}'s label over ${leaf.path}`);
      for (const other of routed) {
        const sameRoute = other.source === edge.source && other.targets.join() === edge.targets.join();
        if (other !== edge) t.false(overlap(edge.label, other.label), `${edge.id} / ${other.id}${sameRoute ? ' (stacked)' : ''}`);
      }
    }
  });

  test(`${name}: transitions that stay are listed inside their state, within its box`, async (t) => {
    const layout = await layoutOf(name);
    const byPath = nodesByPath(layout);
    for (const edge of layout.edges.filter((e) => e.targets.length === 0)) {
      t.deepEqual(edge.points, []);
      t.true(contains(byPath.get(edge.source)!, edge.label), `${edge.id}'s line inside ${edge.source}`);
      for (const child of layout.nodes.filter((n) => n.parent === edge.source)) {
        t.false(overlap(edge.label, child), `${edge.id}'s line over ${child.path}`);
      }
    }
  });

  test(`${name}: each compound state marks its initial child`, async (t) => {
    const layout = await layoutOf(name);
    const byPath = nodesByPath(layout);
    for (const state of statesOf(DEFS[name]!)) {
      for (const child of state.children) {
        const node = byPath.get(child.path)!;
        const marked = state.type === 'compound' && state.initial === child.path;
        t.is(node.initial, marked, child.path);
        t.is(node.initialMarker !== undefined, marked, `${child.path} marker`);
        if (!node.initialMarker) continue;
        const { dot, points } = node.initialMarker;
        t.true(contains(byPath.get(state.path)!, { ...dot, width: 0, height: 0 }), `${child.path}'s dot inside ${state.path}`);
        t.true(points.length >= 2 && toBorder(points[points.length - 1]!, node) <= NEAR, `${child.path}'s arrow reaches it`);
      }
    }
  });

  const parallel = statesOf(DEFS[name]!).some((s) => s.type === 'parallel');
  if (parallel) test(`${name}: parallel regions sit side by side, top-aligned`, async (t) => {
    const layout = await layoutOf(name);
    for (const parallel of layout.nodes.filter((n) => n.type === 'parallel')) {
      const regions = layout.nodes.filter((n) => n.parent === parallel.path);
      t.true(regions.every((r) => r.region));
      for (const a of regions) {
        for (const b of regions) {
          if (a === b) continue;
          t.true(a.x + a.width <= b.x || b.x + b.width <= a.x, `${a.path} beside ${b.path}`);
          t.is(a.y, b.y, `${a.path} and ${b.path} start on one line`);
        }
      }
    }
  });

  test(`${name}: the same definition gives the same layout`, async (t) => {
    const again = await layoutStatechart(JSON.parse(JSON.stringify(DEFS[name])) as MachineDef, engine);
    t.deepEqual(again, await layoutOf(name));
  });
}

test('deep: self-transitions loop back to their state; transitions into an ancestor or a descendant are routed', async (t) => {
  const layout = await layoutOf('deep');
  const byPath = nodesByPath(layout);
  const edge = (source: string, event: string) => layout.edges.find((e) => e.source === source && e.event === event)!;
  const again = edge('outer.middle.first', 'again');
  t.deepEqual(again.targets, ['outer.middle.first']);
  t.true(again.points.length >= 4, 'a loop, not a point');
  const first = byPath.get('outer.middle.first')!;
  t.false(contains(first, again.label), 'the loop label sits outside the box');
  t.deepEqual(edge('outer', 'outer.jump').targets, ['outer.middle.second']);
  t.deepEqual(edge('outer.middle.second', 'restart').targets, ['outer']);
  t.is(edge('outer', 'outer.split').branches?.length, 1);
  t.deepEqual(
    layout.edges.filter((e) => e.targets.length === 0).map((e) => e.id),
    ['outer#0', 'outer.middle.first#1', 'split.quiet#0'],
  );
});

test('deep: a compound box is wide enough for its header', async (t) => {
  const layout = await layoutOf('deep');
  const quiet = nodesByPath(layout).get('split.quiet')!;
  const line = layout.edges.find((e) => e.source === 'split.quiet')!;
  t.true(quiet.width >= line.label.width + 10, `${quiet.width} vs ${line.label.width}`);
  t.true(quiet.width > 2 * nodesByPath(layout).get('split.quiet.only')!.width, 'the header, not the content, sets it');
});

test('a definition naming a state it does not have still lays out, with that transition listed inside', async (t) => {
  const def = DEFS['vat']!;
  const starting = def.root.children[0]!;
  const broken: MachineDef = {
    ...def,
    root: {
      ...def.root,
      children: [{ ...starting, transitions: [{ event: 'x', targets: ['nowhere'], actions: [] }] }, ...def.root.children.slice(1)],
    },
  };
  const layout = await layoutStatechart(broken, engine);
  const edge = layout.edges.find((e) => e.source === 'starting')!;
  t.deepEqual(edge.points, []);
  t.true(contains(nodesByPath(layout).get('starting')!, edge.label));
});

test('labels read "event [guard]", clipped', (t) => {
  t.is(transitionText({ event: 'go' }), 'go');
  t.is(transitionText({ event: 'go', guard: 'ready' }), 'go [ready]');
  const long = transitionText({ event: 'e'.repeat(100) });
  t.is(long.length, 48);
  t.true(long.endsWith('…'));
});

test('a label wraps: a guard on lines of its own unless the whole is short, at most three lines, the last clipped', (t) => {
  t.deepEqual(transitionLines({ event: 'go', guard: 'ready' }), ['go [ready]']);
  t.deepEqual(transitionLines({ event: 'heartbeat.pong', guard: 'over external budget' }), ['heartbeat.pong', '[over external budget]']);
  t.deepEqual(transitionLines({ event: 'after pingInterval', guard: 'in alive.phase.running and stuck' }), [
    'after pingInterval',
    '[in alive.phase.running and',
    'stuck]',
  ]);
  t.deepEqual(transitionLines({ event: 'paths.changed', guard: 'one path' }), ['paths.changed', '[one path]']);
  t.deepEqual(transitionLines({ event: 'after keepaliveInterval' }), ['after keepaliveInterval'], 'no guard: one line up to the wrap');
  t.deepEqual(wrap('entry / announceEnded({"final":"crashed"})'), ['entry / announceEnded(', '{"final":"crashed"})']);
  t.deepEqual(wrap('xstate.error.actor.0.handoff.locating'), ['xstate.error.actor.0.', 'handoff.locating'], 'a dotted name breaks after a dot');
  const long = transitionLines({ event: 'e'.repeat(100) });
  t.is(long.length, 3);
  t.true(long.every((l) => l.length <= 28));
  t.true(long[2]!.endsWith('…'));
  t.deepEqual(wrap('a b c d e f', 3, 2), ['a b', 'c…'], 'the last line stays within the width');
});

// ---- Drawing, against a fake document ----

class FakeElement {
  readonly children: FakeElement[] = [];
  readonly attributes = new Map<string, string>();
  textContent: string | null = null;
  constructor(
    readonly namespaceURI: string,
    readonly tagName: string,
  ) {}
  setAttribute(name: string, value: string) {
    this.attributes.set(name, String(value));
  }
  getAttribute(name: string) {
    return this.attributes.get(name) ?? null;
  }
  removeAttribute(name: string) {
    this.attributes.delete(name);
  }
  append(...nodes: FakeElement[]) {
    this.children.push(...nodes);
  }
  set innerHTML(_: string) {
    throw new Error('innerHTML is not to be used');
  }
  get classList() {
    const list = () => (this.getAttribute('class') ?? '').split(' ').filter(Boolean);
    return {
      add: (c: string) => this.setAttribute('class', [...new Set([...list(), c])].join(' ')),
      remove: (c: string) => this.setAttribute('class', list().filter((x) => x !== c).join(' ')),
      contains: (c: string) => list().includes(c),
    };
  }
  all(): FakeElement[] {
    return [this, ...this.children.flatMap((c) => c.all())];
  }
}

const fakeDocument = { createElementNS: (ns: string, tag: string) => new FakeElement(ns, tag) } as unknown as Document;

const hasClass = (e: FakeElement, c: string) => (e.getAttribute('class') ?? '').split(' ').includes(c);

test('drawStatechart: the DOM contract, and highlight marks exactly the active states', async (t) => {
  const def = DEFS['vat']!;
  const view = drawStatechart(fakeDocument, await layoutOf('vat'), def);
  const svg = view.element as unknown as FakeElement;
  t.is(svg.namespaceURI, 'http://www.w3.org/2000/svg');
  t.is(svg.getAttribute('role'), 'img');
  t.is(svg.getAttribute('aria-label'), 'statechart vat');
  t.regex(svg.getAttribute('viewBox') ?? '', /^0 0 \d+ \d+$/);
  const states = svg.all().filter((e) => e.tagName === 'g' && hasClass(e, 'state'));
  t.deepEqual(
    states.map((g) => g.getAttribute('data-path')),
    statesOf(def).map((s) => s.path),
  );
  for (const g of states) {
    t.truthy(g.children.find((c) => c.tagName === 'rect'));
    const key = g.children.find((c) => c.tagName === 'text')!;
    t.is(key.textContent, statesOf(def).find((s) => s.path === g.getAttribute('data-path'))!.key);
  }
  const transitions = svg.all().filter((e) => e.tagName === 'g' && hasClass(e, 'transition'));
  t.is(transitions.length, statesOf(def).reduce((sum, s) => sum + s.transitions.length, 0));
  t.true(transitions.some((g) => g.getAttribute('data-event') === 'worker.online' && g.getAttribute('data-source') === 'starting'));

  const active = ['', 'alive', 'alive.phase', 'alive.phase.running', 'alive.watchdog', 'alive.watchdog.watching'];
  const marked = () => states.filter((g) => hasClass(g, 'active')).map((g) => g.getAttribute('data-path'));
  const current = () => states.filter((g) => g.getAttribute('aria-current') === 'true').map((g) => g.getAttribute('data-path'));
  view.highlight(active);
  t.deepEqual(marked(), active);
  t.deepEqual(current(), active);
  view.highlight(['', 'crashed']);
  t.deepEqual(marked(), ['', 'crashed']);
  t.deepEqual(current(), ['', 'crashed']);
  t.true(states.every((g) => hasClass(g, 'state')), 'highlight keeps the other classes');
});

test('drawStatechart: untrusted names are text, never markup', async (t) => {
  const hostile = setup({}).createMachine({
    id: '<img src=x onerror=alert(1)>',
    initial: '<b>a</b>',
    states: { '<b>a</b>': { on: { '<script>': '"b"' } }, '"b"': {} },
  });
  const def = machineDef(hostile);
  const svg = drawStatechart(fakeDocument, await layoutStatechart(def, engine), def).element as unknown as FakeElement;
  const texts = svg.all().flatMap((e) => (e.textContent === null ? [] : [e.textContent]));
  t.true(texts.includes('<b>a</b>'));
  t.true(texts.some((s) => s.startsWith('<script>')));
  t.is(svg.getAttribute('aria-label'), 'statechart <img src=x onerror=alert(1)>');
});

test('layout nodes come parents first, so children draw on top', async (t) => {
  const layout = await layoutOf('path');
  const seen = new Set<string>();
  for (const node of layout.nodes as LaidNode[]) {
    if (node.parent !== undefined) t.true(seen.has(node.parent), node.path);
    seen.add(node.path);
  }
});
