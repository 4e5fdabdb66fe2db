/**
 * Host side of vats: starts workers, runs each vat's lifecycle machine, routes
 * CapTP between the host and each vat, and hands pairs of vats direct channels.
 *
 * Failure semantics: when a vat ends for any reason, (1) the host's connection
 * to it aborts with a VatTerminatedError subclass naming the cause, so every
 * host-side call into it rejects with that error; (2) every vat that had a
 * channel to it is told `peer-gone` and aborts that channel with the same error;
 * (3) its names are withdrawn. Other vats and the host keep running.
 */
import { E, Far } from '@endo/far';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { makeConnection, type Connection } from '../capabilities/connection.js';
import type { Handoffs, Link } from '../capabilities/handoff.js';
import { describeError, passableError, reviveError, SturdyRefError } from '../capabilities/errors.js';
import type { NameRegistry } from '../capabilities/names.js';
import {
  VatCrashedError,
  VatExistsError,
  VatLoadError,
  VatMemoryBudgetError,
  VatNotFoundError,
  VatTerminatedError,
  VatTimeBudgetError,
} from './errors.js';
import type { HostToVat, PortLike, VatSpec } from './link.js';
import type { CompiledModule } from './module-compiler.js';
import { ModuleNotAllowedError } from './errors.js';
import { vatLifecycleMachine, type TerminationCause, type VatLifecycleContext } from './vat-lifecycle.machine.js';

export interface VatLimits {
  /** Longest a vat's event loop may stay busy (one turn, or `make()`), in ms. */
  readonly timeBudgetMs: number;
  /** Old-generation heap ceiling of the vat's worker, in MiB. */
  readonly heapMb: number;
  readonly startTimeoutMs: number;
  /** How long a vat asked to stop may take to exit before its worker is terminated, in ms. */
  readonly stopTimeoutMs: number;
}

export const DEFAULT_LIMITS: VatLimits = Object.freeze({
  // Long enough for honest heavy turns, short enough that a stuck vat is noticed quickly.
  timeBudgetMs: 5000,
  // Ample for actors; well below the host's memory so a runaway vat cannot starve it.
  heapMb: 256,
  // A cold worker (SES lockdown + esbuild + module load) takes well under a second here.
  startTimeoutMs: 30_000,
  // A vat's own stop (close its connections, exit) takes milliseconds; a stuck one is cut off soon.
  stopTimeoutMs: 2000,
});

export interface WorkerHandle extends PortLike {
  onError(handler: (err: { code?: string; message: string }) => void): void;
  onExit(handler: (code: number) => void): void;
  terminate(): void;
}

export interface SupervisorPowers {
  startWorker(spec: VatSpec, limits: VatLimits): WorkerHandle;
  /** A fresh pair of connected, transferable ports. */
  makePortPair(): [unknown, unknown];
  readonly names: NameRegistry;
  /** Compiles a module file for a vat's loader (see module-compiler.ts). */
  readonly compileModule: (url: string, within: string) => Promise<CompiledModule>;
  /** The `inspect` function for the lifecycle machine of the vat `name` (XState's inspection stream). */
  readonly inspectVat?: (name: string) => ((event: InspectionEvent) => void) | undefined;
  /** Lines from vats' `log` power, sanitized (`[vat] text`), with the name of the vat that sent each. */
  readonly print: (line: string, vat: string) => void;
  /** Called when a vat reaches running or ends; the host persists and reports. */
  readonly onVatEvent?: (name: string, event: 'running' | 'ended', detail?: string) => void;
  /**
   * Reaches a sturdy ref for vat `from` (runtime/sessions/sturdy-refs.ts): wires a channel
   * to the remote endpoint and returns where to redeem it. Absent: no networking.
   */
  readonly enlivenFor?: (from: string, refText: string) => Promise<unknown>;
  /**
   * A name published elsewhere (another sister of the host's tribe): a sturdy ref the vat
   * reaches directly, or `{ ref }`, an object of the host's the vat reaches through it (a
   * replicated service's front); undefined when no sister publishes it.
   */
  readonly resolveElsewhere?: (name: string) => Promise<string | { readonly ref: unknown } | undefined>;
  /** A vat saw malformed CapTP from a remote peer (`<VatId>/<endpoint>`). */
  readonly onPeerFault?: (vat: string, peer: string, reason: string) => void;
  /** The host's part in handoff (runtime/handoffs.ts); absent: references through the host stay proxies. */
  readonly handoffs?: SupervisorHandoffs;
  /** A vat's call-tracing report (vats/call-trace.ts), unchecked: the visualizer checks it. */
  readonly onCalls?: (vat: string, report: unknown) => void;
  /**
   * A replicated vat's turn (VatSpec.replicated): its write-set, unchecked, to
   * commit through its service's log. Settles once committed and applied here;
   * rejects when it cannot be (this host is no longer the leader): the vat then
   * dies without sending what the turn produced. Absent: such turns fail.
   */
  readonly replicate?: (vat: string, writeSet: unknown) => Promise<void>;
}

