/**
 * What travels between a host and one of its vat workers. CapTP messages ride in
 * `c` envelopes; the rest is vat management that must work even when CapTP is
 * busy or broken (liveness pings) or cannot be expressed in CapTP at all
 * (transferring a MessagePort to set up a direct vat-to-vat channel).
 */
import type { CapTPMessage } from '../capabilities/connection.js';
import type { HandoffLimits } from '../capabilities/handoff.js';
import type { CallReport } from './call-trace.js';

export type HostToVat =
  | { readonly k: 'c'; readonly m: CapTPMessage }
  /**
   * A direct channel to another vat; `port` is a transferred MessagePort. A
   * `remote` peer is a vat (or host) on another host, named `<VatId>/<endpoint>`:
   * it may only redeem tickets its host admitted, never fetch exports by key.
   * Over a local peer's port CapTP messages go as objects; over a remote one as
   * text (tag char ‖ JSON, capabilities/channel-codec.ts), one item or a turn's
   * array of them (capabilities/outbox.ts), and the vat checks what it gets.
   */
  | { readonly k: 'peer'; readonly vat: string; readonly port: unknown; readonly remote?: boolean }
  /** The named vat ended: abort the channel to it with this (flattened) error. */
  | { readonly k: 'peer-gone'; readonly vat: string; readonly reason: string }
  | { readonly k: 'ping'; readonly n: number }
  /** The answer to the vat's `introduce` `req`: the owner is reached (`ok`), or why it is out of reach. */
  | { readonly k: 'introduced'; readonly req: number; readonly ok?: true; readonly error?: string }
  /** Trace calls for the visualizer (someone watches) or stop (vats/call-trace.ts). */
  | { readonly k: 'trace-calls'; readonly on: boolean }
  /** Finish the current turn (commit, send), then end the worker. */
  | { readonly k: 'stop' };

export type VatToHost =
  | { readonly k: 'c'; readonly m: CapTPMessage }
  /** `external`: bytes outside the V8 heap (ArrayBuffers), which resourceLimits does not bound. */
  | { readonly k: 'pong'; readonly n: number; readonly external: number }
  /** One line from the vat's `log` power, for the host's output. */
  | { readonly k: 'log'; readonly line: string }
  /** The worker set up its CapTP side and can take `load()`. */
  | { readonly k: 'online' }
  /** A remote peer sent malformed CapTP: its host should end that session. */
  | { readonly k: 'peer-fault'; readonly vat: string; readonly reason: string }
  /** The vat claims a gift from `owner` (a full id) given by `donor`: the host makes it a channel to the owner. */
  | {
      readonly k: 'introduce';
      readonly req: number;
      readonly owner: string;
      readonly hints: readonly string[];
      readonly donor: string;
      /** The vat has a channel to the owner already and claims at once: it waits for no answer. */
      readonly linked?: boolean;
    }
  /** Traced calls and answers, dropped counts, references held (only while tracing is on). */
  | ({ readonly k: 'calls' } & CallReport)
  /** How the claim of introduction `req` ended: the host's rendezvous machine finishes. */
  | { readonly k: 'handoff'; readonly req: number; readonly outcome: 'direct' | 'proxied'; readonly why?: string };

/** The smallest port the vat layer needs; runtime/ wraps MessagePort and Worker into it. */
export interface PortLike {
  postMessage(msg: unknown, transfer?: readonly unknown[]): void;
  onMessage(handler: (msg: unknown) => void): void;
  /** Called once when the other end goes away. */
  onClose(handler: () => void): void;
  close(): void;
}

/** What the host tells a new vat worker at start (structured-clone data only). */
export interface VatSpec {
  readonly name: string;
  /** The VatId of the host: with the vat's name, its full id `<VatId>/<name>` in handoff. */
  readonly hostId: string;
  /** Bounds of this vat's gift table (capabilities/handoff.ts); default DEFAULT_HANDOFF_LIMITS. */
  readonly handoffLimits?: Partial<HandoffLimits>;
  /** Absolute file path of the actor module (.js or .ts). */
  readonly module: string;
  /** The same as a file: URL; its directory bounds what the module may import. */
  readonly moduleUrl: string;
  /** JSON text of the params passed to `make(powers, params)`. */
  readonly params: string;
  /** Durable vats get `powers.store`, committed per turn. */
  readonly durable: boolean;
  /**
   * A replica of a replicated service (runtime/replica/): durable, its turn's
   * writes and replies commit through the service's log (a majority of its
   * replicas) before its messages leave, its root is not published under its
   * name (callers reach the service through a front that follows the leader),
   * and the host calls it through `VatAdmin.invoke` with call ids.
   */
  readonly replicated?: boolean;
  /** Extra authority for the compartment: 'clock' (Date.now/new Date), 'random' (Math.random). */
  readonly grants: readonly Grant[];
  /** Keep this many CapTP messages per connection for tracing; 0 = off. */
  readonly traceLimit: number;
  /** Unredeemed tickets (remote enlivens) the vat keeps before it drops the oldest; default SessionLimits' MAX_VAT_TICKETS. */
  readonly maxTickets?: number;
}


export const GRANTS = ['clock', 'random'] as const;
export type Grant = (typeof GRANTS)[number];
