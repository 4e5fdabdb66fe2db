/**
 * What may leave a machine for the visualizer. Machine contexts and events are
 * meant to hold public values only (handshake.ts keeps secrets in closures),
 * but the page is a second line: this turns any value into small JSON data
 * and removes what could be a secret, whatever a future machine puts there.
 *
 * - bytes and functions never pass (bytes become '‹N bytes›');
 * - a field whose name speaks of a secret (key, secret, swiss, ticket, nonce,
 *   cookie, token, signature, password, seed) shows '‹redacted›';
 * - in every string, the swiss number of a sturdy ref and any free-standing
 *   run that looks like a swiss number, a ticket or a hex key are replaced;
 * - depth, keys, items, string lengths and the total size are bounded.
 */

export const REDACTED = '‹redacted›';

const SECRET_FIELD = /(key|secret|swiss|ticket|nonce|cookie|token|sig|password|passphrase|seed|private)/i;
/** tribe://<VatId>@<host>:<port>/<swiss> → keep the address, drop the capability. */
const STURDY_REF = /(tribe:\/\/[^\s/]*\/)[^\s'"`)]*/g;
/**
 * Runs of the base32 alphabet long enough to be a ticket (26) or a swiss
 * number (32), wherever they stand (after '/', '_', '-' too); VatIds (52,
 * public and useful on the page) are set aside first.
 */
const BASE32_RUN = /(?<![a-z2-7])[a-z2-7]{20,40}(?![a-z2-7])/g;
/** Free-standing hex of 32+ digits (keys, hashes) and base64 of 40+ characters. */
const SECRET_RUN = /(?<![A-Za-z0-9+/_-])(?:[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{40,}={0,2})(?![A-Za-z0-9+/_=-])/g;

const MAX_DEPTH = 4;
const MAX_KEYS = 24;
const MAX_ITEMS = 16;
const MAX_STRING = 200;

/** VatIds, set aside while secret runs are replaced (a VatId next to '/' would otherwise join a base64-looking run). */
const VAT_ID = /(?<![a-z2-7])[a-z2-7]{52}(?![a-z2-7])/g;
/** Private-use characters mark a set-aside VatId; any in the input are dropped first. */
const SET_ASIDE = /\uE000(\d+)\uE001/g;

export const redactText = (text: string): string => {
  const clipped = (text.length > MAX_STRING * 4 ? text.slice(0, MAX_STRING * 4) : text).replace(/[\uE000\uE001]/g, '');
  const ids: string[] = [];
  const cleaned = clipped
    .replace(STURDY_REF, `$1${REDACTED}`)
    .replace(VAT_ID, (id) => `\uE000${ids.push(id) - 1}\uE001`)
    .replace(BASE32_RUN, REDACTED)
    .replace(SECRET_RUN, REDACTED)
    .replace(SET_ASIDE, (_, i: string) => ids[Number(i)] ?? '');
  return cleaned.length > MAX_STRING ? `${cleaned.slice(0, MAX_STRING - 1)}…` : cleaned;
};

const isBytes = (v: object): v is ArrayBufferView | ArrayBuffer => ArrayBuffer.isView(v) || v instanceof ArrayBuffer;

/** At most this many values, and this many characters of strings and keys, in one redacted result (a few kilobytes of JSON). */
const MAX_VALUES = 200;
const MAX_CHARS = 4000;

/** `value` as bounded, redacted JSON data; undefined for what should not be shown at all (functions). */
export const redact = (value: unknown): unknown => {
  let values = MAX_VALUES;
  let chars = MAX_CHARS;
  const spend = (text: string): string => {
    const kept = text.length <= chars ? text : `${text.slice(0, Math.max(0, chars))}…`;
    chars -= kept.length;
    return kept;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (values-- <= 0 || chars <= 0) return '…';
    const out = redactValue(v, depth, walk, spend);
    return typeof out === 'string' ? spend(out) : out;
  };
  return walk(value, 0);
};

const redactValue = (
  value: unknown,
  depth: number,
  redact: (v: unknown, depth: number) => unknown,
  spend: (text: string) => string,
): unknown => {
  switch (typeof value) {
    case 'string':
      return redactText(value);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return redactText(value.toString());
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  const obj = value as object;
  if (isBytes(obj)) return `‹${obj.byteLength} bytes›`;
  if (obj instanceof Error) return redactText(`${obj.name}: ${obj.message}`);
  if (depth >= MAX_DEPTH) return '…';
  if (Array.isArray(obj)) {
    const items = obj.slice(0, MAX_ITEMS).map((v) => redact(v, depth + 1) ?? null);
    if (obj.length > MAX_ITEMS) items.push(`… ${obj.length - MAX_ITEMS} more`);
    return items;
  }
  if (obj instanceof Map || obj instanceof Set) return `‹${obj.constructor.name} of ${obj.size}›`;
  // Actor references and other live objects: their id, not their insides.
  if ('sessionId' in obj && 'send' in obj) return '‹actor›';
  let entries: [string, unknown][];
  try {
    entries = Object.entries(obj);
  } catch {
    return '‹unreadable›'; // a getter that throws, a revoked proxy
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of entries) {
    if (n >= MAX_KEYS) {
      out['…'] = `${entries.length - MAX_KEYS} more`;
      break;
    }
    const shown = SECRET_FIELD.test(k) ? (v === undefined ? undefined : REDACTED) : redact(v, depth + 1);
    if (shown === undefined) continue;
    // An own '__proto__' key would set the result's prototype instead of a field.
    const key = spend(k === '__proto__' ? '‹__proto__›' : redactText(k));
    out[key] = shown;
    n++;
  }
  return out;
};
