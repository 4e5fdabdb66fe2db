/**
 * The rendezvous machine (protocols/handoff/handoff.machine.ts): pure
 * transitions, a running actor with a provided `locate` on XState's simulated
 * clock, and the host's use of it (runtime/handoffs.ts) with fake parties, to
 * check that a claim's nonce never reaches what the visualizer is shown.
 */
import '@endo/init';
import test from 'ava';
import { Far } from '@endo/far';
import { createActor, fromPromise, initialTransition, type InspectionEvent, SimulatedClock, transition } from 'xstate';
import type { Link } from '../../capabilities/handoff.js';
import { type HandoffMachineInput, handoffMachine, type LocateInput } from '../../protocols/handoff/handoff.machine.js';
import { makeHostHandoffs } from '../../runtime/handoffs.js';
import type { Inspector } from '../../runtime/viz/inspector-api.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';

const HOST = 'h'.repeat(52);
const INPUT: HandoffMachineInput = {
  recipient: `${HOST}/a`,
  owner: `${'o'.repeat(52)}/c`,
  donor: `${HOST}/b`,
  hints: ['127.0.0.1:4000'],
  locateMs: 100,
  claimMs: 200,
};
const LOCATE_DONE = 'xstate.done.actor.0.handoff.locating';
const LOCATE_ERROR = 'xstate.error.actor.0.handoff.locating';
const LOCATE_TIMEOUT = 'xstate.after.locateTimeout.handoff.locating';
const CLAIM_TIMEOUT = 'xstate.after.claimTimeout.handoff.claiming';

type Snap = ReturnType<typeof initialTransition<typeof handoffMachine>>[0];
type AnyEvent = Parameters<typeof transition<typeof handoffMachine>>[2];
const types = (actions: ReadonlyArray<{ type: string }>) => actions.map((a) => a.type);
/** `ev` sent to the machine taken through `events` from the start. */
const drive = (events: ReadonlyArray<{ type: string }>): Snap => {
  let [snap] = initialTransition(handoffMachine, INPUT);
  for (const ev of events) [snap] = transition(handoffMachine, snap, ev as AnyEvent);
  return snap;
};

test('pure: locating starts the locate actor with owner, recipient and hints, and a locate timer', (t) => {
  const [snap, actions] = initialTransition(handoffMachine, INPUT);
  t.is(snap.value, 'locating');
  t.deepEqual(types(actions), ['xstate.raise', 'xstate.spawnChild']);
  const [timer, spawn] = actions as unknown as [{ params: { delay: number; id: string } }, { params: { src: string; input: LocateInput } }];
  t.is(timer.params.delay, INPUT.locateMs);
  t.is(timer.params.id, LOCATE_TIMEOUT);
  t.is(spawn.params.src, 'locate');
  t.deepEqual(spawn.params.input, { owner: INPUT.owner, recipient: INPUT.recipient, hints: INPUT.hints });
  t.deepEqual(snap.context, { ...INPUT, why: undefined });
});

test('pure: located → claiming (the locate timer cancelled, a claim timer set) → direct on claim.settled(direct)', (t) => {
  const [start] = initialTransition(handoffMachine, INPUT);
  const [claiming, actions] = transition(handoffMachine, start, { type: LOCATE_DONE, output: undefined } as unknown as AnyEvent);
  t.is(claiming.value, 'claiming');
  t.deepEqual(types(actions), ['xstate.cancel', 'xstate.stopChild', 'xstate.raise']);
  t.is((actions[0] as unknown as { params: { sendId: string } }).params.sendId, LOCATE_TIMEOUT);
  t.like((actions[2] as unknown as { params: object }).params, { id: CLAIM_TIMEOUT, delay: INPUT.claimMs });
  const [done, last] = transition(handoffMachine, claiming, { type: 'claim.settled', outcome: 'direct' });
  t.is(done.value, 'direct');
  t.is(done.status, 'done');
  t.is(done.context.why, undefined);
  t.deepEqual(types(last), ['xstate.cancel']);
  t.is((last[0] as unknown as { params: { sendId: string } }).params.sendId, CLAIM_TIMEOUT);
});

