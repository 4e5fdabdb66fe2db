/**
 * The handshake's pure steps: transcript hashing, the key schedule, building and
 * checking Hello / Response / Signature, and stateless cookies (README.md has
 * the message table and the exact byte layouts). Everything that needs
 * cryptography takes the CryptoSuite as a parameter; nothing here does I/O,
 * reads a clock or keeps a timer.
 *
 * `makeInitiatorSteps` / `makeResponderSteps` wrap the steps for one handshake
 * into the `HandshakeSteps` object that path.machine.ts calls. Its secrets
 * (the ephemeral key, the DH output, the derived keys) stay inside the closure:
 * the machine's context, which the inspector shows, only ever sees public values.
 */
import { encodeFrame, Tag } from '../framing/frames.js';
import { CIPHERS, type CipherName, type CryptoSuite, type EphemeralKey, type SigningKey } from './crypto.js';
import {
  BadSignatureError,
  CookieError,
  DuplicateConnectionError,
  errorFromAbort,
  IdentityMismatchError,
  MalformedMessageError,
  NegotiationError,
  NotMeError,
  SessionError,
  UnexpectedFrameError,
  UnsupportedVersionError,
  WeakKeyError,
} from './errors.js';
import {
  BRIDGE_NONCE_BYTES,
  decodeCookie,
  decodeHello,
  decodeProtocolAccepted,
  decodeProtocolOffered,
  decodeReason,
  decodeResponse,
  decodeResponseBody,
  decodeSignature,
  decodeVatIdMessage,
  encodeCookie,
  encodeHello,
  encodeProtocolAccepted,
  encodeProtocolOffered,
  encodeReason,
  encodeResponse,
  encodeResponseBody,
  encodeSignature,
  encodeVatIdMessage,
  type Hello,
  MAX_BRIDGE_CHARS,
  MAX_BRIDGE_SELECTIONS,
  MAX_BRIDGE_SUGGESTIONS,
} from './messages.js';
import { type VatId, vatIdOf } from './vat-id.js';

export const PROTOCOL_VERSION = 'tribe/1';
export const ENCODER = 'json';
export const DEFAULT_DOMAIN = 'tribe';
/** Cookie lifetime unit: a cookie is good in its bucket and the next, so 30–60 s, ample for one round trip. */
export const COOKIE_BUCKET_MS = 30_000;
export const SESSION_ID_BYTES = 16;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const LABELS = {
  responderSignature: utf8('tribe/1 responder'),
  initiatorSignature: utf8('tribe/1 initiator'),
  initiatorToResponder: utf8('tribe/1 initiator->responder'),
  responderToInitiator: utf8('tribe/1 responder->initiator'),
  sessionId: utf8('tribe/1 session id'),
  rekey: utf8('tribe/1 rekey'),
  cookie: utf8('tribe/1 cookie'),
} as const;

export const concatBytes = (parts: readonly Uint8Array[]): Uint8Array => {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

const u64 = (n: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(n))));
  return b;
};

const HEX_BYTES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
export const toHex = (b: Uint8Array): string => {
  let s = '';
  for (const x of b) s += HEX_BYTES[x];
  return s;
};

/** Compares without an early exit, so timing does not tell how much of a cookie was right. */
export const constantTimeEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
};

// --- transcript and key schedule ---

/** SHA-256 over each element as u32 BE length ‖ bytes. Elements are whole encoded frames (header + payload). */
export const transcriptHash = (crypto: CryptoSuite, elements: readonly Uint8Array[]): Uint8Array => {
  let n = 0;
  for (const e of elements) n += 4 + e.length;
  const all = new Uint8Array(n);
  const view = new DataView(all.buffer);
  let at = 0;
  for (const e of elements) {
    view.setUint32(at, e.length);
    all.set(e, at + 4);
    at += 4 + e.length;
  }
  return crypto.sha256(all);
};

export const responderSignedMessage = (th1: Uint8Array): Uint8Array => concatBytes([LABELS.responderSignature, th1]);
export const initiatorSignedMessage = (th2: Uint8Array, nonces: readonly Uint8Array[]): Uint8Array =>
  concatBytes([LABELS.initiatorSignature, th2, ...nonces]);

export interface SessionKeys {
  readonly cipher: CipherName;
  readonly encoder: string;
  readonly sessionId: Uint8Array;
  readonly initiatorToResponder: Uint8Array;
  readonly responderToInitiator: Uint8Array;
  /** One per selected bridge (empty until bridges exist): the rendezvous nonces sent in Signature. */
  readonly bridgeNonces: readonly Uint8Array[];
  readonly bridges: readonly string[];
}

