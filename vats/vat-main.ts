/**
 * The inside of one vat worker: CapTP to the host, direct CapTP channels to peer
 * vats, the actor module in its compartment, and the turn discipline.
 *
 * Routing (docs/architecture.md): the host hands each pair of vats that need to
 * talk a MessageChannel of their own, so a cross-vat E() is one hop, not two via
 * the host. `names.lookup` asks the host *where* a name lives (vat + key) and
 * fetches it over the direct channel; only references the host itself holds
 * travel through the host.
 */
import { E, Far } from '@endo/far';
import { type CapTPMessage, makeConnection, type Connection } from '../capabilities/connection.js';
import { parseHostText, TAG_OF_TYPE, vatToHostForm } from '../capabilities/channel-codec.js';
import { makeOutbox, type OutboxTimer } from '../capabilities/outbox.js';
import type { Link } from '../capabilities/handoff.js';
import { makeVatHandoffs } from './vat-handoff.js';
import { makeCallTracer } from './call-trace.js';
import { describeError, passableError, ProtocolViolationError, reviveError, SturdyRefError } from '../capabilities/errors.js';
import { assertValidName } from '../capabilities/names.js';
import { notFar } from '../capabilities/passable.js';
import { isSturdyRefText } from '../capabilities/sturdy-ref.js';
import { DURABLE_KEY_PATTERN } from '../capabilities/gift-notes.js';
import { ActorStartError, InvalidParamsError, ReplicaCallError, VatTerminatedError } from './errors.js';
import { MAX_VAT_TICKETS } from '../protocols/session/session-limits.js';
import type { PortLike, VatSpec, VatToHost } from './link.js';
import { loadActorModule } from './loader.js';
import type { CompiledModule } from './module-compiler.js';
import type { Powers } from './powers.js';
import { makeTurnStore, type StoreBackend } from './store.js';
import { makeVatObjects } from './durable.js';
import { base32 } from '../protocols/session/vat-id.js';

export interface VatClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setImmediate(fn: () => void): void;
}

export interface VatWorkerPowers {
  readonly spec: VatSpec;
  readonly parent: PortLike;
  readonly wrapPort: (raw: unknown) => PortLike;
  readonly storeBackend: StoreBackend | undefined;
  readonly clock: VatClock;
  /** Forces a full GC if the worker allows it (tests and `tribe` diagnostics). */
  readonly collectGarbage: (() => void) | undefined;
  readonly realm: { Date: unknown; Math: unknown };
  /** Ends the worker at once; used when a turn's writes could not be made durable. */
  readonly die: (reason: string) => never;
  /** Ends the worker normally (after a stop request). */
  readonly exit: () => void;
  /** Bytes this worker holds outside the V8 heap (ArrayBuffers and the like). */
  readonly externalMemory: () => number;
  /** `n` cryptographically random bytes (handoff nonces). */
  readonly randomBytes: (n: number) => Uint8Array;
  /** A monotonic sub-millisecond clock (call latency for the visualizer); default `clock.now`. */
  readonly precise?: () => number;
}

type NameHome =
  | { vat: string; key: string; ticket?: undefined }
  /** A remote endpoint: redeem the ticket its host admitted for us. */
  | { vat: string; ticket: string; key?: undefined }
  | { vat?: undefined; ref: unknown };

interface Peer extends Link {
  readonly boot: () => Promise<any>;
}

/** setTimeout's ceiling; larger delays would fire at once (Node's overflow rule). */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Longest log line a vat builds; the host cuts and escapes again on its side. */
const MAX_LOG_CHARS = 4096;

const formatLogArg = (a: unknown): string => {
  if (typeof a === 'string') return a;
  try {
    return JSON.stringify(a) ?? String(a);
  } catch {
    return String(a);
  }
};