test('pure: every way to proxied says why, and leaves the state\'s timer cancelled', (t) => {
  const cases: Array<[string, ReadonlyArray<{ type: string }>, RegExp, string]> = [
    ['locate fails', [{ type: LOCATE_ERROR, error: new Error('no such vat') } as { type: string }], /^owner unreachable: no such vat$/, LOCATE_TIMEOUT],
    ['locate times out', [{ type: LOCATE_TIMEOUT }], /^owner not reached within 100 ms$/, LOCATE_TIMEOUT],
    [
      'the claim is refused',
      [{ type: LOCATE_DONE }, { type: 'claim.settled', outcome: 'proxied', why: 'GiftRefusedError: nope' } as { type: string }],
      /^GiftRefusedError: nope$/,
      CLAIM_TIMEOUT,
    ],
    ['the claim fails without a reason', [{ type: LOCATE_DONE }, { type: 'claim.settled', outcome: 'proxied' } as { type: string }], /^claim failed$/, CLAIM_TIMEOUT],
    ['the claim is not reported in time', [{ type: LOCATE_DONE }, { type: CLAIM_TIMEOUT }], /^no answer to the claim within 200 ms$/, CLAIM_TIMEOUT],
  ];
  for (const [what, events, why, timer] of cases) {
    const before = drive(events.slice(0, -1));
    const [after, actions] = transition(handoffMachine, before, events.at(-1) as AnyEvent);
    t.is(after.value, 'proxied', what);
    t.is(after.status, 'done', what);
    t.regex(after.context.why ?? '', why, what);
    t.true(
      actions.some((a) => (a.type as string) === 'xstate.cancel' && (a as unknown as { params: { sendId: string } }).params.sendId === timer),
      `${what}: ${timer} cancelled`,
    );
  }
});

test('pure: events a state does not expect change nothing; final states take nothing', (t) => {
  const locating = drive([]);
  for (const ev of [{ type: 'claim.settled', outcome: 'direct' }, { type: CLAIM_TIMEOUT }, { type: 'nonsense' }]) {
    const [after, actions] = transition(handoffMachine, locating, ev as AnyEvent);
    t.is(after.value, 'locating', ev.type);
    t.deepEqual(actions, [], ev.type);
  }
  const claiming = drive([{ type: LOCATE_DONE }]);
  for (const ev of [{ type: LOCATE_TIMEOUT }, { type: LOCATE_ERROR, error: new Error('late') }, { type: 'nonsense' }]) {
    const [after, actions] = transition(handoffMachine, claiming, ev as AnyEvent);
    t.is(after.value, 'claiming', ev.type);
    t.deepEqual(actions, [], ev.type);
  }
  const direct = drive([{ type: LOCATE_DONE }, { type: 'claim.settled', outcome: 'direct' } as { type: string }]);
  for (const final of [direct, drive([{ type: LOCATE_TIMEOUT }])]) {
    for (const ev of [{ type: 'claim.settled', outcome: 'proxied', why: 'x' }, { type: LOCATE_DONE }, { type: CLAIM_TIMEOUT }]) {
      const [after, actions] = transition(handoffMachine, final, ev as AnyEvent);
      t.is(after.value, final.value);
      t.is(after.context.why, final.context.why);
      t.deepEqual(actions, []);
    }
  }
});

/** Timers the simulated clock still holds (its map is private in the typings). */
const timersOf = (clock: SimulatedClock) => (clock as unknown as { timeouts: Map<unknown, unknown> }).timeouts.size;

/** A running machine whose `locate` the test settles by hand. */
const live = () => {
  const clock = new SimulatedClock();
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const asked: LocateInput[] = [];
  const machine = handoffMachine.provide({
    actors: {
      locate: fromPromise<void, LocateInput>(({ input }) => {
        asked.push(input);
        return new Promise<void>((resolve, reject) => {
          settle = { resolve, reject };
        });
      }),
    },
  });
  const actor = createActor(machine, { input: INPUT, clock });
  actor.start();
  const done = new Promise<ReturnType<typeof actor.getSnapshot>>((resolve) => {
    actor.subscribe((s) => {
      if (s.status === 'done') resolve(s);
    });
  });
  /** Lets the locate promise's settlement reach the actor. */
  const turn = () => new Promise<void>((r) => setImmediate(r));
  return { clock, actor, asked, turn, done, locate: () => settle };
};

