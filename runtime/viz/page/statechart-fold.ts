/**
 * Folding: a compound or parallel state shown as one box. Works on the
 * definition alone, before layout, so a folded chart is laid out as the
 * smaller machine it looks like.
 */
import type { MachineDef, StateNodeDef, TransitionDef } from '../model.js';

/** The states with children, but the root: those a click on their header folds. */
export const foldableStates = (def: MachineDef): Set<string> => {
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
