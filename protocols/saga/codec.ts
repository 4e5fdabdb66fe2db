/**
 * Turns: every message of a saga, signed by its sender's identity key and
 * chained to the previous turn by hash.
 *
 * Wire form: the 64-byte Ed25519 signature, then the turn as UTF-8 JSON. The
 * signature covers TURN_CONTEXT followed by those JSON bytes exactly as sent,
 * so a verifier checks the bytes it got (nothing is re-encoded) and a turn of
 * another protocol cannot pass for one. A turn's hash is SHA-256 of its whole
 * wire form; the next turn's `prev` must be it.
 *
 * Failure semantics: `openTurn` throws SagaMalformedError (not a turn, or over
 * a limit), SagaSignatureError (does not verify against the key the caller
 * knows for the sender — a key is never taken from the turn), and
 * SagaOrderError / SagaReplayError (not the turn expected next). Bodies are
 * checked field by field before anything uses them.
 */
import type { CryptoSuite, SigningKey } from '../session/crypto.js';
import { isVatId } from '../session/vat-id.js';
import { SagaMalformedError, SagaOrderError, SagaReplayError, SagaSignatureError } from './errors.js';
import { FINE_BITS, type SagaLimits, SHORT_DIGEST_CHARS } from './limits.js';
import { type SyncEntry, toHex } from './space.js';

export const TURN_VERSION = 1;
const TURN_CONTEXT = 'tribe saga turn v1\n';
const SIG_BYTES = 64;

export type TurnKind = 'init' | 'ack' | 'delta' | 'commit' | 'committed' | 'abort';

export interface InitBody {
  /** The initiator's root (hex), its entry count, and the coarse summary: 2^bits bucket digests (short hex). */
  readonly root: string;
  readonly count: number;
  readonly bits: number;
  readonly buckets: readonly string[];
  /** The hash of the last turn of the last saga this initiator committed with this responder in this space ('' for none): where this one resumes. */
  readonly head: string;
}

/** A bucket the responder wants: its entries there as [key, short digest], or null for "send it all". */
export type Want = readonly [bucket: number, have: readonly (readonly [string, string])[] | null];

export interface AckBody {
  readonly root: string;
  readonly count: number;
  /** The responder's chain head with this initiator in this space. */
  readonly head: string;
  /** True when the roots match: the saga ends here, with no Delta. */
  readonly synced: boolean;
  readonly want: readonly Want[];
}

export type WireEntry = readonly [key: string, value: string, clock: number, origin: string, deleted: 0 | 1];

export interface DeltaBody {
  /** Entries the initiator will send in all (progress). */
  readonly total: number;
  readonly entries: readonly WireEntry[];
}

export interface CommitBody {
  /** Delta turns and entries sent: the responder commits only when it staged exactly these. */
  readonly chunks: number;
  readonly entries: number;
}

export interface CommittedBody {
  /** The responder's root after the commit, its entry count, and how many entries won (changed its space). */
  readonly root: string;
  readonly count: number;
  readonly applied: number;
}

export interface AbortBody {
  readonly reason: string;
}

interface Bodies {
  init: InitBody;
  ack: AckBody;
  delta: DeltaBody;
  commit: CommitBody;
  committed: CommittedBody;
  abort: AbortBody;
}

export interface TurnHeader {
  readonly v: number;
  readonly k: TurnKind;
  /** The saga's id: 32 hex characters, fresh for each saga. */
  readonly saga: string;
  readonly seq: number;
  readonly from: string;
  readonly to: string;
  readonly space: string;
  /** The previous turn's hash (hex); for an Init, the initiator's chain head with this peer. */
  readonly prev: string;
  /** The sender's clock when it sent the turn (ms): for the audit trail, not trusted for anything. */
  readonly at: number;
}

export interface Turn<K extends TurnKind = TurnKind> extends TurnHeader {
  readonly k: K;
  readonly b: Bodies[K];
}

