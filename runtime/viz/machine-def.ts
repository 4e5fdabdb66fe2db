/**
 * A machine's definition as plain data (`MachineDef`), read from the machine
 * itself: the visualizer draws any machine without knowing it in advance.
 */
import type { MachineDef, StateNodeDef, TransitionDef } from './model.js';

/** The parts of XState's StateNode this reads (structural, so it tolerates minor-version drift). */
interface XStateNode {
  readonly key: string;
  readonly path: readonly string[];
  readonly type: StateNodeDef['type'];
  readonly states: Record<string, XStateNode>;
  readonly initial?: { readonly target?: readonly XStateNode[] };
  readonly transitions: Map<string, readonly XTransition[]>;
  readonly always?: readonly XTransition[];
  readonly after?: readonly (XTransition & { delay?: unknown })[];
  readonly entry?: readonly unknown[];
  readonly invoke?: readonly { readonly src?: unknown; readonly id?: string }[];
  readonly tags?: readonly string[];
}
interface XTransition {
  readonly eventType: string;
  readonly target?: readonly XStateNode[];
  readonly guard?: unknown;
  readonly actions?: readonly unknown[];
}

const MAX_LABEL = 80;
const clip = (s: string) => (s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s);

/** `name`, `name(params)` for a parameterized reference, `inline` for an anonymous function. */
const refName = (ref: unknown): string => {
  if (typeof ref === 'string') return clip(ref);
  if (typeof ref === 'function') return ref.name && !ref.name.startsWith('xstate.') ? clip(ref.name) : 'inline';
  if (ref && typeof ref === 'object') {
    const { type, params } = ref as { type?: unknown; params?: unknown };
    const name = typeof type === 'string' ? type : 'inline';
    if (params === undefined || typeof params === 'function') return clip(name);
    let text: string;
    try {
      text = JSON.stringify(params) ?? '';
    } catch {
      text = '…';
    }
    return clip(`${name}(${text})`);
  }
  return 'inline';
};

/**
 * A guard as the diagram shows it: its name (and params); XState's combinators
 * as `a & b`, `a | b`, `!(a)`; `stateIn` as `in(<state>)`.
 */
const guardName = (guard: unknown): string | undefined => {
  if (guard === undefined) return undefined;
  if (typeof guard === 'function') {
    const g = guard as { name?: string; guards?: readonly unknown[]; stateValue?: unknown };
    if (Array.isArray(g.guards)) {
      const parts = g.guards.map((p) => guardName(p) ?? 'inline');
      if (g.name === 'not') return clip(`!(${parts.join(' & ')})`);
      return clip(parts.map((p) => (/[&|]/.test(p) ? `(${p})` : p)).join(g.name === 'or' ? ' | ' : ' & '));
    }
    if (g.name === 'stateIn' && g.stateValue !== undefined) return clip(`in(${refName({ type: '', params: g.stateValue }).slice(1, -1)})`);
  }
  return refName(guard);
};

/** XState's own scheduling of `after` transitions (a raise of 'xstate.after.…' on entry), not an action the machine declares. */
const isDelaySchedule = (action: unknown): boolean => {
  const a = action as { type?: unknown; event?: { type?: unknown } } | undefined;
  return (
    typeof action === 'function' &&
    a?.type === 'xstate.raise' &&
    typeof a.event === 'object' &&
    typeof a.event?.type === 'string' &&
    a.event.type.startsWith('xstate.after.')
  );
};

/** Transitions as the diagram labels them: delayed ones as 'after <delay>', eventless ones as 'always'. */
const eventLabel = (eventType: string, delay: unknown): string => {
  if (eventType === '') return 'always';
  if (eventType.startsWith('xstate.after.')) {
    const d = typeof delay === 'number' ? `${delay} ms` : typeof delay === 'string' ? delay : eventType.split('.')[2];
    return `after ${d}`;
  }
  return eventType;
};

const transitionDef = (t: XTransition, delay?: unknown): TransitionDef => ({
  event: eventLabel(t.eventType, delay),
  targets: (t.target ?? []).map((n) => n.path.join('.')),
  ...(t.guard !== undefined ? { guard: guardName(t.guard) as string } : {}),
  actions: (t.actions ?? []).map(refName),
});

const nodeDef = (node: XStateNode): StateNodeDef => {
  const delays = new Map((node.after ?? []).map((a) => [a.eventType, a.delay]));
  const transitions: TransitionDef[] = [];
  for (const [eventType, list] of node.transitions) {
    for (const t of list) transitions.push(transitionDef(t, delays.get(eventType)));
  }
  for (const t of node.always ?? []) transitions.push(transitionDef(t));
  const initial = node.initial?.target?.[0];
  return {
    path: node.path.join('.'),
    key: node.key,
    type: node.type,
    ...(initial ? { initial: initial.path.join('.') } : {}),
    children: Object.values(node.states ?? {}).map(nodeDef),
    transitions,
    entry: (node.entry ?? []).filter((a) => !isDelaySchedule(a)).map(refName),
    invoke: (node.invoke ?? []).map((i) => refName(i.src ?? i.id)),
    tags: [...(node.tags ?? [])],
  };
};

/** FNV-1a, 52 bits: a content id for deduplication, not a security property. */
const contentHash = (text: string): string => {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xfffffffffffffn;
  }
  return h.toString(36);
};

/** The definition of `machine` (an XState v5 StateMachine) as data. */
export const machineDef = (machine: { readonly id: string; readonly root: unknown }): MachineDef => {
  const root = nodeDef(machine.root as XStateNode);
  const body = JSON.stringify({ id: machine.id, root });
  return { hash: contentHash(body), id: machine.id, root };
};
