/**
 * A host as a sister of a tribe (`tribe host`): takes a slot of the tribe home,
 * starts the host there as a bridge, publishes its signed record, announces it,
 * starts its Sister actor in a vat of its own and grants it its powers, and runs
 * the bootstrap machine the visualizer and `tribe ps` show.
 *
 * The Sister decides (vats/sister/sister.ts); this file only grants: every power
 * in `makeSisterPowers` is a door into this process the Sister may use, and
 * nothing else is reachable from its vat.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { E, Far } from '@endo/far';
import { createActor } from 'xstate';
import { describeError, reviveError } from '../../capabilities/errors.js';
import { bootstrapMachine, type BootstrapEvent } from '../../protocols/bootstrap/bootstrap.machine.js';
import { JoinFailedError, SisterRecordError, SisterRestartedError } from '../../protocols/bootstrap/errors.js';
import { checkRecord, sisterSwiss, signRecord, type SignedRecord, type SisterRecord, tribeIdOf, encodeRecord } from '../../protocols/bootstrap/record.js';
import { base32, shortVatId } from '../../protocols/session/vat-id.js';
import type { BootstrapReport, SisterView, TribeSisterStatus } from '../../vats/sister/sister-powers.js';
import { nodeCrypto, nodeSigningKey } from '../crypto-node.js';
import { HostAlreadyRunningError, UsageError } from '../errors.js';
import { ensureHome, homePaths, resolveHome, writeFileAtomically } from '../home.js';
import { startHost, type Host, type HostOptions } from '../host.js';
import { loadOrCreateIdentity } from '../identity.js';
import { makeRegistry, pidAlive } from './registry.js';
import { earlyExitProblem, spawnSister, SPAWN_UP_MS } from './spawner.js';
import { ensureRegistryDir, loadOrCreateSecret, loadTribeConfig, MAX_SLOTS, tribePaths } from './tribe-home.js';
import { type Discovery, startDiscovery } from './discovery.js';
import { type SisterSync, startSisterSync } from './sister-sync.js';
import { startReplicaHost } from '../replica/replica-host.js';
import { makeTribeNames } from '../replica/names-service.js';

/** Where sisters announce themselves unless told otherwise (`--discovery`). */
export const DEFAULT_DISCOVERY = '127.0.0.1';
/** A sister heard of by announcement only is forgotten after this long without one. */
export const HEARD_TTL_MS = 5_000;
/** How long a tribe's stop waits for its sisters' processes before killing them. */
export const STOP_WAIT_MS = 10_000;
/** How long it waits for a sister told to stop before it sends SIGTERM (a graceful stop, by pid). */
export const STOP_ASK_MS = 3_000;
/** The Sister actor's module, loaded from the source tree like the examples. */
const SISTER_MODULE = fileURLToPath(new URL('../../../vats/sister/sister.ts', import.meta.url));

/** A slot was asked for (`--slot`) and another host holds it: the spawner lost a race. */
export class SlotTakenError extends HostAlreadyRunningError {
  override name = 'SlotTakenError';
}

export interface TribeOptions {
  /** Sisters this machine keeps alive (default: what the tribe home keeps, else 3). */
  readonly coreSize?: number;
  /** Take only this slot (how spawned sisters start); default: the first free one. */
  readonly slot?: number;
  /** A sister's sturdy ref (`tribe ref sister` on it): join its tribe as a member. */
  readonly join?: string;
  /** Announce and listen on this address ('ADDR' or 'ADDR:BASEPORT'); false: no announcements. */
  readonly discovery?: string | false;
  /** `tribe host` arguments spawned sisters get besides home, slot and core size. */
  readonly spawnArgs?: readonly string[];
}

export interface SisterHost {
  readonly host: Host;
  readonly slot: number;
  readonly tribe: string;
}

const viewOf = (r: SisterRecord): SisterView => ({
  vatId: r.vatId,
  slot: r.slot,
  machine: r.machine,
  address: r.address,
  bridgeRef: r.bridgeRef,
  pid: r.pid,
  startedAt: r.startedAt,
  coreSize: r.coreSize,
  key: r.key,
});

