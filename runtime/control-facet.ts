/**
 * The object the CLI (and `connect()`, runtime/client.ts) reaches over the control
 * socket. Errors are flattened to "Name: message" because CapTP carries an
 * error's message but not its class.
 *
 * `lookup` and `enliven` answer references themselves. That adds no authority:
 * `call(name, …)` already reaches every method of every published object and of
 * every sturdy ref, and any reference a method returns comes back as itself.
 */
import { Far } from '@endo/far';
import { passableError, reviveError } from '../capabilities/errors.js';
import { isSturdyRefText } from '../capabilities/sturdy-ref.js';
import { closest } from './did-you-mean.js';
import { callByName, type Host, type SpawnOptions } from './host.js';
import type { UpgradeOptions } from './upgrade.js';

const flatten = async <T>(fn: () => Promise<T> | T): Promise<T> => {
  try {
    return await fn();
  } catch (err) {
    throw passableError(reviveError(err));
  }
};

/**
 * A call of a method the target lacks, said with the target's real methods (not
 * the meta-methods every Far object answers) and the nearest one if the name is
 * a typo. The same TypeError can come from deeper, from a method that exists and
 * calls a missing one elsewhere: then the target does have `method`, and the
 * original error stands.
 */
const explainUnknownMethod = async (
  err: unknown,
  name: string,
  method: string,
  methodNames: () => Promise<unknown>,
): Promise<unknown> => {
  const message = (err as Error | undefined)?.message ?? '';
  if ((err as Error)?.name !== 'TypeError' || !message.startsWith(`target has no method ${JSON.stringify(method)}`)) {
    return err;
  }
  let methods: string[];
  try {
    methods = ((await methodNames()) as unknown[]).filter((m): m is string => typeof m === 'string' && !m.startsWith('__'));
  } catch {
    return err;
  }
  if (methods.includes(method)) return err;
  const near = closest(method, methods);
  const list = methods.join(', ') || 'none';
  return new TypeError(
    `${name} has no method ${JSON.stringify(method)}; ${near ? `did you mean ${JSON.stringify(near)}? Its methods: ${list}` : `its methods: ${list}`}`,
  );
};

export const makeControlFacet = (host: Host) =>
  Far('TribeControl', {
    /** On a sister, `on` (a slot or VatId prefix) or the least loaded sister of this machine runs it. */
    spawn: (opts: SpawnOptions, on?: string) =>
      flatten(async () => {
        const { name, on: where } = await host.placeVat(opts, on);
        const vat = where === host.id ? host.ps().vats.find((v) => v.name === name) : undefined;
        return harden({ name, on: where, ...(vat ? { vat } : {}) });
      }),
    /**
     * `refs` maps argument positions to names (or sturdy refs) whose references
     * go in their place: the CLI's `@NAME` arguments. The receiving actor gets each
     * from its owner directly (three-party handoff), as from any other caller.
     */
    call: (name: string, method: string, args: unknown[], refs: Record<string, unknown> = {}) =>
      flatten(async () => {
        const withRefs = [...args];
        for (const [at, ref] of Object.entries(refs)) {
          const i = Number(at);
          if (!Number.isInteger(i) || i < 0 || i >= withRefs.length || typeof ref !== 'string') {
            throw new TypeError(`reference argument ${at} does not name an argument position`);
          }
          withRefs[i] = isSturdyRefText(ref) ? await host.enliven(ref) : await host.resolve(ref);
        }
        try {
          return await callByName(host, name, method, withRefs);
        } catch (err) {
          throw await explainUnknownMethod(err, name, method, () => callByName(host, name, '__getMethodNames__', []));
        }
      }),
    /** The reference published as `name` (here, or on a sister), for the client to call with E() and pass on. */
    lookup: (name: string) => flatten(() => host.resolve(name)),
    /** The live reference a sturdy ref names (`connect` answers only what it reached). */
    enliven: (ref: string) => flatten(() => host.enliven(ref)),
    ps: () => flatten(() => harden(JSON.parse(JSON.stringify(host.ps())))),
    kill: (name: string) => flatten(() => host.terminateVat(name)),
    restart: (name: string) => flatten(async () => harden(JSON.parse(JSON.stringify(await host.restartVat(name))))),
    /** `opts.params`, when given, replaces the params the vat was spawned with. */
    upgrade: (name: string, module: string, opts: UpgradeOptions = {}) =>
      flatten(async () => harden(JSON.parse(JSON.stringify(await host.upgradeVat(name, module, opts))))),
    /** A new ref to what is published here as `name`; on a sister, else the ref the sister that publishes it gives. */
    ref: (name: string) =>
      flatten(async () => {
        try {
          return host.makeSturdyRef(name);
        } catch (err) {
          if ((err as Error).name !== 'NameNotFoundError') throw err;
          const elsewhere = await host.refElsewhere(name);
          if (elsewhere === undefined) throw err;
          return elsewhere;
        }
      }),
    /** Enlivens (and with `as`, publishes); answers what it reached, not the reference itself. */
    connect: (ref: string, as: string | null) =>
      flatten(async () => {
        const live = as === null ? await host.enliven(ref) : await host.connect(ref, as);
        const iface = String(live).replace(/^\[object (?:Alleged: )?/, '').replace(/\]$/, '');
        return harden({ iface, host: ref.slice('tribe://'.length, ref.indexOf('@')) });
      }),
    revoke: (ref: string) => flatten(() => host.revokeSturdyRef(ref)),
    refs: () => flatten(() => harden(JSON.parse(JSON.stringify(host.sturdyRefs())))),
    revokeRefId: (id: string) => flatten(() => harden(JSON.parse(JSON.stringify(host.revokeSturdyRefById(id))))),
    stop() {
      // Answer first, then stop: the reply must leave before the socket closes.
      setImmediate(() => void host.stop());
      return true;
    },
    /** `tribe sync`: sagas both ways with every connected sister (or one). */
    sync: (req: { space?: string; with?: string }) => flatten(async () => harden(JSON.parse(JSON.stringify(await host.sync(req ?? {}))))),
    syncStatus: () => flatten(() => harden(JSON.parse(JSON.stringify(host.syncStatus())))),
    /** `tribe space`: reads and writes of one keyed space of this host. */
    spaceList: (space: string, prefix: string) => flatten(() => harden(host.space(space).entries(prefix))),
    spaceGet: (space: string, key: string) => flatten(() => host.space(space).get(key)),
    spacePut: (space: string, entries: { key: string; value: string }[]) =>
      flatten(() => {
        if (!Array.isArray(entries) || !entries.every((e) => e && typeof e.key === 'string' && typeof e.value === 'string')) {
          throw new TypeError('spacePut takes [{ key, value }] with string keys and values');
        }
        host.space(space).putMany(entries);
        return entries.length;
      }),
    spaceRemove: (space: string, key: string) => flatten(() => host.space(space).remove(key)),
    spaceInfo: (space: string) => flatten(() => harden({ count: host.space(space).count(), root: host.space(space).root() })),
    /**
     * A sister's `tribe stop`: its Sister stops every sister it knows (and waits
     * for this machine's processes to end), then this host stops. Answers the
     * VatIds of the sisters stopped.
     */
    stopTribe: () =>
      flatten(async () => {
        const stopped = await host.stopSisters();
        setImmediate(() => void host.stop());
        return stopped;
      }),
  });
