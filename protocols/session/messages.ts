/**
 * The clear messages of the session handshake: their schemas, encoders, and
 * validating decoders (README.md has the table). Each payload is one msgpack map
 * with exactly the listed keys; a decoder returns a fresh, fully checked value or
 * throws MalformedMessageError. Nothing from the network is used before it has
 * been through one of these.
 *
 * Byte strings decode as plain copies (never views into a receive buffer), so a
 * transcript or key kept for later cannot be changed under us.
 */
import { decodePayload, encodePayload } from '../framing/frames.js';
import { MalformedMessageError } from './errors.js';
import { isVatId, type VatId } from './vat-id.js';

// --- limits (README "Limits") ---

/** Versions, ciphers and encoders are short ASCII names; nobody needs more than a handful. */
export const MAX_OFFERED_VERSIONS = 8;
export const MAX_OFFERED_CIPHERS = 8;
export const MAX_OFFERED_ENCODERS = 8;
/** A protocol, cipher or encoder name: 'chacha20-poly1305' is 17. */
export const MAX_NAME_CHARS = 32;
/** Bridge suggestions in Hello: a few relays the initiator can reach. */
export const MAX_BRIDGE_SUGGESTIONS = 8;
/** Bridge selections in Response: a triple session runs over at most three paths. */
export const MAX_BRIDGE_SELECTIONS = 3;
/** A bridge reference (host:port or a sturdy ref): well under a URL's practical length. */
export const MAX_BRIDGE_CHARS = 256;
/** A domain names a network ("tribe"), not a document. */
export const MAX_DOMAIN_CHARS = 64;
/** An Abort/Shutdown code is an identifier. */
export const MAX_CODE_CHARS = 64;
/** An Abort/Shutdown message explains; it does not carry data. Longer ones are cut when sent, refused when received. */
export const MAX_REASON_CHARS = 512;

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** HMAC-SHA256 output. */
export const COOKIE_BYTES = 32;
/** One rendezvous nonce per selected bridge: unguessable, used once. */
export const BRIDGE_NONCE_BYTES = 32;

// --- message types ---

export interface ProtocolOffered {
  readonly versions: readonly string[];
}
export interface ProtocolAccepted {
  readonly version: string;
}
export interface Hello {
  readonly vatId: VatId;
  readonly wanted: VatId | null;
  readonly domain: string;
  readonly identityKey: Uint8Array;
  readonly ephemeralKey: Uint8Array;
  readonly ciphers: readonly string[];
  readonly encoders: readonly string[];
  readonly bridges: readonly string[];
  readonly cookie: Uint8Array | null;
}
/** The signed part of Response; its msgpack bytes travel as `Response.body`. */
export interface ResponseBody {
  readonly vatId: VatId;
  readonly identityKey: Uint8Array;
  readonly ephemeralKey: Uint8Array;
  readonly cipher: string;
  readonly encoder: string;
  readonly bridges: readonly string[];
}
export interface Response {
  /** msgpack of ResponseBody, hashed into the transcript exactly as received. */
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}
export interface SignatureMessage {
  readonly signature: Uint8Array;
  readonly nonces: readonly Uint8Array[];
}
export interface Cookie {
  readonly cookie: Uint8Array;
}
export interface VatIdMessage {
  readonly vatId: VatId;
}
export interface Reason {
  readonly code: string;
  readonly message: string;
}

// --- validation ---

type Check<T> = (v: unknown, what: string) => T;

const bad = (what: string, why: string): never => {
  throw new MalformedMessageError(`${what}: ${why}`);
};

const record = (v: unknown, what: string, required: readonly string[], optional: readonly string[] = []) => {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) bad(what, 'not a map');
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  for (const k of keys) if (!required.includes(k) && !optional.includes(k)) bad(what, `unknown field "${k.slice(0, 32)}"`);
  for (const k of required) if (!Object.hasOwn(obj, k)) bad(what, `missing field "${k}"`);
  return obj;
};

