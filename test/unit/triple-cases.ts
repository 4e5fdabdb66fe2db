/**
 * The cases of the triple-session property (triple-property.test.ts): three
 * links with seeded faults and fault events, sends from both ends, then healing;
 * `runCase` says what broke, if anything. Kept apart from the test so a script
 * (or the bench) can replay one case.
 */
import fc from 'fast-check';
import { Tag } from '../../protocols/framing/frames.js';
import { makeTripleSession, type TripleMode } from '../../protocols/triple/triple-session.js';
import { bytes, TEST_LIMITS, text } from './triple-fixtures.js';
import { CLEAN, type Link, type LinkFaults, makeHeapClock, makeLink, seededRandom } from './triple-network.js';

export interface FaultEvent {
  readonly at: number;
  readonly slot: number;
  readonly kind: 'cut' | 'partition' | 'outage';
  /** How long a partition or outage lasts, or how long a cut slot stays empty. */
  readonly ms: number;
}

export interface Case {
  readonly seed: number;
  readonly mode: TripleMode;
  readonly faults: readonly LinkFaults[];
  readonly events: readonly FaultEvent[];
  readonly sends: readonly { readonly at: number; readonly fromA: boolean; readonly size: number }[];
}

const HORIZON_MS = 15_000;
/**
 * The default 30 s grace: every fault happens within the horizon and each slot
 * is back within 3.5 s of its last fault, so no case can keep every path down
 * for 30 s — the session must never end (its loss past the grace period is a
 * unit test).
 */
const PROPERTY_LIMITS = { ...TEST_LIMITS, graceMs: 30_000 };
const faultsArb: fc.Arbitrary<LinkFaults> = fc.record({
  drop: fc.double({ min: 0, max: 0.3, noNaN: true }),
  duplicate: fc.double({ min: 0, max: 0.2, noNaN: true }),
  corrupt: fc.double({ min: 0, max: 0.02, noNaN: true }),
  corruptKills: fc.double({ min: 0, max: 1, noNaN: true }),
  delayMs: fc.integer({ min: 1, max: 40 }),
  jitterMs: fc.integer({ min: 0, max: 60 }),
});
export const caseArb: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  mode: fc.constantFrom<TripleMode>('all', 'standby'),
  faults: fc.array(faultsArb, { minLength: 3, maxLength: 3 }),
  events: fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: HORIZON_MS }),
      slot: fc.integer({ min: 0, max: 2 }),
      kind: fc.constantFrom<FaultEvent['kind']>('cut', 'partition', 'outage'),
      ms: fc.integer({ min: 10, max: 2_500 }),
    }),
    { maxLength: 12, size: 'max' },
  ),
  sends: fc.array(fc.record({ at: fc.integer({ min: 0, max: HORIZON_MS }), fromA: fc.boolean(), size: fc.integer({ min: 0, max: 300 }) }), {
    minLength: 20,
    maxLength: 300,
    size: 'max',
  }),
});

/** Totals over all cases, logged: they show the faults really fired. */
export const totals = { cases: 0, links: 0, retransmits: 0, duplicates: 0, early: 0, frames: 0 };

/** Runs one case; returns undefined when the invariant held, else what broke. */
export const runCase = (c: Case, limits = PROPERTY_LIMITS): string | undefined => {
  const clock = makeHeapClock();
  const random = seededRandom(c.seed);
  const a = makeTripleSession({ name: 'A', clock, epoch: 101, mode: c.mode, limits });
  const b = makeTripleSession({ name: 'B', clock, epoch: 202, mode: c.mode, limits });
  const got = { a: [] as string[], b: [] as string[] };
  const sent = { a: [] as string[], b: [] as string[] };
  a.onFrame((_t, p) => got.a.push(text(p).split('|')[0]!));
  b.onFrame((_t, p) => got.b.push(text(p).split('|')[0]!));

  let healed = false;
  const slots: Array<Link | undefined> = [undefined, undefined, undefined];
  /** Slots kept empty until this time (a cut slot stays down a while; an outage keeps every slot down). */
  const downUntil = [0, 0, 0];
  const fill = (i: number) => {
    if (a.lifetime.isClosed || b.lifetime.isClosed) return;
    totals.links++;
    const l = makeLink(clock, random, healed ? { ...CLEAN } : { ...(c.faults[i] as LinkFaults) });
    slots[i] = l;
    a.attach(l.a, `slot-${i}`);
    b.attach(l.b, `slot-${i}`);
    // A link that ends (cut, corrupted, detached as dead) is replaced: a bridge finds another path.
    l.lifetime.onClose(() => {
      if (slots[i] !== l) return;
      slots[i] = undefined;
      const wait = Math.max(50 + Math.floor(random() * 1_000), downUntil[i]! - clock.now());
      clock.setTimeout(() => slots[i] === undefined && fill(i), wait);
    });
  };
  for (let i = 0; i < 3; i++) fill(i);

  for (const e of c.events) {
    clock.setTimeout(() => {
      if (healed) return;
      const targets = e.kind === 'outage' ? [0, 1, 2] : [e.slot];
      for (const i of targets) {
        const l = slots[i];
        if (e.kind === 'partition') {
          if (l) {
            l.partitioned = true;
            clock.setTimeout(() => {
              l.partitioned = false;
            }, e.ms);
          }
        } else {
          downUntil[i] = clock.now() + e.ms;
          l?.cut();
        }
      }
    }, e.at);
  }
  let n = 0;
  for (const s of c.sends) {
    const id = n++;
    clock.setTimeout(() => {
      const [from, log] = s.fromA ? [a, sent.a] : [b, sent.b];
      if (from.lifetime.isClosed) return;
      const body = `${id}|${'x'.repeat(s.size)}`;
      log.push(String(id));
      from.send(Tag.Deliver, bytes(body));
    }, s.at);
  }

  clock.advance(HORIZON_MS + 3_000);
  // Heal: faults off, partitions lifted, every empty slot filled with a clean link.
  healed = true;
  for (let i = 0; i < 3; i++) {
    const l = slots[i];
    if (l) {
      l.faults = { ...CLEAN };
      l.partitioned = false;
    } else fill(i);
  }
  const done = () =>
    got.b.length >= sent.a.length && got.a.length >= sent.b.length && a.diagnostics().unackedFrames === 0 && b.diagnostics().unackedFrames === 0;
  clock.runUntil(done, 30_000);

  const problems: string[] = [];
  for (const s of [a, b]) if (s.lifetime.isClosed) problems.push(`${s === a ? 'A' : 'B'} ended: ${s.lifetime.reason?.message}`);
  const same = (x: string[], y: string[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  if (!same(got.b, sent.a)) problems.push(`B got ${got.b.length} of ${sent.a.length} from A, in order: ${same(got.b, sent.a.slice(0, got.b.length))}`);
  if (!same(got.a, sent.b)) problems.push(`A got ${got.a.length} of ${sent.b.length} from B, in order: ${same(got.a, sent.b.slice(0, got.a.length))}`);
  if (!done()) problems.push(`buffers not drained: A ${a.diagnostics().unackedFrames}, B ${b.diagnostics().unackedFrames} unacked`);
  totals.cases++;
  totals.frames += sent.a.length + sent.b.length;
  for (const s of [a, b]) {
    const d = s.diagnostics();
    totals.retransmits += d.retransmits;
    totals.duplicates += d.duplicates;
    totals.early += d.early;
  }
  a.abort(new Error('case over'));
  b.abort(new Error('case over'));
  return problems.length === 0 ? undefined : problems.join('; ');
};

