/** The handshake's pure steps: transcript, key schedule, cookies, and each step's checks, with no stream or machine. */
import test from 'ava';
import { encodeFrame, Tag } from '../../protocols/framing/frames.js';
import type { CryptoSuite } from '../../protocols/session/crypto.js';
import {
  checkCookie,
  COOKIE_BUCKET_MS,
  type HandshakeSteps,
  makeCookie,
  makeInitiatorSteps,
  makeResponderSteps,
  nextKey,
  type ResponderParams,
  type StepResult,
  toHex,
  transcriptHash,
} from '../../protocols/session/handshake.js';
import { decodeHello, encodeHello, encodeResponse, encodeResponseBody } from '../../protocols/session/messages.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { badSigner, makeIdentity } from './session-fixtures.js';

const crypto: CryptoSuite = nodeCrypto;
const NOW = 1_700_000_000_000;

/** Splits a step's output frames into (tag, payload). */
const frames = (r: StepResult) =>
  r.send.map((f) => ({ tag: (f[0] as number) & 0x1f, payload: f.subarray(5) }));

const parties = (o: { responder?: Partial<ResponderParams>; wanted?: string | null } = {}) => {
  const iId = makeIdentity(crypto);
  const rId = makeIdentity(crypto);
  const initiator = makeInitiatorSteps({
    crypto,
    identity: iId,
    domain: 'tribe',
    ciphers: ['chacha20-poly1305', 'aes-256-gcm'],
    wanted: (o.wanted === undefined ? rId.vatId : o.wanted) as never,
  });
  const responder = makeResponderSteps({
    crypto,
    identity: rId,
    domain: 'tribe',
    ciphers: ['chacha20-poly1305', 'aes-256-gcm'],
    remoteAddress: '10.0.0.1:4000',
    now: () => NOW,
    ...o.responder,
  });
  return { iId, rId, initiator, responder };
};

/** Feeds every frame of `r` to `to`'s step for it; returns the last result. */
const deliver = (r: StepResult, to: HandshakeSteps, pick: (tag: number) => keyof HandshakeSteps): StepResult => {
  let last: StepResult = { kind: 'next', send: [] };
  for (const f of frames(r)) last = (to[pick(f.tag)] as (t: number, p: Uint8Array) => StepResult)(f.tag, f.payload);
  return last;
};
const responderStep = (tag: number) => (tag === Tag.ProtocolOffered ? 'offered' : tag === Tag.Hello ? 'hello' : 'signature');
const initiatorStep = (tag: number) =>
  tag === Tag.ProtocolAccepted ? 'accepted' : tag === Tag.Response ? 'response' : tag === Tag.Cookie ? 'cookie' : 'refusal';

/** Runs the whole exchange; returns both sides' final results. */
const run = (p: ReturnType<typeof parties>) => {
  const opening = p.initiator.open(0, new Uint8Array(0));
  const offered = frames(opening)[0]!;
  const accepted = p.responder.offered(offered.tag, offered.payload);
  p.initiator.accepted(Tag.ProtocolAccepted, frames(accepted)[0]!.payload);
  const hello = frames(opening)[1]!;
  const response = p.responder.hello(hello.tag, hello.payload);
  if (response.kind !== 'next') return { initiator: response, responder: response };
  const initiatorResult = deliver(response, p.initiator, initiatorStep);
  const responderResult = initiatorResult.kind === 'established' ? deliver(initiatorResult, p.responder, responderStep) : initiatorResult;
  return { initiator: initiatorResult, responder: responderResult };
};

test('a full exchange: both sides established with the same session and mirrored keys', (t) => {
  const p = parties();
  const r = run(p);
  t.is(r.initiator.kind, 'established');
  t.is(r.responder.kind, 'established');
  if (r.initiator.kind !== 'established' || r.responder.kind !== 'established') return;
  t.is(r.initiator.summary.sessionId, r.responder.summary.sessionId);
  t.is(r.initiator.summary.remoteId, p.rId.vatId);
  t.is(r.responder.summary.remoteId, p.iId.vatId);
  t.is(r.initiator.summary.cipher, 'chacha20-poly1305');
  const ki = p.initiator.takeKeys();
  const kr = p.responder.takeKeys();
  t.deepEqual(ki.initiatorToResponder, kr.initiatorToResponder);
  t.deepEqual(ki.responderToInitiator, kr.responderToInitiator);
  t.notDeepEqual(ki.initiatorToResponder, ki.responderToInitiator);
  t.throws(() => p.initiator.takeKeys(), { name: 'SessionError' }, 'keys are handed out once');
});

