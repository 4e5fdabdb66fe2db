/**
 * A vat host: identity, store, vats, names and the control socket, wired
 * together. `startHost` is the programmatic API (its types: host-api.ts); the
 * CLI's `tribe host` is a thin wrapper around it.
 */
import { isAbsolute, resolve as resolvePath, basename } from 'node:path';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { E } from '@endo/far';
import { describeError, reviveError } from '../capabilities/errors.js';
import { assertValidName, makeNameRegistry, persistDurableNames } from '../capabilities/names.js';
import { DURABLE_KEY_PATTERN } from '../capabilities/gift-notes.js';
import { InvalidParamsError, VatExistsError, VatNotFoundError } from '../vats/errors.js';
import { GRANTS, type Grant, type VatSpec } from '../vats/link.js';
import { DEFAULT_LIMITS, makeSupervisor, type VatLimits } from '../vats/supervisor.js';
import { makeControlFacet } from './control-facet.js';
import { serveControl, type ControlServer } from './control.js';
import { HostStoppedError, IdentityKeyMismatchError, portInUse, UsageError } from './errors.js';
import { acquireLock, ensureHome, homePaths, resolveHome } from './home.js';
import { loadOrCreateIdentity, } from './identity.js';
import { makeModuleCompiler } from '../vats/module-compiler.js';
import { makeModuleReader } from './module-reader.js';
import { makePortPair, makeWorkerStarter } from './ports.js';
import { quietMarshalLogging } from './quiet-console.js';
import { openHostStore, type VatRow } from './store.js';
import { storeWriteProblem } from './store-check.js';
import { makeRefAdmin } from './ref-admin.js';
import { makeUpgrader, type UpgradedVat, type UpgradeOptions, type Upgrader } from './upgrade.js';
import { openUpgradeStore, type UpgradeStore } from './upgrade-store.js';
import { logDir, openVatLogWriter, type VatLogWriter } from './vat-logs.js';
import { nodeCrypto, nodeSigningKey } from './crypto-node.js';
import { startRemoteHosts, type RemoteHosts } from './sessions/remote-hosts.js';
import { advertisedHost, formatAddress, parseListenAddress } from './tcp.js';
import { hostname, networkInterfaces } from 'node:os';
import { sessionLimits } from '../protocols/session/session-limits.js';
import { SturdyRefError } from '../capabilities/errors.js';
import { isSturdyRefText } from '../capabilities/sturdy-ref.js';
import { makeInspector, } from './viz/inspector.js';
import { serveHostViz, sessionHealth, type HostViz } from './viz/serve.js';
import { makeHostHandoffs, shortFullId } from './handoffs.js';

export type { Host, HostOptions, HostStatus, HostVatStatus, RestartedVat, SpawnOptions } from './host-api.js';
import type { Host, HostOptions, HostStatus, ReplicaHooks, RestartedVat, SpawnOptions, TribeHooks } from './host-api.js';

/** Heartbeats are routine: the visualizer records them only when they change a vat's state. */
const VAT_TAP = { quiet: (ev: { type: string }) => ev.type.startsWith('heartbeat.') || ev.type.startsWith('xstate.after.') };

const WORKER_SCRIPT = new URL('./vat-worker.js', import.meta.url);

/** Symlinks resolved, so the module directory that bounds imports is the real one. */
const realPathOr = (path: string): string => {
  try {
    return realpathSync(path);
  } catch {
    return path; // missing: loading reports ModuleNotFoundError
  }
};

const parseParams = (params: unknown): string => {
  if (params === undefined) return 'null';
  try {
    const text = JSON.stringify(params);
    if (text === undefined) throw new Error('not JSON data');
    return text;
  } catch (err) {
    throw new InvalidParamsError(`params must be JSON data: ${(err as Error).message}`);
  }
};

const checkLimits = (limits: Partial<VatLimits> = {}): void => {
  for (const [key, value] of Object.entries(limits)) {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new UsageError(`limits.${key} must be a positive integer, got ${JSON.stringify(value)}`);
    }
  }
};

const checkGrants = (grants: readonly string[] = []): Grant[] => {
  for (const g of grants) {
    if (!(GRANTS as readonly string[]).includes(g)) {
      throw new UsageError(`unknown grant "${g}" (known: ${GRANTS.join(', ')})`);
    }
  }
  return [...new Set(grants)] as Grant[];
};

