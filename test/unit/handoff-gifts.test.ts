/**
 * The owner's gift table (capabilities/handoff.ts) through `gate(peer)`, the two
 * methods a peer's bootstrap object offers, on a simulated clock with small
 * limits: who may claim what, in which order, for how long, and how much one
 * peer may pile up. Refusals cross CapTP flattened (`passableError`: a plain
 * Error whose message starts with the class name), so they are matched here by
 * the name `reviveError` gives back.
 */
import '@endo/init';
import test, { type ExecutionContext } from 'ava';
import { Far } from '@endo/far';
import { reviveError } from '../../capabilities/errors.js';
import { FULL_ID_PATTERN, NONCE_BYTES, NONCE_PATTERN } from '../../capabilities/gift-notes.js';
import { type HandoffLimits, makeHandoffs } from '../../capabilities/handoff.js';
import { base32 } from '../../protocols/session/vat-id.js';
import { makeSimClock } from './session-fixtures.js';

const HOST = 'h'.repeat(52);
const RECIPIENT = `${HOST}/a`;
const DONOR = `${HOST}/b`;
const OWNER = `${HOST}/c`;
const OTHER = `${HOST}/d`;
const THIRD = `${HOST}/e`;

const LIMITS: HandoffLimits = { maxGiftsPerDonor: 2, maxClaimsPerRecipient: 2, maxClaims: 5, giftTtlMs: 1000, claimWaitMs: 300, claimedMemory: 3, reviveWithinMs: 1000 };

let nonces = 0;
/** A well-formed nonce, different each call (16 bytes, like the real ones). */
const freshNonce = () => {
  const bytes = new Uint8Array(NONCE_BYTES);
  new DataView(bytes.buffer).setUint32(0, ++nonces);
  return base32(bytes);
};

/** The owner's table with a hand-driven clock; `reach` is not used by the owner's role. */
const owner = (limits: Partial<HandoffLimits> = LIMITS) => {
  const clock = makeSimClock();
  const handoffs = makeHandoffs({
    self: OWNER,
    nonce: freshNonce,
    clock,
    limits,
    reach: () => Promise.reject(new Error('the owner does not claim here')),
  });
  return { clock, handoffs, from: (peer: string) => handoffs.gate(peer) };
};

const obj = (label = 'gift') => Far('Gift', { label: () => label });

/** The error `f` throws or rejects with, as it crosses CapTP (a plain Error) and after reviveError. */
const failure = async (t: ExecutionContext, f: () => unknown): Promise<Error> => {
  try {
    await f();
  } catch (err) {
    t.true(err instanceof Error);
    t.is((err as Error).name, 'Error', 'flattened to a plain Error that CapTP passes');
    return reviveError(err);
  }
  t.fail('expected a refusal');
  throw new Error('unreachable');
};

/** Whether a promise has settled, after everything already queued has run. */
const state = async (p: Promise<unknown>): Promise<'pending' | 'fulfilled' | 'rejected'> => {
  let s: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  p.then(
    () => (s = 'fulfilled'),
    () => (s = 'rejected'),
  );
  await new Promise<void>((r) => setImmediate(r));
  return s;
};

test('a gift is claimed once, by its recipient naming its donor: a second claim is GiftClaimedError', async (t) => {
  const { handoffs, from, clock } = owner();
  const gift = obj();
  const n = freshNonce();
  from(DONOR).provideFor(RECIPIENT, n, gift);
  t.like(handoffs.stats(), { provided: 1, pending: 1 });
  t.is(await from(RECIPIENT).acceptFrom(DONOR, n), gift);
  t.like(handoffs.stats(), { claimed: 1, pending: 0, waiting: 0 });
  t.is(clock.pending, 0, 'the gift timer is gone with the gift');
  const again = await failure(t, () => from(RECIPIENT).acceptFrom(DONOR, n));
  t.is(again.name, 'GiftClaimedError');
  t.regex(again.message, /^GiftClaimedError: /);
  // A donor cannot reuse a claimed nonce either.
  t.is((await failure(t, () => from(DONOR).provideFor(RECIPIENT, n, obj()))).name, 'GiftClaimedError');
  t.like(handoffs.stats(), { pending: 0, waiting: 0 });
});

