/**
 * The host-local name registry: name → reference, plus where the reference lives
 * so that a vat looking it up can reach the owning vat directly (see
 * docs/architecture.md, "Routing").
 */
import { InvalidNameError, NameNotFoundError, NameTakenError } from './errors.js';

/** Names are printable and short: they appear in CLI output and sturdy refs later. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const assertValidName = (name: unknown): string => {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new InvalidNameError(
      `invalid name ${JSON.stringify(name)}: use 1-128 characters from [A-Za-z0-9._-], starting with a letter or digit`,
    );
  }
  return name;
};

/**
 * Where a published reference lives: in a vat (with its export key there), in
 * the host, or on another host (a sturdy ref each looker-up enlivens itself, so
 * that its vat talks to the remote vat directly).
 */
export type NameHome =
  | { readonly vat: string; readonly key: string; readonly sturdy?: undefined }
  | { readonly vat?: undefined; readonly sturdy?: undefined }
  | { readonly vat?: undefined; readonly sturdy: string };

export interface NameEntry {
  readonly name: string;
  readonly ref: unknown;
  /** Who published it: a vat name, or 'host'. Only the owner may replace it. */
  readonly owner: string;
  readonly home: NameHome;
}

export interface NameRegistry {
  publish(entry: NameEntry): void;
  lookup(name: string): NameEntry;
  has(name: string): boolean;
  list(): NameEntry[];
  /** Drops every name an owner published (its vat ended). */
  dropOwner(owner: string): void;
  remove(name: string, owner: string): boolean;
}

export const makeNameRegistry = (): NameRegistry => {
  const entries = new Map<string, NameEntry>();
  return {
    publish(entry) {
      assertValidName(entry.name);
      const old = entries.get(entry.name);
      if (old && old.owner !== entry.owner) {
        throw new NameTakenError(`name "${entry.name}" is already published by ${old.owner}`);
      }
      entries.set(entry.name, entry);
    },
    lookup(name) {
      const e = entries.get(name);
      if (!e) throw new NameNotFoundError(`no actor is published as "${name}"`);
      return e;
    },
    has: (name) => entries.has(name),
    list: () => [...entries.values()].sort((a, b) => a.name.localeCompare(b.name)),
    dropOwner(owner) {
      for (const [n, e] of entries) if (e.owner === owner) entries.delete(n);
    },
    remove(name, owner) {
      const e = entries.get(name);
      if (!e || e.owner !== owner) return false;
      entries.delete(name);
      return true;
    },
  };
};

/** Where the host keeps names published for durable objects (runtime/store.ts). */
export interface DurableNameStore {
  put(name: string, vat: string, key: string): void;
  remove(name: string): void;
}

/**
 * `registry`, with the names a vat publishes for its durable objects (a home
 * whose key `isDurableKey`) also written to `store`, so that the host can
 * publish them again when the vat starts after a restart or an upgrade. A name
 * published again for anything else, or removed, is forgotten there too.
 */
export const persistDurableNames = (registry: NameRegistry, store: DurableNameStore, isDurableKey: (key: string) => boolean): NameRegistry => ({
  ...registry,
  publish(entry) {
    // Refused (taken, invalid) before anything is written.
    registry.publish(entry);
    const { home } = entry;
    if (home.vat !== undefined && isDurableKey(home.key)) store.put(entry.name, home.vat, home.key);
    else store.remove(entry.name);
  },
  remove(name, owner) {
    const removed = registry.remove(name, owner);
    if (removed) store.remove(name);
    return removed;
  },
});

