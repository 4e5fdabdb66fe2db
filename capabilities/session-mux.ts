/**
 * CapTP channels over one secure session between two hosts.
 *
 * A channel joins one endpoint on each host: a vat (by name) or the host itself
 * ('@host'). It is named by its two endpoints, so both hosts agree on it without
 * allocating ids, and a pair of vats that reach each other from both sides still
 * shares one channel (one CapTP connection, one set of tables). Channel
 * '@gw'↔'@gw' is the hosts' own CapTP connection, whose bootstrap is each
 * host's gateway (sturdy-ref enlivening).
 *
 * Each message travels as one inner frame: the tag says which CapTP operation it
 * is (Deliver = CTP_CALL, Return, Resolve, GCExport = CTP_DROP, Bootstrap,
 * ChannelClose = CTP_DISCONNECT), the payload is the JSON text
 * `["from","to",message]` (channel-codec.ts).
 *
 * Text ends: a channel end that takes text (`deliverText`, a vat's channel) gets
 * the message's JSON text as it came, and its vat parses and checks it, so the
 * host thread that relays a vat's messages neither decodes nor re-encodes them;
 * a vat sends text the same way (`sendText`). Other ends (the host's own
 * connections) get checked messages, parsed here.
 *
 * Failure semantics: a frame that is not one of these, or whose CapTP message is
 * malformed (captp-schema.ts), aborts the whole session with
 * ProtocolViolationError: the peer is broken or hostile, and a session is the
 * unit of trust. For a text end the message is checked in the vat, which reports
 * a malformed one to its host (`peer-fault`), and the host then aborts the
 * session the same way. A frame for a channel this side never opened is dropped
 * and counted: it can be a late message for a channel just closed. When the path
 * closes, every channel end is closed with SessionLostError.
 *
 * Backpressure: the mux keeps no queue. Each message is one `path.send`, written
 * with the rest of its turn's frames when the turn ends (path.ts); past the path's `maxUnsentBytes` (a peer that does not read) the path
 * aborts with PathBackpressureError, every channel closes with SessionLostError
 * (that error as its cause), and later sends are dropped here. The bound is per
 * path, not per channel, on purpose: channels share one ordered stream and have
 * no window of their own, so one channel's unsent bytes sit in front of every
 * other's, and closing only the channel that filled it would free nothing.
 */
import { Tag } from '../protocols/framing/frames.js';
import type { Lifetime } from '../protocols/lifetime.js';
import { MAX_CHANNELS_PER_SESSION } from '../protocols/session/session-limits.js';
import { NAME_PATTERN } from './names.js';
import type { CapTPMessage } from './captp-schema.js';
import { channelPayload, channelPrefix, messageText, parseMessageText, splitChannelPayload, TAG_OF_TYPE } from './channel-codec.js';

export { TAG_OF_TYPE };
import { makeConnection, type Connection } from './connection.js';
import { ProtocolViolationError, RemoteLimitError, SessionLostError } from './errors.js';

/**
 * What the mux rides on: between hosts, a peer's link (protocols/triple/peer-link.ts:
 * a triple session over its paths, which outlives any one of them), or a bare
 * SecurePath (protocols/session/path.ts). The mux is the one consumer of frames;
 * it is one of several parties waiting on the lifetime, whose end (the grace
 * period ran out, the peer restarted or stopped) closes every channel.
 */
export interface FramePath {
  send(tag: number, payload: Uint8Array): void;
  onFrame(handler: (tag: number, payload: Uint8Array) => void): void;
  abort(reason: Error): void;
  readonly lifetime: Lifetime;
}

/** The local side of one channel. */
export interface ChannelEnd {
  /** A message from the remote endpoint, already checked. */
  deliver(msg: CapTPMessage): void;
  /**
   * If set, every message but CTP_DISCONNECT comes here instead, as its inner
   * tag (a CapTP tag) and JSON text, unparsed and unchecked: the end's consumer
   * must parse and check it (parseMessageText) and report a malformed one.
   */
  deliverText?(tag: number, text: string): void;
  /** The channel ended: the remote endpoint went away, or the session did. Called once. */
  close(reason: Error): void;
}

