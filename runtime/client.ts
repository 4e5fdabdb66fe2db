/**
 * A client of a host that is already running: `connect({ home })` opens the
 * home's control socket (runtime/control.ts), as the CLI does, with the CLI's
 * authority and no more — whoever can open the socket holds the host's
 * TribeControl object (runtime/control-facet.ts). Unlike the CLI, the connection
 * stays open, and references come back as themselves: `lookup(name)` answers an
 * E()-able reference, which can be called, passed to other actors and compared
 * like any other.
 *
 * Failure semantics: every method rejects with the host's error, its name restored
 * (`NameNotFoundError`, `SturdyRefError`, …; CapTP carries only the message, which
 * starts with the name). Once the connection ends — `close()`, the host stopping,
 * or the socket breaking — `closed` resolves, calls still waiting on the host
 * reject with ConnectionAbortedError, and so does every later call, on the client
 * and on every reference it got. References the client passed to actors (its own
 * Far objects) stop working for them at the same moment.
 */
// First: E() needs the realm locked down, also when this module is imported on its own.
import './lockdown.js';
import { resolve as resolvePath } from 'node:path';
import { E } from '@endo/far';
import { reviveError } from '../capabilities/errors.js';
import { connectControl } from './control.js';
import { homePaths, resolveHome } from './home.js';
import type { HostStatus, SpawnOptions } from './host.js';
import type { SyncReport, SyncRequest, SyncStatus } from './host-api.js';
import { quietMarshalLogging } from './quiet-console.js';
import type { UpgradedVat, UpgradeOptions } from './upgrade.js';

/** How long `close()` lets what was sent go out before it cuts the socket (a host that does not read). */
export const CLOSE_GRACE_MS = 2_000;

export interface ConnectOptions {
  /** The running host's home; default $TRIBE_HOME or ~/.tribe, as for the CLI. */
  readonly home?: string;
}

/** A keyed space of a sister, through its control socket (`host.space(name)` in the host's process). */
export interface ClientSpace {
  put(key: string, value: string): Promise<void>;
  putMany(entries: readonly { key: string; value: string }[]): Promise<void>;
  get(key: string): Promise<string | undefined>;
  remove(key: string): Promise<void>;
  entries(prefix?: string): Promise<{ key: string; value: string }[]>;
  /** The root of its summary tree and its entry count (tombstones included). */
  info(): Promise<{ root: string; count: number }>;
}

export interface TribeClient {
  /** The home of the host this client is connected to. */
  readonly home: string;
  /** The reference published as `name` (a vat's root, an object a vat published, a connected remote actor). */
  lookup(name: string): Promise<any>;
  /** A live reference from a sturdy ref `tribe://…`, this host's or, through this host, another's. */
  enliven(ref: string): Promise<any>;
  /** Like `tribe spawn`; `module` resolves against this program's working directory. */
  spawn(opts: SpawnOptions): Promise<{ name: string; root: any }>;
  /** The host's status, as `tribe ps --json` prints it. */
  ps(): Promise<HostStatus>;
  /** Like `tribe kill`: stops the vat and forgets it (its durable store is kept). */
  terminateVat(name: string): Promise<void>;
  /**
   * Like `tribe upgrade`: the vat's code replaced by `module` (resolved against this
   * program's working directory), its store kept; UpgradeFailedError if the new code
   * did not start (the old code runs again, on its store as it was).
   */
  upgradeVat(name: string, module: string, opts?: UpgradeOptions): Promise<UpgradedVat>;
  /** Like `tribe ref`: a new sturdy ref to the actor published as `name`. */
  makeSturdyRef(name: string): Promise<string>;
  /** Like `tribe revoke`. */
  revokeSturdyRef(ref: string): Promise<void>;
  /** Like `tribe sync` (on a sister): a saga each way with every connected sister, or `with`. */
  sync(req?: SyncRequest): Promise<SyncReport>;
  /** Like `tribe sync --status`. */
  syncStatus(): Promise<SyncStatus>;
  /** A keyed space of the sister (like `tribe space`); `names` and `registry` are read-only. */
  space(name: string): ClientSpace;
  /** Hangs up; resolves once the socket is closed. Idempotent. */
  close(): Promise<void>;
  /** Resolves once the connection has ended, however it ended. */
  readonly closed: Promise<void>;
}

/** Connects to the host running in `home`; rejects with HostNotRunningError when none is. */
export const connect = async (options: ConnectOptions = {}): Promise<TribeClient> => {
  const home = resolveHome(options.home);
  // As in the host: @endo/marshal logs every error this program's objects throw to a caller.
  quietMarshalLogging();
  const client = await connectControl(homePaths(home).socket, home);
  let control: any;
  try {
    control = await client.control;
  } catch (err) {
    client.close();
    throw reviveError(err);
  }
  /** A control call, its error's name restored. */
  const ask = async <T>(call: (c: any) => Promise<T>): Promise<T> => {
    try {
      return await call(E(control));
    } catch (err) {
      throw reviveError(err);
    }
  };
  return harden({
    home,
    lookup: (name: string) => ask((c) => c.lookup(name)),
    enliven: (ref: string) => ask((c) => c.enliven(ref)),
    async spawn(opts: SpawnOptions) {
      const module = typeof opts?.module === 'string' && opts.module !== '' ? resolvePath(opts.module) : opts?.module;
      const { name } = await ask<{ name: string }>((c) => c.spawn(harden({ ...opts, module })));
      return harden({ name, root: await ask((c) => c.lookup(name)) });
    },
    ps: () => ask<HostStatus>((c) => c.ps()),
    terminateVat: (name: string) => ask<void>((c) => c.kill(name)),
    upgradeVat: (name: string, module: string, opts: UpgradeOptions = {}) =>
      ask<UpgradedVat>((c) => c.upgrade(name, typeof module === 'string' && module !== '' ? resolvePath(module) : module, harden({ ...opts }))),
    makeSturdyRef: (name: string) => ask<string>((c) => c.ref(name)),
    revokeSturdyRef: (ref: string) => ask<void>((c) => c.revoke(ref)),
    sync: (req: SyncRequest = {}) => ask<SyncReport>((c) => c.sync(harden({ ...req }))),
    syncStatus: () => ask<SyncStatus>((c) => c.syncStatus()),
    space: (name: string): ClientSpace =>
      harden({
        put: (key: string, value: string) => ask<void>(async (c) => void (await c.spacePut(name, harden([{ key, value }])))),
        putMany: (entries: readonly { key: string; value: string }[]) =>
          ask<void>(async (c) => void (await c.spacePut(name, harden(entries.map((e) => ({ key: e.key, value: e.value })))))),
        get: (key: string) => ask<string | undefined>((c) => c.spaceGet(name, key)),
        remove: (key: string) => ask<void>((c) => c.spaceRemove(name, key)),
        entries: (prefix = '') => ask<{ key: string; value: string }[]>((c) => c.spaceList(name, prefix)),
        info: () => ask<{ root: string; count: number }>((c) => c.spaceInfo(name)),
      }),
    async close() {
      client.close();
      const cut = setTimeout(() => client.destroy(), CLOSE_GRACE_MS);
      await client.closed;
      clearTimeout(cut);
    },
    closed: client.closed,
  });
};