/** A bridge the handshake selected, and the nonce both ends present there (docs/protocol.md 15). */
export interface Rendezvous {
  readonly bridge: string;
  readonly nonce: Uint8Array;
}

/** The selected bridges, each with its nonce from Signature. */
export const rendezvousOf = (keys: SessionKeys): Rendezvous[] => keys.bridges.map((bridge, i) => ({ bridge, nonce: keys.bridgeNonces[i]! }));

/** HKDF-SHA256 with the transcript hash as salt and the DH output as input key material, one label per output. */
export const deriveSessionKeys = (
  crypto: CryptoSuite,
  shared: Uint8Array,
  th2: Uint8Array,
): Pick<SessionKeys, 'sessionId' | 'initiatorToResponder' | 'responderToInitiator'> => ({
  initiatorToResponder: crypto.hkdf(shared, th2, LABELS.initiatorToResponder, 32),
  responderToInitiator: crypto.hkdf(shared, th2, LABELS.responderToInitiator, 32),
  sessionId: crypto.hkdf(shared, th2, LABELS.sessionId, SESSION_ID_BYTES),
});

/** The next key of a direction: one-way, so an old key cannot be recovered from a new one. */
export const nextKey = (crypto: CryptoSuite, key: Uint8Array): Uint8Array =>
  crypto.hkdf(key, new Uint8Array(0), LABELS.rekey, 32);

/** X25519, naming a low-order peer key. */
export const agree = (eph: EphemeralKey, peerPublicKey: Uint8Array): Uint8Array => {
  let shared: Uint8Array;
  try {
    shared = eph.agree(peerPublicKey);
  } catch (err) {
    if (err instanceof WeakKeyError) throw err;
    throw new WeakKeyError('X25519 with the peer ephemeral key failed (low-order point?)', { cause: err });
  }
  if (shared.every((b) => b === 0)) throw new WeakKeyError('X25519 gave the all-zero secret');
  return shared;
};

// --- cookies ---

export interface CookieParams {
  readonly secret: Uint8Array;
  readonly remoteAddress: string;
  readonly ephemeralKey: Uint8Array;
}

const cookieFor = (crypto: CryptoSuite, p: CookieParams, bucket: number): Uint8Array => {
  const address = utf8(p.remoteAddress);
  return crypto.hmacSha256(p.secret, concatBytes([LABELS.cookie, u32(address.length), address, p.ephemeralKey, u64(bucket)]));
};

const bucketOf = (now: number) => Math.floor(now / COOKIE_BUCKET_MS);

export const makeCookie = (crypto: CryptoSuite, p: CookieParams, now: number): Uint8Array =>
  cookieFor(crypto, p, bucketOf(now));

/** Good for the bucket it was made in and the next one. */
export const checkCookie = (crypto: CryptoSuite, p: CookieParams, now: number, cookie: Uint8Array): boolean => {
  const b = bucketOf(now);
  // Both comparisons always run: which bucket matched is not leaked by timing.
  const current = constantTimeEqual(cookieFor(crypto, p, b), cookie);
  const previous = constantTimeEqual(cookieFor(crypto, p, b - 1), cookie);
  return current || previous;
};

// --- the steps the machine drives ---

export interface SessionSummary {
  readonly remoteId: VatId;
  readonly sessionId: string;
  readonly cipher: CipherName;
  readonly encoder: string;
}

/**
 * What a step decided. `send` holds encoded frames to write first, in order.
 * next: go on; retry: the responder demanded a cookie; established: keys are
 * ready (`takeKeys`); refused: write `send`, then close with `error`.
 */
export type StepResult =
  | { readonly kind: 'next' | 'retry'; readonly send: readonly Uint8Array[] }
  | { readonly kind: 'established'; readonly send: readonly Uint8Array[]; readonly summary: SessionSummary }
  | { readonly kind: 'refused'; readonly send: readonly Uint8Array[]; readonly error: SessionError };

export type StepName = 'open' | 'offered' | 'accepted' | 'hello' | 'helloRetry' | 'cookie' | 'response' | 'signature' | 'refusal';

/** One handshake's steps; each takes the received frame (tag, payload) and never throws. */
export type HandshakeSteps = { readonly [K in StepName]: (tag: number, payload: Uint8Array) => StepResult } & {
  /** The derived keys, once, after 'established'; later calls throw. */
  takeKeys(): SessionKeys;
};

