/**
 * A peer host's relayed visualizer records (runtime/viz/check.ts): well-formed
 * batches pass field by field, a peer speaks only for itself, every limit is
 * enforced, and nothing a peer sends throws anything but VizRelayError.
 */
import test from 'ava';
import fc from 'fast-check';
import { pathMachine } from '../../protocols/session/path.machine.js';
import { checkUpdates, MAX_BATCH } from '../../runtime/viz/check.js';
import { machineDef } from '../../runtime/viz/machine-def.js';
import type { MachineDef, StateNodeDef } from '../../runtime/viz/model.js';
import { REDACTED } from '../../runtime/viz/redact.js';
import { vatLifecycleMachine } from '../../vats/vat-lifecycle.machine.js';

const PEER = 'p'.repeat(52);
const SELF = 's'.repeat(52);
const THIRD = 't'.repeat(52);
const SWISS = 'abcdefghijklmnopqrstuvwxyz234567';
const REF = `tribe://${PEER}@127.0.0.1:4000/${SWISS}`;
const DEF = machineDef(vatLifecycleMachine);
const RELAY = { name: 'VizRelayError' };

const session = {
  peer: THIRD,
  address: '127.0.0.1:4000',
  role: 'initiator',
  state: 'established',
  cipher: 'ChaCha20-Poly1305',
  rttMs: 1.5,
  framesIn: 10,
  framesOut: 12,
  bytesIn: 1000,
  bytesOut: 1200,
  channels: 2,
  upMs: 60_000,
};
const actor = {
  aid: `${PEER}/1`,
  host: PEER,
  def: DEF.hash,
  tag: { group: 'vats', name: 'echo', peer: THIRD },
  parent: `${PEER}/0`,
};
const step = {
  k: 'step',
  seq: 7,
  t: 1_700_000_000_000,
  host: PEER,
  aid: `${PEER}/1`,
  event: 'load.succeeded',
  label: 'loaded',
  source: `${PEER}/0`,
  remote: true,
  value: { alive: { phase: 'running', watchdog: 'watching' } },
  status: 'active',
  context: { name: 'echo', outstandingPings: 0, cause: null },
};

/** One well-formed record of each kind, as a peer relays them. */
const valid = () => [
  { k: 'host', host: PEER, self: true, connected: false, listen: '127.0.0.1:4000' },
  { k: 'def', def: DEF },
  { k: 'actor', actor },
  step,
  { k: 'health', host: PEER, t: 1_700_000_000_000, sessions: [session, { ...session, rttMs: null }] },
  { k: 'gap', host: PEER, dropped: 3 },
];

/** A def node with `children`, otherwise empty. */
const node = (path: string, children: StateNodeDef[] = []): StateNodeDef => ({
  path,
  key: path.split('.').pop() ?? '',
  type: children.length ? 'compound' : 'atomic',
  children,
  transitions: [],
  entry: [],
  invoke: [],
  tags: [],
});
const defWith = (root: StateNodeDef): MachineDef => ({ hash: 'h', id: 'synthetic', root });
/** A chain of `n` nested nodes. */
const chain = (n: number): StateNodeDef => {
  let n0 = node('leaf');
  for (let i = 1; i < n; i++) n0 = node(`n${i}`, [n0]);
  return n0;
};
/** A state value nested `n` objects deep. */
const deepValue = (n: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < n; i++) v = { [`s${i}`]: v };
  return v;
};
const reject = (batch: unknown) => () => checkUpdates(PEER, batch);