export const GATEWAY_ENDPOINT = '@gw';
export const HOST_ENDPOINT = '@host';
/** A vat name or '@host': what a peer may name as an endpoint in `enliven` and `open` ('@gw' is never one). */
export const isEndpointName = (v: unknown): v is string => typeof v === 'string' && (v === HOST_ENDPOINT || NAME_PATTERN.test(v));


export interface SessionMux {
  /** The peer host's gateway (its bootstrap on the '@gw' channel). */
  gateway(): Promise<any>;
  /**
   * Opens (or returns the sender of) the channel `local`↔`remote`. The returned
   * function sends one CapTP message to the remote endpoint.
   */
  open(local: string, remote: string, end: ChannelEnd): (msg: CapTPMessage) => void;
  /**
   * Sends one message of an open channel as its tag and JSON text (messageText),
   * made by a vat: the relaying host writes it as it is. A tag that is not a
   * CapTP kind throws ProtocolViolationError (a bug of ours, not the peer's).
   */
  sendText(local: string, remote: string, tag: number, text: string): void;
  has(local: string, remote: string): boolean;
  /** Ends every channel of a local endpoint (its vat ended) and tells the peer why. */
  closeEndpoint(local: string, reason: Error): void;
  readonly channels: number;
  readonly dropped: number;
}

const key = (local: string, remote: string) => `${local}\u0000${remote}`;

/** The inner tags of CapTP messages: what a channel frame may carry. */
const CAPTP_TAGS: ReadonlySet<number> = new Set(Object.values(TAG_OF_TYPE));

