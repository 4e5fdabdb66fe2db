/**
 * `host.upgradeVat`: a vat's code replaced, its durable store kept.
 *
 * The steps, and what a failure at each leaves (runtime/upgrade-store.ts has the SQL):
 * 1. Checks, before anything stops: the vat is recorded, no upgrade of it is under
 *    way, the new module is a file, the params are JSON.
 * 2. The old worker stops the way `stop` stops it: its current turn commits, then it
 *    exits. Calls still in flight into it reject with VatUpgradedError, for the host's
 *    callers, for other vats (their channels end with it) and for other hosts.
 * 3. One transaction backs up the vat's rows and records the upgrade.
 * 4. The new module starts on the same store (its `make()` re-attaches its kinds).
 *    - It runs: one transaction points the `vats` row at it and drops the backup.
 *    - It fails (load error, make() throws, start timeout): once its worker is gone,
 *      one transaction puts the rows back as backed up, the old module starts again,
 *      and the caller gets UpgradeFailedError naming the cause and the old module.
 *    - The host dies: the record is left, and `rollBackUnfinished` at the next start
 *      (before vats are restored) rolls back the same way.
 * The backup is taken after the old worker exits, not before it is asked to stop: the
 * old code's last turn commits during its stop, and a backup without it would lose
 * writes whose replies callers have already seen.
 */
import { statSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { describeError, reviveError } from '../capabilities/errors.js';
import { ModuleNotFoundError, VatNotFoundError, VatUpgradedError } from '../vats/errors.js';
import type { Supervisor } from '../vats/supervisor.js';
import { UpgradeFailedError, UpgradeInProgressError, UsageError } from './errors.js';
import type { VatRow } from './store.js';
import type { UpgradeStore } from './upgrade-store.js';

export interface UpgradeOptions {
  /** New params for `make(powers, params)` (JSON data); default: the ones it was spawned with. */
  readonly params?: unknown;
  /** How long the new module may take to start, in ms (this start only; default: the host's start timeout). */
  readonly startTimeoutMs?: number;
}

/** What `upgradeVat` did. */
export interface UpgradedVat {
  readonly name: string;
  /** Its state before; 'not started' for a recorded vat that was not running. */
  readonly was: string;
  readonly state: string;
  readonly oldModule: string;
  readonly module: string;
  /** JSON text, before and after. */
  readonly oldParams: string;
  readonly params: string;
  readonly durable: boolean;
  /** The vat's store rows the new code started on. */
  readonly kept: { readonly keys: number; readonly objects: number };
}

export interface UpgraderPowers {
  readonly upgrades: UpgradeStore;
  readonly supervisor: Pick<Supervisor, 'list' | 'stop'>;
  readonly vatRow: (name: string) => VatRow | undefined;
  /** Starts a vat from a row (the host's startVat); rejects with its load error. */
  readonly startVat: (row: VatRow, startTimeoutMs?: number) => Promise<unknown>;
  /** Resolves once the worker last started for `name` has exited (at once if there is none). */
  readonly workerGone: (name: string) => Promise<void>;
  /** JSON text of params, or InvalidParamsError. */
  readonly paramsText: (params: unknown) => string;
  readonly print: (line: string) => void;
}

export interface Upgrader {
  upgradeVat(name: string, module: string, opts?: UpgradeOptions): Promise<UpgradedVat>;
  /** Rolls back every upgrade a dead host left unfinished, printing a line for each. Before vats are restored. */
  rollBackUnfinished(): void;
}

export const makeUpgrader = (powers: UpgraderPowers): Upgrader => {
  const { upgrades, supervisor } = powers;
  const underway = new Set<string>();
  const stateOf = (name: string) => supervisor.list().find((v) => v.name === name)?.state;

  const checkModule = (module: unknown, name: string): string => {
    if (typeof module !== 'string' || module === '') throw new UsageError('upgradeVat needs a module path');
    const path = isAbsolute(module) ? module : resolvePath(module);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      // missing: said below
    }
    if (!isFile) throw new ModuleNotFoundError(`no module file at ${path}; vat "${name}" was not upgraded and still runs its old code`);
    return path;
  };

  /** The new code failed: its rows back as they were, the old code started again. */
  const rollBack = async (old: VatRow, cause: unknown): Promise<never> => {
    const why = describeError(reviveError(cause));
    // A worker that is still ending could commit after the rows are put back.
    await powers.workerGone(old.name);
    try {
      upgrades.rollBack(old.name);
    } catch (err) {
      // The record stays: the next host start rolls back before it restores vats.
      throw new UpgradeFailedError(
        `${why}; the rollback to ${old.module} did not complete (${describeError(err)}); the next host start completes it`,
        { cause },
      );
    }
    try {
      await powers.startVat(old);
    } catch (err) {
      throw new UpgradeFailedError(
        `${why}; rolled back to ${old.module}, which did not start either: ${describeError(reviveError(err))}`,
        { cause },
      );
    }
    throw new UpgradeFailedError(`${why}; rolled back to ${old.module}`, { cause });
  };

  const upgradeVat = async (name: string, module: string, opts: UpgradeOptions = {}): Promise<UpgradedVat> => {
    const old = powers.vatRow(name);
    if (!old) throw new VatNotFoundError(`no vat named "${name}" (see tribe ps)`);
    if (underway.has(name)) throw new UpgradeInProgressError(`vat "${name}" is being upgraded already`);
    const path = checkModule(module, name);
    const params = opts.params === undefined ? old.params : powers.paramsText(opts.params);
    const { startTimeoutMs } = opts;
    if (startTimeoutMs !== undefined && !(Number.isInteger(startTimeoutMs) && startTimeoutMs > 0)) {
      throw new UsageError(`startTimeoutMs must be a positive integer, got ${JSON.stringify(startTimeoutMs)}`);
    }
    underway.add(name);
    try {
      const was = stateOf(name);
      if (was !== undefined) {
        await supervisor.stop(
          name,
          new VatUpgradedError(`vat "${name}" was stopped to be upgraded to ${path}; call again: durable references reach the new code`),
        );
      }
      await powers.workerGone(name);
      let kept: UpgradedVat['kept'];
      try {
        kept = upgrades.begin({ vat: name, oldModule: old.module, oldParams: old.params, newModule: path, newParams: params });
      } catch (err) {
        // Nothing was written (one transaction): the old code starts again on its rows.
        await powers.startVat(old).catch(() => {});
        throw new UpgradeFailedError(`the store of vat "${name}" could not be backed up: ${describeError(err)}; it runs ${old.module} again`, {
          cause: err,
        });
      }
      try {
        await powers.startVat({ ...old, module: path, params }, startTimeoutMs);
      } catch (err) {
        return await rollBack(old, err);
      }
      upgrades.finish(name);
      return {
        name,
        was: was ?? 'not started',
        state: stateOf(name) ?? 'unknown',
        oldModule: old.module,
        module: path,
        oldParams: old.params,
        params,
        durable: old.durable,
        kept,
      };
    } finally {
      underway.delete(name);
    }
  };

  const rollBackUnfinished = () => {
    for (const record of upgrades.unfinished()) {
      upgrades.rollBack(record.vat);
      powers.print(
        `upgrade of vat ${record.vat} to ${record.newModule} did not finish (the host stopped during it): rolled back to ${record.oldModule}, its store as before the upgrade`,
      );
    }
  };

  return { upgradeVat, rollBackUnfinished };
};
