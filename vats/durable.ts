/**
 * Durable objects of one vat: kinds whose instances keep their state in the
 * vat's store and their identity across restarts and upgrades
 * (`powers.store.defineKind`, docs/tutorial.md "Durable objects").
 *
 * An instance is a row of `vat_objects` under a key `d:<26 base32 chars>` (128
 * random bits): its kind's name and its state, encoded as store values are
 * (store.ts), so state may hold references to durable objects. The key is also
 * the authority to reach the object again from outside (a peer's
 * `revive(key)`, capabilities/durable-refs.ts), and is never shown to user code.
 * A durable vat's root is durable too, under a key `r:…` made on its first start.
 *
 * Instances are made on demand: when code makes one, when a peer revives one,
 * or when a stored value or state that names one is read. While anything holds
 * an instance it stays the same object; once nothing does it may be collected,
 * and the next use makes it again from its row (nobody can tell the difference).
 *
 * State: the context's `state` is a proxy over the instance's record. Reading a
 * field gives the stored (frozen) value; assigning one checks it as the store
 * checks values (StoreValueError) and marks the instance changed; the turn's
 * commit writes every changed instance with the turn's other writes.
 *
 * Behaviour: a kind's methods are shared by its instances (one function per
 * method and kind, not per instance) and find their instance by `this`, which is
 * the instance whether the method is called locally or by E().
 */
import { Far } from '@endo/far';
import type { DurableSource } from '../capabilities/durable-refs.js';
import { DurableObjectNotFoundError } from '../capabilities/errors.js';
import type { DurableTerms } from '../capabilities/gift-notes.js';
import { NAME_PATTERN } from '../capabilities/names.js';
import { DurableKindError, StoreValueError } from './errors.js';
import type { DurableBehavior, DurableContext, DurableKinds } from './powers.js';
import { checkStorable, decodeValue, encodeValue, type ObjectRow, type RefCodec, type StoreBackend, type TurnObjects } from './store.js';

/** The kind of the row that holds a durable vat's root key. */
export const ROOT_KIND = '$root';

export interface VatObjectsOptions {
  readonly backend: StoreBackend;
  /** A fresh key: `prefix` and 128 random bits in base32. */
  readonly newKey: (prefix: 'd:' | 'r:') => string;
  /** Other parties' durable objects (capabilities/durable-refs.ts): their terms, and presences from terms. */
  readonly foreign: { termsOf(val: unknown): DurableTerms | undefined; fromTerms(terms: DurableTerms): unknown };
}

export interface VatObjects extends TurnObjects, DurableSource {
  /** Makes `root` durable under the vat's root key (made on the first start, kept after). */
  adoptRoot(root: object): void;
  /** Throws DurableKindError naming each kind that has objects stored but is not defined now. */
  checkKinds(): void;
}

interface Kind {
  readonly name: string;
  /** Its methods, shared by every instance: each finds its instance by `this`. */
  readonly methods: Readonly<Record<string, (...args: unknown[]) => unknown>>;
}

interface Instance {
  readonly key: string;
  readonly kind: Kind;
  /** The state record (mutable: this module owns it); field values are hardened. */
  readonly record: Record<string, unknown>;
  readonly context: DurableContext<any>;
}

/** Longest kind name: like a published name. */
const assertKindName = (name: unknown): string => {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new DurableKindError(`invalid kind name ${JSON.stringify(name)}: use 1-128 characters from [A-Za-z0-9._-], starting with a letter or digit`);
  }
  return name;
};

/** Foreign terms as stored text: `<owner> <key>[ <hint>,<hint>…]` (an own object is its key alone). */
const termsText = (t: DurableTerms): string => `${t.owner} ${t.key}${t.hints?.length ? ` ${t.hints.join(',')}` : ''}`;
const parseTerms = (text: string): DurableTerms => {
  const [owner = '', key = '', hints] = text.split(' ');
  return hints ? { owner, key, hints: hints.split(',') } : { owner, key };
};

