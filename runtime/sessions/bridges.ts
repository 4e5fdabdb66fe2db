/**
 * Paths through bridges (docs/protocol.md section 15, docs/architecture.md
 * "Bridges"): this host's bridge service when it is one, its relay clients on
 * its sessions with bridges, and the upkeep of each session's bridged paths.
 *
 * - Selection: a host that dials a peer suggests the bridges it knows (Hello);
 *   the peer selects up to three (Response; its own configured ones first,
 *   then the suggested ones), and the dialler sends a nonce for each
 *   (Signature). Both then meet at each bridge: the dialler Provides, the peer
 *   Accepts; over the route the dialler runs a fresh handshake, end to end, and
 *   the path joins their session as one more path (protocols/triple).
 * - Upkeep, by the side that dialled: a bridged path that ends is made again
 *   through the same bridge (at once; after a failed try 100 ms, doubling to 2 s), with a new nonce
 *   the peer hears through its gateway (`meet`); after two failed tries in a
 *   row, or two paths in a row that ended within 5 s of being made (a bridge
 *   that breaks paths: it alters, drops or replays bytes), through another
 *   known bridge the session does not use (and, for the latter, never again). The direct
 *   path stays while it works (it is the fast one, and with fewer than three
 *   bridges it fills in); when it is lost while bridged paths live, it is dialled
 *   again with the same backoff.
 * - Learning: bridges come from `--bridges` (configured, kept first) and from
 *   peers' suggestions (at most MAX_LEARNED_BRIDGES, oldest dropped first).
 *   A bridge suggests itself.
 *
 * Failure semantics: nothing here ends a session. A meet that fails (the
 * bridge is down, refuses, or the peer does not come) is counted and shown in
 * `tribe ps` (`bridges[].lastError`), and tried again while the session lives.
 * A peer's `meet` with a malformed ref or nonce fails with BridgeRefError, past
 * MAX_MEETS_ASKED at once with RemoteLimitError; neither changes anything.
 */
import { E } from '@endo/far';
import { RemoteLimitError } from '../../capabilities/errors.js';
import { type BridgeRef, type Control, decodeControl, decodeRelay, encodeControl, formatBridgeRef, isRelayedAddress, Op, parseBridgeRef, relayedAddress } from '../../protocols/bridge/codec.js';
import { type BridgeService, type BridgeStats, makeBridgeService, type RelayFault } from '../../protocols/bridge/bridge-service.js';
import { BridgeRefError, NotABridgeError, RelayEndedError } from '../../protocols/bridge/errors.js';
import { makeBridgeBook, MAX_BRIDGED_PATHS } from './bridge-book.js';
import type { HopLink } from '../../protocols/bridge/hop.js';
import { makeRelayClient, type RelayClient } from '../../protocols/bridge/relay-client.js';
import { Tag } from '../../protocols/framing/frames.js';
import type { CryptoSuite } from '../../protocols/session/crypto.js';
import { BRIDGE_NONCE_BYTES } from '../../protocols/session/messages.js';
import type { PathClock, SecurePath } from '../../protocols/session/path.js';
import type { SessionTable } from '../../protocols/session/session-table.js';
import { shortVatId, type VatId } from '../../protocols/session/vat-id.js';
import type { HostSession } from './gateway.js';

/** Meets a peer may ask of one session at once: one per bridged path. */
export const MAX_MEETS_ASKED = MAX_BRIDGED_PATHS;
/** Wait after a failed repair; a restarted bridge is usually back within it. */
export const REPAIR_MIN_MS = 100;
/** Repairs back off to this: a dead bridge costs one dial every 2 s. */
export const REPAIR_MAX_MS = 2_000;
/** Failed tries in a row through one bridge before another is tried. */
export const TRIES_PER_BRIDGE = 2;
/**
 * A bridged path that ends sooner than this after it was made counts as a
 * short life: a bridge that lets paths up and then breaks them (it alters,
 * drops or replays bytes, which the ends' AEAD catches) fails no meet, so
 * meets alone would never move away from it.
 */
export const STABLE_PATH_MS = 5_000;
/** Short lives in a row through one bridge before the slot moves to another, and the session avoids that bridge. */
export const SHORT_LIVES_PER_BRIDGE = 2;

export interface BridgedPathStatus {
  /** The bridge's VatId (short) and address. */
  readonly bridge: string;
  readonly address: string;
  /** A path through it is joined to the session now. */
  readonly live: boolean;
  /** Paths made through it for this session, and tries that failed since the last one worked. */
  readonly made: number;
  readonly failures: number;
  readonly lastError?: string;
}