test('two exchanges between the same identities get different keys (fresh ephemerals)', (t) => {
  const a = parties();
  run(a);
  const b = parties();
  run(b);
  t.notDeepEqual(a.initiator.takeKeys().initiatorToResponder, b.initiator.takeKeys().initiatorToResponder);
});

test('transcript hash: length-prefixed, so moving a byte between elements changes it', (t) => {
  const x = transcriptHash(crypto, [new Uint8Array([1, 2]), new Uint8Array([3])]);
  const y = transcriptHash(crypto, [new Uint8Array([1]), new Uint8Array([2, 3])]);
  t.notDeepEqual(x, y);
  t.is(x.length, 32);
  // The exact layout both ends hash: u32 BE length ‖ bytes, for each element in order.
  t.deepEqual(x, crypto.sha256(new Uint8Array([0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3])));
  t.deepEqual(transcriptHash(crypto, [new Uint8Array(0), new Uint8Array(300).fill(7)]), crypto.sha256(new Uint8Array([0, 0, 0, 0, 0, 0, 1, 44, ...new Uint8Array(300).fill(7)])));
});

test('toHex: two lowercase digits a byte, as Buffer writes them', (t) => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  t.is(toHex(all), Buffer.from(all).toString('hex'));
  t.is(toHex(new Uint8Array(0)), '');
});

test('rekey: the next key is one-way and deterministic', (t) => {
  const k = new Uint8Array(32).fill(3);
  t.deepEqual(nextKey(crypto, k), nextKey(crypto, k));
  t.notDeepEqual(nextKey(crypto, k), k);
  t.is(nextKey(crypto, k).length, 32);
});

test('limit: a cookie is good in its COOKIE_BUCKET_MS bucket and the next, not later, not for another address or key', (t) => {
  const p = { secret: new Uint8Array(32).fill(9), remoteAddress: '10.0.0.1:4000', ephemeralKey: new Uint8Array(32).fill(1) };
  const start = Math.floor(NOW / COOKIE_BUCKET_MS) * COOKIE_BUCKET_MS;
  const c = makeCookie(crypto, p, start);
  t.true(checkCookie(crypto, p, start, c));
  t.true(checkCookie(crypto, p, start + COOKIE_BUCKET_MS - 1, c));
  t.true(checkCookie(crypto, p, start + 2 * COOKIE_BUCKET_MS - 1, c));
  t.false(checkCookie(crypto, p, start + 2 * COOKIE_BUCKET_MS, c));
  t.false(checkCookie(crypto, { ...p, remoteAddress: '10.0.0.2:4000' }, start, c));
  t.false(checkCookie(crypto, { ...p, ephemeralKey: new Uint8Array(32).fill(2) }, start, c));
  t.false(checkCookie(crypto, { ...p, secret: new Uint8Array(32) }, start, c));
});

test('responder: NotMe when wanted is someone else, before any DH or signing', (t) => {
  let signed = 0;
  const p = parties({ wanted: makeIdentity(crypto).vatId });
  const sign = (m: Uint8Array) => {
    signed++;
    return p.rId.key.sign(m);
  };
  const rId = { ...p.rId, key: { publicKey: p.rId.key.publicKey, sign } };
  const responder = makeResponderSteps({ crypto, identity: rId, domain: 'tribe', ciphers: ['aes-256-gcm'], remoteAddress: 'x', now: () => NOW });
  const opening = frames(p.initiator.open(0, new Uint8Array(0)));
  responder.offered(Tag.ProtocolOffered, opening[0]!.payload);
  const r = responder.hello(Tag.Hello, opening[1]!.payload);
  t.is(r.kind, 'refused');
  if (r.kind === 'refused') t.is(r.error.name, 'NotMeError');
  t.is(frames(r)[0]?.tag, Tag.NotMe);
  t.is(signed, 0);
});

