/**
 * The tribe's naming service, a triple service (names-state.ts on the
 * `sister.names` group of replica-host.ts): which sister publishes each name,
 * and the sturdy ref that reaches it there. Vats keep `names.lookup/publish`
 * as they are; this is what a sister does beside them:
 *
 * - the spawner makes the service once its machine's core is whole, on the
 *   core's first three sisters (fewer in a smaller core);
 * - each round a sister registers the names it publishes (a replicated
 *   service's name as the service itself, so that any sister builds a front
 *   for it) and withdraws the ones it no longer publishes;
 * - `resolve` answers a name no vat of this host publishes from the service
 *   (a read through the log), reached directly at its publisher.
 *
 * Failure semantics: every call here is bounded by NAMES_CALL_MS and answers
 * undefined when the service cannot (no leader yet, a majority of its
 * replicas lost): the caller falls back to the names space the sisters sync.
 * Registration retries on the next round.
 */
import { E } from '@endo/far';
import { sisterSwiss } from '../../protocols/bootstrap/record.js';
import { nodeCrypto } from '../crypto-node.js';
import type { Host } from '../host-api.js';
import type { NameRecord } from './names-state.js';
import type { ReplicaHost } from './replica-host.js';
import { TIMED_OUT, within } from './front.js';

/** The naming service's group (a `sister.` name: no vat or user may take it). */
export const NAMES_SERVICE = 'sister.names';
/** Its replicas: three survive the loss of any one. */
export const NAMES_REPLICAS = 3;
/** One call to the naming service from a resolve or a round: a leader answers in milliseconds; past this the names space answers. */
export const NAMES_CALL_MS = 3_000;
/** A reference to a replicated service is its name behind this prefix (any sister builds a front for it). */
const SERVICE_REF = 'service:';


/** What the naming service says of a name: a sturdy ref (a vat reaches it directly), or a front of a replicated service. */
export type Resolved = { readonly sturdy: string } | { readonly front: unknown };

export interface TribeNames {
  /** On the spawner, each round: makes the service when the core is whole (`core`: this machine's live sisters by slot). */
  ensure(core: readonly { vatId: string; slot: number }[], coreSize: number): void;
  /** Each round: registers this host's names, withdraws those it dropped. */
  register(): void;
  /**
   * `name` as the service knows it: a sturdy ref to its publisher's object, or (a
   * replicated service) a front made here; undefined when it does not know it (or did
   * not answer in time), or when this host publishes it.
   */
  resolve(name: string): Promise<Resolved | undefined>;
}

export const makeTribeNames = (opts: { host: Host; replicas: ReplicaHost; secret: Uint8Array; print: (line: string) => void }): TribeNames => {
  const { host, replicas, secret } = opts;
  let front: Promise<any> | undefined;
  const service = (): Promise<any> => {
    front ??= replicas.frontOf(NAMES_SERVICE).then((f) => {
      if (!f) throw new Error('no sister knows the naming service yet');
      return f;
    });
    front.catch(() => {
      front = undefined;
    });
    return front;
  };
  const call = async <T,>(fn: (names: any) => Promise<T>): Promise<T | undefined> => {
    const got = await within(service().then(fn), NAMES_CALL_MS).catch(() => undefined);
    return got === TIMED_OUT ? undefined : (got as T | undefined);
  };

  let creating = false;
  /** What this host registered, by name (the ref sent): a round sends only what changed. */
  const registered = new Map<string, string>();
  let registering = false;

  const isSystem = (name: string) => name === 'sister' || name.startsWith('sister.');
  const refFor = (name: string): string =>
    replicas.has(name) ? `${SERVICE_REF}${name}` : host.remote!.exportAt(sisterSwiss(nodeCrypto, secret, `${host.id}/${name}`), name);

  return {
    ensure(core, coreSize) {
      if (creating || replicas.has(NAMES_SERVICE)) return;
      const want = Math.min(NAMES_REPLICAS, coreSize);
      const members = [...core].sort((a, b) => a.slot - b.slot).slice(0, want);
      if (members.length < want) return;
      creating = true;
      replicas
        .createSystem({ name: NAMES_SERVICE, module: '', params: 'null', grants: [], members: members.map((m) => m.vatId), system: 'names' })
        .catch((err: unknown) => opts.print(`naming service: not made yet (${(err as Error).message}); trying again`))
        .finally(() => {
          creating = false;
        });
    },
    register() {
      if (registering) return;
      const local = host.names.list().filter((n) => !isSystem(n));
      const added = local.filter((n) => !registered.has(n));
      const dropped = [...registered.keys()].filter((n) => !local.includes(n));
      if (added.length === 0 && dropped.length === 0) return;
      registering = true;
      void (async () => {
        try {
          for (const name of added) {
            const ref = refFor(name);
            const publisher = ref.startsWith(SERVICE_REF) ? ref : host.id;
            const answer = await within(service().then((s) => E(s).publish(name, publisher, ref)), NAMES_CALL_MS).catch((err: Error) => err);
            if (answer instanceof Error && answer.name === 'NameTakenError') {
              // Another sister published it first: the log decided, the same on every replica. Not asked again.
              opts.print(`naming service: ${answer.message}; "${name}" here is reached on this sister only`);
            } else if (answer === TIMED_OUT || answer instanceof Error) return; // no service yet: the next round tries again
            registered.set(name, ref);
          }
          if (dropped.length > 0 && (await call((s) => E(s).withdrawAll(host.id, local))) !== undefined) {
            for (const name of dropped) registered.delete(name);
          }
        } finally {
          registering = false;
        }
      })();
    },
    async resolve(name) {
      const record = (await call((s) => E(s).lookup(name))) as NameRecord | null | undefined;
      if (!record) return undefined;
      if (record.ref.startsWith(SERVICE_REF)) {
        const front = await replicas.frontOf(record.ref.slice(SERVICE_REF.length));
        return front === undefined ? undefined : { front };
      }
      if (record.publisher === host.id) return undefined; // ours: the host's own names answer it
      return { sturdy: record.ref };
    },
  };
};
