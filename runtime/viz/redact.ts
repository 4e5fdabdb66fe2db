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
 * Free-standing runs of the base32 alphabet long enough to be a ticket (26) or
 * swiss number (32), but not a VatId (52, public and useful on the page);
 * hex of 32+ digits (keys, hashes); base64 of 40+ characters.
 */
const SECRET_RUN = /(?<![A-Za-z0-9+/_-])(?:[a-z2-7]{20,40}|[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{40,51}={0,2}|[A-Za-z0-9+/_-]{53,}={0,2})(?![A-Za-z0-9+/_=-])/g;

const MAX_DEPTH = 4;
const MAX_KEYS = 24;
const MAX_ITEMS = 16;
const MAX_STRING = 200;

export const redactText = (text: string): string => {
  const clipped = text.length > MAX_STRING * 4 ? text.slice(0, MAX_STRING * 4) : text;
  const cleaned = clipped.replace(STURDY_REF, `$1${REDACTED}`).replace(SECRET_RUN, (run) => {
    // A VatId is 52 base32 characters: public, shown in full.
    return /^[a-z2-7]{52}$/.test(run) ? run : REDACTED;
  });
  return cleaned.length > MAX_STRING ? `${cleaned.slice(0, MAX_STRING - 1)}…` : cleaned;
};

const isBytes = (v: object): v is ArrayBufferView | ArrayBuffer => ArrayBuffer.isView(v) || v instanceof ArrayBuffer;

/** At most this many values in one redacted result (a few kilobytes of JSON). */
const MAX_VALUES = 200;

/** `value` as bounded, redacted JSON data; undefined for what should not be shown at all (functions). */
export const redact = (value: unknown): unknown => {
  let budget = MAX_VALUES;
  const walk = (v: unknown, depth: number): unknown => (budget-- > 0 ? redactValue(v, depth, walk) : '…');
  return walk(value, 0);
};

const redactValue = (value: unknown, depth: number, redact: (v: unknown, depth: number) => unknown): unknown => {
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
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(obj)) {
    if (n >= MAX_KEYS) {
      out['…'] = `${Object.keys(obj).length - MAX_KEYS} more`;
      break;
    }
    const shown = SECRET_FIELD.test(k) ? (v === undefined ? undefined : REDACTED) : redact(v, depth + 1);
    if (shown === undefined) continue;
    out[redactText(k)] = shown;
    n++;
  }
  return out;
};
