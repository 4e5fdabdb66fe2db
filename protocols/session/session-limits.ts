/**
 * The limits of this host's sessions with other hosts, in one record beside
 * PathLimits (path.ts, the bounds of one path: frame sizes, timeouts, keepalive,
 * rekey, unsent bytes). These bound what peer hosts may make this host hold and
 * how long the session table waits; each layer that enforces one takes it from
 * here (the session table, the CapTP mux, the gateway, the vats), so a test can
 * shrink any of them through `startHost({ sessionLimits })`.
 */

/** Inbound handshakes in flight above which the listener demands a cookie round trip before any DH work. */
export const COOKIE_DEMAND_THRESHOLD = 32;
/**
 * How long a dial that lost a crossed-connection tie waits for the winner's
 * session: the winner's handshake is already under way (it told us so), so a
 * handshake timeout and a half is ample.
 */
export const CROSSED_WAIT_MS = 15_000;
/** Tickets the host itself admitted but nobody redeemed; the oldest go first. */
export const MAX_HOST_TICKETS = 10_000;
/** Unredeemed tickets each vat keeps (remote enlivens not yet redeemed); the oldest go first. */
export const MAX_VAT_TICKETS = 10_000;
/** Channels one session may hold: one per pair of talking endpoints; bounds what a peer can make us allocate. */
export const MAX_CHANNELS_PER_SESSION = 4096;
/** Names that refer to other names' sturdy refs are followed this deep, no deeper (no loops). */
export const MAX_REF_HOPS = 4;

export interface SessionLimits {
  /** Inbound handshakes in flight above which a Hello must come back with a cookie before any DH or signing. */
  readonly cookieDemandThreshold: number;
  /** How long a dial that lost a crossed-connection tie waits for the winner's session, in ms. */
  readonly crossedWaitMs: number;
  /** Unredeemed tickets for references the host itself holds; past it the oldest go first. */
  readonly maxHostTickets: number;
  /** Unredeemed tickets each vat keeps (enforced in the vat, vats/vat-main.ts); past it the oldest go first. */
  readonly maxVatTickets: number;
  /** Channels one session may hold, the gateway's included; one more is RemoteLimitError. */
  readonly maxChannelsPerSession: number;
  /** How deep a chain of sturdy refs (a connected name whose ref names another) is followed. */
  readonly maxRefHops: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = Object.freeze({
  cookieDemandThreshold: COOKIE_DEMAND_THRESHOLD,
  crossedWaitMs: CROSSED_WAIT_MS,
  maxHostTickets: MAX_HOST_TICKETS,
  maxVatTickets: MAX_VAT_TICKETS,
  maxChannelsPerSession: MAX_CHANNELS_PER_SESSION,
  maxRefHops: MAX_REF_HOPS,
});

/** The defaults with `given` over them; RangeError for a value that is not a positive integer or a name that is no session limit. */
export const sessionLimits = (given: Partial<SessionLimits> = {}): SessionLimits => {
  for (const [k, v] of Object.entries(given)) {
    if (!(k in DEFAULT_SESSION_LIMITS)) {
      throw new RangeError(`sessionLimits.${k} is not a session limit (known: ${Object.keys(DEFAULT_SESSION_LIMITS).join(', ')}; a path's timeouts and sizes go in pathLimits)`);
    }
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new RangeError(`sessionLimits.${k} must be a positive integer, got ${v}`);
  }
  return Object.freeze({ ...DEFAULT_SESSION_LIMITS, ...given });
};
