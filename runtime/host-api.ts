/**
 * The host's API as a program sees it: `startHost`'s options and the `Host` it
 * resolves to, with the records its methods return. The implementation is
 * host.ts.
 */
import type { InspectionEvent } from 'xstate';
import type { HandoffLimits } from '../capabilities/handoff.js';
import type { PathLimits } from '../protocols/session/path.js';
import type { SessionLimits } from '../protocols/session/session-limits.js';
import type { TripleLimits } from '../protocols/triple/limits.js';
import type { TripleMode } from '../protocols/triple/triple-session.js';
import type { BridgesStatus } from './sessions/bridges.js';
import type { RelayFault } from '../protocols/bridge/bridge-service.js';
import type { Grant } from '../vats/link.js';
import type { VatLimits, VatStatus } from '../vats/supervisor.js';
import type { SagaRecord } from '../protocols/saga/spaces.js';
import type { VatId } from './identity.js';
import type { SessionStatus, RemoteHosts } from './sessions/remote-hosts.js';
import type { StoredSturdyRef } from './store.js';
import type { UpgradedVat, UpgradeOptions } from './upgrade.js';
import type { Inspector } from './viz/inspector.js';
import type { TribeStatus } from './tribe/tribe-status.js';

export interface HostOptions {
  /** Home directory; default $TRIBE_HOME or ~/.tribe. */
  readonly home?: string;
  /** Default budgets for vats spawned without their own. */
  readonly limits?: Partial<VatLimits>;
  /** Keep this many CapTP messages per connection for `host.trace()`; 0 = off (default). */
  readonly traceLimit?: number;
  /** Serve the control socket for the CLI (default true). */
  readonly control?: boolean;
  /** Respawn the vats this home had when it last stopped (default true). */
  readonly restore?: boolean;
  /**
   * Vat workers kept started and locked down ahead of time (default 1): a spawn
   * with the default heap limit then skips most of its start-up. 0 turns it off.
   */
  readonly spareWorkers?: number;
  /** Give vats a working VatAdmin.collectGarbage() (tests and diagnostics). */
  readonly exposeGc?: boolean;
  /** Progress and warnings; default: stderr. */
  readonly print?: (line: string) => void;
  /** Every XState inspection event of every machine in this host. */
  readonly inspect?: (event: InspectionEvent) => void;
  /**
   * Where to listen for other hosts: 'ADDR:PORT', or false for no networking.
   * Default: loopback, on the port this home used last (so its sturdy refs keep
   * working), else a free port.
   */
  readonly listen?: string | false;
  /** 'HOST[:PORT]' written into sturdy refs, when peers must dial another address than the bound one. */
  readonly advertise?: string;
  /** Each path's bounds to other hosts (frame size, handshake and keepalive timeouts, rekey, unsent bytes), mainly for tests. */
  readonly pathLimits?: Partial<PathLimits>;
  /**
   * How long a session with another host whose connections all dropped keeps
   * its references and calls in flight while it reconnects (ms, default 30 000;
   * `tribe host --session-grace MS`). 0: a session ends with its connection.
   */
  readonly sessionGraceMs?: number;
  /**
   * This host relays paths between other hosts (`tribe host --bridge`): peers
   * that know its ref (`HostStatus.bridgeRef`) run paths of their sessions through it.
   */
  readonly bridge?: boolean;
  /** Bridges for this host's sessions, `tribe://<VatId>@<host>:<port>` each (`--bridges REF,…`); more are learned from peers. */
  readonly bridges?: readonly string[];
  /** Test only: this host, as a bridge, drops, replays or alters the bytes it relays (the ends must detect it). */
  readonly bridgeFault?: RelayFault;
  /**
   * 'standby' (the default: every frame on the best path, the others carrying
   * heartbeats; a path a frame timed out on is passed over at once) or 'all'
   * (every frame on every live path: no timeout ever, a seal per path per frame).
   */
  readonly tripleMode?: TripleMode;
  /** Triple sessions' mode and bounds (heartbeat, path death, …), mainly for tests. */
  readonly tripleLimits?: Partial<Omit<TripleLimits, 'graceMs'>>;
  /** false: sessions without triple sessions (one connection each, nothing resumes), as a host before them; for benches. */
  readonly tripleSessions?: boolean;
  /**
   * The sessions' bounds: what peer hosts may make this host hold (tickets,
   * channels, the cookie threshold) and how long a crossed dial waits, mainly
   * for tests. (`remoteLimits` before; the path's timeouts were `sessionLimits`.)
   */
  readonly sessionLimits?: Partial<SessionLimits>;
  /**
   * Bounds of the gift tables of three-party handoff, the host's and each vat's
   * (gifts per donor, claims per recipient, how long each waits), mainly for tests.
   */
  readonly handoffLimits?: Partial<HandoffLimits>;
  /**
   * Serve the visualizer on 127.0.0.1: true = on the port this home used last
   * (else a free one), a number = that port (0 = a free one), false = off
   * (default for the API; `tribe host` turns it on).
   */
  readonly viz?: boolean | number;
  /** Steps of machine history kept in the store for the visualizer's scrubber (default 50,000). */
  readonly vizHistoryLimit?: number;
  /**
   * Vats trace their E() calls for the visualizer while a page or a peer watches
   * (default true); false never turns tracing on (benchmarks compare the two).
   */
  readonly vizCalls?: boolean;
  /** Peers with a session may watch this host's machines in their visualizer (default true). */
  readonly shareMachines?: boolean;
}

