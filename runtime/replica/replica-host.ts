/**
 * A sister's replicated services ("triple services"): one Raft group per
 * service, over the service's replicas (three sisters). The leader runs the
 * service's vat; each of the vat's turns posts its write-set and replies
 * (turn-backend.ts), which become one log entry; the turn's messages leave
 * once the entry is committed on a majority and applied here. Followers apply
 * the same entries to their own rows and run no vat. When the leader changes,
 * the new one applies its term's first entry (so everything committed before
 * it), then starts the vat on its rows.
 *
 * Callers reach a service through a front (front.ts) on their own host, which
 * follows the leader and retries a call with the same call id until it is
 * answered: the leader answers a call id it has applied from its replies
 * table, so a call is applied once whatever fails in between.
 *
 * Between replicas, Raft messages cross CapTP as JSON text to each sister's
 * replica endpoint (exported at a ref derived from the tribe's secret, like
 * the Sister's), one-way. Lost, late or repeated messages are Raft's to handle.
 *
 * Failure semantics: `create` settles once the service has a serving leader
 * (ServiceUnavailableError past SERVE_WAIT_MS: the spec stays, and the group
 * goes on electing); a host that restarts re-opens every group it is in.
 */
import { E, Far } from '@endo/far';
import { describeError, reviveError } from '../../capabilities/errors.js';
import { assertValidName } from '../../capabilities/names.js';
import { makeRaftNode } from '../../protocols/raft/node.js';
import type { RaftMessage, RaftNode, RaftStatus, StateMachine } from '../../protocols/raft/types.js';
import { shortVatId } from '../../protocols/session/vat-id.js';
import { UsageError } from '../errors.js';
import { homePaths } from '../home.js';
import type { Host, ServiceStatus, SpawnOptions } from '../host-api.js';
import { ServiceNotFoundError, ServiceUnavailableError } from './errors.js';
import { makeFront, type ServiceRoute, TIMED_OUT, within } from './front.js';
import { makeReplicaLinks, type ReplicaPeer, type SnapshotTransport } from './replica-links.js';
import { openRaftStorage } from './raft-store.js';
import { openServiceState } from './service-state.js';
import { NAMES_METHODS, namesCommand, type NamesState, openNamesState } from './names-state.js';
import { openServicesStore, type ServiceSpec } from './services-store.js';

/** The name the replica endpoint is published under on each sister. */
export const REPLICA_ENDPOINT_NAME = 'sister.replica';
/** How long `create` waits for the new service's first leader to serve: a few election rounds. */
export const SERVE_WAIT_MS = 15_000;
/** Pause before a leader starts its service's vat again after it failed to start (a module missing on this machine, say). */
const VAT_RETRY_MS = 1_000;
/** Pause before publishing a front again after no leader answered (the front itself sought one for CALL_DEADLINE_MS). */
const PUBLISH_RETRY_MS = 1_000;
/** A Raft message as JSON text: an append carries at most maxAppendBytes of entries, with room. */
const MAX_MESSAGE_CHARS = 2 * 1024 * 1024;

/**
 * A test hook: `TRIBE_TEST_SERVICE_DEADLINE_MS` shortens a front's deadline for a call (30 s by
 * default), so that a test of a partitioned minority sees its refused write end sooner.
 */
const deadlineMs = Number(process.env['TRIBE_TEST_SERVICE_DEADLINE_MS'] ?? '') || undefined;
const FRONT_LIMITS = deadlineMs ? { callDeadlineMs: deadlineMs } : {};
/**
 * A test hook: `TRIBE_TEST_RAFT_SNAPSHOT_EVERY=N` compacts the log every N applied entries (1,000 by
 * default), so that a replica killed for a few seconds comes back behind the leader's snapshot and
 * is caught up by a state transfer (a sync saga), as a long-lagging one would be.
 */
const snapshotEvery = Number(process.env['TRIBE_TEST_RAFT_SNAPSHOT_EVERY'] ?? '') || undefined;
const RAFT_LIMITS = snapshotEvery ? { snapshotEvery } : {};


export interface ReplicaHostOptions {
  readonly host: Host;
  readonly secret: Uint8Array;
  readonly sync: SnapshotTransport;
  /** The sisters this one knows (its Sister's table), connected or not. */
  peers(): readonly ReplicaPeer[];
  readonly print: (line: string) => void;
}

export interface ReplicaHost {
  /** `tribe spawn --replicas N`: the service on this sister and N-1 others. */
  create(opts: SpawnOptions): Promise<{ name: string; on: string }>;
  /** Makes the tribe's own service `spec.name` (the naming service) on its members, unless it exists here already. */
  createSystem(spec: Omit<ServiceSpec, 'createdAt'>): Promise<void>;
  /** Whether this sister is a replica of service `name`. */
  has(name: string): boolean;
  /**
   * A front of service `name`: made from its spec here, or — on a sister that is
   * not one of its replicas — from the spec a connected sister that is gives.
   * Undefined when no sister knows the service.
   */
  frontOf(name: string): Promise<any | undefined>;
  status(): ServiceStatus[];
  replicate(vat: string, writeSet: unknown): Promise<void>;
  close(): Promise<void>;
}