test('initiator: a responder key that does not hash to wanted is NotMe, even with a valid signature', (t) => {
  // The responder is honest about itself, but the Hello it answers asked for nobody.
  const p = parties({ wanted: null });
  const someoneElse = makeIdentity(crypto).vatId;
  const strict = makeInitiatorSteps({ crypto, identity: p.iId, domain: 'tribe', ciphers: ['aes-256-gcm'], wanted: someoneElse });
  const opening = frames(strict.open(0, new Uint8Array(0)));
  const accepted = frames(p.responder.offered(Tag.ProtocolOffered, opening[0]!.payload))[0]!;
  strict.accepted(Tag.ProtocolAccepted, accepted.payload);
  // Rewrite `wanted` to null on the way, as a man in the middle redirecting the dial would.
  const h = decodeHello(opening[1]!.payload);
  const response = p.responder.hello(Tag.Hello, encodeHello({ ...h, wanted: null }));
  const r = strict.response(Tag.Response, frames(response)[0]!.payload);
  t.is(r.kind, 'refused');
  if (r.kind === 'refused') t.is(r.error.name, 'NotMeError');
  t.is(frames(r)[0]?.tag, Tag.Abort);
});

test('initiator: a Response whose VatId is not its key hash is IdentityMismatchError', (t) => {
  const p = parties({ wanted: null });
  const opening = frames(p.initiator.open(0, new Uint8Array(0)));
  p.initiator.accepted(Tag.ProtocolAccepted, frames(p.responder.offered(Tag.ProtocolOffered, opening[0]!.payload))[0]!.payload);
  const liar = makeIdentity(crypto);
  const body = encodeResponseBody({
    vatId: p.rId.vatId,
    identityKey: liar.key.publicKey,
    ephemeralKey: crypto.x25519().publicKey,
    cipher: 'aes-256-gcm',
    encoder: 'json',
    bridges: [],
  });
  const r = p.initiator.response(Tag.Response, encodeResponse({ body, signature: new Uint8Array(64) }));
  t.is(r.kind === 'refused' && r.error.name, 'IdentityMismatchError');
});

test('bad signatures: each side names BadSignatureError', (t) => {
  const p1 = parties();
  const r1 = run({
    ...p1,
    responder: makeResponderSteps({
      crypto,
      identity: { ...p1.rId, key: badSigner(p1.rId.key) },
      domain: 'tribe',
      ciphers: ['aes-256-gcm'],
      remoteAddress: 'x',
      now: () => NOW,
    }),
  });
  t.is(r1.initiator.kind === 'refused' && r1.initiator.error.name, 'BadSignatureError');
  const p2 = parties();
  const r2 = run({
    ...p2,
    initiator: makeInitiatorSteps({ crypto, identity: { ...p2.iId, key: badSigner(p2.iId.key) }, domain: 'tribe', ciphers: ['aes-256-gcm'], wanted: p2.rId.vatId }),
  });
  t.is(r2.initiator.kind, 'established');
  t.is(r2.responder.kind === 'refused' && r2.responder.error.name, 'BadSignatureError');
  t.is(frames(r2.responder)[0]?.tag, Tag.Abort);
});

test('responder: no common cipher, encoder or domain is NegotiationError; a forged VatId is IdentityMismatchError', (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ciphers: ['rot13'] }, 'NegotiationError'],
    [{ encoders: ['msgpack'] }, 'NegotiationError'],
    [{ domain: 'other' }, 'NegotiationError'],
    [{ vatId: makeIdentity(crypto).vatId }, 'IdentityMismatchError'],
  ];
  for (const [over, name] of cases) {
    const p = parties();
    const opening = frames(p.initiator.open(0, new Uint8Array(0)));
    p.responder.offered(Tag.ProtocolOffered, opening[0]!.payload);
    const h = decodeHello(opening[1]!.payload);
    const r = p.responder.hello(Tag.Hello, encodeHello({ ...h, ...over } as never));
    t.is(r.kind === 'refused' && r.error.name, name, JSON.stringify(over));
    t.is(frames(r)[0]?.tag, Tag.Abort);
  }
});