const text =
  (max: number, min = 1): Check<string> =>
  (v, what) => {
    if (typeof v !== 'string') return bad(what, 'not a string');
    if (v.length < min || v.length > max) return bad(what, `length ${v.length} is outside ${min}–${max}`);
    return v;
  };

const bin =
  (length: number): Check<Uint8Array> =>
  (v, what) => {
    if (!(v instanceof Uint8Array)) return bad(what, 'not bytes');
    if (v.length !== length) return bad(what, `${v.length} bytes, expected ${length}`);
    return new Uint8Array(v);
  };

const anyBin: Check<Uint8Array> = (v, what) => (v instanceof Uint8Array ? new Uint8Array(v) : bad(what, 'not bytes'));

const list =
  <T>(max: number, item: Check<T>, min = 0): Check<T[]> =>
  (v, what) => {
    if (!Array.isArray(v)) return bad(what, 'not a list');
    if (v.length < min || v.length > max) return bad(what, `${v.length} entries, allowed ${min}–${max}`);
    return v.map((x, i) => item(x, `${what}[${i}]`));
  };

const vatId: Check<VatId> = (v, what) => (isVatId(v) ? v : bad(what, 'not a VatId'));
const name = text(MAX_NAME_CHARS);

const decode = (payload: Uint8Array, what: string): unknown => {
  try {
    return decodePayload(payload);
  } catch (err) {
    throw new MalformedMessageError(`${what}: ${(err as Error).message}`, { cause: err });
  }
};

// --- codecs: encode* gives the payload bytes, decode* checks and returns the value ---

export const encodeProtocolOffered = (m: ProtocolOffered): Uint8Array => encodePayload({ versions: m.versions });
export const decodeProtocolOffered = (payload: Uint8Array): ProtocolOffered => {
  const o = record(decode(payload, 'ProtocolOffered'), 'ProtocolOffered', ['versions']);
  return { versions: list(MAX_OFFERED_VERSIONS, name, 1)(o['versions'], 'ProtocolOffered.versions') };
};

export const encodeProtocolAccepted = (m: ProtocolAccepted): Uint8Array => encodePayload({ version: m.version });
export const decodeProtocolAccepted = (payload: Uint8Array): ProtocolAccepted => {
  const o = record(decode(payload, 'ProtocolAccepted'), 'ProtocolAccepted', ['version']);
  return { version: name(o['version'], 'ProtocolAccepted.version') };
};

const HELLO_FIELDS = ['vatId', 'wanted', 'domain', 'identityKey', 'ephemeralKey', 'ciphers', 'encoders', 'bridges'];

export const encodeHello = (m: Hello): Uint8Array => {
  const { cookie, ...rest } = m;
  return encodePayload(cookie ? { ...rest, cookie } : rest);
};
export const decodeHello = (payload: Uint8Array): Hello => {
  const o = record(decode(payload, 'Hello'), 'Hello', HELLO_FIELDS, ['cookie']);
  const wanted = o['wanted'] === null ? null : vatId(o['wanted'], 'Hello.wanted');
  const cookie = o['cookie'] === undefined || o['cookie'] === null ? null : bin(COOKIE_BYTES)(o['cookie'], 'Hello.cookie');
  return {
    vatId: vatId(o['vatId'], 'Hello.vatId'),
    wanted,
    domain: text(MAX_DOMAIN_CHARS)(o['domain'], 'Hello.domain'),
    identityKey: bin(PUBLIC_KEY_BYTES)(o['identityKey'], 'Hello.identityKey'),
    ephemeralKey: bin(PUBLIC_KEY_BYTES)(o['ephemeralKey'], 'Hello.ephemeralKey'),
    ciphers: list(MAX_OFFERED_CIPHERS, name, 1)(o['ciphers'], 'Hello.ciphers'),
    encoders: list(MAX_OFFERED_ENCODERS, name, 1)(o['encoders'], 'Hello.encoders'),
    bridges: list(MAX_BRIDGE_SUGGESTIONS, text(MAX_BRIDGE_CHARS))(o['bridges'], 'Hello.bridges'),
    cookie,
  };
};