interface Group {
  readonly spec: ServiceSpec;
  readonly node: RaftNode;
  /** A vat service's rows, or (the naming service) the names table. */
  readonly state: ReturnType<typeof openServiceState> | undefined;
  readonly names: NamesState | undefined;
  readonly storage: ReturnType<typeof openRaftStorage>;
  /** The vat's admin facet while this host serves; the promise while it starts. */
  admin: Promise<any> | undefined;
  serving: boolean;
  methods: readonly string[];
  /** Calls being answered here, by call id: a retry that arrives meanwhile waits for the same answer. */
  readonly inflight: Map<string, Promise<unknown>>;
  /** Settles once the service's front is published here under its name. */
  published: Promise<void>;
  /** The first index of the term this host leads (firstIndexOfTerm), once found. */
  termStart?: { term: number; index: number };
  /** When the vat last failed to start here: it is not started again before VAT_RETRY_MS. */
  failedAt?: number;
}

export type { ReplicaPeer, SnapshotTransport };

export const startReplicaHost = (opts: ReplicaHostOptions): ReplicaHost => {
  const { host, secret, print } = opts;
  const dbPath = homePaths(host.home).db;
  const services = openServicesStore(dbPath);
  const groups = new Map<string, Group>();
  let closed = false;

  const links = makeReplicaLinks({
    host,
    secret,
    peers: opts.peers,
    print,
    sync: opts.sync,
    local: () => endpoint,
    stateOf: (group) => groups.get(group)?.state,
  });
  const { endpointOf } = links;
  const send = links.send;

  /**
   * The index of the first entry of the leader's term (its no-op): serving waits until it is
   * applied. Found once per term, by walking back from the end of the log when the term begins
   * (the node appends its no-op on election, so the walk is short), then remembered.
   */
  const firstIndexOfTerm = (g: Group, status: RaftStatus): number => {
    if (g.termStart?.term === status.term) return g.termStart.index;
    let i = status.lastIndex;
    while (i > status.snapshotIndex && g.storage.termAt(i - 1) === status.term) i -= 1;
    g.termStart = { term: status.term, index: i };
    return i;
  };

  /** Starts the vat once this host leads and has applied its term's first entry; stops it when it does not lead. */
  const follow = (g: Group, status: RaftStatus) => {
    if (closed) return;
    const leads = status.role === 'leader';
    if (g.names) {
      // The naming service runs no vat: it serves once it leads and has applied its term's first entry.
      g.serving = leads && status.lastApplied >= firstIndexOfTerm(g, status);
      return;
    }
    if (!leads) {
      if (g.admin !== undefined) {
        g.admin = undefined;
        g.serving = false;
        void host.stopReplicaVat(g.spec.name).catch(() => {});
      }
      return;
    }
    if (g.admin !== undefined || status.lastApplied < firstIndexOfTerm(g, status)) return;
    // Status changes come with every commit: a vat that failed to start is tried again after a pause.
    if (g.failedAt !== undefined && Date.now() - g.failedAt < VAT_RETRY_MS) return;
    const starting = host.startReplicaVat({ name: g.spec.name, module: g.spec.module, params: g.spec.params, grants: g.spec.grants });
    g.admin = starting;
    starting.then(
      async (admin) => {
        if (g.admin !== starting) return;
        g.methods = (await E(admin).methods()) as string[];
        g.serving = true;
        print(`service ${g.spec.name}: serving as leader (term ${status.term})`);
      },
      (err: unknown) => {
        if (g.admin === starting) g.admin = undefined;
        g.failedAt = Date.now();
        setTimeout(() => follow(g, g.node.status()), VAT_RETRY_MS).unref();
        print(`service ${g.spec.name}: its vat did not start here (tried again in ${VAT_RETRY_MS} ms, or by the next leader): ${describeError(reviveError(err))}`);
      },
    );
  };

  const open = (spec: ServiceSpec): Group => {
    const existing = groups.get(spec.name);
    if (existing) return existing;
    const storage = openRaftStorage(dbPath, spec.name);
    const names = spec.system === 'names' ? openNamesState(dbPath) : undefined;
    const state = names ? undefined : openServiceState(dbPath, { group: spec.name, vat: spec.name });
    let g: Group | undefined;
    const tap = host.inspector.tap({ group: 'replicas', name: `${spec.name} (raft)` });
    // A snapshot from the leader names the space its rows came in (transfer, above).
    const machine: StateMachine = names ?? {
      apply: (data, index) => state!.apply(data, index),
      snapshot: () => state!.snapshot(),
      appliedIndex: () => state!.appliedIndex(),
      restore: (data, index) => {
        const space = (data as { space?: unknown } | null)?.space;
        state!.restore(typeof space === 'string' ? { rows: state!.fromSpace(opts.sync.spaces, space) } : data, index);
      },
    };
    const node = makeRaftNode({
      id: host.id,
      members: spec.members,
      storage,
      machine,
      send: (to, m) => send(spec.name, to, m),
      timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h) },
      random: Math.random,
      limits: RAFT_LIMITS,
      inspect: tap.inspect as (ev: unknown) => void,
      onStatus: (s) => g && follow(g, s),
    });
    g = { spec, node, state, names, storage, admin: undefined, serving: false, methods: names ? NAMES_METHODS : [], inflight: new Map(), published: Promise.resolve() };
    groups.set(spec.name, g);
    node.start();
    if (!names) g.published = publishFront(spec.name);
    return g;
  };

  /**
   * Publishes the service's front here under its name, once a leader told its
   * methods: vats' `names.lookup`, `tribe call` and `host.resolve` on this sister
   * find it; other sisters reach it through the names space.
   */
  const publishFront = (name: string): Promise<void> =>
    (async () => {
      while (!closed) {
        try {
          const front = await makeFront({ name, route: route(name), print, limits: FRONT_LIMITS }).ready();
          if (closed) return;
          if (!host.names.list().includes(name)) host.names.publish(name, front);
          return;
        } catch (err) {
          print(`service ${name}: no leader yet (${describeError(reviveError(err))}); trying again`);
          await new Promise((r) => setTimeout(r, PUBLISH_RETRY_MS));
        }
      }
    })();

  const groupOf = (name: unknown): Group => {
    const g = typeof name === 'string' ? groups.get(name) : undefined;
    if (!g) throw new ServiceNotFoundError(`no replicated service ${JSON.stringify(name)} has a replica here`);
    return g;
  };

  /** A call at the leader: from the replies table when applied already, else through the vat. */
  const invoke = async (g: Group, callId: string, method: string, args: unknown[]): Promise<unknown> => {
    if (g.names) {
      // Names commands are idempotent: a retried one changes nothing twice.
      if (!g.serving) return harden({ leader: g.node.status().leader ?? null });
      return harden((await g.node.propose(namesCommand(method, args))) as object);
    }
    const stored = g.state!.reply(callId);
    if (stored !== undefined) return harden(JSON.parse(stored));
    const running = g.inflight.get(callId);
    if (running) return running;
    if (!g.serving || !g.admin) return harden({ leader: g.node.status().leader ?? null });
    const p = (async () => {
      const admin = await g.admin;
      return E(admin).invoke(callId, method, args);
    })();
    g.inflight.set(callId, p);
    try {
      return await p;
    } finally {
      g.inflight.delete(callId);
    }
  };

  const endpoint = Far('ReplicaEndpoint', {
    /** A Raft message of group `group` from replica `from` (one-way). */
    deliver(group: unknown, from: unknown, text: unknown) {
      if (typeof text !== 'string' || text.length > MAX_MESSAGE_CHARS || typeof from !== 'string') return;
      const g = typeof group === 'string' ? groups.get(group) : undefined;
      if (!g) return;
      let message: RaftMessage;
      try {
        message = JSON.parse(text) as RaftMessage;
      } catch {
        return;
      }
      g.node.receive(from, message);
    },
    /** A front's call: `{ ok }` / `{ error }` (final: the method's answer), or `{ leader }` (not here: try there). */
    invoke(group: unknown, callId: unknown, method: unknown, args: unknown) {
      const g = groupOf(group);
      if (typeof callId !== 'string' || typeof method !== 'string' || !Array.isArray(args)) throw new UsageError('invoke takes a call id, a method name and an array of arguments');
      return invoke(g, callId, method, args);
    },
    /** The service's methods, from its leader (`{ leader }` elsewhere). */
    methods(group: unknown) {
      const g = groupOf(group);
      return g.serving ? harden({ methods: g.methods }) : harden({ leader: g.node.status().leader ?? null });
    },
    /** The spec of service `name` if this sister is one of its replicas (a sister that is not finds the replicas so). */
    spec(name: unknown) {
      const g = typeof name === 'string' ? groups.get(name) : undefined;
      return g ? harden({ ...g.spec }) : undefined;
    },
    /** Becomes a replica of `spec` (the creating sister asks each member). */
    create(spec: unknown) {
      const s = spec as ServiceSpec;
      if (!s || typeof s.name !== 'string' || !Array.isArray(s.members) || !s.members.includes(host.id)) throw new UsageError('a service spec names this sister among its members');
      assertValidName(s.name);
      if (s.system !== undefined && s.system !== 'names') throw new UsageError(`no system service ${JSON.stringify(s.system)}`);
      const had = services.get(s.name);
      if (had && had.createdAt !== s.createdAt) throw new UsageError(`a service named ${s.name} exists already`);
      if (!had) services.save(s);
      open(s);
      return true;
    },
  });
  host.names.publish(REPLICA_ENDPOINT_NAME, endpoint);
  host.remote!.exportAt(links.swissOf(host.id), REPLICA_ENDPOINT_NAME);

  /** Specs of services this sister is no replica of, as a replica told them (for fronts here). */
  const told = new Map<string, ServiceSpec>();
  const route = (name: string): ServiceRoute => {
    const members = (groups.get(name)?.spec ?? told.get(name))?.members ?? [];
    return {
      members: () => members,
      endpoint: endpointOf,
      forget: (vatId) => links.forget(vatId),
    };
  };

  // A host that restarts takes its place in every group it is in (after `route`, which fronts use).
  for (const spec of services.list()) open(spec);

  return {
    async create(o) {
      const name = assertValidName(String(o.name ?? ''));
      const n = o.replicas ?? 3;
      if (groups.has(name) || host.names.list().includes(name)) throw new UsageError(`the name ${name} is taken here`);
      const others = opts.peers().filter((p) => p.connected).sort((a, b) => a.vats - b.vats || (a.vatId < b.vatId ? -1 : 1));
      if (others.length < n - 1) throw new ServiceUnavailableError(`--replicas ${n} needs ${n - 1} other connected sisters; ${others.length} are connected`);
      const { isAbsolute, resolve } = await import('node:path');
      const spec: ServiceSpec = {
        name,
        module: isAbsolute(o.module) ? o.module : resolve(o.module),
        params: JSON.stringify(o.params ?? null),
        grants: [...(o.grants ?? [])],
        members: [host.id, ...others.slice(0, n - 1).map((p) => p.vatId)],
        createdAt: Date.now(),
      };
      await Promise.all(spec.members.map(async (m) => E(await endpointOf(m)).create(harden(spec))));
      const g = groups.get(name)!;
      // The leader may be any replica: the service is up once one answers its methods (and its front is published here).
      const ready = await within(g.published, SERVE_WAIT_MS);
      if (ready === TIMED_OUT) throw new ServiceUnavailableError(`service ${name} had no serving leader within ${SERVE_WAIT_MS} ms (its replicas go on electing one)`);
      return { name, on: g.node.status().leader ?? host.id };
    },
    async createSystem(o) {
      if (groups.has(o.name)) return;
      const spec: ServiceSpec = { ...o, createdAt: Date.now() };
      await Promise.all(spec.members.map(async (m) => E(await endpointOf(m)).create(harden(spec))));
      print(`service ${spec.name}: made on ${spec.members.map(shortVatId).join(', ')}`);
    },
    has: (name) => groups.has(name),
    async frontOf(name) {
      if (!groups.has(name) && !told.has(name)) {
        const asked = opts.peers().filter((p) => p.connected).map(async (p) => (await E(await endpointOf(p.vatId)).spec(name)) as ServiceSpec | undefined);
        const spec = (await Promise.all(asked.map((a) => a.catch(() => undefined)))).find((x) => x !== undefined);
        if (!spec) return undefined;
        told.set(name, spec);
      }
      return makeFront({ name, route: route(name), print, limits: FRONT_LIMITS }).ready();
    },
    status: () =>
      [...groups.values()].map((g) => {
        const s = g.node.status();
        const lag = s.role === 'leader' ? Object.fromEntries(Object.entries(s.matchIndex).filter(([id]) => id !== host.id).map(([id, m]) => [id, Math.max(0, s.lastIndex - m)])) : undefined;
        return {
          name: g.spec.name,
          module: g.spec.module,
          replicas: g.spec.members,
          role: s.role,
          term: s.term,
          leader: s.leader,
          commitIndex: s.commitIndex,
          lastApplied: s.lastApplied,
          lastIndex: s.lastIndex,
          snapshotIndex: s.snapshotIndex,
          ...(lag ? { lag } : {}),
          serving: g.serving,
        };
      }),
    async replicate(vat, writeSet) {
      const g = groups.get(vat);
      // While the vat starts (make() may write) it is not serving yet, but this host leads.
      if (!g || g.admin === undefined || g.node.status().role !== 'leader') throw new ServiceUnavailableError(`this host does not lead service ${vat}`);
      await g.node.propose(writeSet);
    },
    async close() {
      closed = true;
      for (const g of groups.values()) {
        g.node.stop();
        if (g.admin) await host.stopReplicaVat(g.spec.name).catch(() => {});
        g.state?.close();
        g.names?.close();
        g.storage.close();
      }
      services.close();
    },
  };
};