/** How a blocked replicated turn learns its outcome: the word at index 0 of its shared buffer. */
export const REPLICATE_PENDING = 0;
export const REPLICATE_COMMITTED = 1;
export const REPLICATE_FAILED = 2;

/** What the supervisor needs of the host's handoff: its gift table, and the rendezvous for vats that claim. */
export interface SupervisorHandoffs {
  readonly table: Handoffs;
  /** Vat `recipient` claims a gift `owner` holds from `donor`: resolves with an id once it has a link to the owner. */
  introduce(recipient: string, owner: string, hints: readonly string[], donor: string): Promise<number>;
  settled(recipient: string, id: number, outcome: 'direct' | 'proxied', why?: string): void;
}

export interface VatStatus {
  readonly name: string;
  readonly module: string;
  readonly state: string;
  readonly durable: boolean;
  readonly cause?: TerminationCause | undefined;
  readonly detail?: string | undefined;
  readonly peers: readonly string[];
}

/**
 * The host's side of its vats. A vat that ends, for any reason, ends as the
 * file comment says: host calls into it reject with its VatTerminatedError
 * subclass, its peers are told, its names are withdrawn.
 */
export interface Supervisor {
  /** Starts a vat; resolves with its root once it runs. VatExistsError for a running name; the load error if it fails to start. */
  spawn(spec: VatSpec, limits: VatLimits): Promise<{ root: unknown }>;
  /** Every vat this supervisor knows, running or ended (with its cause), by name. */
  list(): VatStatus[];
  /** The vat's VatAdmin facet (stats, trace, collectGarbage); VatNotFoundError for an unknown name. */
  admin(name: string): Promise<any>;
  /** Why the vat or remote endpoint `name` ended ("Name: message"), as its peers are told; the newest MAX_END_REASONS are kept. */
  whyEnded(name: string): string;
  /**
   * Asks a vat to stop; resolves when its worker is gone, and forgets it. VatNotFoundError for an unknown name.
   * `reason` (default a VatTerminatedError "was stopped") is what its callers and peers are told.
   */
  stop(name: string, reason?: VatTerminatedError): Promise<void>;
  stopAll(): Promise<void>;
  /** Hands vat `vat` a channel to a remote endpoint `peer` (`<VatId>/<endpoint>`) over `port`. */
  attachRemotePeer(vat: string, peer: string, port: unknown): void;
  /** The remote endpoint went away (or its session did): the vat aborts that channel with `reason`. */
  remotePeerGone(vat: string, peer: string, reason: string): void;
  /** Lets a remote host's endpoint redeem `ticket` once for vat `vat`'s export `key`. */
  admit(vat: string, ticket: string, key: string): Promise<void>;
  /** The vat has loaded and not ended. */
  isRunning(vat: string): boolean;
  /** Hands vats `a` and `b` a channel of their own if they have none (VatTerminatedError when `b` is not running). */
  connect(a: string, b: string): void;
  /** The host's link to vat `vat` (its CapTP connection and bootstrap), while it runs. */
  link(vat: string): Link | undefined;
  /** Tells every vat, and each that starts later, to trace its calls for the visualizer (or to stop). */
  traceCalls(on: boolean): void;
}

interface VatRecord {
  readonly spec: VatSpec;
  readonly worker: WorkerHandle;
  readonly conn: Connection;
  readonly link: Link;
  readonly actor: Actor<typeof vatLifecycleMachine>;
  readonly peers: Set<string>;
  /** The vat's claims in progress: its introduction number → the host's rendezvous machine (undefined if it failed). */
  readonly introductions: Map<number, Promise<number | undefined>>;
  readonly ended: Promise<Error>;
  root: unknown;
  /** Why it was asked to stop, if not just stopped (an upgrade). */
  stopReason?: VatTerminatedError;
}