test('a valid batch of every kind comes back equal in content; hosts are marked remote and connected', (t) => {
  const out = checkUpdates(PEER, valid());
  const expected: unknown[] = [
    { k: 'host', host: PEER, self: false, connected: true, listen: '127.0.0.1:4000' },
    { k: 'def', def: DEF },
    { k: 'actor', actor },
    step,
    { k: 'health', host: PEER, t: 1_700_000_000_000, sessions: [session, { ...session, rttMs: null }] },
    { k: 'gap', host: PEER, dropped: 3 },
  ];
  t.deepEqual(out, expected);
  // Optional fields stay optional.
  const minimal = checkUpdates(PEER, [
    { k: 'host', host: PEER },
    { k: 'actor', actor: { aid: `${PEER}/2`, host: PEER, def: 'd', tag: { group: 'g', name: 'n' } } },
    { k: 'step', seq: 0, t: 0, host: PEER, aid: `${PEER}/2`, event: '(start)', value: 'idle', status: 'done' },
  ]);
  t.deepEqual(minimal, [
    { k: 'host', host: PEER, self: false, connected: true },
    { k: 'actor', actor: { aid: `${PEER}/2`, host: PEER, def: 'd', tag: { group: 'g', name: 'n' } } },
    { k: 'step', seq: 0, t: 0, host: PEER, aid: `${PEER}/2`, event: '(start)', value: 'idle', status: 'done' },
  ]);
  t.deepEqual(checkUpdates(PEER, []), []);
});

test('every status passes', (t) => {
  for (const status of ['active', 'done', 'error', 'stopped']) {
    t.is((checkUpdates(PEER, [{ ...step, status }])[0] as { status: string }).status, status);
  }
});

test('a batch that is not a list, or too long, is refused', (t) => {
  for (const bad of [undefined, null, 'batch', 42, { length: 1, 0: step }, new Map()]) {
    t.throws(reject(bad), RELAY, String(bad));
  }
  const gap = { k: 'gap', host: PEER, dropped: 0 };
  t.is(checkUpdates(PEER, Array.from({ length: MAX_BATCH }, () => gap)).length, MAX_BATCH);
  t.throws(reject(Array.from({ length: MAX_BATCH + 1 }, () => gap)), RELAY);
});

test('unknown kinds and non-records are refused', (t) => {
  for (const bad of [{ k: 'hello' }, { k: 'HOST', host: PEER }, {}, null, 'step', [step], 7]) {
    t.throws(reject([bad]), RELAY, JSON.stringify(bad));
  }
  // One bad record spoils the batch: nothing of it is returned.
  t.throws(reject([...valid(), { k: 'nope' }]), RELAY);
});

test('a peer speaks only for itself: records about this host or a third one are refused', (t) => {
  for (const host of [SELF, THIRD, `${PEER} `, PEER.toUpperCase(), '', undefined]) {
    t.throws(reject([{ k: 'host', host }]), RELAY, `host record ${host}`);
    t.throws(reject([{ k: 'gap', host, dropped: 1 }]), RELAY, `gap ${host}`);
    t.throws(reject([{ k: 'health', host, t: 1, sessions: [] }]), RELAY, `health ${host}`);
    t.throws(reject([{ ...step, host }]), RELAY, `step ${host}`);
    t.throws(reject([{ k: 'actor', actor: { ...actor, host } }]), RELAY, `actor ${host}`);
  }
});

test('actor ids must be the peer\'s own: aid, parent and a step\'s aid and source', (t) => {
  for (const aid of [`${THIRD}/1`, `${SELF}/1`, PEER, `${PEER}1`, `${PEER}x/1`, `/${PEER}/1`, 1]) {
    t.throws(reject([{ k: 'actor', actor: { ...actor, aid } }]), RELAY, `actor.aid ${aid}`);
    t.throws(reject([{ k: 'actor', actor: { ...actor, parent: aid } }]), RELAY, `actor.parent ${aid}`);
    t.throws(reject([{ ...step, aid }]), RELAY, `step.aid ${aid}`);
    t.throws(reject([{ ...step, source: aid }]), RELAY, `step.source ${aid}`);
  }
});