export interface SpawnOptions {
  /** Path of the actor module (.ts or .js); relative paths resolve against the cwd. */
  readonly module: string;
  /** Vat name, also the name its root is published under. Default: module basename + a number. */
  readonly name?: string;
  /** Passed to `make(powers, params)`; must be JSON data. */
  readonly params?: unknown;
  /** Gives the vat `powers.store`, kept in SQLite across restarts. */
  readonly durable?: boolean;
  /** Extra authority for the compartment: 'clock', 'random'. */
  readonly grants?: readonly Grant[];
  /** Budgets for this vat; `startTimeoutMs` applies to this start only and is not recorded. */
  readonly limits?: Partial<VatLimits>;
  /**
   * A replicated service (a tribe only): the vat runs on this many sisters
   * (3: a triple service), its state replicated by a Raft log; callers reach it
   * through a front that follows the leader, and each call is applied once. Durable.
   */
  readonly replicas?: number;
}

/** What `restartVat` did: the vat's state before and after, and the spawn record it started from. */
export interface RestartedVat {
  readonly name: string;
  /** Its state before; 'not started' for a recorded vat that was not running (its restore failed). */
  readonly was: string;
  readonly state: string;
  readonly module: string;
  /** The params as recorded (JSON text). */
  readonly params: string;
  readonly durable: boolean;
  readonly grants: readonly Grant[];
  /** Its own budgets; those not given are the host's defaults. */
  readonly limits: { readonly timeBudgetMs?: number; readonly heapMb?: number };
}

export interface HostStatus {
  readonly id: VatId;
  readonly home: string;
  readonly pid: number;
  /** Where the host listens for other hosts ('ADDR:PORT'), if it does. */
  readonly listen?: string;
  readonly sessions: readonly SessionStatus[];
  /** This host's ref as a bridge (`tribe://<VatId>@<host>:<port>`), when it is one. */
  readonly bridgeRef?: string;
  /** Bridges: known ones, and what this host relayed when it is one. */
  readonly bridges?: BridgesStatus;
  /** The visualizer's address, when it is served. */
  readonly viz?: string;
  readonly vats: readonly HostVatStatus[];
  readonly names: readonly { name: string; owner: string }[];
  /** The host's own vats (its Sister), which `tribe kill` cannot end and the store does not keep. */
  readonly system?: readonly HostVatStatus[];
  /** The tribe this host is a sister of, when it runs as one (`tribe host`). */
  readonly tribe?: TribeStatus;
  /** The replicated services this host is a replica of (a sister only). */
  readonly services?: readonly ServiceStatus[];
}

/** A vat as `ps` shows it: its supervisor status, and how the references handed to it by third parties ended. */
/** What a sister's tribe adds to its host (runtime/tribe/sister-host.ts). */
/** `tribe sync`: sync with every connected sister, or one (`with`: a slot of this machine or a VatId prefix). */
export interface SyncRequest {
  /** One space (default: the system spaces, names and registry). */
  readonly space?: string;
  readonly with?: string;
}

export interface SyncResult {
  readonly peer: string;
  readonly slot: number;
  readonly space: string;
  /** push: this host's entries to the sister; pull: the sister's to this host. */
  readonly direction: 'push' | 'pull';
  readonly state: 'synced' | 'committed' | 'failed';
  readonly entries: number;
  readonly applied: number;
  /** The receiving side's root after the saga. */
  readonly root?: string;
  readonly ms: number;
  readonly error?: string;
}

export interface SyncReport {
  readonly results: readonly SyncResult[];
  /** This host's root of each space synced, after the sync. */
  readonly roots: Readonly<Record<string, string>>;
}