export const makeVatObjects = (opts: VatObjectsOptions): VatObjects => {
  const { backend } = opts;
  const kinds = new Map<string, Kind>();
  /** Instances alive now, by key; an entry whose instance was collected is dropped by `gone`. */
  const live = new Map<string, WeakRef<object>>();
  const gone = new FinalizationRegistry<string>((key) => {
    if (live.get(key)?.deref() === undefined) live.delete(key);
  });
  const instances = new WeakMap<object, Instance>();
  /** Instances created or changed since the last commit: held strongly until written. */
  const changed = new Map<string, Instance>();
  const records = new WeakMap<object, Instance>();
  let root: { readonly key: string; readonly obj: object } | undefined;

  const codec: RefCodec = {
    toText(ref) {
      const own = instances.get(ref)?.key ?? (root?.obj === ref ? root.key : undefined);
      if (own !== undefined) return own;
      const terms = opts.foreign.termsOf(ref);
      if (terms) return termsText(terms);
      return { error: 'only durable objects (made by a kind of powers.store.defineKind, a durable vat\'s root, or such objects of other vats) can be stored' };
    },
    fromText: (text) => (text.includes(' ') ? opts.foreign.fromTerms(parseTerms(text)) : revive(text)),
  };

  const touch = (inst: Instance) => {
    changed.set(inst.key, inst);
  };

  /** The proxy handler of every state: fields read as stored, assignments checked and recorded. */
  const stateHandler: ProxyHandler<Record<string, unknown>> = {
    set(target, prop, value) {
      const inst = records.get(target)!;
      if (typeof prop !== 'string') throw new StoreValueError(`${inst.kind.name} state: field names are strings`);
      checkStorable(value, `${inst.kind.name}.state.${prop}`, codec);
      target[prop] = harden(value);
      touch(inst);
      return true;
    },
    deleteProperty(target, prop) {
      const inst = records.get(target)!;
      delete target[prop as string];
      touch(inst);
      return true;
    },
    defineProperty(target) {
      throw new StoreValueError(`${records.get(target)!.kind.name} state: assign fields (state.x = v); defineProperty is not kept`);
    },
    preventExtensions(target) {
      throw new TypeError(
        `the state of a ${records.get(target)!.kind.name} cannot be frozen or sent: it stays with its object. Send a copy ({ ...state }) instead`,
      );
    },
    setPrototypeOf: () => false,
  };

  const instantiate = (key: string, kind: Kind, record: Record<string, unknown>): object => {
    const methods: Record<string, unknown> = {};
    for (const m of Object.keys(kind.methods)) methods[m] = kind.methods[m];
    const self = Far(kind.name, methods);
    const context = Object.freeze({ state: new Proxy(record, stateHandler), self });
    const inst: Instance = { key, kind, record, context };
    instances.set(self, inst);
    records.set(record, inst);
    live.set(key, new WeakRef(self));
    gone.register(self, key);
    return self;
  };

  const decodeState = (row: ObjectRow, key: string): Record<string, unknown> => {
    const value = decodeValue(row.state, codec);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DurableKindError(`the stored state of ${row.kind} ${key.slice(0, 6)}… is not a record`);
    }
    // A mutable record of frozen fields: the proxy assigns fields, never into them.
    return { ...(value as Record<string, unknown>) };
  };

  function revive(key: string): object {
    if (root && key === root.key) return root.obj;
    const alive = live.get(key)?.deref();
    if (alive) return alive;
    if (!key.startsWith('d:')) throw new DurableObjectNotFoundError('no durable object under this key here');
    const row = backend.object(key);
    if (!row || row.kind === ROOT_KIND) throw new DurableObjectNotFoundError('no durable object under this key here');
    const kind = kinds.get(row.kind);
    if (!kind) {
      throw new DurableKindError(
        `a ${row.kind} was asked for, but this code has not defined the kind "${row.kind}": call powers.store.defineKind("${row.kind}", …) in make()`,
      );
    }
    return instantiate(key, kind, decodeState(row, key));
  }

  const defineKind = ((name: string, init: (...args: unknown[]) => object, behavior: DurableBehavior<object>) => {
    assertKindName(name);
    if (kinds.has(name)) throw new DurableKindError(`kind "${name}" is already defined: define each kind once per start`);
    if (typeof init !== 'function') throw new DurableKindError(`defineKind("${name}", init, behavior): init must be a function returning the state`);
    if (typeof behavior !== 'object' || behavior === null) throw new DurableKindError(`defineKind("${name}", init, behavior): behavior must be an object of methods`);
    const methods: Record<string, (...args: unknown[]) => unknown> = {};
    for (const [m, fn] of Object.entries(behavior)) {
      if (typeof fn !== 'function') throw new DurableKindError(`defineKind("${name}"): behavior.${m} is not a function`);
      methods[m] = {
        [m](this: unknown, ...args: unknown[]) {
          const inst = typeof this === 'object' && this !== null ? instances.get(this) : undefined;
          if (!inst) throw new TypeError(`${name}.${m} was called without its object: call it as obj.${m}(…)`);
          return (fn as (c: unknown, ...a: unknown[]) => unknown)(inst.context, ...args);
        },
      }[m]!;
    }
    const kind: Kind = { name, methods: Object.freeze(methods) };
    kinds.set(name, kind);
    return (...args: unknown[]) => {
      const state = init(...args);
      if (typeof state !== 'object' || state === null || Array.isArray(state)) {
        throw new DurableKindError(`the init of kind "${name}" must return a record (a plain object) of the state`);
      }
      const record: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(state)) {
        checkStorable(value, `${name}.state.${field}`, codec);
        record[field] = harden(value);
      }
      const key = opts.newKey('d:');
      const self = instantiate(key, kind, record);
      touch(instances.get(self)!);
      return self;
    };
  }) as DurableKinds['defineKind'];

  return {
    codec,
    defineKind,
    revive,
    keyOf(val) {
      if (typeof val !== 'object' || val === null) return undefined;
      return instances.get(val)?.key ?? (root?.obj === val ? root.key : undefined);
    },
    dirty: () => changed.size > 0,
    takeWrites() {
      const rows = new Map<string, ObjectRow>();
      for (const [key, inst] of changed) rows.set(key, { kind: inst.kind.name, state: encodeValue(inst.record, inst.kind.name, codec) });
      changed.clear();
      return rows;
    },
    adoptRoot(obj) {
      const stored = backend.idsOf(ROOT_KIND, 2);
      if (stored.length > 1) throw new DurableKindError('the store holds two root keys for this vat');
      const key = stored[0] ?? opts.newKey('r:');
      root = { key, obj };
      if (stored.length === 0) {
        const record: Record<string, unknown> = {};
        const inst: Instance = { key, kind: { name: ROOT_KIND, methods: {} }, record, context: Object.freeze({ state: record, self: obj }) };
        touch(inst);
      }
    },
    checkKinds() {
      const missing = backend.kinds().filter((k) => k.kind !== ROOT_KIND && !kinds.has(k.kind));
      if (missing.length === 0) return;
      const list = missing.map((k) => `"${k.kind}" (${k.count} stored)`).join(', ');
      throw new DurableKindError(
        `this code does not define ${missing.length === 1 ? 'the kind' : 'the kinds'} ${list}: make() must call powers.store.defineKind for every kind with stored objects`,
      );
    },
  };
};
