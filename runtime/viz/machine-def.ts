/**
 * A machine's definition as plain data (`MachineDef`), read from the machine
 * itself: the visualizer draws any machine without knowing it in advance.
 */
import type { MachineDef, StateNodeDef, TransitionDef } from './model.js';
import { tagName } from '../../protocols/framing/frames.js';

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

/** `isOverExternalBudget` → `over external budget`: a guard's name read as words. */
const words = (name: string): string =>
  name
    .replace(/^is(?=[A-Z])/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase();

/** A state value (`{alive: {phase: 'running'}}`) as its path: `alive.phase.running`. */
const statePath = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 1) {
      const [k, v] = entries[0]!;
      return `${k}.${statePath(v)}`;
    }
    return entries.map(([k, v]) => `${k}.${statePath(v)}`).join(', ');
  }
  return String(value);
};

/**
 * A guard in words, as the diagram shows it: the name split into words
 * (`isOverExternalBudget` → `over external budget`); a frame test as the names
 * of its frames (`isFrame({tags:[3]})` → `Response`); other params as
 * `name (key value, …)`; XState's combinators as `a and b`, `a or b`,
 * `not (a)`; `stateIn` as `in <state path>`.
 */
const guardName = (guard: unknown): string | undefined => {
  if (guard === undefined) return undefined;
  if (typeof guard === 'function') {
    const g = guard as { name?: string; guards?: readonly unknown[]; stateValue?: unknown };
    if (Array.isArray(g.guards)) {
      const parts = g.guards.map((p) => guardName(p) ?? 'inline');
      if (g.name === 'not') return clip(`not (${parts.join(' and ')})`);
      return clip(parts.map((p) => (/ (and|or) /.test(p) ? `(${p})` : p)).join(g.name === 'or' ? ' or ' : ' and '));
    }
    if (g.name === 'stateIn' && g.stateValue !== undefined) return clip(`in ${statePath(g.stateValue)}`);
    return g.name && !g.name.startsWith('xstate.') ? clip(words(g.name)) : 'inline';
  }
  if (typeof guard === 'string') return clip(words(guard));
  if (guard && typeof guard === 'object') {
    const { type, params } = guard as { type?: unknown; params?: unknown };
    if (typeof type !== 'string') return 'inline';
    const tags = (params as { tags?: unknown } | undefined)?.tags;
    if (type === 'isFrame' && Array.isArray(tags) && tags.every((x) => typeof x === 'number')) {
      return clip(tags.map((tag) => tagName(tag) ?? `frame ${tag}`).join(' or '));
    }
    if (params === undefined || typeof params === 'function') return clip(words(type));
    if (typeof params === 'object' && params !== null && !Array.isArray(params)) {
      const shown = Object.entries(params).map(([k, v]) => `${words(k)} ${typeof v === 'string' ? v : (JSON.stringify(v) ?? '…')}`);
      return clip(`${words(type)} (${shown.join(', ')})`);
    }
    return clip(`${words(type)} (${refName({ type: '', params }).slice(1, -1)})`);
  }
  return 'inline';
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