test('a claim that comes before its gift waits, and gets the gift when it is provided', async (t) => {
  const { handoffs, from, clock } = owner();
  const gift = obj();
  const n = freshNonce();
  const claim = from(RECIPIENT).acceptFrom(DONOR, n) as Promise<unknown>;
  t.is(await state(claim), 'pending');
  t.like(handoffs.stats(), { waiting: 1, pending: 0 });
  from(DONOR).provideFor(RECIPIENT, n, gift);
  t.is(await claim, gift);
  t.like(handoffs.stats(), { provided: 1, claimed: 1, waiting: 0, pending: 0 });
  t.is(clock.pending, 0, 'the claim timer is gone');
  t.is((await failure(t, () => from(RECIPIENT).acceptFrom(DONOR, n))).name, 'GiftClaimedError');
});

test('a claim by another party than the recipient is refused and does not burn the gift', async (t) => {
  const { handoffs, from } = owner();
  const gift = obj();
  const n = freshNonce();
  from(DONOR).provideFor(RECIPIENT, n, gift);
  const thief = await failure(t, () => from(OTHER).acceptFrom(DONOR, n));
  t.is(thief.name, 'GiftRefusedError');
  t.like(handoffs.stats(), { pending: 1, refused: 1 });
  // Naming the wrong donor is refused too, and still does not burn it.
  const wrongDonor = await failure(t, () => from(RECIPIENT).acceptFrom(OTHER, n));
  t.is(wrongDonor.name, 'GiftRefusedError');
  t.like(handoffs.stats(), { pending: 1, refused: 2 });
  t.is(await from(RECIPIENT).acceptFrom(DONOR, n), gift);
});

test('a waiting claim is refused by name when the gift names another recipient or donor; the gift stays for its recipient', async (t) => {
  const { handoffs, from } = owner();
  const gift = obj();
  const n = freshNonce();
  const early = from(OTHER).acceptFrom(DONOR, n) as Promise<unknown>;
  from(DONOR).provideFor(RECIPIENT, n, gift);
  t.is((await failure(t, () => early)).name, 'GiftRefusedError');
  t.like(handoffs.stats(), { waiting: 0, pending: 1 });
  t.is(await from(RECIPIENT).acceptFrom(DONOR, n), gift);

  // The claim names donor OTHER; the gift comes from DONOR.
  const m = freshNonce();
  const misnamed = from(RECIPIENT).acceptFrom(OTHER, m) as Promise<unknown>;
  from(DONOR).provideFor(RECIPIENT, m, gift);
  t.is((await failure(t, () => misnamed)).name, 'GiftRefusedError');
  t.is(await from(RECIPIENT).acceptFrom(DONOR, m), gift);
  t.like(handoffs.stats(), { pending: 0, waiting: 0 });
});

test('one nonce names one gift and one waiting claim', async (t) => {
  const { handoffs, from } = owner();
  const n = freshNonce();
  from(DONOR).provideFor(RECIPIENT, n, obj());
  t.is((await failure(t, () => from(DONOR).provideFor(RECIPIENT, n, obj('other')))).name, 'GiftRefusedError');
  t.is((await failure(t, () => from(OTHER).provideFor(RECIPIENT, n, obj('other')))).name, 'GiftRefusedError');
  t.is(await labelOf(from(RECIPIENT).acceptFrom(DONOR, n)), 'gift', 'the first gift stands');
  const m = freshNonce();
  const first = from(RECIPIENT).acceptFrom(DONOR, m) as Promise<unknown>;
  t.is((await failure(t, () => from(RECIPIENT).acceptFrom(DONOR, m))).name, 'GiftRefusedError');
  t.like(handoffs.stats(), { waiting: 1 });
  from(DONOR).provideFor(RECIPIENT, m, obj('late'));
  t.is(await labelOf(first), 'late');
});

