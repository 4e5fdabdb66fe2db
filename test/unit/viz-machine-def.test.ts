/**
 * A machine's definition as the visualizer draws it (runtime/viz/machine-def.ts),
 * read from the real path and vat machines and from a small machine whose
 * every node and transition is written out here.
 */
import test from 'ava';
import { and, not, or, raise, setup } from 'xstate';
import { Tag, tagName } from '../../protocols/framing/frames.js';
import { pathMachine } from '../../protocols/session/path.machine.js';
import { machineDef } from '../../runtime/viz/machine-def.js';
import type { MachineDef, StateNodeDef, TransitionDef } from '../../runtime/viz/model.js';
import { vatLifecycleMachine } from '../../vats/vat-lifecycle.machine.js';

/** Every node of a def, depth first. */
const nodesOf = (def: MachineDef): StateNodeDef[] => {
  const out: StateNodeDef[] = [];
  const walk = (n: StateNodeDef) => {
    out.push(n);
    n.children.forEach(walk);
  };
  walk(def.root);
  return out;
};
const byPath = (def: MachineDef) => new Map(nodesOf(def).map((n) => [n.path, n]));
const at = (def: MachineDef, path: string): StateNodeDef => {
  const n = byPath(def).get(path);
  if (!n) throw new Error(`no node ${JSON.stringify(path)}`);
  return n;
};

/** The machine's own state nodes, read straight from XState: [path, type], depth first. */
interface XNode {
  readonly path: readonly string[];
  readonly type: string;
  readonly states: Record<string, XNode>;
}
const xstateNodes = (machine: { root: unknown }): [string, string][] => {
  const out: [string, string][] = [];
  const walk = (n: XNode) => {
    out.push([n.path.join('.'), n.type]);
    Object.values(n.states).forEach(walk);
  };
  walk(machine.root as XNode);
  return out;
};

/** A small machine with one of everything; `goTo` lets a test change one transition. */
const demo = (goTo: 'busy' | 'done' = 'busy') =>
  setup({
    actions: { log: () => {}, mark: (_, _params: { n: number }) => {} },
    guards: { ready: () => true, over: (_, _params: { limit: number }) => false },
    delays: { tick: 100 },
  }).createMachine({
    id: 'demo',
    initial: 'idle',
    states: {
      idle: {
        tags: ['quiet'],
        entry: 'log',
        initial: 'one',
        states: { one: {}, hist: { type: 'history' } },
        on: {
          go: { target: goTo, guard: { type: 'over', params: { limit: 3 } } },
          poke: { actions: { type: 'mark', params: { n: 1 } } },
        },
        after: { 500: 'busy', tick: { actions: 'log' } },
      },
      busy: {
        type: 'parallel',
        always: [{ guard: 'ready', target: 'done' }],
        on: { back: 'idle.hist' },
        states: { left: {}, right: { initial: 'r1', states: { r1: { on: { next: 'r2' } }, r2: {} } } },
      },
      done: { type: 'final' },
    },
  });

const MACHINES = { path: pathMachine, vat: vatLifecycleMachine, demo: demo() };

test('every state node appears once, with the path and type XState gives it', (t) => {
  for (const [name, machine] of Object.entries(MACHINES)) {
    const def = machineDef(machine);
    const nodes = nodesOf(def).map((n): [string, string] => [n.path, n.type]);
    t.deepEqual(nodes, xstateNodes(machine), name);
    t.is(new Set(nodes.map(([p]) => p)).size, nodes.length, `${name}: paths are unique`);
    t.is(def.id, machine.id);
    t.is(def.root.path, '');
    t.is(def.root.key, machine.id);
  }
  t.true(nodesOf(machineDef(pathMachine)).length >= 15, 'the walk reached the nested handshake states');
});