test('strings over 200 characters are refused, wherever they stand', (t) => {
  const ok = 'x'.repeat(200);
  const long = 'x'.repeat(201);
  const cases: [string, (s: string) => unknown][] = [
    ['step.event', (s) => ({ ...step, event: s })],
    ['step.label', (s) => ({ ...step, label: s })],
    ['step.value', (s) => ({ ...step, value: s })],
    ['step.value key', (s) => ({ ...step, value: { [s]: 'x' } })],
    ['host.listen', (s) => ({ k: 'host', host: PEER, listen: s })],
    ['actor.tag.name', (s) => ({ k: 'actor', actor: { ...actor, tag: { group: 'g', name: s } } })],
    ['actor.tag.group', (s) => ({ k: 'actor', actor: { ...actor, tag: { group: s, name: 'n' } } })],
    ['actor.tag.peer', (s) => ({ k: 'actor', actor: { ...actor, tag: { group: 'g', name: 'n', peer: s } } })],
    ['actor.aid', (s) => ({ k: 'actor', actor: { ...actor, aid: `${PEER}/${s.slice(53)}` } })],
    ['health.address', (s) => ({ k: 'health', host: PEER, t: 1, sessions: [{ ...session, address: s }] })],
    ['def.id', (s) => ({ k: 'def', def: { ...DEF, id: s } })],
    ['def path', (s) => ({ k: 'def', def: defWith({ ...node(''), path: s }) })],
    ['def entry', (s) => ({ k: 'def', def: defWith({ ...node(''), entry: [s] }) })],
    [
      'def transition event',
      (s) => ({ k: 'def', def: defWith({ ...node(''), transitions: [{ event: s, targets: [], actions: [] }] }) }),
    ],
  ];
  for (const [where, make] of cases) {
    t.notThrows(() => checkUpdates(PEER, [make(ok)]), `${where} at 200`);
    t.throws(reject([make(long)]), RELAY, `${where} at 201`);
  }
  t.throws(reject([{ k: 'def', def: { ...DEF, hash: 'h'.repeat(41) } }]), RELAY, 'a def hash is at most 40');
  t.throws(reject([{ k: 'actor', actor: { ...actor, def: 'h'.repeat(41) } }]), RELAY, 'an actor def is at most 40');
});

test('numbers must be finite and not negative', (t) => {
  for (const n of [Number.NaN, -1, -0.5, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '1', null, undefined, 1n]) {
    const what = String(n);
    t.throws(reject([{ ...step, seq: n }]), RELAY, `step.seq ${what}`);
    t.throws(reject([{ ...step, t: n }]), RELAY, `step.t ${what}`);
    t.throws(reject([{ k: 'gap', host: PEER, dropped: n }]), RELAY, `gap.dropped ${what}`);
    t.throws(reject([{ k: 'health', host: PEER, t: n, sessions: [] }]), RELAY, `health.t ${what}`);
  }
  t.notThrows(() => checkUpdates(PEER, [{ ...step, seq: 0, t: 0.5 }]));
});

test('unknown statuses are refused', (t) => {
  for (const status of ['paused', 'ACTIVE', '', undefined, 1]) {
    t.throws(reject([{ ...step, status }]), RELAY, String(status));
  }
});

test('a step\'s remote flag is a boolean or absent', (t) => {
  t.throws(reject([{ ...step, remote: 'yes' }]), RELAY);
  t.throws(reject([{ ...step, remote: 1 }]), RELAY);
  t.false('remote' in checkUpdates(PEER, [{ ...step, remote: false }])[0]!);
});

test('defs: unknown state types and malformed nodes are refused', (t) => {
  for (const type of ['weird', 'Atomic', '', undefined, 3]) {
    t.throws(reject([{ k: 'def', def: defWith({ ...node(''), type } as unknown as StateNodeDef) }]), RELAY, String(type));
  }
  for (const type of ['atomic', 'compound', 'parallel', 'final', 'history'] as const) {
    t.notThrows(() => checkUpdates(PEER, [{ k: 'def', def: defWith({ ...node(''), type }) }]), type);
  }
  const root = node('');
  for (const [what, bad] of [
    ['children not a list', { ...root, children: {} }],
    ['transitions not a list', { ...root, transitions: 'go' }],
    ['entry not a list', { ...root, entry: 'a' }],
    ['tags missing', { ...root, tags: undefined }],
    ['child not a node', { ...root, children: [null] }],
    ['transition not a record', { ...root, transitions: [1] }],
    ['targets not strings', { ...root, transitions: [{ event: 'e', targets: [1], actions: [] }] }],
    ['guard not a string', { ...root, transitions: [{ event: 'e', targets: [], guard: {}, actions: [] }] }],
    ['65 actions', { ...root, transitions: [{ event: 'e', targets: [], actions: Array(65).fill('a') }] }],
  ] as const) {
    t.throws(reject([{ k: 'def', def: defWith(bad as unknown as StateNodeDef) }]), RELAY, what);
  }
  t.throws(reject([{ k: 'def', def: null }]), RELAY);
  t.throws(reject([{ k: 'def', def: { hash: 'h', id: 'x' } }]), RELAY, 'no root');
});