const labelOf = async (p: unknown) => ((await p) as { label(): string }).label();

test('an unclaimed gift expires after giftTtlMs and frees its entry and its donor\'s quota', async (t) => {
  const { handoffs, from, clock } = owner();
  const n1 = freshNonce();
  from(DONOR).provideFor(RECIPIENT, n1, obj());
  from(DONOR).provideFor(RECIPIENT, freshNonce(), obj());
  t.is((await failure(t, () => from(DONOR).provideFor(RECIPIENT, freshNonce(), obj()))).name, 'GiftLimitError', 'at its bound');
  clock.advance(LIMITS.giftTtlMs - 1);
  t.like(handoffs.stats(), { pending: 2, expired: 0 });
  clock.advance(1);
  t.like(handoffs.stats(), { pending: 0, expired: 2 });
  t.is(clock.pending, 0);
  // The donor may provide again; the expired nonce names nothing now, so a late claim waits and expires.
  from(DONOR).provideFor(RECIPIENT, freshNonce(), obj());
  t.like(handoffs.stats(), { pending: 1 });
  const late = from(RECIPIENT).acceptFrom(DONOR, n1) as Promise<unknown>;
  t.is(await state(late), 'pending');
  clock.advance(LIMITS.claimWaitMs);
  t.is((await failure(t, () => late)).name, 'GiftExpiredError');
});

test('a claim with no gift expires after claimWaitMs with GiftExpiredError and frees its entry', async (t) => {
  const { handoffs, from, clock } = owner();
  const n = freshNonce();
  const claim = from(RECIPIENT).acceptFrom(DONOR, n) as Promise<unknown>;
  clock.advance(LIMITS.claimWaitMs - 1);
  t.is(await state(claim), 'pending');
  clock.advance(1);
  const err = await failure(t, () => claim);
  t.is(err.name, 'GiftExpiredError');
  t.regex(err.message, new RegExp(`within ${LIMITS.claimWaitMs} ms`));
  t.like(handoffs.stats(), { waiting: 0, expired: 1 });
  t.is(clock.pending, 0);
  // A gift that arrives after the claim gave up is an ordinary gift, claimable once.
  const gift = obj();
  from(DONOR).provideFor(RECIPIENT, n, gift);
  t.is(await from(RECIPIENT).acceptFrom(DONOR, n), gift);
});

test('a donor flooding provides hits maxGiftsPerDonor; another donor and its recipient are not affected', async (t) => {
  const { handoffs, from } = owner();
  for (let i = 0; i < LIMITS.maxGiftsPerDonor; i++) from(DONOR).provideFor(RECIPIENT, freshNonce(), obj());
  for (let i = 0; i < 3; i++) {
    const err = await failure(t, () => from(DONOR).provideFor(RECIPIENT, freshNonce(), obj()));
    t.is(err.name, 'GiftLimitError');
  }
  t.like(handoffs.stats(), { pending: LIMITS.maxGiftsPerDonor, refused: 3 });
  const n = freshNonce();
  const gift = obj();
  from(OTHER).provideFor(THIRD, n, gift);
  t.is(await from(THIRD).acceptFrom(OTHER, n), gift);
  // A gift the flooded donor's claim would meet still counts against it: a waiting
  // claim met by a provide does not take a place, so it is served even at the bound.
  const m = freshNonce();
  const waiting = from(RECIPIENT).acceptFrom(DONOR, m) as Promise<unknown>;
  from(DONOR).provideFor(RECIPIENT, m, gift);
  t.is(await waiting, gift);
});

