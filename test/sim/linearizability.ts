/**
 * A linearizability checker for client histories against a sequential model:
 * Wing & Gong's search with Lowe's just-in-time linearization and memoization
 * on (set of linearized operations, model state) — the algorithm of Porcupine
 * and Knossos' "linear" checker.
 *
 * An operation has an invocation time, and either a response (time and
 * output) or none: an operation never answered may or may not have taken
 * effect, so it is pending until after the end of the history (it may be
 * linearized anywhere after its invocation, with any output). Pending
 * operations the model calls read-only are dropped up front: they can change
 * nothing that was observed.
 *
 * The search is bounded (`maxStates` memoized configurations): past it the
 * verdict is `unknown`, never a hang. On a violation the explanation names the
 * deepest partial linearization found and the operation that could not be
 * placed after it, with the operations concurrent with it.
 */

/** A sequential specification. `step` is deterministic: one output per (state, input). */
export interface Model<S, I, O> {
  readonly name: string;
  readonly init: () => S;
  readonly step: (state: S, input: I) => { readonly state: S; readonly output: O };
  /** Identifies a state for memoization: equal keys, equal states. */
  readonly key: (state: S) => string;
  readonly sameOutput?: (a: O, b: O) => boolean;
  /** An unanswered read-only operation is dropped before the search. */
  readonly readOnly?: (input: I) => boolean;
  readonly describe?: (input: I, output: O | undefined) => string;
}

export interface Operation<I = unknown, O = unknown> {
  readonly id: number;
  readonly client: string;
  readonly input: I;
  /** When the client sent it (any totally ordered clock). */
  readonly invoke: number;
  /** When the answer came back; undefined: never answered (pending to infinity). */
  readonly respond?: number;
  readonly output?: O;
}

export interface CheckOptions {
  /** Memoized configurations the search may visit before it answers `unknown`. */
  readonly maxStates?: number;
}

/** Enough for a few hundred operations of a few seconds of simulation; a violation is usually found in far fewer. */
export const DEFAULT_MAX_STATES = 500_000;

export interface Explanation {
  /** The operation that had to be linearized next (the earliest response not yet placed) and could not be. */
  readonly blocked: string;
  /** Operations that could have gone before it (concurrent with it, not yet linearized). */
  readonly candidates: readonly string[];
  /** The tail of the deepest partial linearization found, with the state it left. */
  readonly linearizedTail: readonly string[];
  readonly stateAfterTail: string;
  readonly linearizedCount: number;
}

export type Verdict =
  | { readonly result: 'ok'; readonly states: number; readonly order: readonly number[] }
  | { readonly result: 'violation'; readonly states: number; readonly explanation: Explanation }
  | { readonly result: 'unknown'; readonly states: number; readonly reason: string };