test('the demo machine, node by node', (t) => {
  const nodes = nodesOf(machineDef(demo())).map((n) => [n.path, n.key, n.type, n.initial ?? null]);
  t.deepEqual(nodes, [
    ['', 'demo', 'compound', 'idle'],
    ['idle', 'idle', 'compound', 'idle.one'],
    ['idle.one', 'one', 'atomic', null],
    ['idle.hist', 'hist', 'history', null],
    ['busy', 'busy', 'parallel', null],
    ['busy.left', 'left', 'atomic', null],
    ['busy.right', 'right', 'compound', 'busy.right.r1'],
    ['busy.right.r1', 'r1', 'atomic', null],
    ['busy.right.r2', 'r2', 'atomic', null],
    ['done', 'done', 'final', null],
  ]);
});

test('the demo machine, transition by transition', (t) => {
  const def = machineDef(demo());
  const idle: TransitionDef[] = [
    { event: 'go', targets: ['busy'], guard: 'over (limit 3)', actions: [] },
    { event: 'poke', targets: [], actions: ['mark({"n":1})'] },
    { event: 'after 500 ms', targets: ['busy'], actions: [] },
    { event: 'after tick', targets: [], actions: ['log'] },
  ];
  t.deepEqual([...at(def, 'idle').transitions].sort(byEvent), [...idle].sort(byEvent));
  t.deepEqual(at(def, 'busy').transitions.slice().sort(byEvent), [
    { event: 'always', targets: ['done'], guard: 'ready', actions: [] },
    { event: 'back', targets: ['idle.hist'], actions: [] },
  ]);
  t.deepEqual(at(def, 'busy.right.r1').transitions, [{ event: 'next', targets: ['busy.right.r2'], actions: [] }]);
  t.deepEqual(at(def, 'idle').tags, ['quiet']);
  t.true(at(def, 'idle').entry.includes('log'));
});
const byEvent = (a: TransitionDef, b: TransitionDef) => a.event.localeCompare(b.event);

test('the vat machine: alive is parallel with its two regions, and initial states are right', (t) => {
  const def = machineDef(vatLifecycleMachine);
  const alive = at(def, 'alive');
  t.is(alive.type, 'parallel');
  t.deepEqual(
    alive.children.map((c) => [c.path, c.type]),
    [
      ['alive.phase', 'compound'],
      ['alive.watchdog', 'compound'],
    ],
  );
  t.is(alive.initial, undefined, 'a parallel state has no single initial child');
  t.is(def.root.initial, 'starting');
  t.is(at(def, 'alive.phase').initial, 'alive.phase.loading');
  t.is(at(def, 'alive.watchdog').initial, 'alive.watchdog.watching');
  for (const final of ['failed', 'crashed', 'stopped']) t.is(at(def, final).type, 'final');
  t.deepEqual(at(def, 'crashed').entry, ['announceEnded({"final":"crashed"})']);
});

test('the path machine: initial states are right', (t) => {
  const def = machineDef(pathMachine);
  t.is(def.root.initial, 'handshaking');
  t.is(at(def, 'handshaking').initial, 'handshaking.starting');
  t.is(at(def, 'handshaking.initiator').initial, 'handshaking.initiator.opening');
  t.is(at(def, 'handshaking.responder').initial, 'handshaking.responder.awaitingOffer');
  t.is(at(def, 'established').initial, 'established.watching');
  t.is(at(def, 'closed').type, 'final');
});