test('a recipient flooding claims hits maxClaimsPerRecipient; another recipient is not affected; a settled claim frees its place', async (t) => {
  const { handoffs, from, clock } = owner();
  const held = [freshNonce(), freshNonce()];
  const claims = held.map((n) => from(RECIPIENT).acceptFrom(DONOR, n) as Promise<unknown>);
  const err = await failure(t, () => from(RECIPIENT).acceptFrom(DONOR, freshNonce()));
  t.is(err.name, 'GiftLimitError');
  t.like(handoffs.stats(), { waiting: 2 });
  // Another recipient's claim waits and is served.
  const n = freshNonce();
  const other = from(THIRD).acceptFrom(DONOR, n) as Promise<unknown>;
  const gift = obj();
  from(DONOR).provideFor(THIRD, n, gift);
  t.is(await other, gift);
  // The same recipient's claim of another donor's gift has its own share: a donor that names
  // gifts it never made (claims that only wait) uses up its own share only.
  const fromOther = freshNonce();
  const otherDonor = from(RECIPIENT).acceptFrom(OTHER, fromOther) as Promise<unknown>;
  from(OTHER).provideFor(RECIPIENT, fromOther, gift);
  t.is(await otherDonor, gift);
  // A gift that is already there is served at the bound: it takes no waiting place.
  const ready = freshNonce();
  from(OTHER).provideFor(RECIPIENT, ready, gift);
  t.is(await from(RECIPIENT).acceptFrom(OTHER, ready), gift);
  // One of the flood's claims is met: its place is free again.
  from(DONOR).provideFor(RECIPIENT, held[0]!, gift);
  t.is(await claims[0], gift);
  const again = from(RECIPIENT).acceptFrom(DONOR, freshNonce()) as Promise<unknown>;
  t.like(handoffs.stats(), { waiting: 2 });
  clock.advance(LIMITS.claimWaitMs);
  t.is((await failure(t, () => claims[1])).name, 'GiftExpiredError');
  t.is((await failure(t, () => again)).name, 'GiftExpiredError');
  t.like(handoffs.stats(), { waiting: 0 });
  t.is(clock.pending, 0);
  // Expired claims gave their places back: the recipient may wait on a full quota again.
  const refill = held.map(() => from(RECIPIENT).acceptFrom(DONOR, freshNonce()) as Promise<unknown>);
  t.like(handoffs.stats(), { waiting: 2 });
  clock.advance(LIMITS.claimWaitMs);
  for (const c of refill) t.is((await failure(t, () => c)).name, 'GiftExpiredError');
});

const BAD_IDS: Array<[string, unknown]> = [
  ['a number', 42],
  ['undefined', undefined],
  ['an object', harden({ id: RECIPIENT })],
  ['a bare endpoint', 'a'],
  ['a short host', `${'h'.repeat(51)}/a`],
  ['a host outside base32', `${'H'.repeat(52)}/a`],
  ['a host with 0, 1, 8, 9', `${'0189'.repeat(13)}/a`],
  ['no endpoint', `${HOST}/`],
  ['an endpoint with a slash', `${HOST}/a/b`],
  ['an endpoint past 128 characters', `${HOST}/${'a'.repeat(129)}`],
  ['@ other than @host', `${HOST}/@admin`],
  ['a trailing newline', `${RECIPIENT}\n`],
];
const BAD_NONCES: Array<[string, unknown]> = [
  ['a number', 12345],
  ['undefined', undefined],
  ['25 characters', 'a'.repeat(25)],
  ['65 characters', 'a'.repeat(65)],
  ['uppercase', 'A'.repeat(26)],
  ['digits outside base32', '0'.repeat(26)],
  ['a trailing newline', `${'a'.repeat(26)}\n`],
];

test('malformed recipients, donors and nonces are refused by name and store nothing', async (t) => {
  const { handoffs, from, clock } = owner();
  for (const [what, bad] of BAD_IDS) {
    t.is((await failure(t, () => from(DONOR).provideFor(bad, freshNonce(), obj()))).name, 'GiftRefusedError', `recipient: ${what}`);
    t.is((await failure(t, () => from(RECIPIENT).acceptFrom(bad, freshNonce()))).name, 'GiftRefusedError', `donor: ${what}`);
  }
  for (const [what, bad] of BAD_NONCES) {
    t.is((await failure(t, () => from(DONOR).provideFor(RECIPIENT, bad, obj()))).name, 'GiftRefusedError', `provide nonce: ${what}`);
    t.is((await failure(t, () => from(RECIPIENT).acceptFrom(DONOR, bad))).name, 'GiftRefusedError', `claim nonce: ${what}`);
  }
  t.like(handoffs.stats(), { provided: 0, pending: 0, waiting: 0, refused: 2 * (BAD_IDS.length + BAD_NONCES.length) });
  t.is(clock.pending, 0, 'no timer was set for anything refused');
});