interface Entry {
  readonly op: number;
  readonly call: boolean;
  readonly time: number;
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

const TAIL_SHOWN = 6;

/** The entries of `ops` in time order behind a sentinel head; pending operations return after everything. */
const entryList = <I, O>(ops: readonly Operation<I, O>[]): Entry => {
  const entries: Entry[] = [];
  ops.forEach((op, i) => {
    const call: Entry = { op: i, call: true, time: op.invoke, match: undefined, prev: undefined, next: undefined };
    const ret: Entry = { op: i, call: false, time: op.respond ?? Number.POSITIVE_INFINITY, match: undefined, prev: undefined, next: undefined };
    call.match = ret;
    entries.push(call, ret);
  });
  // At equal times calls come first: touching intervals count as concurrent (the permissive reading).
  entries.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const head: Entry = { op: -1, call: false, time: Number.NEGATIVE_INFINITY, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const e of entries) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
};

/** Takes a call and its return out of the list (they are linearized). */
const lift = (call: Entry): void => {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
};

/** Undoes `lift` (in reverse order of lifting, dancing-links style). */
const unlift = (call: Entry): void => {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
};

const defaultSame = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

export const describeOp = <I, O>(model: Model<unknown, I, O>, op: Operation<I, O>): string => {
  const what = model.describe ? model.describe(op.input, op.output) : `${JSON.stringify(op.input)} → ${op.respond === undefined ? '?' : JSON.stringify(op.output)}`;
  const end = op.respond === undefined ? '∞ (never answered)' : String(op.respond);
  return `#${op.id} ${op.client} ${what} [${op.invoke}, ${end}]`;
};

/** Checks `history` against `model`. */
export const checkLinearizable = <S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[], options: CheckOptions = {}): Verdict => {
  const maxStates = options.maxStates ?? DEFAULT_MAX_STATES;
  const ops = history.filter((op) => op.respond !== undefined || !model.readOnly?.(op.input));
  const same = model.sameOutput ?? defaultSame;
  const head = entryList(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  const stack: { entry: Entry; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let deepest: { tail: number[]; state: S; blocked: Entry | undefined; candidates: number[] } | undefined;
  const noteDeadEnd = (at: Entry): void => {
    if (deepest && deepest.tail.length >= stack.length) return;
    const candidates: number[] = [];
    for (let e = head.next; e && e !== at; e = e.next) if (e.call) candidates.push(e.op);
    deepest = { tail: stack.map((s) => s.entry.op), state, blocked: at, candidates };
  };
  while (head.next) {
    if (!entry) return { result: 'unknown', states: seen.size, reason: 'search fell off the list (checker bug)' };
    if (entry.call) {
      const op = ops[entry.op]!;
      const { state: next, output } = model.step(state, op.input);
      const fits = op.respond === undefined || same(output, op.output as O);
      if (fits) {
        const word = entry.op >>> 5;
        const bit = 1 << (entry.op & 31);
        linearized[word]! |= bit;
        const key = `${linearized.join(',')}|${model.key(next)}`;
        if (!seen.has(key)) {
          if (seen.size >= maxStates) return { result: 'unknown', states: seen.size, reason: `more than ${maxStates} configurations` };
          seen.add(key);
          stack.push({ entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[word]! &= ~bit;
      }
      entry = entry.next;
    } else {
      // A return whose call is still in the list: that op must be placed before this point, and nothing left fits.
      noteDeadEnd(entry);
      const top = stack.pop();
      if (!top) return { result: 'violation', states: seen.size, explanation: explain(model, ops, deepest!, same) };
      state = top.state;
      linearized[top.entry.op >>> 5]! &= ~(1 << (top.entry.op & 31));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { result: 'ok', states: seen.size, order: stack.map((s) => ops[s.entry.op]!.id) };
};

const explain = <S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  deepest: { tail: number[]; state: S; blocked: Entry | undefined; candidates: number[] },
  same: (a: O, b: O) => boolean,
): Explanation => {
  const show = (i: number) => describeOp(model as Model<unknown, I, O>, ops[i]!);
  const withModel = (i: number) => {
    const op = ops[i]!;
    const { output } = model.step(deepest.state, op.input);
    const fits = op.respond === undefined || same(output, op.output as O);
    return `${show(i)}${fits ? '' : ` (model would answer ${JSON.stringify(output)} here)`}`;
  };
  return {
    blocked: deepest.blocked ? withModel(deepest.blocked.op) : '(none)',
    candidates: deepest.candidates.filter((i) => i !== deepest.blocked?.op).map(withModel),
    linearizedTail: deepest.tail.slice(-TAIL_SHOWN).map(show),
    stateAfterTail: model.key(deepest.state),
    linearizedCount: deepest.tail.length,
  };
};

export const formatExplanation = (e: Explanation): string =>
  [
    `not linearizable: after ${e.linearizedCount} ops (state ${e.stateAfterTail}), the next op to complete cannot be placed:`,
    `  blocked:    ${e.blocked}`,
    ...e.candidates.map((c) => `  concurrent: ${c}`),
    ...e.linearizedTail.map((c) => `  placed:     ${c}`),
  ].join('\n');

// --- models ---

export type CounterInput = { readonly type: 'increment' } | { readonly type: 'read' };

/** A counter from 0: `increment` answers the new value, `read` the current one. */
export const counterModel: Model<number, CounterInput, number> = {
  name: 'counter',
  init: () => 0,
  step: (n, input) => (input.type === 'increment' ? { state: n + 1, output: n + 1 } : { state: n, output: n }),
  key: (n) => String(n),
  readOnly: (input) => input.type === 'read',
  describe: (input, output) => `${input.type}${output === undefined ? '' : ` → ${output}`}`,
};

export type RegisterInput =
  | { readonly type: 'write'; readonly value: number }
  | { readonly type: 'read' }
  | { readonly type: 'cas'; readonly from: number | null; readonly to: number };

/** A register holding null at first: `write` answers true, `read` the value, `cas` whether it swapped. */
export const registerModel: Model<number | null, RegisterInput, unknown> = {
  name: 'register',
  init: () => null,
  step: (v, input) => {
    if (input.type === 'write') return { state: input.value, output: true };
    if (input.type === 'read') return { state: v, output: v };
    return v === input.from ? { state: input.to, output: true } : { state: v, output: false };
  },
  key: (v) => String(v),
  readOnly: (input) => input.type === 'read',
  describe: (input, output) => {
    const answer = output === undefined ? '' : ` → ${JSON.stringify(output)}`;
    if (input.type === 'write') return `write(${input.value})${answer}`;
    if (input.type === 'cas') return `cas(${input.from}, ${input.to})${answer}`;
    return `read${answer}`;
  },
};