test('defs: at most 400 state nodes, 2000 transitions, nesting 12 deep', (t) => {
  const wide = (n: number) => defWith(node('', Array.from({ length: n - 1 }, (_, i) => node(`c${i}`))));
  t.notThrows(() => checkUpdates(PEER, [{ k: 'def', def: wide(400) }]));
  t.throws(reject([{ k: 'def', def: wide(401) }]), RELAY);
  // Counted over the whole batch's def, not per level: 20 × 20 + 21 > 400.
  const twoLevels = defWith(node('', Array.from({ length: 20 }, (_, i) => node(`a${i}`, Array.from({ length: 20 }, (_, j) => node(`a${i}.b${j}`))))));
  t.throws(reject([{ k: 'def', def: twoLevels }]), RELAY);
  // The root is depth 0: 13 nested nodes reach depth 12, 14 go beyond.
  t.notThrows(() => checkUpdates(PEER, [{ k: 'def', def: defWith(chain(13)) }]));
  t.throws(reject([{ k: 'def', def: defWith(chain(14)) }]), RELAY);
  t.throws(reject([{ k: 'def', def: defWith(chain(10_000)) }]), RELAY, 'no stack overflow on a very deep def');
  const go = { event: 'go', targets: [], actions: [] };
  const manyTransitions = (n: number) => defWith({ ...node(''), transitions: Array(n).fill(go) });
  t.notThrows(() => checkUpdates(PEER, [{ k: 'def', def: manyTransitions(2000) }]));
  t.throws(reject([{ k: 'def', def: manyTransitions(2001) }]), RELAY);
});

test('state values: strings or objects of them, at most 12 deep and 64 wide', (t) => {
  const value = (v: unknown) => checkUpdates(PEER, [{ ...step, value: v }]);
  t.deepEqual((value(deepValue(13))[0] as { value: unknown }).value, deepValue(13));
  t.throws(() => value(deepValue(14)), RELAY);
  t.throws(() => value(deepValue(100_000)), RELAY, 'no stack overflow on a very deep value');
  const wide = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`r${i}`, 'on']));
  t.notThrows(() => value(wide(64)));
  t.throws(() => value(wide(65)), RELAY);
  for (const bad of [null, undefined, 1, true, ['a'], { a: 1 }, { a: null }, { a: ['b'] }]) {
    t.throws(() => value(bad), RELAY, JSON.stringify(bad));
  }
});

test('health: every counter is a number; rtt may be null; sessions are bounded', (t) => {
  const counters = ['framesIn', 'framesOut', 'bytesIn', 'bytesOut', 'channels', 'upMs', 'rttMs'] as const;
  for (const field of counters) {
    for (const bad of ['10', undefined, -1, Number.NaN, {}, ...(field === 'rttMs' ? [] : [null])]) {
      const s = { ...session, [field]: bad };
      t.throws(reject([{ k: 'health', host: PEER, t: 1, sessions: [s] }]), RELAY, `${field} ${String(bad)}`);
    }
  }
  for (const field of ['peer', 'address', 'role', 'state', 'cipher'] as const) {
    t.throws(reject([{ k: 'health', host: PEER, t: 1, sessions: [{ ...session, [field]: 1 }] }]), RELAY, field);
  }
  t.throws(reject([{ k: 'health', host: PEER, t: 1, sessions: 'all' }]), RELAY);
  t.throws(reject([{ k: 'health', host: PEER, t: 1, sessions: [null] }]), RELAY);
  t.notThrows(() => checkUpdates(PEER, [{ k: 'health', host: PEER, t: 1, sessions: Array(1024).fill(session) }]));
  t.throws(reject([{ k: 'health', host: PEER, t: 1, sessions: Array(1025).fill(session) }]), RELAY);
});