test('actor: locate resolves → claiming; claim.settled(direct) → direct; no timers left', async (t) => {
  const { clock, actor, asked, turn, done, locate } = live();
  t.deepEqual(asked, [{ owner: INPUT.owner, recipient: INPUT.recipient, hints: INPUT.hints }]);
  t.is(timersOf(clock), 1, 'the locate timer');
  locate().resolve();
  await turn();
  t.is(actor.getSnapshot().value, 'claiming');
  t.is(timersOf(clock), 1, 'the claim timer only');
  clock.increment(INPUT.claimMs - 1);
  t.is(actor.getSnapshot().value, 'claiming');
  actor.send({ type: 'claim.settled', outcome: 'direct' });
  const end = await within(done, LOCAL_MS, 'the machine ends');
  t.is(end.value, 'direct');
  t.is(timersOf(clock), 0);
});

test('actor: a failed locate → proxied with its reason; no timers left', async (t) => {
  const { clock, turn, done, locate } = live();
  locate().reject(new Error('HandoffUnreachableError: no vat "c" runs on this host'));
  await turn();
  const end = await within(done, LOCAL_MS, 'the machine ends');
  t.is(end.value, 'proxied');
  t.is(end.context.why, 'owner unreachable: HandoffUnreachableError: no vat "c" runs on this host');
  t.is(timersOf(clock), 0);
});

test('actor: locate taking locateMs → proxied exactly at the limit; a late locate changes nothing', async (t) => {
  const { clock, actor, turn, done, locate } = live();
  clock.increment(INPUT.locateMs - 1);
  t.is(actor.getSnapshot().value, 'locating');
  clock.increment(1);
  const end = await within(done, LOCAL_MS, 'the machine ends');
  t.is(end.value, 'proxied');
  t.is(end.context.why, `owner not reached within ${INPUT.locateMs} ms`);
  t.is(timersOf(clock), 0);
  locate().resolve();
  await turn();
  t.is(actor.getSnapshot().value, 'proxied');
});

test('actor: claim.settled(proxied) → proxied with the claim\'s why; no timers left', async (t) => {
  const { clock, actor, turn, done, locate } = live();
  locate().resolve();
  await turn();
  actor.send({ type: 'claim.settled', outcome: 'proxied', why: 'GiftExpiredError: no gift arrived' });
  const end = await within(done, LOCAL_MS, 'the machine ends');
  t.is(end.value, 'proxied');
  t.is(end.context.why, 'GiftExpiredError: no gift arrived');
  t.is(timersOf(clock), 0);
});

test('actor: no report within claimMs → proxied exactly at the limit; no timers left', async (t) => {
  const { clock, actor, turn, done, locate } = live();
  locate().resolve();
  await turn();
  clock.increment(INPUT.claimMs - 1);
  t.is(actor.getSnapshot().value, 'claiming');
  clock.increment(1);
  const end = await within(done, LOCAL_MS, 'the machine ends');
  t.is(end.value, 'proxied');
  t.is(end.context.why, `no answer to the claim within ${INPUT.claimMs} ms`);
  t.is(timersOf(clock), 0);
  actor.send({ type: 'claim.settled', outcome: 'direct' });
  t.is(actor.getSnapshot().value, 'proxied');
});

// --- the host's rendezvous (runtime/handoffs.ts) with fake parties ---

/** JSON of `value`, each object once (inspection events refer to actors, which refer back). */
const dump = (value: unknown): string => {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'object' && v !== null) {
      if (seen.has(v)) return '[seen]';
      seen.add(v);
    }
    if (typeof v === 'function') return '[function]';
    return v;
  });
};

const NONCE = 'n'.repeat(26);

