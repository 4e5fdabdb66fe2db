/**
 * The statechart diagram: a machine definition laid out by elkjs (layered,
 * top to bottom, one layout across all levels so a transition may leave a
 * nested state for a distant one) and drawn as SVG.
 *
 * The two halves are apart on purpose: `layoutStatechart` is pure, async and
 * costly (the caller keeps one layout per definition hash); `drawStatechart`
 * only turns boxes and polylines into elements, and `highlight` only flips
 * classes, so following a running actor costs no layout. This module is the
 * chunk the page loads after its first render; its parts:
 * - statechart-text.ts: text metrics and every label as a clipped string;
 * - statechart-fold.ts: folding, on the definition, before layout;
 * - statechart-layout.ts: definition → ELK graph → `ChartLayout`;
 * - statechart-draw.ts: `ChartLayout` → SVG, and `highlight`.
 *
 * How a definition becomes a diagram:
 * - transitions with targets are edges; all of them between one source and one
 *   target set share a route and stack their labels ("event [guard]", wrapped
 *   at `WRAP` characters: the guard on its own lines when the whole does not
 *   fit), which keeps a machine's many abort edges to one line of ink;
 * - a transition without targets (actions only) is listed inside its state,
 *   under the key and the entry/invoke caption (wrapped too), as UML draws
 *   internal ones;
 * - a compound state marks its initial child with a dot and an arrow; a
 *   parallel state's regions sit side by side as dashed boxes;
 * - every string is untrusted (definitions come from other hosts): it is
 *   measured by length, clipped, and set as textContent only;
 * - a compound or parallel state can be folded (`foldDefinition`): it is laid
 *   out as one box, its inner transitions dropped and those that cross its
 *   border drawn from or to the box.
 */
export { drawStatechart, type StatechartView } from './statechart-draw.js';
export { foldDefinition } from './statechart-fold.js';
export { type Box, type ChartLayout, type ElkEngine, type LaidEdge, type LaidNode, layoutStatechart, type Point } from './statechart-layout.js';
export { clip, transitionLines, transitionText, wrap } from './statechart-text.js';
