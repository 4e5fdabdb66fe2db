/**
 * The bridges a host knows and the choice of bridges in a handshake
 * (runtime/sessions/bridge-book.ts, docs/protocol.md 15.1).
 */
import test from 'ava';
import { base32 } from '../../protocols/session/vat-id.js';
import { makeBridgeBook, MAX_BRIDGED_PATHS, MAX_LEARNED_BRIDGES } from '../../runtime/sessions/bridge-book.js';
import type { VatId } from '../../protocols/session/vat-id.js';

/** A well-formed VatId per number (52 base32 characters). */
const id = (n: number): VatId => base32(new Uint8Array(32).fill(n)).slice(0, 52) as VatId;
const ref = (n: number) => `tribe://${id(n)}@127.0.0.1:${7000 + n}`;
const SELF = id(200);
const PEER = id(201);
const book = (configured: number[] = [], bridge = false) =>
  makeBridgeBook({ self: SELF, configured: configured.map(ref), bridge, selfRef: () => `tribe://${SELF}@127.0.0.1:9999` });

test('select: own configured bridges first, then the suggested ones in their order, at most three, never either end', (t) => {
  const b = book([1]);
  const picked = b.select(PEER, [ref(2), `tribe://${SELF}@127.0.0.1:2`, ref(3), ref(4)], false);
  t.deepEqual(picked, [ref(1), ref(2), ref(3)]);
  t.is(picked.length, MAX_BRIDGED_PATHS);
});

test('select: a peer that suggests itself is a bridge, whose sessions take no bridges', (t) => {
  t.deepEqual(book([1]).select(PEER, [`tribe://${PEER}@127.0.0.1:1`, ref(2)], false), []);
});

test('select: none for a session that exists (the path resumes it), on a bridge, or for a peer that is a bridge', (t) => {
  t.deepEqual(book([1]).select(PEER, [ref(2)], true), []);
  t.deepEqual(book([1], true).select(PEER, [ref(2)], false), []);
  t.deepEqual(book([1]).select(id(1), [ref(2)], false), []);
});

test('learning: malformed refs are skipped, the suggested and selected are kept, at most the bound, oldest first out; configured stay', (t) => {
  const b = book([1]);
  b.learn(['junk', 'tribe://x@h:1', `${ref(2)}/swiss`, ref(2)]);
  t.deepEqual(b.known().map((r) => r.vatId), [id(1), id(2)]);
  b.learn(Array.from({ length: MAX_LEARNED_BRIDGES + 5 }, (_, i) => ref(10 + i)));
  const known = b.known();
  t.is(known.length, 1 + MAX_LEARNED_BRIDGES);
  t.is(known[0]!.vatId, id(1), 'configured first, never dropped');
  t.false(known.some((r) => r.vatId === id(2)), 'the oldest learned went first');
  t.is(known[1]!.vatId, id(10 + MAX_LEARNED_BRIDGES + 4), 'then the newest learned');
});

test('suggest: a bridge suggests itself first; nothing to a peer that is a bridge; never the peer itself', (t) => {
  t.deepEqual(book([1, 2], true).suggest(PEER), [`tribe://${SELF}@127.0.0.1:9999`, ref(1), ref(2)]);
  t.deepEqual(book([1, 2]).suggest(id(1)), []);
  const b = book([1]);
  b.learn([`tribe://${PEER}@127.0.0.1:5`]);
  t.deepEqual(b.suggest(PEER), []);
});

test('a configured ref that is not one is refused by name', (t) => {
  t.throws(() => makeBridgeBook({ self: SELF, configured: ['nope'], bridge: false, selfRef: () => '' }), { name: 'BridgeRefError' });
});