/** A host whose handoffs claim from a fake local vat 'c' that answers with `answer`. */
const hostWith = (answer: (donor: unknown, nonce: unknown) => unknown) => {
  const seen: InspectionEvent[] = [];
  const inspector = { tap: () => ({ inspect: (e: InspectionEvent) => void seen.push(e), retag() {} }) } as unknown as Inspector;
  const owner: Link = {
    id: `${HOST}/c`,
    conn: { aborted: undefined } as Link['conn'],
    boot: async () => Far('OwnerBoot', { acceptFrom: answer }),
  };
  const host = makeHostHandoffs({
    hostId: HOST,
    inspector,
    local: () => ({ isRunning: (vat) => vat === 'c', connect: () => {}, link: (vat) => (vat === 'c' ? owner : undefined) }),
    remote: () => undefined,
  });
  const donor: Link = { id: `${HOST}/b`, conn: { aborted: undefined } as Link['conn'], boot: async () => undefined };
  return { host, seen, take: () => host.table.port(() => donor).take({ slot: 'o+1', owner: owner.id, nonce: NONCE }) };
};

test('host: a claim the owner answers ends direct; the nonce is in nothing the inspector sees', async (t) => {
  const gift = Far('Gift', {});
  const claims: unknown[][] = [];
  const { host, seen, take } = hostWith((donor, nonce) => {
    claims.push([donor, nonce]);
    return gift;
  });
  t.is(await within(take(), LOCAL_MS, 'the claim'), gift);
  t.deepEqual(claims, [[`${HOST}/b`, NONCE]], 'the nonce went to the owner only');
  t.like(host.stats(), { active: 0, direct: 1, proxied: 0 });
  t.deepEqual([...host.stats().byRecipient], [['@host', { direct: 1, proxied: 0 }]], 'counted for the recipient');
  t.true(seen.length > 0);
  const everything = dump(seen);
  t.true(everything.includes('claiming'), 'the stream shows the machine');
  t.false(everything.includes(NONCE), 'the nonce is not in any event or snapshot');
  const last = seen.filter((e) => e.type === '@xstate.snapshot').at(-1) as { snapshot: { context: object } } | undefined;
  t.deepEqual(Object.keys(last?.snapshot.context ?? {}).sort(), ['claimMs', 'donor', 'hints', 'locateMs', 'owner', 'recipient', 'why']);
});

test('host: a refused claim ends proxied with the refusal as why; an unknown owner ends proxied before claiming', async (t) => {
  const { host, seen, take } = hostWith(() => {
    throw new Error('GiftRefusedError: this gift is for another recipient');
  });
  const err = await t.throwsAsync(within(take(), LOCAL_MS, 'the claim'));
  t.regex(err?.message ?? '', /GiftRefusedError/);
  t.like(host.stats(), { active: 0, direct: 0, proxied: 1 });
  const last = seen.filter((e) => e.type === '@xstate.snapshot').at(-1) as { snapshot: { value: string; context: { why: string } } } | undefined;
  t.is(last?.snapshot.value, 'proxied');
  t.regex(last?.snapshot.context.why ?? '', /GiftRefusedError: this gift is for another recipient/);
  t.false(dump(seen).includes(NONCE));

  const nobody = await t.throwsAsync(within(host.table.port(() => ({ id: `${HOST}/b` }) as Link).take({ slot: 'o+2', owner: `${HOST}/zz`, nonce: NONCE }), LOCAL_MS, 'the claim'));
  t.is(nobody?.name, 'HandoffUnreachableError');
  t.regex(nobody?.message ?? '', /no vat "zz" runs on this host/);
  t.like(host.stats(), { active: 0, direct: 0, proxied: 2 });
});

test('host: a report for another recipient than the machine\'s is ignored', async (t) => {
  let answer!: (v: unknown) => void;
  const { host, take } = hostWith(() => new Promise((r) => (answer = r)));
  const claim = take();
  await new Promise<void>((r) => setImmediate(r));
  t.is(host.stats().active, 1);
  host.settled('c', 1, 'proxied', 'a vat that is not the recipient says so');
  t.is(host.stats().active, 1, 'still claiming');
  answer(Far('Gift', {}));
  await within(claim, LOCAL_MS, 'the claim');
  t.like(host.stats(), { active: 0, direct: 1, proxied: 0 });
});