const PING_INTERVAL_CEILING_MS = 250;
/** A vat cannot flood the host's output with one enormous line. */
const MAX_LOG_LINE = 4096;
/**
 * Why-ended reasons remembered, for vats and remote endpoints that are gone.
 * A vat asks within moments of a channel closing; the oldest go first, so a
 * host whose peers come and go for months holds at most this many.
 */
export const MAX_END_REASONS = 1024;

/** One line, no control characters: a vat cannot forge host output such as `ready pid=`. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f\u2028\u2029]/g;

export const sanitizeLogLine = (line: string): string =>
  line
    .slice(0, MAX_LOG_LINE)
    .replace(CONTROL_CHARS, (c) => (c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

/** The state a person would name: running, loading, crashed… from the machine's nested value. */
export const phaseOf = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const v = value as { alive?: { phase?: string } };
  return v.alive?.phase ?? JSON.stringify(value);
};

/**
 * Runs a HostForVat method so that its failure crosses CapTP as "Name: message"
 * (CapTP keeps messages, not classes); async results are handled the same way.
 */
const flattenErrors = <T>(fn: () => T): T => {
  const flatten = (err: unknown): never => {
    throw passableError(err);
  };
  try {
    const result = fn();
    return (result instanceof Promise ? result.catch(flatten) : result) as T;
  } catch (err) {
    return flatten(err);
  }
};

const endError = (ctx: VatLifecycleContext, finalState: string): Error => {
  const detail = ctx.detail ?? `vat "${ctx.name}" ended`;
  if (finalState === 'failed') {
    // The detail names the load error ("ModuleSyntaxError: …") when there is one.
    const named = reviveError(new Error(detail));
    return named.name === 'Error' ? new VatLoadError(detail) : named;
  }
  switch (ctx.cause) {
    case 'time-budget':
      return new VatTimeBudgetError(detail);
    case 'memory-budget':
      return new VatMemoryBudgetError(detail);
    case 'stopped':
      return new VatTerminatedError(`vat "${ctx.name}" was stopped`);
    default:
      return new VatCrashedError(detail);
  }
};