test('only references can be gifts: a promise or data is refused and stores nothing', async (t) => {
  const { handoffs, from, clock } = owner();
  const n = freshNonce();
  for (const [what, val] of [
    ['a promise', harden(Promise.resolve(obj()))],
    ['a record', harden({ label: 'x' })],
    ['a string', 'x'],
    ['undefined', undefined],
  ] as Array<[string, unknown]>) {
    t.is((await failure(t, () => from(DONOR).provideFor(RECIPIENT, n, val))).name, 'GiftRefusedError', what);
  }
  t.like(handoffs.stats(), { provided: 0, pending: 0 });
  t.is(clock.pending, 0);
  // The nonce was not burnt by the refusals.
  const gift = obj();
  from(DONOR).provideFor(RECIPIENT, n, gift);
  t.is(await from(RECIPIENT).acceptFrom(DONOR, n), gift);
});

test('replays are refused by name for the last claimedMemory nonces; older ones are forgotten', async (t) => {
  const { from, clock } = owner();
  const claimed: string[] = [];
  for (let i = 0; i < LIMITS.claimedMemory + 1; i++) {
    const n = freshNonce();
    from(DONOR).provideFor(RECIPIENT, n, obj());
    await from(RECIPIENT).acceptFrom(DONOR, n);
    claimed.push(n);
  }
  for (const n of claimed.slice(1)) t.is((await failure(t, () => from(RECIPIENT).acceptFrom(DONOR, n))).name, 'GiftClaimedError');
  // The oldest is forgotten: a claim on it is a claim on an unknown nonce, which waits and expires.
  const forgotten = from(RECIPIENT).acceptFrom(DONOR, claimed[0]!) as Promise<unknown>;
  t.is(await state(forgotten), 'pending');
  clock.advance(LIMITS.claimWaitMs);
  t.is((await failure(t, () => forgotten)).name, 'GiftExpiredError');
});

test('nonces carry at least 128 bits: NONCE_BYTES is 16 and a 25-character nonce is refused', (t) => {
  t.true(NONCE_BYTES * 8 >= 128);
  const real = base32(new Uint8Array(NONCE_BYTES).fill(0xff));
  t.is(real.length, 26);
  t.true(NONCE_PATTERN.test(real));
  // 25 base32 characters are 125 bits: fewer than a nonce needs.
  t.false(NONCE_PATTERN.test(real.slice(0, 25)));
  t.true(NONCE_PATTERN.test('a'.repeat(64)));
  t.false(NONCE_PATTERN.test('a'.repeat(65)));
  t.true(FULL_ID_PATTERN.test(`${HOST}/@host`));
  t.true(FULL_ID_PATTERN.test(RECIPIENT));
});

test('claims waiting in all are bounded by maxClaims, whatever recipients and donors make them', async (t) => {
  const { handoffs, from, clock } = owner();
  const recipients = [RECIPIENT, THIRD, OTHER];
  const donors = [DONOR, OTHER, THIRD];
  const waiting: Promise<unknown>[] = [];
  for (const r of recipients) for (const d of donors) if (waiting.length < LIMITS.maxClaims) waiting.push(from(r).acceptFrom(d, freshNonce()) as Promise<unknown>);
  t.like(handoffs.stats(), { waiting: LIMITS.maxClaims });
  const err = await failure(t, () => from(THIRD).acceptFrom(THIRD, freshNonce()));
  t.is(err.name, 'GiftLimitError');
  t.regex(err.message, /claims are waiting here already/);
  clock.advance(LIMITS.claimWaitMs);
  for (const w of waiting) t.is((await failure(t, () => w)).name, 'GiftExpiredError');
  t.like(handoffs.stats(), { waiting: 0 });
});