export const encodeResponseBody = (m: ResponseBody): Uint8Array =>
  encodePayload({
    vatId: m.vatId,
    identityKey: m.identityKey,
    ephemeralKey: m.ephemeralKey,
    cipher: m.cipher,
    encoder: m.encoder,
    bridges: m.bridges,
  });
export const decodeResponseBody = (body: Uint8Array): ResponseBody => {
  const fields = ['vatId', 'identityKey', 'ephemeralKey', 'cipher', 'encoder', 'bridges'];
  const o = record(decode(body, 'Response.body'), 'Response.body', fields);
  return {
    vatId: vatId(o['vatId'], 'Response.vatId'),
    identityKey: bin(PUBLIC_KEY_BYTES)(o['identityKey'], 'Response.identityKey'),
    ephemeralKey: bin(PUBLIC_KEY_BYTES)(o['ephemeralKey'], 'Response.ephemeralKey'),
    cipher: name(o['cipher'], 'Response.cipher'),
    encoder: name(o['encoder'], 'Response.encoder'),
    bridges: list(MAX_BRIDGE_SELECTIONS, text(MAX_BRIDGE_CHARS))(o['bridges'], 'Response.bridges'),
  };
};

export const encodeResponse = (m: Response): Uint8Array => encodePayload({ body: m.body, signature: m.signature });
/** Checks the envelope; the body is decoded separately (decodeResponseBody) so its exact bytes can be hashed. */
export const decodeResponse = (payload: Uint8Array): Response => {
  const o = record(decode(payload, 'Response'), 'Response', ['body', 'signature']);
  return { body: anyBin(o['body'], 'Response.body'), signature: bin(SIGNATURE_BYTES)(o['signature'], 'Response.signature') };
};

export const encodeSignature = (m: SignatureMessage): Uint8Array =>
  encodePayload({ signature: m.signature, nonces: m.nonces });
export const decodeSignature = (payload: Uint8Array): SignatureMessage => {
  const o = record(decode(payload, 'Signature'), 'Signature', ['signature', 'nonces']);
  return {
    signature: bin(SIGNATURE_BYTES)(o['signature'], 'Signature.signature'),
    nonces: list(MAX_BRIDGE_SELECTIONS, bin(BRIDGE_NONCE_BYTES))(o['nonces'], 'Signature.nonces'),
  };
};

export const encodeCookie = (m: Cookie): Uint8Array => encodePayload({ cookie: m.cookie });
export const decodeCookie = (payload: Uint8Array): Cookie => {
  const o = record(decode(payload, 'Cookie'), 'Cookie', ['cookie']);
  return { cookie: bin(COOKIE_BYTES)(o['cookie'], 'Cookie.cookie') };
};

/** NotMe and DuplicateConnection: the responder's own VatId. */
export const encodeVatIdMessage = (m: VatIdMessage): Uint8Array => encodePayload({ vatId: m.vatId });
export const decodeVatIdMessage = (payload: Uint8Array, what: string): VatIdMessage => {
  const o = record(decode(payload, what), what, ['vatId']);
  return { vatId: vatId(o['vatId'], `${what}.vatId`) };
};

/** Abort (clear) and Shutdown (inside Encrypted). Over-long text is cut, never refused, when sending. */
export const encodeReason = (m: Reason): Uint8Array =>
  encodePayload({ code: m.code.slice(0, MAX_CODE_CHARS) || 'unknown', message: m.message.slice(0, MAX_REASON_CHARS) });
export const decodeReason = (payload: Uint8Array, what: string): Reason => {
  const o = record(decode(payload, what), what, ['code', 'message']);
  return { code: text(MAX_CODE_CHARS)(o['code'], `${what}.code`), message: text(MAX_REASON_CHARS, 0)(o['message'], `${what}.message`) };
};