export interface PartyParams {
  readonly crypto: CryptoSuite;
  readonly identity: { readonly vatId: VatId; readonly key: SigningKey };
  readonly domain: string;
  /** In preference order. */
  readonly ciphers: readonly CipherName[];
}
export interface InitiatorParams extends PartyParams {
  readonly wanted: VatId | null;
  /** Bridges this side suggests for the session (Hello.bridges); at most MAX_BRIDGE_SUGGESTIONS are sent. */
  readonly bridges?: readonly string[] | undefined;
}
export interface ResponderParams extends PartyParams {
  readonly remoteAddress: string;
  readonly now: () => number;
  readonly cookies?: { readonly secret: Uint8Array; demand(): boolean } | undefined;
  readonly decide?: ((peer: VatId) => 'accept' | 'duplicate') | undefined;
  /**
   * Picks the bridges of the session (Response.bridges) from the initiator's
   * claimed VatId and its suggestions; at most MAX_BRIDGE_SELECTIONS are sent.
   * Default: none.
   */
  readonly selectBridges?: ((peer: VatId, suggested: readonly string[]) => readonly string[]) | undefined;
}

/** What goes in a bridge list on the wire: distinct entries of 1–MAX_BRIDGE_CHARS chars, at most `max`. */
const bridgeList = (refs: readonly string[] | undefined, max: number): string[] =>
  [...new Set(refs ?? [])].filter((r) => typeof r === 'string' && r.length > 0 && r.length <= MAX_BRIDGE_CHARS).slice(0, max);

const next = (...send: Uint8Array[]): StepResult => ({ kind: 'next', send });

/** An Abort for a local failure. Only session errors say what went wrong; anything else is just 'aborted'. */
export const abortFrame = (err: Error): Uint8Array =>
  encodeFrame(
    Tag.Abort,
    encodeReason(err instanceof SessionError ? { code: err.code, message: err.message } : { code: 'aborted', message: 'no reason given' }),
  );

/** A refusal: a remote error goes without a word, a local one with an Abort unless `send` says otherwise. */
const refuse = (error: SessionError, send?: Uint8Array[]): StepResult => ({
  kind: 'refused',
  error,
  send: send ?? (error.remote ? [] : [abortFrame(error)]),
});

const asSessionError = (err: unknown): SessionError =>
  err instanceof SessionError ? err : new SessionError(`handshake step failed: ${(err as Error)?.message}`, { cause: err });

const guard =
  (fn: (tag: number, payload: Uint8Array) => StepResult) =>
  (tag: number, payload: Uint8Array): StepResult => {
    try {
      return fn(tag, payload);
    } catch (err) {
      return refuse(asSessionError(err));
    }
  };

const notMine = (step: string) => () =>
  refuse(new UnexpectedFrameError(`the ${step} step does not belong to this side of the handshake`));

/** Abort, NotMe or DuplicateConnection from the peer: always a refusal, marked remote. */
const refusal = (tag: number, payload: Uint8Array): StepResult => {
  if (tag === Tag.Abort) {
    const r = decodeReason(payload, 'Abort');
    return refuse(errorFromAbort(r.code, r.message));
  }
  if (tag === Tag.NotMe) {
    const m = decodeVatIdMessage(payload, 'NotMe');
    return refuse(new NotMeError(`the peer is ${m.vatId}, not the vat wanted`, { remote: true }));
  }
  if (tag === Tag.DuplicateConnection) {
    const m = decodeVatIdMessage(payload, 'DuplicateConnection');
    return refuse(new DuplicateConnectionError(`${m.vatId} already has a connection with us`, { remote: true }));
  }
  return refuse(new UnexpectedFrameError(`frame ${tag} is not a refusal`));
};

const keysTaker = (get: () => SessionKeys | undefined, clear: () => void) => (): SessionKeys => {
  const keys = get();
  if (!keys) throw new SessionError('session keys are not available (not established, or already taken)');
  clear();
  return keys;
};

/**
 * What we offer and what we accept never change, so their frames are encoded once.
 * Each handshake takes a copy: its frames go to a stream and into its transcript,
 * and nothing another handshake holds may share their memory.
 */
const OFFERED_FRAME = encodeFrame(Tag.ProtocolOffered, encodeProtocolOffered({ versions: [PROTOCOL_VERSION] }));
const ACCEPTED_FRAME = encodeFrame(Tag.ProtocolAccepted, encodeProtocolAccepted({ version: PROTOCOL_VERSION }));