export interface BridgesStatus {
  /** This host relays for others. */
  readonly bridge: boolean;
  /** Its ref as a bridge, when it is one. */
  readonly self?: string;
  readonly known: readonly string[];
  readonly service?: BridgeStats;
  /** Relayed streams this host's relay clients hold. */
  readonly streams: number;
  readonly meetsFailed: number;
  /**
   * Why paths through bridges ended, by error name (both ends count): AeadError
   * or MalformedMessageError is a bridge that altered, dropped or replayed bytes;
   * RelayEndedError a bridge or its session that went away; TriplePathDeadError
   * a path that went silent.
   */
  readonly relayedPathEnds: Readonly<Record<string, number>>;
}

export interface Bridges {
  /** For the session table (Hello and Response). */
  suggest(peer: VatId): readonly string[];
  select(peer: VatId, suggested: readonly string[]): readonly string[];
  /** A Relay or BridgeControl frame that came on `session`. */
  frame(session: HostSession, tag: number, payload: Uint8Array): void;
  /** A path joined `session`: meet the peer at the bridges its handshake selected. */
  arrived(session: HostSession, path: SecurePath, address: string): void;
  /** The peer's gateway call `meet(bridge, nonce)`: settles once our side is at the bridge (or failed). */
  meetAsked(session: HostSession, bridge: unknown, nonce: unknown): Promise<void>;
  /** A path through a bridge ended, with this reason. */
  relayedPathEnded(reason: Error): void;
  /** The session with `peer` lost its last path: relays over it stop now. */
  pathless(peer: VatId): void;
  pathsOf(peer: VatId): readonly BridgedPathStatus[] | undefined;
  status(): BridgesStatus;
  /** Bridges to know from now on (refs checked here; malformed ones skipped), as if a peer had suggested them. */
  learn(refs: readonly string[]): void;
  /**
   * Gives the live session with `peer` a path through each bridge of `refs` it
   * has none through (up to MAX_BRIDGED_PATHS in all), kept up from this side
   * like the ones a handshake selected; `direct` is the peer's listen address
   * (to dial the direct path again). For sisters, whose sessions begin before
   * every sister is known. Answers how many paths it began to make.
   */
  widen(peer: VatId, refs: readonly string[], direct: string): number;
}

export interface BridgesOptions {
  readonly self: VatId;
  readonly crypto: CryptoSuite;
  readonly clock: PathClock;
  /** This host relays for others (`tribe host --bridge`). */
  readonly bridge: boolean;
  /** Bridge refs to use, `tribe://<VatId>@<host>:<port>` (checked by the caller). */
  readonly configured: readonly string[];
  /** Where this host may be dialled ('host:port'): its own ref, when it is a bridge. */
  readonly advertised: () => string;
  readonly table: () => SessionTable<HostSession>;
  readonly stopping: () => boolean;
  /** A faulty bridge, for tests of the ends' defences (HostOptions.bridgeFault). */
  readonly fault?: RelayFault;
}

interface Slot {
  ref: BridgeRef;
  live: boolean;
  made: number;
  failures: number;
  /** Paths through this bridge in a row that ended within STABLE_PATH_MS. */
  short: number;
  lastError?: string;
  timer?: unknown;
}