export const makeSupervisor = (powers: SupervisorPowers): Supervisor => {
  const vats = new Map<string, VatRecord>();
  /** Vats trace their calls (someone watches the visualizer). */
  let tracingCalls = false;
  /** The flattened error each vat name (or remote endpoint) last ended with; the newest MAX_END_REASONS. */
  const endReasons = new Map<string, string>();
  const rememberEnd = (name: string, reason: string) => {
    endReasons.delete(name);
    endReasons.set(name, reason);
    if (endReasons.size > MAX_END_REASONS) endReasons.delete(endReasons.keys().next().value!);
  };
  const whyEnded = (name: string) => endReasons.get(name) ?? `VatTerminatedError: vat "${name}" is gone`;

  const hostFacetFor = (from: string, hostId: string, moduleRoot: string) => {
    const gate = powers.handoffs?.table.gate(`${hostId}/${from}`);
    return Far('HostForVat', {
      /** Gifts this vat deposits with the host, or claims from it (capabilities/handoff.ts). */
      provideFor: (recipient: unknown, nonce: unknown, obj: unknown) => {
        if (!gate) throw passableError(new SturdyRefError('this host does not take part in handoff'));
        return gate.provideFor(recipient, nonce, obj);
      },
      acceptFrom: (donor: unknown, nonce: unknown) => {
        if (!gate) throw passableError(new SturdyRefError('this host does not take part in handoff'));
        return gate.acceptFrom(donor, nonce);
      },
      /** Only files under the vat's module directory: the host checks too, not just the loader. */
      compileModule: (url: string) =>
        flattenErrors(() => {
          if (typeof url !== 'string' || !url.startsWith(moduleRoot)) {
            throw new ModuleNotAllowedError(`vat "${from}" may load modules only under ${new URL(moduleRoot).pathname}`);
          }
          return powers.compileModule(url, moduleRoot);
        }),
      resolveName: (name: string) =>
        flattenErrors(async () => {
          let entry: ReturnType<typeof powers.names.lookup>;
          try {
            entry = powers.names.lookup(name);
          } catch (err) {
            // Not published here: perhaps on a sister of this host's tribe, reached directly.
            const elsewhere = (err as Error).name === 'NameNotFoundError' ? await powers.resolveElsewhere?.(name) : undefined;
            if (elsewhere === undefined) throw err;
            if (typeof elsewhere !== 'string') return harden({ ref: elsewhere.ref });
            return enlivenFor(from, elsewhere);
          }
          const { home, ref } = entry;
          if (home.sturdy !== undefined) return enlivenFor(from, home.sturdy);
          return home.vat !== undefined ? harden({ vat: home.vat, key: home.key }) : harden({ ref });
        }),
      enliven: (refText: string) => flattenErrors(() => enlivenFor(from, refText)),
      publish: (name: string, ref: unknown, vat: string | null, key: string | null) =>
        flattenErrors(() => powers.names.publish({ name, ref, owner: from, home: vat && key ? { vat, key } : {} })),
      listNames: () => harden(powers.names.list().map((e) => e.name)),
      /**
       * Why a vat ended. A vat whose channel to a peer closes asks this: the close
       * can overtake the host's `peer-gone` notice, which carries the cause.
       */
      whyEnded: (name: string) => whyEnded(String(name)),
      connectPeer(to: string) {
        connectPeers(from, to);
      },
    });
  };

  /**
   * A vat claims a gift: the host introduces it to the owner (a channel, posted
   * before the answer) and answers on the vat's port, outside CapTP, so that a
   * vat whose host connection waits for a gift is never stuck behind it.
   */
  /** A replicated vat's turn waits (Atomics.wait on `flag`) until its write-set is committed through the log, or failed. */
  const replicateFor = (spec: VatSpec, msg: { ws?: unknown; flag?: unknown }) => {
    if (!(msg.flag instanceof SharedArrayBuffer) || msg.flag.byteLength < 4) return;
    const word = new Int32Array(msg.flag, 0, 1);
    const settle = (outcome: number) => {
      Atomics.store(word, 0, outcome);
      Atomics.notify(word, 0);
    };
    if (!spec.replicated || !powers.replicate) return settle(REPLICATE_FAILED);
    powers.replicate(spec.name, msg.ws).then(
      () => settle(REPLICATE_COMMITTED),
      () => settle(REPLICATE_FAILED),
    );
  };
  const introduceFor = (record: VatRecord, req: IntroduceRequest) => {
    const answer = (reply: Omit<Extract<HostToVat, { k: 'introduced' }>, 'k' | 'req'>) => {
      if (!req.linked) record.worker.postMessage({ k: 'introduced', req: req.req, ...reply } satisfies HostToVat);
    };
    if (!powers.handoffs) return answer({ error: 'HandoffUnreachableError: this host does not take part in handoff' });
    const { owner, hints, donor } = req;
    if (typeof owner !== 'string' || typeof donor !== 'string' || !Array.isArray(hints) || !hints.every((h) => typeof h === 'string')) {
      return answer({ error: 'HandoffUnreachableError: malformed introduce request' });
    }
    const machine = powers.handoffs.introduce(record.spec.name, owner, hints, donor);
    record.introductions.set(Number(req.req), machine.catch(() => undefined));
    machine.then(
      () => answer({ ok: true }),
      (err) => answer({ error: describeError(err) }),
    );
  };

  /** The vat's claim of introduction `req` ended: its machine finishes once it is claiming. */
  const claimSettled = (record: VatRecord, msg: { req?: unknown; outcome?: unknown; why?: unknown }) => {
    const { outcome, why } = msg;
    const machine = record.introductions.get(Number(msg.req));
    record.introductions.delete(Number(msg.req));
    if (!machine || (outcome !== 'direct' && outcome !== 'proxied')) return;
    void machine.then((id) => {
      if (id !== undefined) powers.handoffs?.settled(record.spec.name, id, outcome, typeof why === 'string' ? why.slice(0, 500) : undefined);
    });
  };

  const enlivenFor = (from: string, refText: string) => {
    if (!powers.enlivenFor) throw passableError(new SturdyRefError('this host does not reach other hosts'));
    return powers.enlivenFor(from, refText);
  };

  const connectPeers = (a: string, b: string) => {
    const ra = vats.get(a);
    const rb = vats.get(b);
    if (rb?.actor.getSnapshot().status !== 'active') {
      throw passableError(new VatTerminatedError(`vat "${b}" is not running`));
    }
    if (!ra || a === b || ra.peers.has(b)) return;
    const [pa, pb] = powers.makePortPair();
    ra.peers.add(b);
    rb.peers.add(a);
    ra.worker.postMessage({ k: 'peer', vat: b, port: pa } satisfies HostToVat, [pa]);
    rb.worker.postMessage({ k: 'peer', vat: a, port: pb } satisfies HostToVat, [pb]);
  };

  const spawn = (spec: VatSpec, limits: VatLimits): Promise<{ root: unknown }> => {
    const prior = vats.get(spec.name);
    if (prior && prior.actor.getSnapshot().status === 'active') {
      return Promise.reject(new VatExistsError(`a vat named "${spec.name}" is already running`));
    }
    const worker = powers.startWorker(spec, limits);
    const table = powers.handoffs?.table;
    let boot: Promise<unknown> | undefined;
    const link: Link = {
      id: `${spec.hostId}/${spec.name}`,
      get conn() {
        return conn;
      },
      boot: () => (boot ??= conn.getBootstrap()),
    };
    const conn: Connection = makeConnection({
      name: `host->${spec.name}`,
      send: (m) => worker.postMessage({ k: 'c', m } satisfies HostToVat),
      bootstrap: hostFacetFor(spec.name, spec.hostId, new URL('./', spec.moduleUrl).href),
      traceLimit: spec.traceLimit,
      ...(table ? { onImport: (val: unknown) => table.imported(val, link), handoff: table.port(() => link) } : {}),
    });
    const pingIntervalMs = Math.min(PING_INTERVAL_CEILING_MS, Math.max(10, Math.floor(limits.timeBudgetMs / 4)));
    let pingSeq = 0;
    let settleEnded!: (e: Error) => void;
    const ended = new Promise<Error>((r) => (settleEnded = r));
    let settleStart!: { resolve: (v: { root: unknown }) => void; reject: (e: Error) => void };
    const started = new Promise<{ root: unknown }>((resolve, reject) => (settleStart = { resolve, reject }));

    const machine = vatLifecycleMachine.provide({
      actions: {
        sendPing: () => worker.postMessage({ k: 'ping', n: ++pingSeq } satisfies HostToVat),
        requestStop: () => worker.postMessage({ k: 'stop' } satisfies HostToVat),
        terminateWorker: () => worker.terminate(),
        startLoading: () => {
          E(conn.getBootstrap())
            .load()
            .then(
              (root: unknown) => {
                record.root = root;
                actor.send({ type: 'load.succeeded' });
              },
              (err: unknown) => actor.send({ type: 'load.failed', detail: describeError(err) }),
            );
        },
        announceRunning: () => {
          // A replica's root is reached through its service's front, never by its name.
          if (!spec.replicated) powers.names.publish({ name: spec.name, ref: record.root, owner: spec.name, home: { vat: spec.name, key: 'root' } });
          powers.onVatEvent?.(spec.name, 'running');
          settleStart.resolve({ root: record.root });
        },
        announceEnded: ({ context }, { final }) => {
          const err = final === 'stopped' && record.stopReason ? record.stopReason : endError(context, final);
          rememberEnd(spec.name, describeError(err));
          conn.abort(err);
          for (const peer of record.peers) {
            const other = vats.get(peer);
            other?.peers.delete(spec.name);
            other?.worker.postMessage({ k: 'peer-gone', vat: spec.name, reason: describeError(err) } satisfies HostToVat);
          }
          record.peers.clear();
          powers.names.dropOwner(spec.name);
          settleStart.reject(err);
          settleEnded(err);
          // A vat that never ran leaves no trace; one that crashed stays listed with its cause.
          if (final === 'failed' && vats.get(spec.name) === record) {
            vats.delete(spec.name);
            queueMicrotask(() => actor.stop());
          }
          powers.onVatEvent?.(spec.name, 'ended', describeError(err));
        },
      },
    });
    const actor = createActor(machine, {
      input: {
        name: spec.name,
        pingIntervalMs,
        maxMissed: Math.max(2, Math.ceil(limits.timeBudgetMs / pingIntervalMs)),
        startTimeoutMs: limits.startTimeoutMs,
        stopTimeoutMs: limits.stopTimeoutMs,
        externalBudgetBytes: limits.heapMb * 2 ** 20,
      },
      ...inspectOption(powers.inspectVat?.(spec.name)),
    });
    const record: VatRecord = { spec, worker, conn, link, actor, peers: new Set(), introductions: new Map(), ended, root: undefined };
    vats.set(spec.name, record);

    worker.onMessage((raw) => {
      const msg = raw as { k?: string; m?: unknown };
      if (msg.k === 'c') conn.dispatch(msg.m);
      else if (msg.k === 'pong') actor.send({ type: 'heartbeat.pong', externalBytes: Number((msg as { external?: unknown }).external) || 0 });
      else if (msg.k === 'online') {
        if (tracingCalls) worker.postMessage({ k: 'trace-calls', on: true } satisfies HostToVat);
        actor.send({ type: 'worker.online' });
      } else if (msg.k === 'calls') powers.onCalls?.(spec.name, msg);
      else if (msg.k === 'log') powers.print(sanitizeLogLine(String((msg as { line?: unknown }).line)), spec.name);
      else if (msg.k === 'introduce') introduceFor(record, msg as unknown as IntroduceRequest);
      else if (msg.k === 'handoff') claimSettled(record, msg as { req?: unknown });
      else if (msg.k === 'replicate') replicateFor(spec, msg as { ws?: unknown; flag?: unknown });
      else if (msg.k === 'peer-fault') {
        const { vat, reason } = msg as { vat?: unknown; reason?: unknown };
        powers.onPeerFault?.(spec.name, String(vat), String(reason));
      }
    });
    worker.onError((err) => {
      const cause: TerminationCause = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory-budget' : 'crash';
      const detail =
        cause === 'memory-budget'
          ? `vat "${spec.name}" exceeded its memory budget of ${limits.heapMb} MiB`
          : `vat "${spec.name}" crashed: ${err.message}`;
      actor.send({ type: 'worker.error', cause, detail });
    });
    worker.onExit((code) => actor.send({ type: 'worker.exit', code }));
    actor.start();
    return started;
  };

  const get = (name: string): VatRecord => {
    const r = vats.get(name);
    if (!r) throw new VatNotFoundError(`no vat named "${name}"`);
    return r;
  };

  const status = (r: VatRecord): VatStatus => {
    const snap = r.actor.getSnapshot();
    return {
      name: r.spec.name,
      module: r.spec.module,
      state: phaseOf(snap.value),
      durable: r.spec.durable,
      cause: snap.context.cause,
      detail: snap.status === 'done' ? snap.context.detail : undefined,
      peers: [...r.peers].sort(),
    };
  };

  const stop = async (name: string, reason?: VatTerminatedError): Promise<void> => {
    const r = get(name);
    // Asked for a stop: the reason is known now, given or not (the default is what `endError` says of a stop).
    const why = reason ?? new VatTerminatedError(`vat "${name}" was stopped`);
    r.stopReason = why;
    // Peers whose channel closes when the worker exits may ask whyEnded before the host sees the exit.
    if (r.actor.getSnapshot().status === 'active') rememberEnd(name, describeError(why));
    r.actor.send({ type: 'stop' });
    await r.ended;
    r.actor.stop();
    vats.delete(name);
  };

  return {
    spawn,
    list: () => [...vats.values()].map(status).sort((a, b) => a.name.localeCompare(b.name)),
    admin: (name) => get(name).conn.getBootstrap(),
    whyEnded,
    stop,
    async stopAll() {
      await Promise.all([...vats.keys()].map((name) => stop(name)));
    },
    attachRemotePeer(vat, peer, port) {
      const r = get(vat);
      endReasons.delete(peer);
      r.peers.add(peer);
      r.worker.postMessage({ k: 'peer', vat: peer, port, remote: true } satisfies HostToVat, [port]);
    },
    remotePeerGone(vat, peer, reason) {
      rememberEnd(peer, reason);
      const r = vats.get(vat);
      if (!r?.peers.delete(peer)) return;
      r.worker.postMessage({ k: 'peer-gone', vat: peer, reason } satisfies HostToVat);
    },
    admit: (vat, ticket, key) => E(get(vat).conn.getBootstrap()).admit(ticket, key),
    connect: (a, b) => connectPeers(a, b),
    link: (vat) => {
      const r = vats.get(vat);
      return r && r.actor.getSnapshot().status === 'active' ? r.link : undefined;
    },
    traceCalls(on) {
      if (on === tracingCalls) return;
      tracingCalls = on;
      // Only vats that are online listen; one still starting is told when it comes online.
      for (const r of vats.values()) {
        if (r.actor.getSnapshot().matches('alive')) r.worker.postMessage({ k: 'trace-calls', on } satisfies HostToVat);
      }
    },
    isRunning: (vat) => {
      const r = vats.get(vat);
      return r !== undefined && phaseOf(r.actor.getSnapshot().value) === 'running';
    },
  };
};

interface IntroduceRequest {
  readonly req: number;
  readonly linked?: unknown;
  readonly owner: unknown;
  readonly hints: unknown;
  readonly donor: unknown;
}

const inspectOption = (inspect: ((event: InspectionEvent) => void) | undefined) => (inspect ? { inspect } : {});