/** A saga in flight or ended, as `tribe sync --status` shows it: its record, and in flight its machine's state and the most it may send. */
export type SyncSagaView = Omit<SagaRecord, 'state' | 'applied'> & {
  readonly state: string;
  readonly applied?: number;
  /** In flight: entries the initiator may send at most. */
  readonly total?: number;
};

export interface SyncStatus {
  readonly inFlight: readonly SyncSagaView[];
  /** The last saga with each sister in each space (either role). */
  readonly last: readonly SyncSagaView[];
  readonly spaces: readonly { readonly space: string; readonly count: number; readonly root: string }[];
  /** Sagas found open when the store was opened (their process died), cleaned then. */
  readonly recovered: number;
}

/** A keyed space of this host (`host.space(name)`): synced with the tribe by `tribe sync --space NAME`. */
export interface KeyedSpace {
  put(key: string, value: string): void;
  /** Writes many entries in one transaction. */
  putMany(entries: readonly { key: string; value: string }[]): void;
  get(key: string): string | undefined;
  remove(key: string): void;
  /** Live entries whose key starts with `prefix`. */
  entries(prefix?: string): { key: string; value: string }[];
  /** Entries held, deletions (tombstones) included. */
  count(): number;
  /** The root of its summary tree: two hosts with the same root hold the same entries. */
  root(): string;
}

export interface TribeHooks {
  status(): TribeStatus;
  sync(req: SyncRequest): Promise<SyncReport>;
  syncStatus(): SyncStatus;
  space(name: string): KeyedSpace;
  /** Begins the host's stop: the tribe's parts of it first. */
  stop(): Promise<void>;
  /** A sturdy ref, on the sister that publishes it, for a name not published here; undefined when no sister does. */
  resolveName(name: string): Promise<string | undefined>;
  /** Stops every sister of the tribe but this host (which its caller stops); answers their VatIds. */
  stopSisters(): Promise<string[]>;
  /** Spawns a vat on the least loaded sister, or on `on` (a slot of this machine or a VatId prefix). */
  place(opts: SpawnOptions, on?: string): Promise<{ name: string; on: string }>;
}

/** A replicated service as one of its replicas sees it (`tribe ps`, `ps --json` `services`). */
export interface ServiceStatus {
  readonly name: string;
  readonly module: string;
  /** The replicas' VatIds, this host's among them. */
  readonly replicas: readonly string[];
  readonly role: 'follower' | 'precandidate' | 'candidate' | 'leader';
  readonly term: number;
  readonly leader: string | undefined;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  /** On the leader: how many entries each other replica lacks (its lag). */
  readonly lag?: Readonly<Record<string, number>>;
  /** Whether this host runs the service's vat (it is the leader and has applied its term's first entry). */
  readonly serving: boolean;
}

/** What the replicated services of a tribe need of the host (runtime/replica/replica-host.ts provides them). */
export interface ReplicaHooks {
  /** A replicated vat's turn: commit its write-set through its service's log; settles once applied here. */
  replicate(vat: string, writeSet: unknown): Promise<void>;
  status(): ServiceStatus[];
  /**
   * A name no vat of this host publishes, from the tribe's naming service: a sturdy ref to
   * it, or a front of a replicated service; undefined when it does not know it (or does not
   * answer in time).
   */
  resolve(name: string): Promise<{ readonly sturdy: string } | { readonly front: unknown } | undefined>;
}

export interface HostVatStatus extends VatStatus {
  /** References handed on to this vat that it claimed directly from their owner. */
  readonly handoffs: number;
  /** References handed on to this vat that stayed proxies through the party that handed them on. */
  readonly proxied: number;
}