test('responder: unsupported versions get an Abort', (t) => {
  const { responder } = parties();
  const offered = frames({ kind: 'next', send: [encodeFrame(Tag.ProtocolOffered, new Uint8Array([0x81, 0xa8, ...new TextEncoder().encode('versions'), 0x91, 0xa7, ...new TextEncoder().encode('tribe/0')]))] })[0]!;
  const r = responder.offered(offered.tag, offered.payload);
  t.is(r.kind === 'refused' && r.error.name, 'UnsupportedVersionError');
  t.is(frames(r)[0]?.tag, Tag.Abort);
});

test('responder: the cookie round — no work without a cookie, success with it, CookieError with a wrong one', (t) => {
  let work = 0;
  const x25519 = (s?: Uint8Array) => {
    work++;
    return crypto.x25519(s);
  };
  const counting: CryptoSuite = { ...crypto, x25519 };
  const secret = new Uint8Array(32).fill(5);
  const p = parties();
  const mk = () =>
    makeResponderSteps({
      crypto: counting,
      identity: p.rId,
      domain: 'tribe',
      ciphers: ['aes-256-gcm'],
      remoteAddress: '10.0.0.1:4000',
      now: () => NOW,
      cookies: { secret, demand: () => true },
    });
  const opening = frames(p.initiator.open(0, new Uint8Array(0)));
  const responder = mk();
  p.initiator.accepted(Tag.ProtocolAccepted, frames(responder.offered(Tag.ProtocolOffered, opening[0]!.payload))[0]!.payload);
  const first = responder.hello(Tag.Hello, opening[1]!.payload);
  t.is(first.kind, 'retry');
  t.is(work, 0, 'no DH work before the cookie');
  const again = frames(p.initiator.cookie(Tag.Cookie, frames(first)[0]!.payload))[0]!;
  t.truthy(decodeHello(again.payload).cookie);
  t.is(responder.helloRetry(Tag.Hello, again.payload).kind, 'next');
  // A wrong cookie on the retry.
  const other = mk();
  other.offered(Tag.ProtocolOffered, opening[0]!.payload);
  const forged = encodeHello({ ...decodeHello(again.payload), cookie: new Uint8Array(32) });
  const r = other.helloRetry(Tag.Hello, forged);
  t.is(r.kind === 'refused' && r.error.name, 'CookieError');
  // The initiator refuses a second demand.
  t.is(p.initiator.cookie(Tag.Cookie, frames(first)[0]!.payload).kind, 'refused');
});

test('responder: decide → duplicate sends DuplicateConnection, before any DH work', (t) => {
  let asked: string | undefined;
  const decide = (peer: string) => {
    asked = peer;
    return 'duplicate' as const;
  };
  const p = parties({ responder: { decide } });
  const r = run(p);
  t.is(asked, p.iId.vatId);
  t.is(r.initiator.kind === 'refused' && r.initiator.error.name, 'DuplicateConnectionError');
  const refusal = p.initiator.refusal(Tag.DuplicateConnection, encodeFrame(0, new Uint8Array()).subarray(5));
  t.is(refusal.kind, 'refused', 'a malformed refusal still refuses');
});

test('refusals from the peer are marked remote and answered with nothing', (t) => {
  const { initiator } = parties();
  const abort = new Uint8Array([0x82, 0xa4, ...new TextEncoder().encode('code'), 0xa7, ...new TextEncoder().encode('timeout'), 0xa7, ...new TextEncoder().encode('message'), 0xa0]);
  const r = initiator.refusal(Tag.Abort, abort);
  t.is(r.kind, 'refused');
  if (r.kind !== 'refused') return;
  t.is(r.error.name, 'HandshakeTimeoutError');
  t.true(r.error.remote);
  t.deepEqual(r.send, []);
});

test('steps of the other role refuse instead of throwing', (t) => {
  const { initiator, responder } = parties();
  t.is(initiator.signature(Tag.Signature, new Uint8Array()).kind, 'refused');
  t.is(responder.response(Tag.Response, new Uint8Array()).kind, 'refused');
  t.is(responder.signature(Tag.Signature, new Uint8Array()).kind, 'refused', 'Signature before Hello');
});