test('delayed transitions read "after <delay>", eventless ones "always"', (t) => {
  const vat = machineDef(vatLifecycleMachine);
  const events = (def: MachineDef, path: string) => at(def, path).transitions.map((tr) => tr.event);
  t.true(events(vat, 'starting').includes('after startTimeout'));
  t.true(events(vat, 'alive.phase.loading').includes('after startTimeout'));
  t.true(events(vat, 'stopping').includes('after stopTimeout'));
  t.deepEqual(events(vat, 'alive.watchdog.watching'), ['after pingInterval', 'after pingInterval']);
  const path = machineDef(pathMachine);
  t.true(events(path, 'handshaking').includes('after handshakeTimeout'));
  t.deepEqual(events(path, 'established.watching'), Array(3).fill('after keepaliveInterval'));
  t.deepEqual(at(path, 'handshaking.starting').transitions, [
    { event: 'always', targets: ['handshaking.initiator'], guard: 'initiator', actions: [] },
    { event: 'always', targets: ['handshaking.responder'], actions: [] },
  ]);
  // No raw XState event names leak into labels.
  for (const def of [vat, path, machineDef(demo())]) {
    for (const n of nodesOf(def)) for (const tr of n.transitions) t.false(tr.event.startsWith('xstate.'), tr.event);
  }
});

test('guards read as words: frame tests as frame names, names split, parameters and combinations spelled out', (t) => {
  const path = machineDef(pathMachine);
  const guards = (p: string) => at(path, p).transitions.map((tr) => tr.guard);
  t.deepEqual(guards('handshaking')[0], 'Abort');
  t.deepEqual(guards('handshaking.initiator'), ['NotMe or DuplicateConnection']);
  t.deepEqual(guards('handshaking.initiator.awaitingResponse').slice(0, 2), ['Response', 'Cookie']);
  t.deepEqual(guards('established').slice(0, 2), ['Encrypted', 'Abort and may still be refused']);
  t.deepEqual(guards('established.watching'), ['heard from peer', 'silent too long', undefined]);
  const vat = machineDef(vatLifecycleMachine);
  t.is(at(vat, 'alive').transitions[0]!.guard, 'over external budget');
  t.is(at(vat, 'alive.watchdog.watching').transitions[0]!.guard, 'in alive.phase.running and stuck');
  t.is(tagName(Tag.Abort), 'Abort', 'the names are the wire spec\'s (frames.ts)');
  // A frame tag without a name stays a number, and a guard made of `not` says so.
  const m = setup({ guards: { isFrame: (_, _p: { tags: number[] }) => true, busy: () => true } }).createMachine({
    id: 'words',
    initial: 'a',
    states: { a: { on: { e: { guard: { type: 'isFrame', params: { tags: [250] } }, target: 'a' }, f: { guard: not('busy'), target: 'a' } } } },
  });
  t.deepEqual(at(machineDef(m), 'a').transitions.map((tr) => tr.guard), ['frame 250', 'not (busy)']);
});

test('labels are clipped to 80 characters', (t) => {
  const m = setup({ guards: { g: (_, _p: { list: number[] }) => true } }).createMachine({
    id: 'long',
    initial: 'a',
    states: { a: { on: { e: { guard: { type: 'g', params: { list: Array.from({ length: 200 }, (_, i) => i) } }, target: 'a' } } } },
  });
  const guard = at(machineDef(m), 'a').transitions[0]!.guard!;
  t.is(guard.length, 80);
  t.true(guard.startsWith('g (list [0,1,2'));
  t.true(guard.endsWith('…'));
});

test('targets are paths of the definition; actions-only transitions have none', (t) => {
  for (const [name, machine] of Object.entries(MACHINES)) {
    const def = machineDef(machine);
    const paths = byPath(def);
    let targeted = 0;
    for (const n of nodesOf(def)) {
      for (const tr of n.transitions) {
        for (const target of tr.targets) t.true(paths.has(target), `${name}: ${n.path} --${tr.event}--> ${target}`);
        targeted += tr.targets.length;
      }
    }
    t.true(targeted > 0, name);
  }
  const vat = machineDef(vatLifecycleMachine);
  t.deepEqual(at(vat, 'alive').transitions[1], { event: 'heartbeat.pong', targets: [], actions: ['clearPings'] });
  const path = machineDef(pathMachine);
  t.deepEqual(at(path, 'handshaking.responder.awaitingHello').transitions[0], {
    event: 'frame.received',
    targets: [],
    guard: 'Hello',
    actions: ['runStep({"step":"hello"})'],
  });
  // '#path.closed' and '#vat.crashed' resolve to plain paths.
  t.deepEqual(at(path, 'handshaking.initiator.awaitingCookieResponse').transitions[1]!.targets, ['closed']);
  t.deepEqual(at(vat, 'alive.phase.loading').transitions.find((tr) => tr.event === 'load.failed')?.targets, ['failed']);
});

