/**
 * The inspector's seam: what a machine registers with (`tap`), what the page
 * server, the store and peer hosts watch (`watch`, `relay`, `ingest`), and the
 * limits a peer's relay lives within. The implementation is inspector.ts.
 */
import type { InspectionEvent } from 'xstate';
import type { ActorTag, Hello, SessionHealth, Update } from './model.js';

export interface TapOptions {
  /** A short caption for an event, e.g. the name of the frame a 'frame.received' carries. */
  readonly describe?: (event: { readonly type: string }) => string | undefined;
  /** Events that came from the actor's counterpart on `tag.peer` (drawn as arriving from its lane). */
  readonly remote?: (event: { readonly type: string }) => boolean;
  /**
   * Routine events (heartbeats, keepalive ticks): recorded only when they
   * change the state, so they do not bury the steps that matter.
   */
  readonly quiet?: (event: { readonly type: string }) => boolean;
}

export interface Tap {
  /** Pass as `createActor(machine, { inspect })`. */
  readonly inspect: (event: InspectionEvent) => void;
  /** Moves the tapped actors in the tree (a session path learns its peer once the handshake names it). */
  retag(tag: ActorTag): void;
}

export interface InspectorOptions {
  readonly host: string;
  /** Every inspection event of every tapped machine, as XState gives it (the host's `inspect` option). */
  readonly forward?: (event: InspectionEvent) => void;
  readonly listen?: string;
  /**
   * Names this run of the host in its actor ids (`<host>/<run>.<n>`), so the
   * actors of a restarted host never take the ids of the previous run's
   * (default: the start time in base 36).
   */
  readonly run?: string;
  readonly now?: () => number;
  readonly setTimeout?: (fn: () => void, ms: number) => unknown;
  readonly clearTimeout?: (handle: unknown) => void;
  /** Recent steps kept in memory for a new page or watcher (default 2,000). */
  readonly historyLimit?: number;
  /** Actors remembered after they end (failed handshakes, stopped vats), oldest forgotten first (default 256). */
  readonly endedLimit?: number;
  /** How long updates wait to travel as one batch (default 40 ms; the page shows them within 250 ms). */
  readonly batchMs?: number;
  /** What one peer's relay may make this host remember (see PeerLimits). */
  readonly peerLimits?: Partial<PeerLimits>;
}

/**
 * What a peer's relay may make this host keep. Steps are bounded by the
 * history and the relay rate; these bound the rest. A peer past a bound loses
 * its relay (VizRelayError), and this host keeps what it had.
 */
export interface PeerLimits {
  /** Actors of one peer held at once, live or ended (a host of ours runs tens to hundreds). */
  readonly actors: number;
  /** Machine definitions one peer brought (each up to ~400 states; ours run a handful of machines). */
  readonly defs: number;
}
export const DEFAULT_PEER_LIMITS: PeerLimits = { actors: 10_000, defs: 128 };

export interface WatchOptions {
  /** Only this host's own records (what a peer relays; it never forwards a third host's). */
  readonly ownOnly?: boolean;
  /**
   * The watcher has just taken the present (`hello()`, a relay's snapshot), which
   * already holds the records still waiting for the next batch: it gets only
   * what comes after. Without it a new page or peer receives those twice.
   */
  readonly fromPresent?: boolean;
  /**
   * A recorder (the store's history), not someone looking: it does not make
   * this host's vats trace their calls (see `Inspector.onLooking`).
   */
  readonly background?: boolean;
}

/**
 * The host's inspector: where every machine's inspection stream goes, and what
 * the page server, the store and peer hosts watch. Records from a peer are
 * checked before they are kept (check.ts); a peer past its PeerLimits, or one
 * that sends a malformed batch, gets VizRelayError and this host keeps what it had.
 */
export interface Inspector {
  /** The VatId of the host whose inspector this is. */
  readonly host: string;
  /** Registers a machine: pass the returned `inspect` to `createActor`; `tag` places it in the tree. */
  tap(tag: ActorTag, options?: TapOptions): Tap;
  /** Every batch of records from now on, until the returned function is called. */
  watch(deliver: (batch: readonly Update[]) => void, options?: WatchOptions): () => void;
  /**
   * Feeds this host's own records to a peer through `push`, one call in flight;
   * ends (with `onEnd`) when `push` fails, the peer falls too far behind, or `stop` is called.
   */
  relay(push: (batch: readonly Update[]) => Promise<unknown>, onEnd?: (err: unknown) => void): { stop(): void };
  /** Records relayed by `peer`; VizRelayError for a malformed batch or one past the peer's limits. */
  ingest(peer: string, batch: unknown): void;
  /** The relay from `peer` ended: its actors stay, with their last known state, marked `gone`. */
  peerGone(peer: string): void;
  /** The present and recent history, what a new page starts from. */
  hello(): Hello;
  /** Where session health comes from (this host's sessions), polled each second while someone watches. */
  setHealthSource(source: () => readonly Omit<SessionHealth, 'state'>[]): void;
  /**
   * A call-tracing report from this host's vat `vat` (vats/call-trace.ts):
   * checked, kept as recent history, and sent to watchers (runtime/viz/messages.ts).
   */
  vatCalls(vat: string, report: unknown): void;
  /**
   * `listener(true)` when the first watcher that is not `background` (a page,
   * a peer's relay) starts, `listener(false)` when the last one stops; called
   * at once with `true` if someone watches already. Returns the unsubscribe.
   */
  onLooking(listener: (looking: boolean) => void): () => void;
  /** Stops its timers and drops its watchers. */
  close(): void;
}
