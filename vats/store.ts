/**
 * `powers.store` for durable vats: a key → data map whose writes belong to the
 * turn that made them. Reads see the turn's own writes at once; the write set
 * (and the durable objects the turn created or changed, durable.ts) reaches the
 * backend in one SQLite transaction at the end of the turn, before any message
 * the turn produced leaves the vat (see vat-main.ts). So no one ever sees a
 * message that rests on writes a crash could lose.
 *
 * Values are plain data, and references to durable objects (durable.ts). A
 * value without references is stored as its JSON text, as it always was; one
 * with references is `#` and then JSON in which a reference is the string `$`
 * + its text (RefCodec) and a string of the value that starts with `$` or `!`
 * gets a `!` in front. JSON text never starts with `#`, so old values read as
 * they were written.
 */
import { Far, getInterfaceOf } from '@endo/far';
import { StoreValueError } from './errors.js';
import type { DurableKinds, Store } from './powers.js';

/** A durable object's row: its kind's name and its state, encoded as a store value. */
export interface ObjectRow {
  readonly kind: string;
  readonly state: string;
}

/** The durable side, provided by runtime/ (SQLite). Values are JSON text (or `#`-encoded, above). */
export interface StoreBackend {
  get(key: string): string | undefined;
  keys(prefix: string): string[];
  /** The row of the durable object with key `id`. */
  object(id: string): ObjectRow | undefined;
  /** Kinds that have objects stored, with their counts. */
  kinds(): { kind: string; count: number }[];
  /** Keys of up to `limit` objects of `kind`. */
  idsOf(kind: string, limit: number): string[];
  /**
   * Applies all writes in one transaction; `undefined` deletes a key. A
   * replicated vat's backend also gets the replies of the calls its turn
   * answered (call id → reply text): they commit with the writes, so a call
   * retried after a failover is answered from them and never runs twice.
   */
  commit(writes: ReadonlyMap<string, string | undefined>, objects?: ReadonlyMap<string, ObjectRow>, replies?: ReadonlyMap<string, string>): void;
}

/** How references are written in stored values: to a text and back (durable.ts makes the real one). */
export interface RefCodec {
  /** The text that stands for `ref`, or why it cannot be stored. */
  toText(ref: object): string | { readonly error: string };
  fromText(text: string): unknown;
}

/** Keys are short strings: they are indexed and shown by tools. */
export const MAX_KEY_LENGTH = 512;
/** One value's JSON text; a bound so that one turn cannot bloat the store unnoticed. */
export const MAX_VALUE_BYTES = 1 << 20;

const assertKey = (key: unknown): string => {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new StoreValueError(`store keys are non-empty strings of at most ${MAX_KEY_LENGTH} characters`);
  }
  return key;
};

/**
 * Checks that `value` can be stored: plain data, and references `codec` can
 * write. Returns the texts of the references found (none: plain JSON will do).
 */
const checkValue = (value: unknown, path: string, codec: RefCodec | undefined, refs: Map<object, string>, depth = 0): void => {
  if (depth > 64) throw new StoreValueError(`store value nested deeper than 64 at ${path}`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return;
    throw new StoreValueError(`store value at ${path} is not a finite number`);
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) checkValue(v, `${path}[${i}]`, codec, refs, depth + 1);
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const [k, v] of Object.entries(value)) checkValue(v, `${path}.${k}`, codec, refs, depth + 1);
      return;
    }
    if (codec && getInterfaceOf(value) !== undefined) {
      if (refs.has(value)) return;
      const text = codec.toText(value);
      if (typeof text === 'string') {
        refs.set(value, text);
        return;
      }
      throw new StoreValueError(`store value at ${path} is a reference that cannot be stored: ${text.error}`);
    }
  }
  throw new StoreValueError(`store value at ${path} is ${notPlainData(value)}. ${ACCEPTED}`);
};

const ACCEPTED =
  'The store keeps plain data (null, booleans, finite numbers, strings, and arrays and plain objects of these) and references to durable objects';

/** A checked value as stored text: its JSON, or `#` and the JSON with references and escapes (file comment). */
const valueText = (value: unknown, refs: ReadonlyMap<object, string>): string => {
  if (refs.size === 0) return JSON.stringify(value);
  const encode = (v: unknown): unknown => {
    if (typeof v === 'string') return v[0] === '$' || v[0] === '!' ? `!${v}` : v;
    if (v === null || typeof v !== 'object') return v;
    const ref = refs.get(v);
    if (ref !== undefined) return `$${ref}`;
    if (Array.isArray(v)) return v.map(encode);
    // fromEntries, not assignment: a key "__proto__" stays a key.
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]));
  };
  return `#${JSON.stringify(encode(value))}`;
};

/** Checks `value` and gives its stored text; StoreValueError when it cannot be stored. */
export const encodeValue = (value: unknown, path: string, codec: RefCodec | undefined): string => {
  const refs = new Map<object, string>();
  checkValue(value, path, codec, refs);
  return valueText(value, refs);
};