test('unknown fields are dropped at every level, not passed through', (t) => {
  const extra = { onclick: 'alert(1)', html: '<script>' };
  const batch = [
    { k: 'host', host: PEER, ...extra },
    { k: 'gap', host: PEER, dropped: 1, ...extra },
    { k: 'actor', actor: { ...actor, ...extra, tag: { ...actor.tag, ...extra } }, ...extra },
    { ...step, ...extra },
    { k: 'health', host: PEER, t: 1, sessions: [{ ...session, ...extra }], ...extra },
    {
      k: 'def',
      def: defWith({
        ...node(''),
        ...extra,
        children: [{ ...node('a'), ...extra }],
        transitions: [{ event: 'go', targets: ['a'], actions: [], ...extra }],
      }),
      ...extra,
    },
  ];
  const text = JSON.stringify(checkUpdates(PEER, batch));
  t.false(text.includes('onclick'), text);
  t.false(text.includes('<script>'), text);
  t.deepEqual(checkUpdates(PEER, [batch[0]]), [{ k: 'host', host: PEER, self: false, connected: true }]);
});

test('a peer\'s context is redacted again: its swiss numbers and secret fields do not reach the page', (t) => {
  const context = {
    privateKey: 'opensesame',
    note: `ref ${REF}`,
    blob: SWISS,
    nested: { list: [{ ticket: 'abc' }, SWISS] },
  };
  const [out] = checkUpdates(PEER, [{ ...step, context }]) as unknown as [{ context: Record<string, unknown> }];
  const text = JSON.stringify(out.context);
  t.is(out.context['privateKey'], REDACTED);
  t.false(text.includes(SWISS), text);
  t.false(text.includes('opensesame'), text);
  t.is(out.context['blob'], REDACTED);
  t.deepEqual(out.context['nested'], { list: [{ ticket: REDACTED }, REDACTED] });
  // Event, label and tag captions are redacted too.
  const [s] = checkUpdates(PEER, [{ ...step, event: `got ${SWISS}`, label: REF }]) as unknown as [{ event: string; label: string }];
  t.false(`${s.event} ${s.label}`.includes(SWISS));
  const [a] = checkUpdates(PEER, [{ k: 'actor', actor: { ...actor, tag: { group: SWISS, name: REF } } }]) as unknown as [
    { actor: { tag: { group: string; name: string } } },
  ];
  t.false(JSON.stringify(a.actor.tag).includes(SWISS));
});

test('machineDef output of real machines passes unchanged', (t) => {
  for (const def of [DEF, machineDef(pathMachine)]) {
    t.deepEqual(checkUpdates(PEER, [{ k: 'def', def }]), [{ k: 'def', def }]);
  }
});

// check.ts redacts transition targets (and actions, entry, invoke, tags) as it
// redacts node paths: a state whose key looks like a secret run (20+ lowercase
// letters, e.g. 'waitingforconfirmation') must still be where its transitions point.
test('a relayed def keeps transition targets that name its own states', (t) => {
  const key = 'waitingforconfirmation';
  const def = defWith({
    ...node(''),
    initial: key,
    children: [node(key)],
    transitions: [{ event: 'go', targets: [key], actions: [] }],
  });
  const [out] = checkUpdates(PEER, [{ k: 'def', def }]) as unknown as [{ def: MachineDef }];
  t.deepEqual(out.def.root.transitions[0]!.targets, [out.def.root.children[0]!.path]);
});

// The error messages show what was sent; an object without a usable toString
// (plain JSON such as {"toString": 1}) must not turn them into a TypeError.
// The properties below include such objects.
test('a kind or host without a usable toString is a VizRelayError, not a TypeError', (t) => {
  t.throws(reject([{ k: { toString: 1 } }]), RELAY);
  t.throws(reject([{ k: 'gap', host: { toString: 1 }, dropped: 1 }]), RELAY);
  t.throws(reject([{ k: Object.create(null) }]), RELAY);
});