export interface SealedTurn<K extends TurnKind = TurnKind> {
  readonly turn: Turn<K>;
  readonly bytes: Uint8Array;
  readonly hash: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const contextBytes = encoder.encode(TURN_CONTEXT);

const signedMessage = (json: Uint8Array): Uint8Array => {
  const m = new Uint8Array(contextBytes.length + json.length);
  m.set(contextBytes);
  m.set(json, contextBytes.length);
  return m;
};

export const turnHash = (crypto: CryptoSuite, bytes: Uint8Array): string => toHex(crypto.sha256(bytes));

export const sealTurn = <K extends TurnKind>(crypto: CryptoSuite, key: SigningKey, turn: Turn<K>): SealedTurn<K> => {
  const json = encoder.encode(JSON.stringify(turn));
  const sig = key.sign(signedMessage(json));
  const bytes = new Uint8Array(SIG_BYTES + json.length);
  bytes.set(sig);
  bytes.set(json, SIG_BYTES);
  return { turn, bytes, hash: turnHash(crypto, bytes) };
};

/** What the receiver expects of the next turn. */
export interface Expect {
  /** The key this side knows for the sender (never one the turn offers). */
  readonly key: Uint8Array;
  readonly from: string;
  readonly to: string;
  /** The saga (undefined: an Init, whose id must be fresh — `seen` says whether it was used). */
  readonly saga?: string;
  readonly space?: string;
  readonly seq: number;
  /** The hash the turn's prev must be (undefined: any, as for an Init). */
  readonly prev?: string;
  /** The kinds acceptable now. */
  readonly kinds: readonly TurnKind[];
  /** Whether a saga id was used before (replay of an Init). */
  readonly seen?: (saga: string) => boolean;
}

const fail = (what: string): never => {
  throw new SagaMalformedError(what);
};
const isHex = (s: unknown, n: number): s is string => typeof s === 'string' && s.length === n && /^[0-9a-f]*$/.test(s);
const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const KINDS: readonly TurnKind[] = ['init', 'ack', 'delta', 'commit', 'committed', 'abort'];
export const SPACE_PATTERN = /^[a-z][a-z0-9._:-]{0,63}$/;

const utf8Bytes = (s: string): number => encoder.encode(s).length;
/** A string's size in a turn: its JSON text's UTF-8 bytes (escapes included). */
export const jsonBytes = (s: string): number => utf8Bytes(JSON.stringify(s));
/** Whether `s` takes at most `max` bytes as JSON; without encoding it when it plainly does (an escape takes at most 6 bytes per UTF-16 unit). */
export const jsonFits = (s: string, max: number): boolean => s.length * 6 + 2 <= max || jsonBytes(s) <= max;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is the point
const NON_ASCII = /[^\u0000-\u007f]/;
/** UTF-8 bytes of `s`, without encoding it when it is ASCII (most keys and values). */
const utf8Size = (s: string): number => (NON_ASCII.test(s) ? utf8Bytes(s) : s.length);

const checkHeader = (t: Record<string, unknown>): TurnHeader => {
  if (t['v'] !== TURN_VERSION) fail(`turn version ${JSON.stringify(t['v'])}, want ${TURN_VERSION}`);
  if (!KINDS.includes(t['k'] as TurnKind)) fail(`unknown turn kind ${JSON.stringify(t['k'])}`);
  if (!isHex(t['saga'], 32)) fail('saga id is not 32 hex characters');
  if (!isCount(t['seq'])) fail('seq is not a count');
  if (!isVatId(t['from']) || !isVatId(t['to'])) fail('from/to are not VatIds');
  if (typeof t['space'] !== 'string' || !SPACE_PATTERN.test(t['space'])) fail('space is not a space name');
  if (!(t['prev'] === '' || isHex(t['prev'], 64))) fail('prev is not a hash');
  if (!isCount(t['at'])) fail('at is not a time');
  return t as unknown as TurnHeader;
};

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/**
 * Whether a string has a UTF-8 form (no lone surrogate). One that has not is
 * not kept as given: SQLite stores U+FFFD bytes instead, and the entry no
 * longer matches the digest and bucket computed from it.
 */
export const isWellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

const checkEntry = (e: unknown, limits: SagaLimits): WireEntry => {
  if (!Array.isArray(e) || e.length !== 5) return fail('an entry is not [key, value, clock, origin, deleted]');
  const [key, value, clock, origin, deleted] = e as unknown[];
  if ([key, value, origin].some((s) => typeof s === 'string' && !isWellFormed(s))) fail("an entry's key, value or origin is not well-formed Unicode (a lone surrogate)");
  if (typeof key !== 'string' || key.length === 0 || utf8Bytes(key) > limits.maxKeyBytes) fail(`an entry's key is not a string of 1..${limits.maxKeyBytes} bytes`);
  if (typeof value !== 'string' || !jsonFits(value, limits.maxValueBytes)) fail(`an entry's value is not a string of at most ${limits.maxValueBytes} bytes as JSON`);
  if (!isCount(clock)) fail("an entry's clock is not a count");
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > 128) fail("an entry's origin is not a string of 1..128 characters");
  if (deleted !== 0 && deleted !== 1) fail("an entry's deleted flag is not 0 or 1");
  return e as unknown as WireEntry;
};