const parseDiscovery = (text: string): { address: string; basePort?: number } => {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new RangeError(`--discovery wants ADDR or ADDR:PORT, got ${JSON.stringify(text)}`);
  const address = m[1]!.replace(/^\[|\]$/g, '');
  return m[2] ? { address, basePort: Number(m[2]) } : { address };
};

/** Starts the host in the first free slot of the tribe home (or only in `slot`). */
const takeSlot = async (tribeHome: string, hostOptions: HostOptions, slot: number | undefined): Promise<{ host: Host; slot: number }> => {
  const paths = tribePaths(tribeHome);
  const slots = slot === undefined ? Array.from({ length: MAX_SLOTS }, (_, i) => i) : [slot];
  for (const k of slots) {
    const home = paths.slotHome(k);
    try {
      const host = await startHost({
        ...hostOptions,
        home,
        bridge: true,
        // Only slot 0 keeps the port and the visualizer it was given; the others take their own.
        ...(k === 0 ? {} : { viz: false, ...(hostOptions.listen ? { listen: hostOptions.listen.replace(/:\d+$/, ':0') } : {}) }),
      });
      return { host, slot: k };
    } catch (err) {
      if ((err as Error).name !== 'HostAlreadyRunningError') throw err;
      if (slot !== undefined) throw new SlotTakenError(`slot ${k} of ${tribeHome} has a live host already`);
    }
  }
  throw new HostAlreadyRunningError(`all ${MAX_SLOTS} slots of ${tribeHome} have live hosts`);
};