export interface Host {
  readonly id: VatId;
  readonly home: string;
  spawnVat(opts: SpawnOptions): Promise<{ name: string; root: any }>;
  readonly names: {
    lookup(name: string): any;
    publish(name: string, ref: unknown): void;
    list(): string[];
  };
  ps(): HostStatus;
  /** Stops a vat and forgets it (it will not come back on restart). Its durable store is kept. */
  terminateVat(name: string): Promise<void>;
  /**
   * Stops the vat `name`, whatever its state, and starts it again from its spawn
   * record: the same module, params, grants, limits and durable store.
   * VatNotFoundError when no vat of that name was spawned. If the new start
   * fails, the vat stays stopped and its record stays (the next host start retries).
   */
  restartVat(name: string): Promise<RestartedVat>;
  /**
   * Replaces the code of the vat `name` with `module` (and, if given, its params),
   * keeping its durable store. Calls in flight into the old code reject with
   * VatUpgradedError. If the new code fails to start, the store is put back as it
   * was, the old code runs again, and this rejects with UpgradeFailedError.
   * VatNotFoundError for an unknown vat; ModuleNotFoundError (nothing stopped) for a missing file.
   */
  upgradeVat(name: string, module: string, opts?: UpgradeOptions): Promise<UpgradedVat>;
  /** The host's admin facet of a vat: stats(), trace(peer), collectGarbage(). */
  vatAdmin(name: string): Promise<any>;
  /** Where other hosts reach this one, or undefined without networking. */
  readonly address: { readonly host: string; readonly port: number } | undefined;
  /** A new sturdy ref `tribe://<VatId>@<host>:<port>/<swiss>` to the actor published as `name`. */
  makeSturdyRef(name: string): string;
  /** A live reference from a sturdy ref (this host's or another's). */
  enliven(ref: string): Promise<any>;
  /** Enlivens `ref` and publishes it as `name`; vats that look it up reach the remote actor directly. */
  connect(ref: string, name: string): Promise<any>;
  /** Later enlivens of `ref` fail with SturdyRefError; live references already given out stay. */
  revokeSturdyRef(ref: string): void;
  /** The sturdy refs this host minted, oldest first, revoked ones included: ids, never swiss numbers. */
  sturdyRefs(): StoredSturdyRef[];
  /** `revokeSturdyRef` by the id `sturdyRefs()` lists (or a longer prefix of the hash); no networking needed. */
  revokeSturdyRefById(id: string): StoredSturdyRef;
  /** The remote side of the networking, for diagnostics and tests. */
  readonly remote: RemoteHosts | undefined;
  /**
   * The host's inspector. Registering a machine is all the visualizer needs:
   * `createActor(machine, { inspect: host.inspector.tap({ group, name }).inspect })`.
   */
  readonly inspector: Inspector;
  /** The visualizer's URL, when it is served. */
  readonly vizUrl: string | undefined;
  stop(): Promise<void>;
  /** Resolves once the host has stopped, however that was asked for. */
  readonly stopped: Promise<void>;
  /**
   * Starts one of the host's own vats (the Sister): not kept in the store (the
   * host starts it each time), not listed with the vats `ps` shows, and not
   * ended by `terminateVat`. It publishes `name` for its root.
   */
  startSystemVat(opts: { readonly name: string; readonly module: string }): Promise<any>;
  /** What `ps().tribe` shows, from now on; and how `stop()` begins (stopping the tribe's parts of this host first). */
  attachTribe(tribe: TribeHooks): void;
  /** The replicated services of this host's tribe (runtime/replica/): turns of replicated vats commit through them; `ps().services`. */
  attachReplicas(replicas: ReplicaHooks): void;
  /** Starts a replica vat of a replicated service on its rows (this host leads the service): not recorded, not published. Answers its admin facet (`invoke`). */
  startReplicaVat(opts: { readonly name: string; readonly module: string; readonly params: string; readonly grants: readonly string[] }): Promise<any>;
  /** Stops a replica vat (this host no longer leads): its turn in flight fails, its callers retry at the next leader. */
  stopReplicaVat(name: string): Promise<void>;
  /**
   * The reference published as `name` here, else (on a sister) on another sister
   * of the tribe, reached directly; NameNotFoundError when none has it.
   */
  resolve(name: string): Promise<any>;
  /**
   * `tribe spawn`: on a sister, the vat goes to the sister of this machine with
   * the fewest vats, or to `on` (a slot or a VatId prefix); on a solo host, here.
   * Answers the vat's name and the VatId of the host it runs on.
   */
  placeVat(opts: SpawnOptions, on?: string): Promise<{ name: string; on: string }>;
  /** On a sister: stops every other sister of the tribe (`tribe stop`, Ctrl-C), answering their VatIds; [] on a solo host. */
  stopSisters(): Promise<string[]>;
  /** A sturdy ref to `name` made by the sister that publishes it (on a sister), else undefined. */
  refElsewhere(name: string): Promise<string | undefined>;
  /** `tribe sync`: sagas both ways with every connected sister (or `with`). UsageError on a solo host. */
  sync(req?: SyncRequest): Promise<SyncReport>;
  /** `tribe sync --status`: sagas in flight, the last outcome per sister and space, the spaces here. UsageError on a solo host. */
  syncStatus(): SyncStatus;
  /** A keyed space of this sister; `names` and `registry` are the tribe's (read-only here). UsageError on a solo host. */
  space(name: string): KeyedSpace;
}