/** The upkeep of one session's bridged paths, on the side that dialled it. */
interface Upkeep {
  readonly session: HostSession;
  readonly slots: Slot[];
  /** Where the direct path was dialled. */
  readonly direct: string;
  directTries: number;
  directTimer?: unknown;
  directBusy: boolean;
  /** Bridges this session moved away from after short lives: not picked again for it. */
  readonly avoid: Set<VatId>;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const fromHex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
/** `Name: message`, once: our errors' messages start with their name already. */
const describe = (err: unknown) =>
  err instanceof Error ? (err.message.startsWith(`${err.name}: `) ? err.message : `${err.name}: ${err.message}`) : String(err);
/** A path that worked is made again at once; failed tries wait REPAIR_MIN_MS, doubling to REPAIR_MAX_MS. */
const backoff = (failures: number) => (failures === 0 ? 0 : Math.min(REPAIR_MIN_MS * 2 ** (failures - 1), REPAIR_MAX_MS));

export const makeBridges = (opts: BridgesOptions): Bridges => {
  const { self, clock, crypto } = opts;
  const selfRef = () => `tribe://${self}@${opts.advertised()}`;
  const book = makeBridgeBook({ self, configured: opts.configured, bridge: opts.bridge, selfRef });
  const { known, learn } = book;
  const service: BridgeService | undefined = opts.bridge ? makeBridgeService({ self, clock, ...(opts.fault ? { fault: opts.fault } : {}) }) : undefined;
  const hops = new WeakMap<HostSession, HopLink>();
  const clients = new WeakMap<HostSession, RelayClient>();
  /** Relay clients by bridge, for `pathless`. */
  const clientsByPeer = new Map<VatId, RelayClient>();
  const upkeeps = new Map<VatId, Upkeep>();
  /** Meets a peer asked of a session and still waiting, by bridge: a newer one at the same bridge replaces the older. */
  const asked = new WeakMap<HostSession, Map<VatId, { abandoned: boolean }>>();
  let meetsFailed = 0;
  const relayedPathEnds = new Map<string, number>();


  const hopOf = (session: HostSession): HopLink => {
    let hop = hops.get(session);
    if (!hop) {
      hop = {
        peer: session.peer,
        send: (tag, payload) => session.path.send(tag, payload),
        backlog: () => session.path.backlog(),
        abort: (reason) => session.path.abort(reason),
        lifetime: session.lifetime,
      };
      hops.set(session, hop);
    }
    return hop;
  };

  const clientOf = (session: HostSession): RelayClient => {
    let c = clients.get(session);
    if (!c) {
      const client = makeRelayClient(hopOf(session), { clock });
      c = client;
      clients.set(session, client);
      clientsByPeer.set(session.peer, client);
      session.lifetime.onClose(() => {
        if (clientsByPeer.get(session.peer) === client) clientsByPeer.delete(session.peer);
      });
    }
    return c;
  };

  /** Our session with the bridge, if it has a path now. */
  const hopTo = async (ref: BridgeRef): Promise<HostSession> => {
    const hop = await opts.table().connect(ref.vatId, ref.address);
    // A hop session that lost its paths (a cut link, a killed bridge) would hold the meet until it
    // resumes or the meet times out (12 s): fail now, so the slot backs off and may move to another bridge.
    if (hop.path.report().state === 'resuming') {
      throw new RelayEndedError(`no path to bridge ${shortVatId(ref.vatId)} now (its session is resuming)`);
    }
    return hop;
  };

  /** Our side of one rendezvous at `ref`: the relayed stream, joined to the session with `peer`. */
  const meetAt = async (ref: BridgeRef, op: typeof Op.Provide | typeof Op.Accept, peer: VatId, nonce: Uint8Array) => {
    const table = opts.table();
    const hop = await hopTo(ref);
    const stream = await clientOf(hop).meet(op, peer, nonce);
    if (op === Op.Accept) {
      table.acceptStream(stream);
      return stream;
    }
    await table.dialStream(peer, stream, relayedAddress(ref.vatId));
    return stream;
  };

  const alive = (u: Upkeep) => !u.session.lifetime.isClosed && !opts.stopping() && upkeeps.get(u.session.peer) === u;

  const establish = async (u: Upkeep, slot: Slot, nonce: Uint8Array, tell: boolean) => {
    const peer = u.session.peer;
    try {
      // Our way to the bridge first: the peer is not sent to a rendezvous we cannot come to.
      await hopTo(slot.ref);
      // Both sides go to the bridge at once; the peer answers once its side is there (or failed), so
      // a failure over there is heard now, not after the bridge's rendezvous timeout.
      const mine = meetAt(slot.ref, Op.Provide, peer, nonce);
      mine.catch(() => {});
      if (tell) {
        await Promise.all([E(u.session.mux.gateway()).meet(formatBridgeRef(slot.ref), hex(nonce)), mine]).catch((err: unknown) => {
          mine.then((s) => s.close(), () => {});
          throw err;
        });
      }
      const stream = await mine;
      slot.live = true;
      slot.made += 1;
      slot.failures = 0;
      delete slot.lastError;
      const madeAt = clock.now();
      const why = await stream.ended;
      const lived = clock.now() - madeAt;
      if (lived < STABLE_PATH_MS) {
        slot.short += 1;
        slot.lastError = `the path ended after ${lived} ms${why ? ` (${describe(why)})` : ''}`;
      } else slot.short = 0;
    } catch (err) {
      slot.failures += 1;
      slot.lastError = describe(err);
      meetsFailed += 1;
    } finally {
      slot.live = false;
    }
    if (!alive(u)) return;
    keepDirect(u);
    if (slot.failures >= TRIES_PER_BRIDGE || slot.short >= SHORT_LIVES_PER_BRIDGE) {
      const inUse = new Set(u.slots.map((s) => s.ref.vatId));
      const other = known().find((r) => !inUse.has(r.vatId) && !u.avoid.has(r.vatId) && r.vatId !== peer);
      if (slot.short >= SHORT_LIVES_PER_BRIDGE) u.avoid.add(slot.ref.vatId);
      if (other) {
        slot.lastError = `moved from ${shortVatId(slot.ref.vatId)}: ${slot.lastError ?? ''}`;
        slot.ref = other;
        slot.failures = 0;
        slot.short = 0;
      }
    }
    slot.timer = clock.setTimeout(() => {
      delete slot.timer;
      if (alive(u)) void establish(u, slot, crypto.randomBytes(BRIDGE_NONCE_BYTES), true);
    }, backoff(slot.failures));
  };

  /** The direct path, dialled again when it is gone while the session goes on over bridges. */
  const keepDirect = (u: Upkeep) => {
    if (u.directBusy || u.directTimer !== undefined || !alive(u)) return;
    if (u.session.path.report().paths.some((p) => !isRelayedAddress(p.address))) {
      u.directTries = 0;
      return;
    }
    // With no path at all, the session's own re-dial loop does this (protocols/triple/peer-link.ts).
    if (!u.slots.some((s) => s.live)) return;
    u.directTimer = clock.setTimeout(() => {
      delete u.directTimer;
      if (!alive(u)) return;
      u.directBusy = true;
      u.directTries += 1;
      opts
        .table()
        .redial(u.session.peer, u.direct)
        .then(
          () => {
            u.directTries = 0;
          },
          () => {},
        )
        .finally(() => {
          u.directBusy = false;
          keepDirect(u);
        });
    }, backoff(u.directTries));
  };

  const upkeepOf = (session: HostSession, direct: string): Upkeep => {
    const had = upkeeps.get(session.peer);
    if (had && had.session === session) return had;
    const u: Upkeep = { session, slots: [], direct, directTries: 0, directBusy: false, avoid: new Set() };
    upkeeps.set(session.peer, u);
    session.lifetime.onClose(() => {
      for (const s of u.slots) if (s.timer !== undefined) clock.clearTimeout(s.timer);
      if (u.directTimer !== undefined) clock.clearTimeout(u.directTimer);
      if (upkeeps.get(session.peer) === u) upkeeps.delete(session.peer);
    });
    return u;
  };

  const controlFrom = (session: HostSession, c: Control) => {
    if (c.op === Op.Provide || c.op === Op.Accept) {
      if (service) return service.control(hopOf(session), c);
      const err = new NotABridgeError(`host ${shortVatId(self)} is not a bridge`);
      return session.path.send(Tag.BridgeControl, encodeControl({ op: Op.Refused, req: c.req, code: err.code, message: err.message }));
    }
    if (c.op === Op.End && service?.owns(session.peer, c.route)) return service.control(hopOf(session), c);
    clientOf(session).control(c);
  };

  return {
    suggest: (peer) => book.suggest(peer),
    // A path of a session that exists already resumes it: that session has its bridges.
    select: (peer, suggested) => book.select(peer, suggested, opts.table().get(peer) !== undefined),
    frame(session, tag, payload) {
      if (tag === Tag.BridgeControl) return controlFrom(session, decodeControl(payload));
      const { route, bytes } = decodeRelay(payload);
      if (service?.owns(session.peer, route)) return service.relay(hopOf(session), payload);
      clients.get(session)?.relay(route, bytes);
    },
    arrived(session, path, address) {
      const relayed = isRelayedAddress(address);
      // The bridges the peer selected are known from now on (a peer's choice, like its suggestions).
      learn(path.rendezvous.map((r) => r.bridge));
      if (path.role === 'initiator' && !relayed && path.rendezvous.length > 0) upkeepOf(session, address);
      // A direct path of a session kept here that ends while bridged ones live: dial it again.
      const kept = upkeeps.get(session.peer);
      if (kept?.session === session && !relayed) {
        path.lifetime.onClose(() => {
          if (alive(kept)) keepDirect(kept);
        });
      }
      for (const { bridge, nonce } of path.rendezvous) {
        const ref = parseBridgeRef(bridge);
        if (!ref || ref.vatId === self || ref.vatId === session.peer) continue;
        if (path.role === 'responder') {
          meetAt(ref, Op.Accept, session.peer, nonce).catch(() => {
            meetsFailed += 1;
          });
          continue;
        }
        if (!kept || kept.slots.some((s) => s.ref.vatId === ref.vatId) || kept.slots.length >= MAX_BRIDGED_PATHS) continue;
        const slot: Slot = { ref, live: false, made: 0, failures: 0, short: 0 };
        kept.slots.push(slot);
        void establish(kept, slot, nonce, false);
      }
    },
    meetAsked(session, bridge, nonce) {
      const ref = parseBridgeRef(bridge);
      if (!ref || ref.vatId === self || ref.vatId === session.peer) return Promise.reject(new BridgeRefError('meet: not a bridge ref'));
      if (typeof nonce !== 'string' || !/^[0-9a-f]{64}$/.test(nonce)) return Promise.reject(new BridgeRefError('meet: the nonce is not 64 hex digits'));
      const waiting = asked.get(session) ?? new Map<VatId, { abandoned: boolean }>();
      asked.set(session, waiting);
      // The peer gave up on an older meet at this bridge (it asks again only after its own side failed).
      const older = waiting.get(ref.vatId);
      if (older) older.abandoned = true;
      waiting.delete(ref.vatId);
      if (waiting.size >= MAX_MEETS_ASKED) return Promise.reject(new RemoteLimitError(`RemoteLimitError: ${MAX_MEETS_ASKED} meets asked at once already`));
      const mine = { abandoned: false };
      waiting.set(ref.vatId, mine);
      const done = () => {
        if (waiting.get(ref.vatId) === mine) waiting.delete(ref.vatId);
      };
      return meetAt(ref, Op.Accept, session.peer, fromHex(nonce)).then(
        (stream) => {
          done();
          // Replaced meanwhile: its path would join nothing the peer waits for.
          if (mine.abandoned) stream.close();
        },
        (err: unknown) => {
          done();
          meetsFailed += 1;
          throw err;
        },
      );
    },
    relayedPathEnded(reason) {
      // The path's own reason, under the wrappers of the layers that saw it end.
      let why: unknown = reason;
      while (why instanceof Error && why.cause instanceof Error && why.name === 'TriplePathDeadError') why = why.cause;
      const name = why instanceof Error ? why.name : 'Error';
      relayedPathEnds.set(name, (relayedPathEnds.get(name) ?? 0) + 1);
    },
    pathless(peer) {
      clientsByPeer.get(peer)?.endAll(new RelayEndedError(`the session with bridge ${shortVatId(peer)} lost its paths`));
    },
    pathsOf(peer) {
      const u = upkeeps.get(peer);
      return u?.slots.map((s) => ({
        bridge: shortVatId(s.ref.vatId),
        address: s.ref.address,
        live: s.live,
        made: s.made,
        failures: s.failures,
        ...(s.lastError ? { lastError: s.lastError } : {}),
      }));
    },
    learn,
    widen(peer, refs, direct) {
      const session = opts.table().get(peer);
      if (!session || session.lifetime.isClosed || opts.stopping()) return 0;
      const u = upkeepOf(session, direct);
      let added = 0;
      for (const text of refs) {
        const ref = parseBridgeRef(text);
        if (!ref || ref.vatId === self || ref.vatId === peer || u.avoid.has(ref.vatId)) continue;
        if (u.slots.length >= MAX_BRIDGED_PATHS || u.slots.some((s) => s.ref.vatId === ref.vatId)) continue;
        learn([text]);
        const slot: Slot = { ref, live: false, made: 0, failures: 0, short: 0 };
        u.slots.push(slot);
        added += 1;
        void establish(u, slot, crypto.randomBytes(BRIDGE_NONCE_BYTES), true);
      }
      return added;
    },
    status: () => ({
      bridge: opts.bridge,
      ...(opts.bridge ? { self: selfRef() } : {}),
      known: known().map(formatBridgeRef),
      ...(service ? { service: service.stats() } : {}),
      streams: [...clientsByPeer.values()].reduce((n, c) => n + c.streams, 0),
      meetsFailed,
      relayedPathEnds: Object.fromEntries(relayedPathEnds),
    }),
  };
};