export const makeInitiatorSteps = (p: InitiatorParams): HandshakeSteps => {
  const { crypto, identity } = p;
  let eph: EphemeralKey | undefined = crypto.x25519();
  const offered = OFFERED_FRAME.slice();
  let accepted: Uint8Array | undefined;
  let hello: Hello = {
    vatId: identity.vatId,
    wanted: p.wanted,
    domain: p.domain,
    identityKey: identity.key.publicKey,
    ephemeralKey: eph.publicKey,
    ciphers: p.ciphers,
    encoders: [ENCODER],
    bridges: bridgeList(p.bridges, MAX_BRIDGE_SUGGESTIONS),
    cookie: null,
  };
  let helloFrame = encodeFrame(Tag.Hello, encodeHello(hello));
  let keys: SessionKeys | undefined;
  let cookieTaken = false;

  const response = (_tag: number, payload: Uint8Array): StepResult => {
    if (!accepted || !eph) return refuse(new UnexpectedFrameError('Response before ProtocolAccepted'));
    const r = decodeResponse(payload);
    const body = decodeResponseBody(r.body);
    const keyId = vatIdOf(crypto, body.identityKey);
    if (keyId !== body.vatId) return refuse(new IdentityMismatchError(`Response VatId ${body.vatId} is not the hash of its key`));
    if (p.wanted !== null && keyId !== p.wanted) return refuse(new NotMeError(`responder is ${keyId}, wanted ${p.wanted}`));
    const cipher = CIPHERS.find((c) => c === body.cipher && p.ciphers.includes(c));
    if (!cipher) return refuse(new NegotiationError(`responder chose cipher "${body.cipher}", which was not offered`));
    if (body.encoder !== ENCODER) return refuse(new NegotiationError(`responder chose encoder "${body.encoder}", which was not offered`));
    const th1 = transcriptHash(crypto, [offered, accepted, helloFrame, r.body]);
    if (!crypto.ed25519Verify(body.identityKey, responderSignedMessage(th1), r.signature)) {
      return refuse(new BadSignatureError('the responder signature does not verify over the transcript'));
    }
    const shared = agree(eph, body.ephemeralKey);
    eph = undefined;
    const th2 = transcriptHash(crypto, [offered, accepted, helloFrame, encodeFrame(Tag.Response, payload)]);
    const derived = deriveSessionKeys(crypto, shared, th2);
    shared.fill(0);
    const bridgeNonces = body.bridges.map(() => crypto.randomBytes(BRIDGE_NONCE_BYTES));
    const signature = identity.key.sign(initiatorSignedMessage(th2, bridgeNonces));
    keys = { ...derived, cipher, encoder: ENCODER, bridgeNonces, bridges: body.bridges };
    return {
      kind: 'established',
      send: [encodeFrame(Tag.Signature, encodeSignature({ signature, nonces: bridgeNonces }))],
      summary: { remoteId: keyId, sessionId: toHex(derived.sessionId), cipher, encoder: ENCODER },
    };
  };

  return {
    open: guard(() => next(offered, helloFrame)),
    accepted: guard((_tag, payload) => {
      const m = decodeProtocolAccepted(payload);
      if (m.version !== PROTOCOL_VERSION) return refuse(new UnsupportedVersionError(`responder chose "${m.version}", not offered`));
      accepted = encodeFrame(Tag.ProtocolAccepted, payload);
      return next();
    }),
    cookie: guard((_tag, payload) => {
      if (cookieTaken) return refuse(new CookieError('the responder demanded a cookie twice'));
      cookieTaken = true;
      const { cookie } = decodeCookie(payload);
      // Same ephemeral key: the cookie is bound to it. Only this final Hello enters the transcript.
      hello = { ...hello, cookie };
      helloFrame = encodeFrame(Tag.Hello, encodeHello(hello));
      return next(helloFrame);
    }),
    response: guard(response),
    refusal: guard(refusal),
    offered: notMine('offered'),
    hello: notMine('hello'),
    helloRetry: notMine('helloRetry'),
    signature: notMine('signature'),
    takeKeys: keysTaker(
      () => keys,
      () => {
        keys = undefined;
      },
    ),
  };
};