const checkBody = (k: TurnKind, b: unknown, limits: SagaLimits): void => {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) fail('the body is not an object');
  const o = b as Record<string, unknown>;
  const head = (x: unknown) => x === '' || isHex(x, 64);
  switch (k) {
    case 'init': {
      const bits = o['bits'];
      if (!isHex(o['root'], 64) || !isCount(o['count']) || !head(o['head'])) fail('init: root, count or head');
      if (!Number.isInteger(bits) || (bits as number) < 0 || (bits as number) > FINE_BITS) fail(`init: bits not in 0..${FINE_BITS}`);
      const buckets = o['buckets'];
      if (!Array.isArray(buckets) || buckets.length !== 1 << (bits as number) || !buckets.every((d) => isHex(d, SHORT_DIGEST_CHARS))) fail('init: buckets');
      return;
    }
    case 'ack': {
      if (!isHex(o['root'], 64) || !isCount(o['count']) || !head(o['head']) || typeof o['synced'] !== 'boolean') fail('ack: root, count, head or synced');
      const want = o['want'];
      if (!Array.isArray(want)) throw new SagaMalformedError('ack: want is not a list');
      let last = -1;
      for (const w of want) {
        if (!Array.isArray(w) || w.length !== 2 || !Number.isInteger(w[0]) || w[0] <= last || w[0] >= 1 << FINE_BITS) fail('ack: a wanted bucket is not [bucket, have] in ascending order');
        last = w[0];
        const have = w[1];
        if (have === null) continue;
        if (!Array.isArray(have) || !have.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && isHex(h[1], SHORT_DIGEST_CHARS))) fail('ack: a listing is not [key, digest] pairs');
      }
      return;
    }
    case 'delta': {
      if (!isCount(o['total']) || !Array.isArray(o['entries'])) fail('delta: total or entries');
      for (const e of o['entries'] as unknown[]) checkEntry(e, limits);
      return;
    }
    case 'commit':
      if (!isCount(o['chunks']) || !isCount(o['entries'])) fail('commit: chunks or entries');
      return;
    case 'committed':
      if (!isHex(o['root'], 64) || !isCount(o['count']) || !isCount(o['applied'])) fail('committed: root, count or applied');
      return;
    case 'abort':
      if (typeof o['reason'] !== 'string' || o['reason'].length > 1000) fail('abort: reason');
      return;
  }
};

/** Parses and checks the shape of a turn, without its signature or order (`openTurn` does all). */
export const parseTurn = (bytes: Uint8Array, limits: SagaLimits): { turn: Turn; json: Uint8Array; sig: Uint8Array } => {
  if (!(bytes instanceof Uint8Array)) fail('a turn is bytes');
  if (bytes.length > limits.maxTurnBytes) fail(`a turn of ${bytes.length} bytes exceeds the ${limits.maxTurnBytes}-byte limit`);
  if (bytes.length < SIG_BYTES + 2) fail('a turn shorter than its signature');
  const sig = bytes.subarray(0, SIG_BYTES);
  const json = bytes.subarray(SIG_BYTES);
  let t: unknown;
  try {
    t = JSON.parse(decoder.decode(json));
  } catch {
    fail('a turn is not UTF-8 JSON');
  }
  if (typeof t !== 'object' || t === null || Array.isArray(t)) fail('a turn is not an object');
  const header = checkHeader(t as Record<string, unknown>);
  checkBody(header.k, (t as Record<string, unknown>)['b'], limits);
  return { turn: t as Turn, json, sig };
};

/** Opens a turn: its shape, then its signature against the known key, then its place in the saga. */
export const openTurn = (crypto: CryptoSuite, bytes: Uint8Array, expect: Expect, limits: SagaLimits): SealedTurn => {
  const { turn, json, sig } = parseTurn(bytes, limits);
  if (!crypto.ed25519Verify(expect.key, signedMessage(json), sig)) {
    throw new SagaSignatureError(`a ${turn.k} turn does not verify against the key known for ${expect.from.slice(0, 8)} (tampered, or signed by another key)`);
  }
  if (turn.from !== expect.from || turn.to !== expect.to) throw new SagaOrderError(`a turn from ${turn.from.slice(0, 8)} to ${turn.to.slice(0, 8)} is not for this saga's parties`);
  if (turn.k !== 'abort') {
    if (expect.saga === undefined) {
      if (expect.seen?.(turn.saga)) throw new SagaReplayError(`saga ${turn.saga} was run before: a replayed Init`);
    } else if (turn.saga !== expect.saga) throw new SagaOrderError(`a turn of saga ${turn.saga}, in saga ${expect.saga}`);
    if (turn.seq < expect.seq) throw new SagaReplayError(`turn ${turn.seq} of saga ${turn.saga} again (expected turn ${expect.seq})`);
    if (turn.seq !== expect.seq) throw new SagaOrderError(`turn ${turn.seq} where turn ${expect.seq} was expected`);
    if (expect.prev !== undefined && turn.prev !== expect.prev) throw new SagaOrderError(`turn ${turn.seq} does not chain to the previous turn`);
    if (expect.space !== undefined && turn.space !== expect.space) throw new SagaOrderError(`a turn of space ${turn.space}, in a saga of ${expect.space}`);
    if (!expect.kinds.includes(turn.k)) throw new SagaOrderError(`a ${turn.k} turn where ${expect.kinds.join(' or ')} was expected`);
  } else if (expect.saga !== undefined && turn.saga !== expect.saga) {
    throw new SagaOrderError(`an abort of saga ${turn.saga}, in saga ${expect.saga}`);
  }
  return { turn, bytes, hash: turnHash(crypto, bytes) };
};

export const toWire = (e: SyncEntry): WireEntry => [e.key, e.value, e.clock, e.origin, e.deleted ? 1 : 0];
export const fromWire = (w: WireEntry): SyncEntry => ({ key: w[0], value: w[1], clock: w[2], origin: w[3], deleted: w[4] === 1 });

/** The bytes an entry takes in a Delta turn's JSON (chunking: a turn never passes maxTurnBytes). */
export const wireSize = (e: SyncEntry): number => utf8Size(JSON.stringify(toWire(e))) + 1;
