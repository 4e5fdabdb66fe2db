/**
 * Two triple sessions joined by links of the in-memory network (triple-network.ts),
 * on one simulated clock, with what each delivered recorded as text.
 */
import type { TripleLimits } from '../../protocols/triple/limits.js';
import { makeTripleSession, type TripleMode, type TripleSession } from '../../protocols/triple/triple-session.js';
import { type HeapClock, type Link, type LinkFaults, CLEAN, makeHeapClock, makeLink, seededRandom } from './triple-network.js';

/** Fast timings so a simulated minute is a few thousand timer events. */
export const TEST_LIMITS: Partial<TripleLimits> = {
  heartbeatMs: 100,
  pathDeadMs: 400,
  graceMs: 5_000,
  ackDelayMs: 5,
  minRtoMs: 50,
  initialRtoMs: 200,
  maxRtoMs: 1_000,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const bytes = (s: string) => encoder.encode(s);
export const text = (b: Uint8Array) => decoder.decode(b);

export interface Pair {
  readonly clock: HeapClock;
  readonly random: () => number;
  readonly a: TripleSession;
  readonly b: TripleSession;
  /** What each side delivered, as text. */
  readonly got: { a: string[]; b: string[] };
  readonly links: Link[];
  /** A new link attached to both sides. */
  link(faults?: Partial<LinkFaults>): Link;
}

export const makePair = (o: { paths?: number; mode?: TripleMode; limits?: Partial<TripleLimits>; seed?: number; epochs?: [number, number] } = {}): Pair => {
  const clock = makeHeapClock();
  const random = seededRandom(o.seed ?? 1);
  const limits = { ...TEST_LIMITS, ...o.limits };
  const mode = o.mode ?? 'all';
  const [ea, eb] = o.epochs ?? [11, 22];
  const a = makeTripleSession({ name: 'A', clock, epoch: ea, mode, limits });
  const b = makeTripleSession({ name: 'B', clock, epoch: eb, mode, limits });
  const got = { a: [] as string[], b: [] as string[] };
  a.onFrame((_t, p) => got.a.push(text(p)));
  b.onFrame((_t, p) => got.b.push(text(p)));
  const links: Link[] = [];
  const link = (faults: Partial<LinkFaults> = {}) => {
    const l = makeLink(clock, random, { ...CLEAN, ...faults });
    links.push(l);
    a.attach(l.a, `link-${links.length}`);
    b.attach(l.b, `link-${links.length}`);
    return l;
  };
  for (let i = 0; i < (o.paths ?? 3); i++) link();
  return { clock, random, a, b, got, links, link };
};
