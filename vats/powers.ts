/**
 * What an actor module receives: the types of `make(powers, params)`.
 *
 * These are the public names for actor authors (`import type { Powers } from
 * 'tribe-runtime'`; a type-only import is erased when the host loads the module,
 * so it passes the loader's import rule). vat-main.ts builds the real `powers`
 * against this file (`satisfies Powers`), so a power that changes shape breaks
 * the build rather than the authors' code.
 *
 * Calls on `names` reject with named errors (NameNotFoundError, InvalidNameError,
 * SturdyRefError, …); calls on `store` throw StoreValueError for a key or value
 * it cannot keep. Every power is local to the vat: no E() needed to call one.
 */

/** The host's name registry, as a vat sees it. */
export interface Names {
  /**
   * The reference published as `name`, or the live reference a sturdy ref's text
   * (`tribe://…`) names: holding the text is the authority. `T` is what the
   * caller expects to find there; it is not checked (default `any`, so that
   * `E(ref).method()` type-checks without naming the remote type).
   */
  lookup<T = any>(name: string): Promise<T>;
  /** Publishes a reference this vat holds (a Far object, or one it was given). */
  publish(name: string, ref: object): Promise<void>;
  /** Every published name. */
  list(): Promise<string[]>;
}

/** The clock every vat has, whether or not it was granted the `Date` global. */
export interface Timer {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves with `now()` after at least `ms` milliseconds (at most 2³¹−1). */
  delay(ms: number): Promise<number>;
}

/** One line on the host's output, prefixed with the vat's name (cut at 4096 characters). */
export type Log = (...args: unknown[]) => void;

/** What a durable object's methods get first: its state and itself. */
export interface DurableContext<S> {
  /**
   * The object's state: the record its kind's `init` returned. Assign a field to
   * change it (`state.count += 1`); values read are frozen, so change an array or
   * record by assigning a new one (`state.items = [...state.items, x]`). New
   * fields may be added (code upgraded later can add them). Fields hold what the
   * store holds: plain data and references to durable objects.
   */
  readonly state: S;
  /** The object itself, as others see it. */
  readonly self: any;
}

/** A durable kind's methods, as written: each takes the context first. */
export type DurableBehavior<S> = Record<string, (context: DurableContext<S>, ...args: any[]) => unknown>;

/** An instance of a durable kind, as callers see it: the behavior's methods without the context. */
export type DurableInstance<B> = {
  readonly [K in keyof B]: B[K] extends (context: any, ...args: infer A) => infer R ? (...args: A) => R : never;
};

export interface DurableKinds {
  /**
   * Defines a durable kind and returns its maker. Each object made keeps its
   * state in the store and its identity across restarts and upgrades: references
   * to it held by other vats and hosts, sturdy refs and names reach it again
   * after a restart. `make()` must define again, on every start, each kind that
   * has objects stored (the same `name`; the code may change) — a start that
   * leaves one undefined fails. Names are 1–128 characters [A-Za-z0-9._-].
   */
  defineKind<S extends object, A extends unknown[], B extends DurableBehavior<S>>(
    name: string,
    init: (...args: A) => S,
    behavior: B,
  ): (...args: A) => DurableInstance<B>;
}

/**
 * The durable store of a vat spawned with `--durable`: plain data and references
 * to durable objects under string keys. Writes belong to the turn that made them
 * and are committed when it ends, before any message it produced leaves the vat;
 * a method that throws does not roll back the writes made before the throw.
 */
export interface Store extends DurableKinds {
  /** The value stored under `key`, or undefined. `T` is not checked. */
  get<T = unknown>(key: string): T | undefined;
  has(key: string): boolean;
  /**
   * Stores JSON-like data (null, booleans, finite numbers, strings, arrays and
   * plain objects of these, at most 1 MiB as JSON) and references to durable
   * objects (this vat's, or other vats' and hosts'); anything else throws
   * StoreValueError. Keys are 1–512 characters.
   */
  set(key: string, value: unknown): void;
  delete(key: string): void;
  /** The keys that start with `prefix`, sorted. */
  keys(prefix?: string): string[];
}

/** Everything a vat's code may use besides its params and what it is sent. */
export interface Powers {
  readonly names: Names;
  readonly timer: Timer;
  readonly log: Log;
  /** Present only in vats spawned with `--durable` (`durable: true`). */
  readonly store?: Store;
}

/**
 * The shape of an actor module's `make`: called once when the vat starts, with
 * the vat's powers and its params (the JSON given with `--params`, or undefined
 * when none or `null` was given, so defaults in the signature apply). It returns
 * the root object (a Far object), or a promise for it.
 *
 * Check a module's `make` with `make satisfies MakeActor<Params>` to keep its
 * inferred root type.
 */
export type MakeActor<P = undefined, R extends object = object> = (powers: Powers, params?: P) => R | Promise<R>;
