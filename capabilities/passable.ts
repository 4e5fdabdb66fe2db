/**
 * What can cross a CapTP connection, said in words that tell actor authors what
 * to send instead. @endo/marshal refuses an object with methods that is not a
 * Far object, or a class instance, with messages such as "Remotables must be
 * explicitly declared" and '"[Symbol(passStyle)]" property expected'; the
 * connection rewrites those into a NotPassableError (connection.ts), and the vat
 * checks the root `make()` returns with `notFar` before CapTP sees it.
 */
import { getInterfaceOf } from '@endo/far';
import { NotPassableError } from './errors.js';

const SENT = 'cannot be sent to another vat or host';
const FAR = "Far('Name', { method() {…} })";
/** Marshal's rendering of the value in parentheses, unless it is only a placeholder like "(an object)". */
const shown = (detail: string): string => (/^\(an? [a-z ]+\)$/.test(detail) ? '' : ` (${detail})`);

/** The marshal error messages we can explain, and the explanation; `detail` is marshal's rendering of the value. */
const MARSHAL_ERRORS: ReadonlyArray<readonly [RegExp, (detail: string) => string]> = [
  [
    /^Remotables must be explicitly declared: ("\[Function.*)$/s,
    (d) => `a function${shown(d)} ${SENT}; wrap it in a Far object, ${FAR}, which is sent by reference`,
  ],
  [
    /^Remotables must be explicitly declared: (.*)$/s,
    (d) => `a plain object with methods${shown(d)} ${SENT}; wrap it: ${FAR} makes an object that is sent by reference`,
  ],
  [
    /^cannot serialize Remotables with non-methods like (.*)$/s,
    (d) =>
      `an object with both methods and data fields (like ${d}), such as a class instance, ${SENT}; ` +
      `send a Far object whose methods use the data, ${FAR}, or plain data without methods`,
  ],
  [
    /^"\[Symbol\(passStyle\)\]" property expected: (.*)$/s,
    (d) =>
      `an object with a prototype of its own${shown(d)}, such as a class instance, a Date, a Map or a Set, ${SENT}; ` +
      `send plain data (records, arrays, strings, numbers, bigints, booleans, null, undefined) or a Far object, ${FAR}`,
  ],
  [
    /^Cannot pass mutable typed arrays like (.*?)\.?$/s,
    (d) => `a typed array${shown(d)} ${SENT}; send Array.from(bytes) or a string`,
  ],
];

/** A teaching text for a marshal error message, or undefined when it is not one we know. */
export const explainMarshalError = (message: string): string | undefined => {
  for (const [pattern, explain] of MARSHAL_ERRORS) {
    const m = pattern.exec(message);
    if (m) return explain(m[1]!);
  }
  return undefined;
};

/**
 * Why `value` is not a Far object (or a presence of one), with the fix; undefined
 * when it is one. For the root a `make()` returns, which other vats call.
 */
export const notFar = (value: unknown): string | undefined => {
  if ((typeof value === 'object' || typeof value === 'function') && value !== null && getInterfaceOf(value) !== undefined) {
    return undefined;
  }
  if (typeof value === 'function') return `a function; wrap it: Far('Name', { call: fn })`;
  if (typeof value !== 'object' || value === null) {
    return `${value === null || value === undefined ? String(value) : `a ${typeof value}`}; return ${FAR}`;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const methods = Object.keys(value).filter((k) => typeof (value as Record<string, unknown>)[k] === 'function');
    return methods.length > 0
      ? `a plain object with methods (${methods.join(', ')}); wrap it: return Far('Name', { ${methods.map((m) => `${m}…`).join(', ')} })`
      : `plain data; the root is what other vats call, so return ${FAR}`;
  }
  if (Array.isArray(value)) return `an array; the root is what other vats call, so return ${FAR}`;
  const name = (proto as { constructor?: { name?: string } }).constructor?.name;
  return (
    `an instance of ${name ? `class ${name}` : 'a class'}; class instances ${SENT}, so wrap its methods: ` +
    `return Far('${name || 'Name'}', { method: (...args) => instance.method(...args) })`
  );
};

/** Errors marshal rebuilds as themselves; any other name arrives as a plain Error. */
const STANDARD_ERRORS = new Set(['Error', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError', 'AggregateError']);

/**
 * A rejection about to be sent (capdata of an error) made to say what marshal
 * would lose or leave cryptic. Marshal carries an error's `name` and `message`
 * only, and the receiver rebuilds only the standard classes, so an actor's
 * `InsufficientFundsError` would arrive as a bare `Error`: its name goes into the
 * message as a prefix (as every TribeError's does), where `describeError` shows
 * it and `reviveError` restores `name`. A marshal refusal becomes a
 * NotPassableError that says what to send instead. Anything else is unchanged.
 */
export const rewriteSentError = <T>(capdata: T): T => {
  const body = (capdata as { body?: unknown } | null)?.body;
  if (typeof body !== 'string' || !body.startsWith('{"@qclass":"error"')) return capdata;
  let encoded: Record<string, unknown>;
  try {
    encoded = JSON.parse(body);
  } catch {
    return capdata;
  }
  const { name, message } = encoded;
  if (typeof name !== 'string' || typeof message !== 'string') return capdata;
  const explained = STANDARD_ERRORS.has(name) ? explainMarshalError(message) : undefined;
  let renamed: { name: string; message: string };
  if (explained !== undefined) {
    renamed = { name: NotPassableError.name, message: new NotPassableError(explained).message };
  } else if (!STANDARD_ERRORS.has(name) && /^[A-Za-z_$][\w$]*$/.test(name) && !message.startsWith(`${name}: `)) {
    renamed = { name, message: `${name}: ${message}` };
  } else {
    return capdata;
  }
  return { ...capdata, body: JSON.stringify({ ...encoded, ...renamed }) };
};
