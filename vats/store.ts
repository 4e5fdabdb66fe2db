/**
 * `powers.store` for durable vats: a key → plain-data map whose writes belong to
 * the turn that made them. Reads see the turn's own writes at once; the write
 * set reaches the backend (one SQLite transaction) at the end of the turn,
 * before any message the turn produced leaves the vat (see vat-main.ts). So a
 * caller never sees a reply that rests on writes a crash could lose.
 */
import { Far, getInterfaceOf } from '@endo/far';
import { StoreValueError } from './errors.js';
import type { Store } from './powers.js';

/** The durable side, provided by runtime/ (SQLite). Values are JSON text. */
export interface StoreBackend {
  get(key: string): string | undefined;
  keys(prefix: string): string[];
  /** Applies all writes in one transaction; `undefined` deletes. */
  commit(writes: ReadonlyMap<string, string | undefined>): void;
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

/** Plain data only: references and functions cannot outlive the vat, so they cannot be stored. */
const assertData = (value: unknown, path: string, depth = 0): void => {
  if (depth > 64) throw new StoreValueError(`store value nested deeper than 64 at ${path}`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return;
    throw new StoreValueError(`store value at ${path} is not a finite number`);
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) assertData(v, `${path}[${i}]`, depth + 1);
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const [k, v] of Object.entries(value)) assertData(v, `${path}.${k}`, depth + 1);
      return;
    }
  }
  throw new StoreValueError(`store value at ${path} is ${notPlainData(value)}. ${ACCEPTED}`);
};

const ACCEPTED =
  'The store keeps plain data only: null, booleans, finite numbers, strings, and arrays and plain objects of these';

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
    return 'a reference (a Far object): references cannot outlive the vat; publish it with powers.names.publish(name, ref) and store the name';
  }
  const cls = (Object.getPrototypeOf(obj) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return `an instance of ${cls ? `class ${cls}` : 'a class'}: store its fields as a plain object ({ ...value }) and rebuild the instance when you read it`;
};

export interface TurnStore {
  readonly store: Store;
  readonly dirty: () => boolean;
  /** Makes this turn's writes durable; throws if the backend fails. */
  readonly commit: () => void;
}

export const makeTurnStore = (backend: StoreBackend): TurnStore => {
  const writes = new Map<string, string | undefined>();
  const readText = (key: string) => (writes.has(key) ? writes.get(key) : backend.get(key));
  const store: Store = Far('Store', {
    get<T = unknown>(key: string): T | undefined {
      const text = readText(assertKey(key));
      return text === undefined ? undefined : harden(JSON.parse(text));
    },
    has: (key: string) => readText(assertKey(key)) !== undefined,
    set(key: string, value: unknown) {
      assertKey(key);
      assertData(value, key);
      const text = JSON.stringify(value);
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
  });
  return {
    store,
    dirty: () => writes.size > 0,
    commit() {
      if (writes.size === 0) return;
      backend.commit(writes);
      writes.clear();
    },
  };
};