export const makeResponderSteps = (p: ResponderParams): HandshakeSteps => {
  const { crypto, identity } = p;
  let offered: Uint8Array | undefined;
  let accepted: Uint8Array | undefined;
  let initiator: Hello | undefined;
  let th2: Uint8Array | undefined;
  let pending: SessionKeys | undefined;
  let keys: SessionKeys | undefined;

  const hello = (retry: boolean) => (_tag: number, payload: Uint8Array): StepResult => {
    if (!offered || !accepted) return refuse(new UnexpectedFrameError('Hello before ProtocolOffered'));
    const h = decodeHello(payload);
    if (vatIdOf(crypto, h.identityKey) !== h.vatId) return refuse(new IdentityMismatchError(`Hello VatId ${h.vatId} is not the hash of its key`));
    if (h.domain !== p.domain) return refuse(new NegotiationError(`domain "${h.domain}" is not "${p.domain}"`));
    if (h.wanted !== null && h.wanted !== identity.vatId) {
      const err = new NotMeError(`initiator wanted ${h.wanted}; this is ${identity.vatId}`);
      return refuse(err, [encodeFrame(Tag.NotMe, encodeVatIdMessage({ vatId: identity.vatId }))]);
    }
    const cipher = p.ciphers.find((c) => h.ciphers.includes(c));
    if (!cipher) return refuse(new NegotiationError(`no cipher in common (offered: ${h.ciphers.join(', ')})`));
    if (!h.encoders.includes(ENCODER)) return refuse(new NegotiationError(`no encoder in common (offered: ${h.encoders.join(', ')})`));
    if (p.cookies && (retry || p.cookies.demand())) {
      const cp = { secret: p.cookies.secret, remoteAddress: p.remoteAddress, ephemeralKey: h.ephemeralKey };
      const now = p.now();
      if (!h.cookie || !checkCookie(crypto, cp, now, h.cookie)) {
        if (retry) return refuse(new CookieError(h.cookie ? 'the cookie is not valid for this address and key' : 'Hello repeated without the cookie'));
        // Stateless: nothing about this Hello is kept; the repeat must carry everything again.
        return { kind: 'retry', send: [encodeFrame(Tag.Cookie, encodeCookie({ cookie: makeCookie(crypto, cp, now) }))] };
      }
    }
    if (p.decide?.(h.vatId) === 'duplicate') {
      const err = new DuplicateConnectionError(`already connected with ${h.vatId}`);
      return refuse(err, [encodeFrame(Tag.DuplicateConnection, encodeVatIdMessage({ vatId: identity.vatId }))]);
    }
    const eph = crypto.x25519();
    const shared = agree(eph, h.ephemeralKey);
    const helloFrame = encodeFrame(Tag.Hello, payload);
    const bridges = bridgeList(p.selectBridges?.(h.vatId, h.bridges), MAX_BRIDGE_SELECTIONS);
    const body = encodeResponseBody({
      vatId: identity.vatId,
      identityKey: identity.key.publicKey,
      ephemeralKey: eph.publicKey,
      cipher,
      encoder: ENCODER,
      bridges,
    });
    const th1 = transcriptHash(crypto, [offered, accepted, helloFrame, body]);
    const response = encodeResponse({ body, signature: identity.key.sign(responderSignedMessage(th1)) });
    const responseFrame = encodeFrame(Tag.Response, response);
    th2 = transcriptHash(crypto, [offered, accepted, helloFrame, responseFrame]);
    const derived = deriveSessionKeys(crypto, shared, th2);
    shared.fill(0);
    initiator = h;
    pending = { ...derived, cipher, encoder: ENCODER, bridgeNonces: [], bridges };
    return next(responseFrame);
  };

  return {
    offered: guard((_tag, payload) => {
      const m = decodeProtocolOffered(payload);
      if (!m.versions.includes(PROTOCOL_VERSION)) {
        return refuse(new UnsupportedVersionError(`no supported version among ${m.versions.map((v) => JSON.stringify(v)).join(', ')}`));
      }
      offered = encodeFrame(Tag.ProtocolOffered, payload);
      accepted = ACCEPTED_FRAME.slice();
      return next(accepted);
    }),
    hello: guard(hello(false)),
    helloRetry: guard(hello(true)),
    signature: guard((_tag, payload) => {
      if (!initiator || !th2 || !pending) return refuse(new UnexpectedFrameError('Signature before Hello'));
      const m = decodeSignature(payload);
      if (m.nonces.length !== pending.bridges.length) {
        return refuse(new MalformedMessageError(`${m.nonces.length} bridge nonces for ${pending.bridges.length} bridges`));
      }
      if (!crypto.ed25519Verify(initiator.identityKey, initiatorSignedMessage(th2, m.nonces), m.signature)) {
        return refuse(new BadSignatureError('the initiator signature does not verify over the transcript'));
      }
      keys = { ...pending, bridgeNonces: m.nonces };
      pending = undefined;
      return {
        kind: 'established',
        send: [],
        summary: { remoteId: initiator.vatId, sessionId: toHex(keys.sessionId), cipher: keys.cipher, encoder: keys.encoder },
      };
    }),
    refusal: guard(refusal),
    open: notMine('open'),
    accepted: notMine('accepted'),
    cookie: notMine('cookie'),
    response: notMine('response'),
    takeKeys: keysTaker(
      () => keys,
      () => {
        keys = undefined;
      },
    ),
  };
};