export const startSisterHost = async (hostOptions: HostOptions, opts: TribeOptions = {}): Promise<SisterHost> => {
  const tribeHome = resolveHome(hostOptions.home);
  const print = hostOptions.print ?? ((line: string) => process.stderr.write(`${line}\n`));
  ensureHome(tribeHome);
  const config = loadTribeConfig(tribeHome, opts.coreSize);
  let secret = loadOrCreateSecret(tribeHome);
  ensureRegistryDir(tribeHome);

  const { host, slot } = await takeSlot(tribeHome, hostOptions, opts.slot);
  const startedAt = Date.now();
  const actor = createActor(bootstrapMachine, {
    input: { coreSize: config.coreSize, spawnWaitMs: SPAWN_UP_MS, connectWaitMs: 15_000, syncWaitMs: 15_000, maxSpawnFailures: 3 },
    inspect: host.inspector.tap({ group: 'tribe', name: `bootstrap ${shortVatId(host.id)}` }).inspect,
  });
  actor.start();
  // The host did these before the machine could be watched: recorded in their order.
  actor.send({ type: 'identity.loaded' });
  actor.send({ type: 'store.opened' });
  if (!host.address) {
    actor.send({ type: 'failed', detail: 'a sister needs networking (it was started with --no-listen)' });
    return { host, slot, tribe: tribeIdOf(nodeCrypto, secret) };
  }
  actor.send({ type: 'listening' });

  let discovery: Discovery | undefined;
  let sync: SisterSync | undefined;
  let stopping = false;
  const heard = new Map<string, { view: SisterView; at: number }>();
  let lastStatus: TribeSisterStatus | undefined;
  const spawnedArgs = opts.spawnArgs ?? [];
  /** Sisters spawned here that are not in the registry yet, by slot. */
  const starting = new Map<number, number>();
  let quiet = false;
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {}
  };
  const endStarting = () => {
    for (const [k, pid] of starting) {
      print(`sister slot ${k} (pid ${pid}) was still starting: sent SIGTERM (the tribe is stopping)`);
      signal(pid, 'SIGTERM');
    }
  };

  try {
    const identity = loadOrCreateIdentity(homePaths(host.home).identity);
    const key = nodeSigningKey(identity.privateKey);
    // A join brings the tribe's secret: this home belongs to that tribe from now on.
    // The sisters of other machines a join brought are kept: a restarted member finds them again
    // without the ref (and, on one machine or LAN, announcements find them too).
    let joined: SisterView[] = loadJoined(tribeHome);
    if (opts.join) {
      const answer = await joinTribe(host, opts.join);
      secret = loadOrCreateSecret(tribeHome, answer.secret);
      joined = answer.sisters.filter((v) => v.machine !== config.machine);
      saveJoined(tribeHome, joined);
    }
    const tribe = tribeIdOf(nodeCrypto, secret);
    const status = host.ps();
    const record: SisterRecord = {
      v: 1,
      tribe,
      vatId: host.id,
      key: base32(identity.publicKey),
      slot,
      address: status.listen!,
      bridgeRef: status.bridgeRef ?? '',
      pid: process.pid,
      startedAt,
      machine: config.machine,
      coreSize: config.coreSize,
    };
    const signed: SignedRecord = signRecord(key, record);
    const registry = makeRegistry({ tribeHome, crypto: nodeCrypto, tribe, print });
    for (const v of joined) heard.set(v.vatId, { view: v, at: Number.POSITIVE_INFINITY });

    if (opts.discovery !== false) {
      const where = parseDiscovery(opts.discovery ?? DEFAULT_DISCOVERY);
      const bytes = new TextEncoder().encode(encodeRecord(signed));
      discovery = await startDiscovery({
        ...where,
        secret,
        payload: () => bytes,
        onHeard: (payload) => {
          const check = checkRecord(nodeCrypto, tribe, new TextDecoder().decode(payload));
          // Authenticated by the tribe's secret, yet signed wrong: a member is broken or lying. Said, not used.
          if (!check.ok) return void print(`discovery: ignored an announcement (${new SisterRecordError(check.detail).message})`);
          const r = check.record;
          if (r.vatId === host.id || r.machine === config.machine) return; // this machine's sisters are in its registry
          heard.set(r.vatId, { view: viewOf(r), at: Date.now() });
        },
        onProblem: (message) => print(`discovery: ${message}`),
      });
    }

    const sister = await host.startSystemVat({ name: 'sister', module: SISTER_MODULE });
    host.remote!.exportAt(sisterSwiss(nodeCrypto, secret, host.id), 'sister');
    /** Every sister this host knows, its own machine's and the others'. */
    const views = (): SisterView[] => {
      const all = new Map<string, SisterView>();
      for (const v of lastStatus?.sisters ?? []) all.set(v.vatId, v);
      for (const h of heard.values()) all.set(h.view.vatId, h.view);
      for (const r of registry.scan().live) all.set(r.vatId, viewOf(r));
      return [...all.values()];
    };
    sync = startSisterSync({ host, secret, tribe, key, recordText: encodeRecord(signed), startedAt, peers: views, print });
    const syncing = sync;
    const sisters = () => lastStatus?.sisters ?? [];
    const replicas = startReplicaHost({
      host,
      secret,
      sync: syncing,
      peers: () => sisters().map((v) => ({ vatId: v.vatId, address: v.address, machine: v.machine, vats: v.vats ?? 0, key: v.key, connected: v.state === 'connected' })),
      print,
    });
    const tribeNames = makeTribeNames({ host, replicas, secret, print });
    host.attachReplicas({
      replicate: (vat, ws) => replicas.replicate(vat, ws),
      status: () => replicas.status(),
      resolve: (name) => tribeNames.resolve(name),
    });

    const powers = Far('SisterPowers', {
      self: () => harden(viewOf(record)),
      sisters: () => {
        const now = Date.now();
        for (const [id, h] of heard) if (now - h.at > HEARD_TTL_MS) heard.delete(id);
        return harden({
          local: registry.scan().live.map(viewOf),
          occupied: registry.occupied(config.coreSize),
          heard: [...heard.values()].map((h) => h.view),
        });
      },
      spawn: async (k: number) => {
        if (stopping || quiet) throw new Error('the tribe is stopping');
        if (!Number.isInteger(k) || k < 0 || k >= config.coreSize) throw new RangeError(`slot ${k} is not in this machine's core`);
        const req = { tribeHome, slot: k, coreSize: config.coreSize, args: spawnedArgs };
        const spawned = spawnSister(req);
        print(`spawning sister slot ${k} (pid ${spawned.pid})`);
        starting.set(k, spawned.pid);
        const deadline = Date.now() + SPAWN_UP_MS;
        let ended: Awaited<typeof spawned.exited> | undefined;
        void spawned.exited.then((e) => (ended = e));
        try {
          for (;;) {
            if (registry.scan().live.some((r) => r.slot === k)) return ended === undefined ? 'up' : 'taken';
            if (ended !== undefined) {
              const problem = earlyExitProblem(req, ended);
              if (problem) throw problem;
              return 'taken';
            }
            if (Date.now() > deadline) {
              // Stuck on its way up: it would hold the slot's lock for good.
              signal(spawned.pid, 'SIGKILL');
              throw earlyExitProblem(req, { code: null, signal: `still starting after ${SPAWN_UP_MS} ms: killed` })!;
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        } finally {
          starting.delete(k);
        }
      },
      /** Spawns no more, and ends the sisters still starting: the tribe is stopping, and they would start it again. */
      quiesce: () => {
        quiet = true;
        endStarting();
      },
      connect: (vatId: string, address: string) => {
        const ref = `tribe://${vatId}@${address}/${sisterSwiss(nodeCrypto, secret, vatId)}`;
        return host.enliven(ref);
      },
      restarted: (vatId: string) => host.remote!.diagnostics.dropSession(vatId, new SisterRestartedError(`sister ${shortVatId(vatId)} restarted`)),
      widen: (vatId: string, bridges: readonly string[], address: string) =>
        // One side widens each pair's session (the lower VatId): two would make twice the paths.
        host.id < vatId ? host.remote!.widenSession(vatId, bridges, address) : 0,
      report: (event: BootstrapReport) => {
        if (event.type === 'status') {
          const { table, ...health } = event;
          lastStatus = table;
          if (health.spawner) {
            const core = [{ vatId: host.id, slot }, ...table.sisters.filter((v) => v.machine === config.machine && v.state === 'connected')];
            tribeNames.ensure(core, config.coreSize);
          }
          actor.send(health);
        } else actor.send(event as BootstrapEvent);
        return String(actor.getSnapshot().value);
      },
      load: () => host.ps().vats.length,
      hasName: (name: string) => host.names.list().includes(name),
      nameRef: (name: string) => {
        if (typeof name !== 'string' || !host.names.list().includes(name)) return undefined;
        // One ref per name, derived like the Sister's own: asking again mints nothing.
        return host.remote!.exportAt(sisterSwiss(nodeCrypto, secret, `${host.id}/${name}`), name);
      },
      spawnVat: (o: unknown) => host.spawnVat(o as never).then(({ name }) => harden({ name, on: host.id })),
      admit: () => harden({ secret: Array.from(secret), sisters: [viewOf(record), ...(lastStatus?.sisters ?? [])] }),
      awaitGone: async (views: readonly SisterView[]) => {
        const mine = views.filter((v) => v.machine === config.machine && v.pid !== process.pid);
        const until = Date.now() + STOP_WAIT_MS;
        let termed = false;
        while (mine.some((v) => pidAlive(v.pid)) && Date.now() < until) {
          // One that could not be told (no session with it): asked the way Ctrl-C asks, by its pid.
          if (!termed && Date.now() > until - STOP_WAIT_MS + STOP_ASK_MS) {
            termed = true;
            for (const v of mine) {
              if (!pidAlive(v.pid)) continue;
              print(`sister slot ${v.slot} (pid ${v.pid}) did not stop when asked: sent SIGTERM`);
              signal(v.pid, 'SIGTERM');
            }
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        for (const v of mine) {
          if (!pidAlive(v.pid)) continue;
          print(`sister slot ${v.slot} (pid ${v.pid}) did not stop within ${STOP_WAIT_MS} ms: killed`);
          signal(v.pid, 'SIGKILL');
        }
      },
      stopHost: () => void host.stop(),
      syncRoots: () => {
        tribeNames.register();
        return harden(syncing.roots());
      },
      push: async (view: SisterView, space: string) => {
        const { state, entries, applied, root } = await syncing.push(view, space);
        return harden({ state, entries, applied, root });
      },
    });

    host.attachTribe({
      status: () => {
        const snap = actor.getSnapshot();
        return {
          tribe,
          slot,
          machine: config.machine,
          coreSize: config.coreSize,
          state: String(snap.value),
          ...(snap.context.reason ? { reason: snap.context.reason } : {}),
          spawner: snap.context.spawner,
          alive: snap.context.alive,
          connected: snap.context.connected,
          expected: snap.context.expected,
          ...(lastStatus ? { sisters: lastStatus.sisters, rounds: lastStatus.rounds } : {}),
          ...(discovery ? { discovery: { port: discovery.port ?? null, ...discovery.stats() } } : {}),
          registryRemoved: registry.removedCounts(),
          ...(sync ? { sync: { inFlight: sync.inFlight() } } : {}),
        };
      },
      resolveName: async (name) => {
        // The names space says who publishes it: reached directly, no sister asked. A name
        // published too recently to have synced here is asked of every sister.
        const owner = syncing.publisherOf(name);
        const at = owner && owner !== host.id ? lastStatus?.sisters.find((v) => v.vatId === owner && v.state === 'connected') : undefined;
        if (at) return `tribe://${at.vatId}@${at.address}/${sisterSwiss(nodeCrypto, secret, `${at.vatId}/${name}`)}`;
        return ((await E(sister).resolve(name)) as string | undefined) ?? undefined;
      },
      sync: (req) =>
        syncing.syncNow(
          req,
          (lastStatus?.sisters ?? []).filter((v) => v.state === 'connected'),
        ),
      syncStatus: () => syncing.status(),
      space: (name) => syncing.space(name),
      place: async (o, on) => {
        if (o.replicas !== undefined) {
          if (on !== undefined) throw new UsageError('--on places one vat: a replicated service picks its sisters itself');
          return replicas.create(o);
        }
        return (await E(sister).place(o, on)) as { name: string; on: string };
      },
      stopSisters: async () => (await E(sister).stopTribe()) as string[],
      stop: async () => {
        // Leaving alone (not with the tribe): sisters of other machines stop expecting this one.
        await Promise.race([E(sister).departing(), new Promise((r) => setTimeout(r, STOP_ASK_MS).unref())]).catch(() => {});
        stopping = true;
        endStarting();
        actor.send({ type: 'stop' });
        registry.withdraw(record);
        await discovery?.close();
        await replicas.close();
        syncing.close();
      },
    });
    await E(sister).start(powers);
    // Last: a sister in the registry is one others can reach (its Sister is exported and started).
    registry.publish(signed);
    print(`sister slot ${slot} of tribe ${tribe.slice(0, 8)} (core ${config.coreSize}, home ${tribeHome})`);
    return { host, slot, tribe };
  } catch (err) {
    await discovery?.close();
    sync?.close();
    await host.stop();
    throw err;
  }
};

const joinedFile = (tribeHome: string) => join(tribeHome, 'joined.json');

/** The sisters of other machines this tribe home was given when it joined; [] when it never did (or the file is unreadable). */
const loadJoined = (tribeHome: string): SisterView[] => {
  try {
    const views = JSON.parse(readFileSync(joinedFile(tribeHome), 'utf8')) as unknown;
    return Array.isArray(views) ? (views.filter((v) => v && typeof v.vatId === 'string' && typeof v.address === 'string') as SisterView[]) : [];
  } catch {
    return [];
  }
};

const saveJoined = (tribeHome: string, views: readonly SisterView[]) => writeFileAtomically(joinedFile(tribeHome), JSON.stringify(views));

/** Asks the sister behind `ref` to admit this host: answers the tribe's secret and the sisters it knows. */
const joinTribe = async (host: Host, ref: string): Promise<{ secret: Uint8Array; sisters: SisterView[] }> => {
  let answer: { secret?: unknown; sisters?: unknown };
  try {
    const sister = await host.enliven(ref);
    answer = (await E(sister).admit()) as typeof answer;
  } catch (err) {
    throw new JoinFailedError(`cannot join through ${ref.replace(/\/[^/]*$/, '/…')}: ${describeError(reviveError(err))}`, { cause: err });
  }
  const bytes = Array.isArray(answer?.secret) ? Uint8Array.from(answer.secret as number[]) : undefined;
  if (bytes?.length !== 32 || !Array.isArray(answer.sisters)) throw new JoinFailedError('the sister answered admit() with something else than a tribe');
  return { secret: bytes as Uint8Array, sisters: answer.sisters as SisterView[] };
};