/** Checks `value` as `encodeValue` does, without building its text (a durable object's field, written at commit). */
export const checkStorable = (value: unknown, path: string, codec: RefCodec | undefined): void => {
  checkValue(value, path, codec, new Map());
};

/** A stored text back to a hardened value; references through `codec`. */
export const decodeValue = (text: string, codec: RefCodec | undefined): unknown => {
  if (text[0] !== '#') return harden(JSON.parse(text));
  const decode = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (v[0] === '!') return v.slice(1);
      if (v[0] === '$') {
        if (!codec) throw new StoreValueError('a stored value holds a reference, and this store reads none');
        return codec.fromText(v.slice(1));
      }
      return v;
    }
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(decode);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  };
  return harden(decode(JSON.parse(text.slice(1))));
};

/** What a rejected value is, and how to store what it holds instead. */
const notPlainData = (value: unknown): string => {
  switch (typeof value) {
    case 'undefined':
      return 'undefined: store null for "no value", or delete the key with store.delete(key)';
    case 'bigint':
      return 'a bigint: store it as a string (String(n)) and read it back with BigInt(text)';
    case 'symbol':
      return 'a symbol: store its description as a string';
    case 'function':
      return 'a function: code and references cannot outlive the vat; store the data they work on';
  }
  const obj = value as object;
  if (obj instanceof Date) return 'a Date: store its time as a number (date.getTime()) or an ISO string';
  if (obj instanceof Map) return 'a Map: store Object.fromEntries(map) or [...map] (an array of [key, value] pairs)';
  if (obj instanceof Set) return 'a Set: store [...set] (an array)';
  if (ArrayBuffer.isView(obj)) return 'a typed array: store Array.from(bytes) or a string';
  if (getInterfaceOf(obj) !== undefined) {
    return 'a reference that is not durable: only durable objects (powers.store.defineKind) survive a restart; store the data it stands for, or publish it with powers.names.publish(name, ref) and store the name';
  }
  const cls = (Object.getPrototypeOf(obj) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return `an instance of ${cls ? `class ${cls}` : 'a class'}: store its fields as a plain object ({ ...value }) and rebuild the instance when you read it`;
};

/** What the turn store needs of the vat's durable objects (durable.ts). */
export interface TurnObjects {
  readonly codec: RefCodec;
  readonly defineKind: DurableKinds['defineKind'];
  /** Objects created or changed since the last commit, as rows. */
  takeWrites(): Map<string, ObjectRow>;
  /** Whether any object was created or changed since the last commit. */
  dirty(): boolean;
}

export interface TurnStore {
  readonly store: Store;
  readonly dirty: () => boolean;
  /** Makes this turn's writes (and, in a replicated vat, the replies it gave) durable; throws if the backend fails. */
  readonly commit: (replies?: ReadonlyMap<string, string>) => void;
}

export const makeTurnStore = (backend: StoreBackend, objects?: TurnObjects): TurnStore => {
  const writes = new Map<string, string | undefined>();
  const codec = objects?.codec;
  const readText = (key: string) => (writes.has(key) ? writes.get(key) : backend.get(key));
  const store: Store = Far('Store', {
    get<T = unknown>(key: string): T | undefined {
      const text = readText(assertKey(key));
      return text === undefined ? undefined : (decodeValue(text, codec) as T);
    },
    has: (key: string) => readText(assertKey(key)) !== undefined,
    set(key: string, value: unknown) {
      assertKey(key);
      const text = encodeValue(value, key, codec);
      // UTF-8 is at most 3 bytes per UTF-16 unit: encode only when the cheap bound is not enough.
      const bytes = text.length * 3 <= MAX_VALUE_BYTES ? text.length : new TextEncoder().encode(text).length;
      if (bytes > MAX_VALUE_BYTES) {
        throw new StoreValueError(`store value for "${key}" is ${bytes} bytes; the limit is ${MAX_VALUE_BYTES}`);
      }
      writes.set(key, text);
    },
    delete(key: string) {
      writes.set(assertKey(key), undefined);
    },
    keys(prefix = ''): string[] {
      const all = new Set(backend.keys(String(prefix)));
      for (const [k, v] of writes) {
        if (!k.startsWith(String(prefix))) continue;
        if (v === undefined) all.delete(k);
        else all.add(k);
      }
      return harden([...all].sort());
    },
    defineKind: ((...args: Parameters<DurableKinds['defineKind']>) => {
      if (!objects) throw new StoreValueError('this store keeps no durable objects');
      return objects.defineKind(...args);
    }) as DurableKinds['defineKind'],
  });
  return {
    store,
    dirty: () => writes.size > 0 || (objects?.dirty() ?? false),
    commit(replies) {
      const rows = objects?.takeWrites();
      if (writes.size === 0 && !rows?.size && !replies?.size) return;
      if (replies?.size) backend.commit(writes, rows ?? new Map(), replies);
      else backend.commit(writes, rows ?? new Map());
      writes.clear();
    },
  };
};