const onlyRelayErrors = (batch: unknown): boolean => {
  try {
    checkUpdates(PEER, batch);
    return true;
  } catch (err) {
    return (err as Error).name === 'VizRelayError';
  }
};

test('property: any value at all either passes or is a VizRelayError', (t) => {
  fc.assert(
    fc.property(fc.anything({ withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }), (v) => {
      return onlyRelayErrors(v) && onlyRelayErrors([v]) && onlyRelayErrors([{ k: 'step', ...(v as object) }]);
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

const KINDS = ['host', 'def', 'actor', 'step', 'health', 'gap'] as const;
const fieldArb = fc.oneof(
  fc.anything(),
  fc.constantFrom(PEER, `${PEER}/1`, THIRD, 'active', 'atomic', 0, -1, Number.NaN, null, [], {}, { toString: 1 }, Object.create(null)),
  fc.string({ maxLength: 250 }),
);
const recordArb = fc
  .tuple(fc.constantFrom(...KINDS), fc.dictionary(fc.constantFrom('host', 'def', 'actor', 'aid', 'seq', 't', 'event', 'status', 'value', 'context', 'sessions', 'dropped', 'listen', 'source', 'remote', 'label'), fieldArb))
  .map(([k, fields]) => ({ ...fields, k }));

/** `v` with the node that `choices` leads to replaced by `by` (or removed). */
const mutate = (v: unknown, choices: readonly number[], by: unknown, remove: boolean): unknown => {
  const [c = 0, ...rest] = choices;
  if (Array.isArray(v) && v.length > 0) {
    const i = c % v.length;
    if (rest.length === 0) return remove ? v.filter((_, j) => j !== i) : v.map((x, j) => (j === i ? by : x));
    return v.map((x, j) => (j === i ? mutate(x, rest, by, remove) : x));
  }
  if (v !== null && typeof v === 'object' && Object.keys(v).length > 0) {
    const keys = Object.keys(v);
    const k = keys[c % keys.length]!;
    const copy: Record<string, unknown> = { ...v };
    if (rest.length === 0) {
      if (remove) delete copy[k];
      else copy[k] = by;
    } else copy[k] = mutate(copy[k], rest, by, remove);
    return copy;
  }
  return by;
};

test('property: records of every kind with arbitrary fields pass or are a VizRelayError', (t) => {
  fc.assert(
    fc.property(fc.array(recordArb, { maxLength: 8 }), (batch) => onlyRelayErrors(batch)),
    { numRuns: 1000 },
  );
  t.pass();
});

test('property: a valid batch damaged anywhere passes or is a VizRelayError', (t) => {
  fc.assert(
    fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 10 }), fieldArb, fc.boolean(), (choices, by, remove) => {
      return onlyRelayErrors(mutate(valid(), choices, by, remove));
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('a host record’s run is kept, bounded; a gone mark on an actor is the receiver’s, never taken from the peer', (t) => {
  const [host] = checkUpdates(PEER, [{ k: 'host', host: PEER, self: true, connected: false, run: 'mbx3k9a1' }]);
  t.deepEqual(host, { k: 'host', host: PEER, self: false, connected: true, run: 'mbx3k9a1' });
  t.throws(() => checkUpdates(PEER, [{ k: 'host', host: PEER, run: 'r'.repeat(33) }]), { name: 'VizRelayError', message: /run must be a string of at most 32/ });
  t.throws(() => checkUpdates(PEER, [{ k: 'host', host: PEER, run: 7 }]), { name: 'VizRelayError' });
  const [actor] = checkUpdates(PEER, [{ k: 'actor', actor: { aid: `${PEER}/r.1`, host: PEER, def: 'd', tag: { group: 'g', name: 'n' }, gone: true } }]);
  t.false(actor?.k === 'actor' && 'gone' in actor.actor);
});