export const makeSessionMux = (opts: {
  path: FramePath;
  name: string;
  /** What the peer host gets as this host's gateway. */
  gateway: unknown;
  traceLimit?: number;
  /** Channels this session may hold, the gateway's included; default SessionLimits' MAX_CHANNELS_PER_SESSION. */
  maxChannels?: number;
}): SessionMux => {
  const { path, name } = opts;
  const maxChannels = opts.maxChannels ?? MAX_CHANNELS_PER_SESSION;
  const ends = new Map<string, { local: string; remote: string; end: ChannelEnd }>();
  let dropped = 0;
  let lost: Error | undefined;

  /** `["local","remote",` per channel, made once. */
  const prefixes = new Map<string, string>();
  const prefixOf = (local: string, remote: string): string => {
    const k = key(local, remote);
    let p = prefixes.get(k);
    if (p === undefined) {
      p = channelPrefix(local, remote);
      prefixes.set(k, p);
    }
    return p;
  };
  const writeText = (local: string, remote: string, tag: number, text: string) => {
    if (lost || path.lifetime.isClosed) return;
    path.send(tag, channelPayload(prefixOf(local, remote), text));
    if (tag === Tag.ChannelClose) {
      // The local endpoint gave up on this channel: it is over on both sides.
      const entry = ends.get(key(local, remote));
      ends.delete(key(local, remote));
      prefixes.delete(key(local, remote));
      entry?.end.close(new SessionLostError(`${name}: channel ${local}↔${remote} closed by ${local}`));
    }
  };
  const sendOn = (local: string, remote: string) => (msg: CapTPMessage) => {
    const tag = TAG_OF_TYPE[msg.type];
    // Our own vats send only these; anything else is a bug here, not the peer's.
    if (tag === undefined) throw new ProtocolViolationError(`${name}: cannot send ${msg.type} to another host`);
    writeText(local, remote, tag, messageText(msg));
  };

  const violation = (why: string) => {
    path.abort(new ProtocolViolationError(`${name}: ${why}`));
  };

  const onFrame = (tag: number, payload: Uint8Array) => {
    if (lost) return;
    if (!CAPTP_TAGS.has(tag)) return violation(`inner tag ${tag} is not a CapTP kind`);
    const split = splitChannelPayload(payload);
    if (typeof split === 'string') return violation(split);
    const { from, to, text } = split;
    // Our key is (local, remote): the sender's `from` is our remote.
    const entry = ends.get(key(to, from));
    if (entry?.end.deliverText && tag !== Tag.ChannelClose) {
      entry.end.deliverText(tag, text);
      return;
    }
    const m = parseMessageText(text);
    if (typeof m === 'string') return violation(m);
    if (TAG_OF_TYPE[m.type] !== tag) return violation(`frame tag ${tag} does not match ${m.type}`);
    // Checked like any other (a malformed one is a fault), then dropped.
    if (!entry) {
      dropped += 1;
      return;
    }
    if (m.type === 'CTP_DISCONNECT') {
      // The hosts' own channel lives as long as the session: without it no enliven works.
      if (to === GATEWAY_ENDPOINT) return violation('the peer closed the gateway channel');
      ends.delete(key(to, from));
      prefixes.delete(key(to, from));
      const reason = m['reason'] as { message?: unknown } | undefined;
      const why = typeof reason?.message === 'string' ? reason.message.slice(0, 500) : `endpoint "${from}" went away`;
      entry.end.close(new SessionLostError(`${name}: ${why}`));
      return;
    }
    entry.end.deliver(m);
  };

  path.lifetime.onClose((reason) => {
    lost = new SessionLostError(`${name}: session ended: ${reason.message}`, { cause: reason });
    const all = [...ends.values()];
    ends.clear();
    for (const { end } of all) end.close(lost);
  });

  const open = (local: string, remote: string, end: ChannelEnd) => {
    if (lost) throw lost;
    const k = key(local, remote);
    if (!ends.has(k)) {
      if (ends.size >= maxChannels) {
        throw new RemoteLimitError(`${name}: more than ${maxChannels} channels in one session`);
      }
      ends.set(k, { local, remote, end });
    }
    return sendOn(local, remote);
  };
  const sendText = (local: string, remote: string, tag: number, text: string) => {
    if (!CAPTP_TAGS.has(tag)) throw new ProtocolViolationError(`${name}: cannot send inner tag ${tag} to another host`);
    writeText(local, remote, tag, text);
  };

  // The hosts' own channel.
  const gatewayConn: Connection = makeConnection({
    name: `${name}@gw`,
    send: sendOn(GATEWAY_ENDPOINT, GATEWAY_ENDPOINT),
    bootstrap: opts.gateway,
    traceLimit: opts.traceLimit ?? 0,
    // A malformed message on the hosts' channel is a session fault like any other.
    onAbort: (reason) => {
      if (reason.name === 'ProtocolViolationError' && !path.lifetime.isClosed) path.abort(reason);
    },
  });
  open(GATEWAY_ENDPOINT, GATEWAY_ENDPOINT, {
    deliver: (m) => gatewayConn.dispatch(m),
    close: (reason) => gatewayConn.abort(reason),
  });
  // Last: a path hands over frames that arrived early as soon as a handler is set.
  path.onFrame(onFrame);
  const gatewayBoot = gatewayConn.getBootstrap();
  // Unobserved until someone asks; a lost session must not become an unhandled rejection.
  gatewayBoot.catch(() => {});

  return {
    gateway: () => gatewayBoot,
    open,
    sendText,
    has: (local, remote) => ends.has(key(local, remote)),
    closeEndpoint(local, reason) {
      for (const [k, entry] of [...ends]) {
        if (entry.local !== local) continue;
        ends.delete(k);
        prefixes.delete(k);
        sendOn(entry.local, entry.remote)({ type: 'CTP_DISCONNECT', reason: { name: reason.name, message: reason.message } });
        entry.end.close(reason);
      }
    },
    get channels() {
      return ends.size;
    },
    get dropped() {
      return dropped;
    },
  };
};