test('action names: named actions, parameterized ones with params, and function params left out', (t) => {
  const path = machineDef(pathMachine);
  t.deepEqual(at(path, 'handshaking.initiator.opening').transitions[0]!.actions, ['writeFrames']);
  t.deepEqual(at(path, 'established').transitions[0]!.actions, ['deliverData']);
  t.deepEqual(at(path, 'closed').entry, ['closeStream', 'announceClosed']);
  t.true(at(path, 'handshaking.initiator.opening').entry.includes('runStep({"step":"open"})'));
});

test('the hash is stable, and changes with the machine', (t) => {
  const hashes = {
    path: machineDef(pathMachine).hash,
    vat: machineDef(vatLifecycleMachine).hash,
    demo: machineDef(demo('busy')).hash,
    demoChanged: machineDef(demo('done')).hash,
  };
  t.is(machineDef(pathMachine).hash, hashes.path);
  t.is(machineDef(demo('busy')).hash, hashes.demo, 'two machines built from one config share it');
  t.is(new Set(Object.values(hashes)).size, 4, JSON.stringify(hashes));
  for (const h of Object.values(hashes)) t.regex(h, /^[0-9a-z]{1,40}$/);
});

test('the result is plain JSON data', (t) => {
  for (const machine of Object.values(MACHINES)) {
    const def = machineDef(machine);
    const text = JSON.stringify(def);
    t.deepEqual(JSON.parse(text), def);
    t.false(text.includes('xstate.'), 'no XState internals in the data');
  }
});

// XState v5 puts a `raise` of the delayed event into the entry actions of every
// state with `after`; machineDef must not list it as if the machine had declared
// it ('starting' would show entry ['raise']).
test('entry lists only the entry actions the machine declares', (t) => {
  const vat = machineDef(vatLifecycleMachine);
  t.deepEqual(at(vat, 'starting').entry, []);
  t.deepEqual(at(vat, 'stopping').entry, ['noteStopped', 'requestStop']);
  t.deepEqual(at(vat, 'alive.phase.loading').entry, ['startLoading']);
  const path = machineDef(pathMachine);
  t.deepEqual(at(path, 'handshaking').entry, []);
  // An explicit raise is a declared action and stays.
  const m = setup({}).createMachine({ id: 'r', initial: 'a', states: { a: { entry: raise({ type: 'x' }), after: { 5: 'a' } } } });
  t.deepEqual(at(machineDef(m), 'a').entry, ['raise']);
});

// Joining the parts of and(), or() and not() alike with ' and ' would show not('ready')
// as 'ready' and or(['a', 'b']) as 'a and b': the opposite condition on the diagram.
test('not() and or() guards are not shown as their plain or and-ed parts', (t) => {
  const guardOf = (guard: unknown) => {
    const m = setup({ guards: { a: () => true, b: () => true } }).createMachine({
      id: 'g',
      initial: 's',
      states: { s: { on: { e: { guard: guard as 'a', target: 's' } } } },
    });
    return at(machineDef(m), 's').transitions[0]!.guard;
  };
  t.is(guardOf('a'), 'a');
  t.is(guardOf(and(['a', 'b'])), 'a and b');
  t.is(guardOf(or(['a', 'b'])), 'a or b');
  t.is(guardOf(not('a')), 'not (a)');
  t.not(guardOf(not('a')), guardOf('a'));
  t.not(guardOf(or(['a', 'b'])), guardOf(and(['a', 'b'])));
});