/** Whether `v` is JSON data a reply can be recorded as (and given again, equal, to a retried call). */
const isReplayable = (v: unknown, depth = 0): boolean => {
  if (depth > 64) return false;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => isReplayable(x, depth + 1));
  if (typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return false;
  return Object.values(v as object).every((x) => isReplayable(x, depth + 1));
};
/** A reply as recorded in a replicated service's log: `{ok}`, `{error}`, or `{unreplayable}` for a value that is not JSON data. */
const replyText = (reply: { ok: unknown } | { error: { name: string; message: string } }): string =>
  'ok' in reply && reply.ok !== undefined && !isReplayable(reply.ok)
    ? JSON.stringify({ unreplayable: 'the reply was not JSON data (a reference, a promise or a special number): a retried call cannot be given it again' })
    : JSON.stringify(reply);

export const runVat = (p: VatWorkerPowers): void => {
  const { spec, parent, clock } = p;
  const self = spec.name;

  // --- turn discipline: outbound messages wait for the turn's store commit ---
  const backend = spec.durable ? p.storeBackend : undefined;
  // Durable objects (durable.ts); other parties' durable objects are the handoff table's (below).
  const objects = backend
    ? makeVatObjects({
        backend,
        newKey: (prefix) => `${prefix}${base32(p.randomBytes(16))}`,
        foreign: {
          termsOf: (val) => handoffs.durable.termsOf(val),
          fromTerms: (terms) => handoffs.durable.fromTerms(terms),
        },
      })
    : undefined;
  const turnStore = backend ? makeTurnStore(backend, objects) : undefined;
  /** A replicated vat's replies given this turn, by call id: they commit with the turn's writes (`invoke` below). */
  const replies = new Map<string, string>();
  const outbox: Array<() => void> = [];
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    try {
      turnStore?.commit(replies);
      replies.clear();
    } catch (err) {
      p.die(`vat "${self}" could not commit its store: ${describeError(err)}`);
    }
    for (const send of outbox.splice(0)) send();
  };
  /** Marks that vat code is about to run: the end of this turn is a commit point. */
  const enterTurn = () => {
    if (turnStore && !flushScheduled) {
      flushScheduled = true;
      clock.setImmediate(flush);
    }
  };
  /**
   * In a durable vat every message waits for the end of its turn, and leaves
   * only after the turn's writes are committed: a turn's messages and its writes
   * take effect together, whatever order the code did them in (a crash before
   * the commit loses both; one between the commit and the sends loses the
   * messages, whose callers see their calls reject). Other vats send at once.
   */
  const emit = (send: () => void) => {
    if (turnStore) {
      outbox.push(send);
      enterTurn();
    } else send();
  };

  // --- names: local exports by key, homes of references fetched from peers ---
  const exportsByKey = new Map<string, unknown>();
  const keyOf = new WeakMap<object, string>();
  const homeOf = new WeakMap<object, { vat: string; key: string }>();
  const imported = new WeakSet<object>();
  let nextKey = 0;
  /** Registers `ref` for peers to fetch; an explicit key (e.g. 'root') is always honoured. */
  const exportLocal = (ref: object, key?: string): string => {
    const existing = keyOf.get(ref);
    if (existing && key === undefined) return existing;
    const k = key ?? `k${++nextKey}`;
    exportsByKey.set(k, ref);
    if (!existing) keyOf.set(ref, k);
    return k;
  };

  /** What `key` names here — an export, or one of this vat's durable objects (names keep those by their key) — or undefined. */
  const byKey = (key: string): unknown => {
    if (exportsByKey.has(key)) return exportsByKey.get(key);
    if (!objects || !DURABLE_KEY_PATTERN.test(key)) return undefined;
    try {
      return objects.revive(key);
    } catch {
      return undefined;
    }
  };

  const outboxTimer: OutboxTimer = { turnEnd: (fn) => clock.setImmediate(fn), setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout };
  /** To another host: a turn's messages in one post, drops held a little (outbox.ts), each as text its host writes as it is (channel-codec.ts). */
  const remoteSender = (port: PortLike) => {
    const out = makeOutbox<string | CapTPMessage>({
      post: (items) => port.postMessage(items.length === 1 ? items[0] : items),
      isDrop: (item) => (typeof item === 'string' ? item.charCodeAt(0) === TAG_OF_TYPE['CTP_DROP'] : item.type === 'CTP_DROP'),
      size: (item) => (typeof item === 'string' ? item.length : 0),
      timer: outboxTimer,
    });
    return (m: CapTPMessage) => emit(() => out.push(vatToHostForm(m)));
  };

  const connect = (name: string, port: PortLike, bootstrap: unknown, remote: boolean, link: () => Link): Connection => {
    const conn = makeConnection({
      name: `${self}->${name}`,
      send: remote ? remoteSender(port) : (m) => emit(() => port.postMessage(m)),
      bootstrap,
      traceLimit: spec.traceLimit,
      onMessage: calls.hook(fullIdOf(name), name.endsWith('/@host')),
      onImport: (val) => {
        imported.add(val as object);
        handoffs.imported(val, link());
      },
      handoff: handoffs.port(link),
      // A remote host checks shapes before forwarding; what it cannot check (slots
      // that name nothing) shows here, and the session to that host must end.
      ...(remote
        ? {
            onAbort: (reason: Error) => {
              if (reason.name === 'ProtocolViolationError') {
                parent.postMessage({ k: 'peer-fault', vat: name, reason: describeError(reason) } satisfies VatToHost);
              }
            },
          }
        : {}),
    });
    return conn;
  };

  // --- tickets: what a remote host's enliven request may redeem here ---
  const tickets = new Map<string, string>();
  const maxTickets = spec.maxTickets ?? MAX_VAT_TICKETS;
  const redeem = (ticket: string) => {
    const key = typeof ticket === 'string' ? tickets.get(ticket) : undefined;
    if (key === undefined) throw passableError(new SturdyRefError('no such ticket (unknown or already redeemed)'));
    tickets.delete(ticket);
    return byKey(key);
  };

  // --- handoff: gifts this vat deposits, claims and serves (vat-handoff.ts) ---
  const vatHandoffs = makeVatHandoffs({
    spec,
    parent,
    clock,
    randomBytes: p.randomBytes,
    hostLink: () => hostLink,
    peer: (name) => {
      const peer = peers.get(name);
      return peer && !peer.conn.aborted ? peer : undefined;
    },
    durable: () => objects,
  });
  const handoffs = vatHandoffs.table;
  const { fullIdOf } = vatHandoffs;
  const hostLinkId = vatHandoffs.hostId;

  // --- call tracing for the visualizer (call-trace.ts): on only while the host says someone watches ---
  const calls = makeCallTracer({
    self: fullIdOf(self),
    now: clock.now,
    precise: p.precise ?? clock.now,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    // Diagnostics, like log lines: they bypass the turn outbox.
    post: (report) => parent.postMessage({ k: 'calls', ...report } satisfies VatToHost),
    refs: () => [
      { peer: hostLinkId, ...hostConn.refs() },
      ...[...peers].map(([n, peer]) => ({ peer: fullIdOf(n), ...peer.conn.refs() })),
    ],
  });

  // --- host connection ---
  const hostConn: Connection = makeConnection({
    name: `${self}->host`,
    send: (m) => emit(() => parent.postMessage({ k: 'c', m } satisfies VatToHost)),
    // CapTP calls a function bootstrap lazily, when the host asks; `admin` is defined below.
    bootstrap: () => admin,
    traceLimit: spec.traceLimit,
    onMessage: calls.hook(hostLinkId, true),
    onImport: (val) => {
      imported.add(val as object);
      handoffs.imported(val, hostLink);
    },
    handoff: handoffs.port(() => hostLink),
  });
  const host = hostConn.getBootstrap();
  const hostLink: Link = { id: hostLinkId, conn: hostConn, boot: () => host };

  // --- peers ---
  const peers = new Map<string, Peer>();
  const peerWaiters = new Map<string, Array<(peer: Peer) => void>>();
  const fetch = (key: string) => {
    const ref = byKey(key);
    if (ref === undefined) throw new Error(`vat "${self}" exports nothing under key ${JSON.stringify(key)}`);
    return ref;
  };
  /**
   * What a peer gets as this vat's bootstrap, bound to who it is: a local vat may
   * fetch published exports by key; a remote endpoint only redeems tickets its
   * host admitted. Both may deposit and claim gifts addressed by their own id.
   */
  const peerBootstrap = (name: string, remote: boolean) => {
    const { provideFor, acceptFrom, revive } = handoffs.gate(fullIdOf(name));
    return remote ? Far('RemoteGate', { redeem, provideFor, acceptFrom, revive }) : Far('VatPeer', { fetch, provideFor, acceptFrom, revive });
  };
  const addPeer = (name: string, port: PortLike, remote: boolean) => {
    forgetPeer(name, new VatTerminatedError(`channel to vat "${name}" was replaced`));
    let peer!: Peer;
    const conn = connect(name, port, peerBootstrap(name, remote), remote, () => peer);
    port.onMessage(
      remote
        ? (raw) => {
            // From another host: its host relayed the text unparsed (one item or a turn's batch), so the checks are here.
            for (const item of Array.isArray(raw) ? raw : [raw]) {
              const m = parseHostText(item);
              if (typeof m === 'string') return conn.abort(new ProtocolViolationError(`${self}<-${name}: ${m}`));
              enterTurn();
              conn.dispatch(m);
            }
          }
        : (m) => {
            enterTurn();
            conn.dispatch(m);
          },
    );
    // The close can arrive before the host's `peer-gone` (another port, no order
    // between them); ask the host for the cause rather than guess it.
    port.onClose(() => {
      if (conn.aborted) return;
      E(host)
        .whyEnded(name)
        .then(
          (why: string) => conn.abort(reviveError(new Error(why))),
          () => conn.abort(new VatTerminatedError(`vat "${name}" is gone`)),
        );
    });
    // Asked for on first use, not now: a remote peer's host may not have opened its
    // end of the channel yet, and a bootstrap request sent too early would be lost.
    let boot: Promise<any> | undefined;
    peer = {
      id: fullIdOf(name),
      conn,
      boot: () => {
        boot ??= conn.getBootstrap();
        return boot;
      },
    };
    peers.set(name, peer);
    for (const w of peerWaiters.get(name) ?? []) w(peer);
    peerWaiters.delete(name);
  };
  const getPeer = async (name: string): Promise<Peer> => {
    const existing = peers.get(name);
    if (existing && !existing.conn.aborted) return existing;
    let waiter!: (peer: Peer) => void;
    const arrived = new Promise<Peer>((resolve) => {
      waiter = resolve;
      peerWaiters.set(name, [...(peerWaiters.get(name) ?? []), resolve]);
    });
    // The host posts the port before it answers, so it arrives first on the same queue.
    try {
      await E(host).connectPeer(name);
    } catch (err) {
      peerWaiters.set(name, (peerWaiters.get(name) ?? []).filter((w) => w !== waiter));
      throw err;
    }
    return arrived;
  };

  const resolveHome = async (home: NameHome): Promise<unknown> => {
    if (home.vat === undefined) return home.ref;
    if (home.ticket !== undefined) {
      // The host posted the channel's port before it answered: it is here already.
      const peer = peers.get(home.vat) ?? (await getPeer(home.vat));
      return E(peer.boot()).redeem(home.ticket);
    }
    if (home.vat === self) return byKey(home.key);
    const peer = await getPeer(home.vat);
    const ref = await E(peer.boot()).fetch(home.key);
    if (typeof ref === 'object' && ref !== null) homeOf.set(ref, { vat: home.vat, key: home.key });
    return ref;
  };

  const names = Far('Names', {
    /** A published name, or a sturdy ref's text (`tribe://…`): holding the text is the authority. */
    async lookup<T = any>(name: string): Promise<T> {
      const sturdy = isSturdyRefText(name);
      if (!sturdy) assertValidName(name);
      try {
        return (await resolveHome(await (sturdy ? E(host).enliven(name) : E(host).resolveName(name)))) as T;
      } catch (err) {
        throw reviveError(err);
      }
    },
    async publish(name: string, ref: object): Promise<void> {
      assertValidName(name);
      if (typeof ref !== 'object' || ref === null) throw new TypeError('names.publish needs a reference (a Far object)');
      const home = homeOf.get(ref);
      // A reference imported from elsewhere with no known home is published through
      // the host: others reach it via a proxy chain, which still works.
      // One of our durable objects is published under its durable key: the host keeps such names across restarts.
      const where = home ?? (imported.has(ref) ? undefined : { vat: self, key: objects?.keyOf(ref) ?? exportLocal(ref) });
      try {
        await E(host).publish(name, ref, where?.vat ?? null, where?.key ?? null);
      } catch (err) {
        throw reviveError(err);
      }
    },
    async list(): Promise<string[]> {
      return E(host).listNames();
    },
  });

  const timer = Far('Timer', {
    now: () => clock.now(),
    delay: (ms: number) =>
      new Promise<number>((resolve) => {
        clock.setTimeout(() => {
          enterTurn();
          resolve(clock.now());
        }, Math.min(MAX_DELAY_MS, Math.max(0, Number(ms) || 0)));
      }),
  });
  // Log lines bypass the turn outbox: they are diagnostics, not results a caller acts on.
  const log = (...args: unknown[]) =>
    parent.postMessage({
      k: 'log',
      line: `[${self}] ${args.map(formatLogArg).join(' ')}`.slice(0, MAX_LOG_CHARS),
    } satisfies VatToHost);

  let root: unknown;
  const hostGate = handoffs.gate(hostLinkId);
  const admin = Far('VatAdmin', {
    provideFor: hostGate.provideFor,
    acceptFrom: hostGate.acceptFrom,
    revive: hostGate.revive,
    async load() {
      let params: unknown;
      try {
        // No params and `null` both arrive as undefined, so that defaults in make's signature apply.
        params = harden(JSON.parse(spec.params) ?? undefined);
      } catch (err) {
        throw passableError(new InvalidParamsError(`params are not JSON: ${(err as Error).message}`));
      }
      try {
        const mod = await loadActorModule({
          entryUrl: spec.moduleUrl,
          compile: (url) => E(host).compileModule(url) as Promise<CompiledModule>,
          grants: spec.grants,
          realm: p.realm,
          name: self,
        });
        // Checked against the published types (vats/powers.ts): what actor authors are told they get.
        const powers = harden({ names, timer, log, ...(turnStore ? { store: turnStore.store } : {}) } satisfies Powers);
        try {
          root = await mod.make(powers, params);
        } catch (err) {
          throw new ActorStartError(`make() of ${new URL(mod.url).pathname} failed: ${describeError(err)}`);
        }
        const notFarRoot = notFar(root);
        if (notFarRoot !== undefined) {
          throw new ActorStartError(
            `make() of ${new URL(mod.url).pathname} must return a Far object (the root other vats call), but returned ${notFarRoot}`,
          );
        }
        if (objects) {
          // The root is durable too: references to it reach the next start's root.
          objects.adoptRoot(root as object);
          try {
            objects.checkKinds();
          } catch (err) {
            throw new ActorStartError(`make() of ${new URL(mod.url).pathname} left stored objects without their kind: ${describeError(err)}`);
          }
        }
        exportLocal(root as object, 'root');
        return root;
      } catch (err) {
        throw passableError(err);
      }
    },
    /**
     * A replicated vat's calls, from its host's front (runtime/replica/): the
     * reply — a value or an error — is recorded under `callId` and commits with
     * the writes of the turn that gave it, so a call retried after a failover is
     * answered from the log and never applied twice. Exactly once holds for
     * methods that settle within their turn; one that waits on another party
     * commits its earlier turns' writes before its reply.
     */
    async invoke(callId: unknown, method: unknown, args: unknown) {
      if (!spec.replicated) throw passableError(new ReplicaCallError(`vat "${self}" is not a replica of a replicated service`));
      if (typeof callId !== 'string' || callId === '' || callId.length > 256 || typeof method !== 'string' || !Array.isArray(args)) {
        throw passableError(new ReplicaCallError('invoke takes a call id (text), a method name and an array of arguments'));
      }
      if (root === undefined) throw passableError(new ReplicaCallError(`vat "${self}" has not started`));
      // The answer is tagged, never thrown: a rejection of `invoke` means the replica failed
      // (its caller retries elsewhere), an `{ error }` that the method threw (recorded, final).
      try {
        const result = await E(root as any)[method](...args);
        replies.set(callId, replyText({ ok: result }));
        return harden({ ok: result });
      } catch (err) {
        const error = { name: String((err as Error)?.name ?? 'Error'), message: describeError(err) };
        replies.set(callId, replyText({ error }));
        return harden({ error });
      }
    },
    /** A replicated vat's root's methods: what its fronts offer callers. */
    methods: () => harden(root === undefined ? [] : Reflect.ownKeys(root as object).filter((k): k is string => typeof k === 'string' && typeof (root as any)[k] === 'function').sort()),
    /** The host admits a remote enliven request: `ticket` may be redeemed once for export `key`. */
    admit(ticket: string, key: string) {
      if (byKey(key) === undefined) throw passableError(new SturdyRefError(`vat "${self}" exports nothing under key ${JSON.stringify(key)}`));
      if (tickets.size >= maxTickets) tickets.delete(tickets.keys().next().value as string);
      tickets.set(ticket, key);
    },
    stats: () =>
      harden({
        exports: exportsByKey.size,
        host: hostConn.stats(),
        peers: Object.fromEntries([...peers].map(([n, peer]) => [n, peer.conn.stats()])),
        handoff: handoffStats(),
      }),
    trace: (peer: string) => harden((peer === 'host' ? hostConn : peers.get(peer)?.conn)?.trace() ?? []),
    async collectGarbage() {
      p.collectGarbage?.();
      // Finalizers run in a later task; give them one.
      await new Promise<void>((r) => clock.setTimeout(r, 0));
      p.collectGarbage?.();
      await new Promise<void>((r) => clock.setTimeout(r, 0));
      return p.collectGarbage !== undefined;
    },
  });

  /** Ends the channel to `name` with `reason` and drops it, keeping its handoff counts. */
  function forgetPeer(name: string, reason: Error) {
    const peer = peers.get(name);
    if (!peer) return;
    peers.delete(name);
    vatHandoffs.channelEnded(peer.conn);
    peer.conn.abort(reason);
  }
  const handoffStats = () => vatHandoffs.stats([hostConn, ...[...peers.values()].map((peer) => peer.conn)]);

  parent.onMessage((raw) => {
    const msg = raw as { k?: string; m?: unknown; n?: number; vat?: string; port?: unknown; reason?: string; remote?: boolean };
    switch (msg.k) {
      case 'c':
        enterTurn();
        hostConn.dispatch(msg.m);
        break;
      case 'ping':
        // Answered directly, never queued behind a turn: a stuck vat cannot answer at all.
        parent.postMessage({ k: 'pong', n: msg.n ?? 0, external: p.externalMemory() } satisfies VatToHost);
        break;
      case 'stop':
        // Whatever the current turn wrote is committed and its messages sent first.
        // No CTP_DISCONNECT: the host tells everyone why this vat ended when it exits.
        if (flushScheduled) flush();
        p.exit();
        break;
      case 'peer':
        addPeer(String(msg.vat), p.wrapPort(msg.port), msg.remote === true);
        break;
      case 'introduced': {
        const { req, ok, error } = msg as { req?: unknown; ok?: unknown; error?: unknown };
        vatHandoffs.introduced(req, ok, error);
        break;
      }
      case 'trace-calls':
        calls.set((msg as { on?: unknown }).on === true);
        break;
      case 'peer-gone':
        forgetPeer(String(msg.vat), reviveError(new Error(msg.reason ?? `VatTerminatedError: vat "${msg.vat}" ended`)));
        break;
      default:
        p.die(`vat "${self}" got an unknown message from its host`);
    }
  });
  parent.postMessage({ k: 'online' } satisfies VatToHost);
};