export const startHost = async (options: HostOptions = {}): Promise<Host> => {
  // Checked before anything is opened: a bad or misplaced limit is a RangeError naming it.
  const limitsOfSessions = sessionLimits(options.sessionLimits);
  const home = resolveHome(options.home);
  const paths = homePaths(home);
  const print = options.print ?? ((line: string) => process.stderr.write(`${line}\n`));
  quietMarshalLogging();
  ensureHome(home);
  const releaseLock = acquireLock(paths.lock);
  let store: ReturnType<typeof openHostStore> | undefined;
  let identity: ReturnType<typeof loadOrCreateIdentity>;
  try {
    identity = loadOrCreateIdentity(paths.identity);
    store = openHostStore(paths.db);
    const recorded = store.meta.get('vatId');
    if (recorded && recorded !== identity.vatId) {
      throw new IdentityKeyMismatchError(
        `the identity key in ${home} is not the one its store recorded (VatId ${recorded}, the key's is ${identity.vatId}); refusing to start`,
      );
    }
    store.meta.set('vatId', identity.vatId);
  } catch (err) {
    // A refused start leaves nothing open: neither the store nor the lock.
    store?.close();
    releaseLock();
    throw err;
  }

  // Vats' log lines also go to <home>/logs, for `tribe logs`; a home where that fails still hosts.
  let vatLogs: VatLogWriter | undefined;
  try {
    vatLogs = openVatLogWriter(home, undefined, (err) => print(`vat logs are no longer written to ${logDir(home)}: ${err.message}`));
  } catch (err) {
    print(`vat logs are not written to ${logDir(home)}: ${(err as Error).message}`);
  }

  // Every machine's inspection goes to the inspector, which forwards it to the caller's `inspect`.
  const inspector = makeInspector({ host: identity.vatId, ...(options.inspect ? { forward: options.inspect } : {}) });
  const vizOn = options.viz !== undefined && options.viz !== false;

  const defaults: VatLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const workers = makeWorkerStarter({
    script: WORKER_SCRIPT,
    dbPath: paths.db,
    exposeGc: options.exposeGc ?? false,
    spares: options.spareWorkers ?? 1,
    defaultHeapMb: defaults.heapMb,
  });
  // Names published for durable objects outlive their vat's run: published again when it starts (`startVat`).
  const names = persistDurableNames(makeNameRegistry(), store.durableNames, (key) => DURABLE_KEY_PATTERN.test(key));
  const workerExits = new Map<string, Promise<void>>();
  const handoffs = makeHostHandoffs({
    hostId: identity.vatId,
    inspector,
    local: () => supervisor,
    remote: () => remote,
    ...(options.handoffLimits ? { limits: options.handoffLimits } : {}),
    onProxied: (recipient, owner, donor, why) => {
      // A party reaching an owner for itself is a durable reference reviving: its caller gets the error.
      if (donor === `${identity.vatId}/${recipient}`) return;
      print(`handoff to ${recipient} stayed a proxy through ${shortFullId(donor)} (owner ${shortFullId(owner)}): ${why}`);
    },
  });
  const supervisor = makeSupervisor({
    handoffs,
    startWorker: (spec, limits) => {
      const worker = workers.start(spec, limits);
      // An upgrade rolls a vat's rows back only once the worker that may write them is gone.
      const gone = new Promise<void>((r) => worker.onExit(() => r()));
      workerExits.set(spec.name, gone);
      void gone.then(() => workerExits.get(spec.name) === gone && workerExits.delete(spec.name));
      return worker;
    },
    makePortPair,
    names,
    compileModule: makeModuleCompiler(makeModuleReader()),
    print: (line, vat) => {
      print(line);
      const prefix = `[${vat}] `;
      vatLogs?.append(vat, line.startsWith(prefix) ? line.slice(prefix.length) : line);
    },
    inspectVat: (name) => inspector.tap({ group: 'vats', name }, VAT_TAP).inspect,
    onVatEvent: (name, event, detail) => {
      if (event === 'ended' && detail && !stopping) print(`vat ${name} ended: ${detail}`);
      if (event === 'ended' && detail && !stopping && store.vats.get(name)?.durable) {
        const problem = storeWriteProblem(paths.db, name, () => store.meta.set('checked_at', String(Date.now())));
        if (problem) print(problem);
      }
      if (event === 'ended') remote?.vatEnded(name, reviveError(new Error(detail ?? `vat "${name}" ended`)));
    },
    enlivenFor: (from, refText) => {
      if (!remote) throw new SturdyRefError('this host was started without networking (listen: false)');
      return remote.enlivenFor(from, refText);
    },
    // A name no vat or caller published here may be another sister's: the naming service says
    // whose (a replicated service's name gives a front here), else the names space.
    resolveElsewhere: async (name) => {
      const named = await replicas?.resolve(name);
      if (named !== undefined) return 'front' in named ? { ref: named.front } : named.sturdy;
      return tribe?.resolveName(name);
    },
    onPeerFault: (vat, peer, reason) => remote?.peerFault(vat, peer, reason),
    onCalls: (vat, report) => inspector.vatCalls(vat, report),
    replicate: (vat, ws) => (replicas ? replicas.replicate(vat, ws) : Promise.reject(new UsageError('no replicated services run here'))),
  });
  // Vats trace their calls only while someone (a page, a peer's relay) watches this host's machines.
  if (options.vizCalls !== false) inspector.onLooking((on) => supervisor.traceCalls(on));
  let remote: RemoteHosts | undefined;
  let viz: HostViz | undefined;

  let stopping = false;
  let settleStopped!: () => void;
  const stopped = new Promise<void>((r) => (settleStopped = r));
  /** `<base>-N` with the smallest N that no vat or name uses (vats restored from the store included). */
  const freeName = (base: string): string => {
    const stem = base.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'vat';
    const taken = new Set([...supervisor.list().map((v) => v.name), ...names.list().map((e) => e.name)]);
    let n = 1;
    while (taken.has(`${stem}-${n}`)) n++;
    return `${stem}-${n}`;
  };

  const startVat = async (row: VatRow, startTimeoutMs?: number, replicated = false): Promise<{ name: string; root: any }> => {
    if (stopping) throw new HostStoppedError('the host is stopping');
    const spec: VatSpec = {
      name: row.name,
      module: row.module,
      moduleUrl: pathToFileURL(realPathOr(row.module)).href,
      params: row.params,
      durable: row.durable,
      ...(replicated ? { replicated } : {}),
      grants: row.grants,
      traceLimit: options.traceLimit ?? 0,
      maxTickets: limitsOfSessions.maxVatTickets,
      hostId: identity.vatId,
      ...(options.handoffLimits ? { handoffLimits: options.handoffLimits } : {}),
    };
    const limits: VatLimits = {
      ...defaults,
      ...(row.timeBudgetMs ? { timeBudgetMs: row.timeBudgetMs } : {}),
      ...(row.heapMb ? { heapMb: row.heapMb } : {}),
      ...(startTimeoutMs ? { startTimeoutMs } : {}),
    };
    const { root } = await supervisor.spawn(spec, limits);
    await restoreDurableNames(row.name);
    return { name: row.name, root };
  };

  /**
   * Publishes again the names vat `vat` published for its durable objects in an
   * earlier run, unless its code already did (a name now someone else's is forgotten).
   */
  const restoreDurableNames = async (vat: string) => {
    for (const { name, key } of store.durableNames.ofVat(vat)) {
      if (names.has(name)) {
        if (names.lookup(name).owner !== vat) store.durableNames.remove(name);
        continue;
      }
      try {
        const ref = await E(supervisor.admin(vat)).revive(key);
        names.publish({ name, ref, owner: vat, home: { vat, key } });
      } catch (err) {
        print(`name ${name} of vat ${vat} was not published again: ${describeError(reviveError(err))}`);
        store.durableNames.remove(name);
      }
    }
  };

  const spawnVat = async (opts: SpawnOptions): Promise<{ name: string; root: any }> => {
    if (typeof opts?.module !== 'string' || opts.module === '') throw new UsageError('spawnVat needs a module path');
    const module = isAbsolute(opts.module) ? opts.module : resolvePath(opts.module);
    const name = assertValidName(opts.name ?? freeName(basename(module).replace(/\.[^.]*$/, '')));
    // A running vat of that name is refused by the supervisor; a published name is refused here.
    if (names.has(name)) {
      const { owner } = names.lookup(name);
      throw new VatExistsError(
        owner === name ? `a vat named "${name}" is already running` : `the name "${name}" is already published by ${owner}`,
      );
    }
    checkLimits(opts.limits);
    const row: VatRow = {
      name,
      module,
      params: parseParams(opts.params),
      durable: opts.durable ?? false,
      grants: checkGrants(opts.grants),
      timeBudgetMs: opts.limits?.timeBudgetMs,
      heapMb: opts.limits?.heapMb,
    };
    const result = await startVat(row, opts.limits?.startTimeoutMs);
    // Recorded only once it runs: a module that fails to load leaves nothing behind.
    store.vats.save(row);
    return result;
  };

  const restartVat = async (name: string): Promise<RestartedVat> => {
    const row = store.vats.get(name);
    if (!row) throw new VatNotFoundError(`no vat named "${name}" (see tribe ps)`);
    const was = supervisor.list().find((v) => v.name === name)?.state;
    if (was !== undefined) await supervisor.stop(name);
    await startVat(row);
    return {
      name,
      was: was ?? 'not started',
      state: supervisor.list().find((v) => v.name === name)?.state ?? 'unknown',
      module: row.module,
      params: row.params,
      durable: row.durable,
      grants: row.grants,
      limits: { ...(row.timeBudgetMs ? { timeBudgetMs: row.timeBudgetMs } : {}), ...(row.heapMb ? { heapMb: row.heapMb } : {}) },
    };
  };

  let upgrades: UpgradeStore | undefined;
  let upgrader: Upgrader | undefined;
  const upgradeVat = async (name: string, module: string, opts?: UpgradeOptions): Promise<UpgradedVat> => {
    if (!upgrader) throw new HostStoppedError('the host is still starting');
    return upgrader.upgradeVat(name, module, opts);
  };

  /** Listens where asked, else where this home listened last (its sturdy refs name that port), else anywhere. */
  const startNetworking = async (): Promise<RemoteHosts> => {
    const asked = options.listen ? parseListenAddress(options.listen) : undefined;
    const last = store.meta.get('listen');
    const start = (listen: { host: string; port: number }) =>
      startRemoteHosts({
        handoffs: handoffs.table,
        identity: { vatId: identity.vatId, key: nodeSigningKey(identity.privateKey) },
        crypto: nodeCrypto,
        listen,
        advertise: options.advertise
          ? parseAdvertise(options.advertise)
          : { host: advertisedHost(listen.host, networkInterfaces(), hostname()) },
        supervisor,
        names,
        refs: store.sturdyRefs,
        print,
        inspector,
        shareMachines: options.shareMachines ?? true,
        watchPeers: vizOn,
        ...(options.pathLimits ? { pathLimits: options.pathLimits } : {}),
        ...(options.sessionGraceMs !== undefined ? { sessionGraceMs: options.sessionGraceMs } : {}),
        ...(options.tripleLimits ? { tripleLimits: options.tripleLimits } : {}),
        ...(options.tripleSessions === false ? { tripleSessions: false } : {}),
        ...(options.tripleMode ? { tripleMode: options.tripleMode } : {}),
        ...(options.bridge ? { bridge: true } : {}),
        ...(options.bridgeFault ? { bridgeFault: options.bridgeFault } : {}),
        ...(options.bridges?.length ? { bridges: options.bridges } : {}),
        sessionLimits: limitsOfSessions,
        traceLimit: options.traceLimit ?? 0,
      });
    let started: RemoteHosts;
    if (asked) {
      try {
        started = await start(asked);
      } catch (err) {
        throw portInUse(err, 'the listen address', formatAddress(asked.host, asked.port), 'give another with --listen or --port');
      }
    } else {
      const previous = last ? parseListenAddress(last) : { host: '127.0.0.1', port: 0 };
      try {
        started = await start(previous);
      } catch (err) {
        if ((err as { code?: string }).code !== 'EADDRINUSE' || previous.port === 0) throw err;
        print(`port ${previous.port} is taken: listening on another; sturdy refs that name ${previous.port} will not reach this host`);
        started = await start({ host: previous.host, port: 0 });
      }
    }
    const { host: h, port } = started.address;
    store.meta.set('listen', formatAddress(h, port));
    return started;
  };

  const systemVats = new Set<string>();
  let tribe: TribeHooks | undefined;
  let replicas: ReplicaHooks | undefined;
  /** Vats of replicated services this host has led (started by the replica host, never by a user). */
  const replicaVats = new Set<string>();
  const needTribe = (what: string): TribeHooks => {
    if (!tribe) throw new UsageError(`${what} needs a tribe host: this host runs alone (--solo)`);
    return tribe;
  };
  const vatStatus = () =>
    supervisor.list().map((v) => {
      const h = handoffs.stats().byRecipient.get(v.name);
      return { ...v, handoffs: h?.direct ?? 0, proxied: h?.proxied ?? 0 };
    });
  const ps = (): HostStatus => {
    const all = vatStatus();
    return {
      id: identity.vatId,
      home,
      pid: process.pid,
      vats: all.filter((v) => !systemVats.has(v.name)),
      ...(systemVats.size > 0 ? { system: all.filter((v) => systemVats.has(v.name)) } : {}),
      ...(tribe ? { tribe: tribe.status() } : {}),
      ...(replicas ? { services: replicas.status() } : {}),
      names: names.list().map((e) => ({ name: e.name, owner: e.owner })),
      ...(remote ? { listen: formatAddress(remote.address.host, remote.address.port) } : {}),
      sessions: remote?.sessions() ?? [],
      ...(remote && options.bridge ? { bridgeRef: remote.bridges().self ?? '' } : {}),
      ...(remote ? { bridges: remote.bridges() } : {}),
      ...(viz ? { viz: viz.url } : {}),
    };
  };

  let control: ControlServer | undefined;
  const stop = async (): Promise<void> => {
    if (stopping) return stopped;
    stopping = true;
    control?.stopAccepting();
    await tribe?.stop().catch((err: unknown) => print(`the tribe's part of this host did not stop cleanly: ${describeError(reviveError(err))}`));
    await viz?.close();
    await remote?.close();
    inspector.close();
    await supervisor.stopAll();
    vatLogs?.close();
    await workers.close();
    upgrades?.close();
    store.close();
    releaseLock();
    // Last: a `tribe stop` waiting on its connection learns the home is free.
    await control?.close();
    settleStopped();
  };

  const refAdmin = makeRefAdmin(store.sturdyRefs);
  const host: Host = {
    id: identity.vatId,
    home,
    spawnVat,
    names: {
      lookup: (name) => names.lookup(name).ref,
      publish: (name, ref) => names.publish({ name, ref, owner: 'host', home: {} }),
      list: () => names.list().map((e) => e.name),
    },
    ps,
    async terminateVat(name) {
      if (systemVats.has(name)) throw new UsageError(`${name} is one of the host's own vats: it ends with the host (tribe stop)`);
      if (replicaVats.has(name)) throw new UsageError(`${name} is a replicated service's vat: it runs on whichever sister leads the service (removing a service is not supported yet)`);
      await supervisor.stop(name);
      store.vats.remove(name);
      store.durableNames.removeVat(name);
      handoffs.forget(name);
    },
    restartVat,
    upgradeVat,
    vatAdmin: async (name) => supervisor.admin(name),
    get address() {
      return remote?.address;
    },
    makeSturdyRef: (name) => needRemote().makeSturdyRef(assertValidName(name)),
    enliven: async (ref) => needRemote().enliven(ref),
    async connect(ref, name) {
      assertValidName(name);
      const live = await needRemote().enliven(ref);
      names.publish({ name, ref: live, owner: 'host', home: { sturdy: ref } });
      return live;
    },
    revokeSturdyRef: (ref) => needRemote().revoke(ref),
    sturdyRefs: () => refAdmin.list(),
    revokeSturdyRefById: (id) => refAdmin.revoke(id),
    get remote() {
      return remote;
    },
    inspector,
    get vizUrl() {
      return viz?.url;
    },
    stop,
    stopped,
    async startSystemVat({ name, module }) {
      systemVats.add(name);
      const row: VatRow = { name, module, params: 'null', durable: false, grants: [], timeBudgetMs: undefined, heapMb: undefined };
      try {
        const { root } = await startVat(row);
        return root;
      } catch (err) {
        systemVats.delete(name);
        throw err;
      }
    },
    attachTribe(t) {
      tribe = t;
    },
    attachReplicas(r) {
      replicas = r;
    },
    async startReplicaVat({ name, module, params, grants }) {
      replicaVats.add(name);
      const row: VatRow = { name, module, params, durable: true, grants: checkGrants(grants), timeBudgetMs: undefined, heapMb: undefined };
      await startVat(row, undefined, true);
      return supervisor.admin(name);
    },
    async stopReplicaVat(name) {
      if (supervisor.list().some((v) => v.name === name)) await supervisor.stop(name);
    },
    async placeVat(opts, on) {
      if (tribe) return tribe.place(opts, on);
      if (opts.replicas !== undefined) throw new UsageError('--replicas runs a service on several sisters: this host runs alone (--solo)');
      if (on !== undefined) throw new UsageError('--on places a vat on a sister: this host runs alone (--solo)');
      const { name } = await spawnVat(opts);
      return { name, on: identity.vatId };
    },
    refElsewhere: async (name) => tribe?.resolveName(name),
    sync: async (req = {}) => needTribe('tribe sync').sync(req),
    syncStatus: () => needTribe('tribe sync --status').syncStatus(),
    space: (name) => needTribe('a keyed space').space(name),
    stopSisters: async () => (tribe ? tribe.stopSisters() : []),
    async resolve(name) {
      try {
        return names.lookup(name).ref;
      } catch (err) {
        if ((err as Error).name !== 'NameNotFoundError' || !tribe) throw err;
        const named = await replicas?.resolve(name);
        if (named !== undefined) return 'front' in named ? named.front : needRemote().enliven(named.sturdy);
        const elsewhere = await tribe.resolveName(name);
        if (elsewhere === undefined) throw err;
        return needRemote().enliven(elsewhere);
      }
    },
  };
  function needRemote(): RemoteHosts {
    if (!remote) throw new SturdyRefError('this host was started without networking (listen: false)');
    return remote;
  }

  try {
    if (vizOn) {
      viz = await serveHostViz({
        inspector,
        dbPath: paths.db,
        historyLimit: options.vizHistoryLimit ?? 50_000,
        port: options.viz === true ? true : Number(options.viz),
        meta: store.meta,
        print,
      });
    }
    if (options.listen !== false) remote = await startNetworking();
    // Session health for this host's page and for peers that watch it (polled only while someone does).
    inspector.setHealthSource(() => sessionHealth(remote));

    // Upgrades a dead host left half done are rolled back before any vat starts on their rows.
    upgrades = openUpgradeStore(paths.db);
    upgrader = makeUpgrader({
      upgrades,
      supervisor,
      vatRow: (name) => store.vats.get(name),
      startVat: (row, startTimeoutMs) => startVat(row, startTimeoutMs),
      workerGone: async (name) => workerExits.get(name),
      paramsText: parseParams,
      print,
    });
    upgrader.rollBackUnfinished();
    if (options.restore ?? true) {
      for (const row of store.vats.list()) {
        try {
          await startVat(row);
          print(`restored vat ${row.name}`);
        } catch (err) {
          print(`vat ${row.name} did not restart: ${describeError(reviveError(err))}`);
        }
      }
    }
    if (options.control ?? true) control = await serveControl(paths.socket, makeControlFacet(host));
  } catch (err) {
    await stop();
    throw err;
  }
  return host;
};

/** Calls `method` on the actor published as `name` (or reached by a sturdy ref), the way `tribe call` does. */
export const callByName = async (host: Host, name: string, method: string, args: readonly unknown[]) =>
  (E(isSturdyRefText(name) ? await host.enliven(name) : await host.resolve(name)) as any)[method](...args);

const parseAdvertise = (text: string): { host: string; port?: number } => {
  if (/^[A-Za-z0-9.-]+$/.test(text)) return { host: text };
  return parseListenAddress(text);
};
