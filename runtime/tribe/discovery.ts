/**
 * Discovery: the hosts ("sisters") of one tribe on one machine (or one LAN address)
 * find each other by UDP announcements.
 *
 * Why a port range and not multicast or broadcast: loopback has no broadcast,
 * multicast on `lo` is off by default, and two sockets cannot both receive unicast
 * on one port. So each host binds the first free port of [basePort, basePort+ports)
 * on `address` and, every `intervalMs` (and on `announceNow()`), sends its
 * announcement to every other port of the range on that address. One socket sends
 * and receives, so a receiver knows its sisters' ports from the datagrams' source.
 *
 * Datagram: 'TRB1' ‖ HMAC-SHA256(secret, 'TRB1' ‖ payload) ‖ payload. The payload is
 * opaque here. The MAC proves only that a holder of the tribe secret made the bytes
 * once: anyone on the link can replay a captured announcement, so a payload that
 * must be fresh carries its own counter or time.
 *
 * Failure semantics:
 * - `startDiscovery` rejects with a RangeError naming the option for bad options,
 *   and with a DiscoveryAddressError when `address` cannot be bound at all (not an
 *   address of this machine, not allowed). A range whose every port is taken is no
 *   error: the host still announces (from an ephemeral port) but cannot hear, says
 *   so once through `onProblem`, and `port` is undefined.
 * - Nothing after the start throws or crashes the process: a payload that is too
 *   large (AnnouncementTooLargeError) or whose making throws, a send error (EPERM,
 *   ENETUNREACH …), a socket error and an `onHeard` that throws all go to
 *   `onProblem`, each distinct message once.
 * - Received datagrams that are short, carry another magic, are oversized, fail the
 *   MAC or are this host's own are dropped and counted by reason, never thrown.
 * - Timers and the socket are unref'd: discovery never keeps a process alive.
 *   `close()` is idempotent and leaves no timer or socket behind.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { describeError, TribeError } from '../../capabilities/errors.js';

/** Arbitrary, away from well-known services. It lies in Linux's ephemeral range (32768–60999), so a port may be taken by chance: the next free one of the range serves. */
export const DISCOVERY_BASE_PORT = 47470;
/** Hosts of one machine that can hear at once (one port each); more can still announce. */
export const DISCOVERY_PORTS = 16;
/** Sisters find each other within about a second; 15 small datagrams a second per host is nothing on loopback. */
export const DISCOVERY_INTERVAL_MS = 1000;
/** Fits one datagram on any link without fragmentation (IPv6's minimum MTU 1280 less IP, UDP and our header). */
export const MAX_ANNOUNCEMENT_BYTES = 1200;

/** Widest range: every port of it gets every announcement, so sends per interval grow with it. */
const MAX_PORTS = 64;
/** Below this the announcements would cost more than they find. */
const MIN_INTERVAL_MS = 50;
/** The tribe secret is a 32-byte key. */
const SECRET_BYTES = 32;
const MAGIC = Buffer.from('TRB1', 'latin1');
const MAC_BYTES = 32;
const HEADER_BYTES = MAGIC.length + MAC_BYTES;
/** Problems already reported, remembered so that each is reported once; bounded so that a stream of distinct ones cannot grow memory. */
const MAX_PROBLEMS_REMEMBERED = 32;

/** A payload longer than MAX_ANNOUNCEMENT_BYTES: not sent (reported through onProblem). */
export class AnnouncementTooLargeError extends TribeError {}
/** The discovery address cannot be bound (not an address of this machine, or not allowed). */
export class DiscoveryAddressError extends TribeError {}

export interface DiscoveryOptions {
  /** Where to announce and listen: '127.0.0.1', '::1', or a LAN address of this machine. */
  readonly address: string;
  /** First port of the range (default DISCOVERY_BASE_PORT). */
  readonly basePort?: number;
  /** Ports in the range, 1–64 (default DISCOVERY_PORTS). */
  readonly ports?: number;
  /** The tribe secret (32 bytes); datagrams are authenticated with HMAC-SHA256 under it. Copied at the start. */
  readonly secret: Uint8Array;
  /** What to announce now; called at each announcement. At most MAX_ANNOUNCEMENT_BYTES, else AnnouncementTooLargeError to onProblem. */
  readonly payload: () => Uint8Array;
  /** Between announcements, ≥ 50 (default DISCOVERY_INTERVAL_MS). */
  readonly intervalMs?: number;
  /** An authenticated announcement from a sister (a copy of its payload, and the socket it came from). */
  readonly onHeard: (payload: Uint8Array, from: { address: string; port: number }) => void;
  /** Something went wrong that did not stop discovery; each distinct message once. */
  readonly onProblem?: (message: string) => void;
}

/** Why a received datagram was dropped. */
export type DropReason = 'short' | 'magic' | 'mac' | 'size' | 'self';

export interface DiscoveryStats {
  /** Datagrams the OS accepted for sending (one per other port of the range per announcement). */
  readonly sent: number;
  /** Authenticated announcements given to onHeard. */
  readonly heard: number;
  readonly dropped: Record<DropReason, number>;
}

export interface Discovery {
  /** The port of the range this host hears on; undefined when every port was taken. */
  readonly port: number | undefined;
  /** Announce at once (e.g. after a change), besides the interval. Never throws. */
  announceNow(): void;
  stats(): DiscoveryStats;
  /** Idempotent; afterwards no timer or socket is left and nothing more is heard or reported. */
  close(): Promise<void>;
}

interface Settings {
  readonly address: string;
  readonly type: 'udp4' | 'udp6';
  readonly basePort: number;
  readonly ports: number;
  readonly key: KeyObject;
  readonly intervalMs: number;
}

const checkOptions = (opts: DiscoveryOptions): Settings => {
  const family = isIP(opts.address);
  if (family === 0) throw new RangeError(`address must be an IPv4 or IPv6 address, not ${JSON.stringify(opts.address)}`);
  const ports = opts.ports ?? DISCOVERY_PORTS;
  if (!Number.isInteger(ports) || ports < 1 || ports > MAX_PORTS) throw new RangeError(`ports must be an integer from 1 to ${MAX_PORTS}, not ${ports}`);
  const basePort = opts.basePort ?? DISCOVERY_BASE_PORT;
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + ports - 1 > 65535) {
    throw new RangeError(`basePort must be an integer from 1 to ${65536 - ports} (so that its ${ports} ports fit under 65536), not ${basePort}`);
  }
  if (!(opts.secret instanceof Uint8Array) || opts.secret.length !== SECRET_BYTES) {
    throw new RangeError(`secret must be ${SECRET_BYTES} bytes, not ${opts.secret?.length}`);
  }
  const intervalMs = opts.intervalMs ?? DISCOVERY_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs < MIN_INTERVAL_MS) throw new RangeError(`intervalMs must be at least ${MIN_INTERVAL_MS}, not ${intervalMs}`);
  // createSecretKey copies the bytes: a caller that reuses its array later changes nothing here.
  const key = createSecretKey(Buffer.from(opts.secret));
  return { address: opts.address, type: family === 6 ? 'udp6' : 'udp4', basePort, ports, key, intervalMs };
};

const macOf = (key: KeyObject, payload: Uint8Array): Buffer => createHmac('sha256', key).update(MAGIC).update(payload).digest();

/** A socket bound to `port` (0: an ephemeral one), or undefined when the port is taken. */
const bindTo = (s: Settings, port: number): Promise<Socket | undefined> =>
  new Promise((resolve, reject) => {
    // No reuseAddr: a second socket on a taken port must fail, which is how a host finds a free one.
    const socket = createSocket({ type: s.type, reuseAddr: false });
    const failed = (err: NodeJS.ErrnoException) => {
      socket.close();
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(new DiscoveryAddressError(`cannot bind ${s.address} port ${port} for discovery (${err.code ?? err.message})`, { cause: err }));
    };
    socket.once('error', failed);
    socket.bind({ port, address: s.address }, () => {
      socket.off('error', failed);
      resolve(socket);
    });
  });

/** The first free port of the range, or an ephemeral port (undefined `port`) when all are taken. */
const bindFirstFree = async (s: Settings): Promise<{ socket: Socket; port: number | undefined }> => {
  for (let port = s.basePort; port < s.basePort + s.ports; port++) {
    const socket = await bindTo(s, port);
    if (socket) return { socket, port };
  }
  const socket = await bindTo(s, 0);
  if (!socket) throw new DiscoveryAddressError(`cannot bind ${s.address} for discovery: no ephemeral port free`);
  return { socket, port: undefined };
};

/** Reports each distinct problem once (within the last MAX_PROBLEMS_REMEMBERED). */
const makeReporter = (onProblem: ((message: string) => void) | undefined) => {
  const seen = new Set<string>();
  return (message: string): void => {
    if (seen.has(message)) return;
    seen.add(message);
    if (seen.size > MAX_PROBLEMS_REMEMBERED) seen.delete(seen.values().next().value as string);
    try {
      onProblem?.(message);
    } catch {
      // A reporter that throws has nobody left to report to.
    }
  };
};

export const startDiscovery = async (opts: DiscoveryOptions): Promise<Discovery> => {
  const s = checkOptions(opts);
  const { socket, port } = await bindFirstFree(s);
  const ownPort = socket.address().port;
  let closed = false;
  let closing: Promise<void> | undefined;
  let lastSent: Buffer | undefined;
  let sent = 0;
  let heard = 0;
  const dropped: Record<DropReason, number> = { short: 0, magic: 0, mac: 0, size: 0, self: 0 };
  const report = makeReporter(opts.onProblem);
  const range = `${s.address} ports ${s.basePort}–${s.basePort + s.ports - 1}`;
  if (port === undefined) report(`discovery: every port of ${range} is taken; this host announces but cannot hear its sisters`);

  const datagram = (): Buffer => {
    const payload = opts.payload();
    if (payload.length > MAX_ANNOUNCEMENT_BYTES) {
      throw new AnnouncementTooLargeError(`an announcement of ${payload.length} bytes is over ${MAX_ANNOUNCEMENT_BYTES}; not sent`);
    }
    return Buffer.concat([MAGIC, macOf(s.key, payload), payload]);
  };

  const announce = (): void => {
    if (closed) return;
    let bytes: Buffer;
    try {
      bytes = datagram();
    } catch (err) {
      report(`discovery: ${describeError(err)}`);
      return;
    }
    lastSent = bytes;
    // Without the port: one report per kind of failure, not one per sister.
    const failed = (err: Error) => report(`discovery: cannot send to ${s.address} (${(err as NodeJS.ErrnoException).code ?? err.message})`);
    for (let to = s.basePort; to < s.basePort + s.ports; to++) {
      if (to === port) continue;
      try {
        socket.send(bytes, to, s.address, (err) => {
          if (closed) return;
          if (err) failed(err);
          else sent++;
        });
      } catch (err) {
        failed(err as Error);
      }
    }
  };

  const dropReason = (msg: Buffer, from: RemoteInfo): DropReason | undefined => {
    if (msg.length < HEADER_BYTES) return 'short';
    if (!msg.subarray(0, MAGIC.length).equals(MAGIC)) return 'magic';
    // Before the MAC, so an oversized datagram costs no hashing.
    if (msg.length - HEADER_BYTES > MAX_ANNOUNCEMENT_BYTES) return 'size';
    // Our own bytes replayed from elsewhere count too (a sister announcing the very same bytes tells nothing new).
    if ((from.port === ownPort && from.address === s.address) || lastSent?.equals(msg)) return 'self';
    const mac = macOf(s.key, msg.subarray(HEADER_BYTES));
    if (!timingSafeEqual(mac, msg.subarray(MAGIC.length, HEADER_BYTES))) return 'mac';
    return undefined;
  };

  socket.on('message', (msg, from) => {
    if (closed) return;
    const reason = dropReason(msg, from);
    if (reason) {
      dropped[reason]++;
      return;
    }
    heard++;
    try {
      opts.onHeard(new Uint8Array(msg.subarray(HEADER_BYTES)), { address: from.address, port: from.port });
    } catch (err) {
      report(`discovery: onHeard threw: ${describeError(err)}`);
    }
  });
  socket.on('error', (err) => {
    if (!closed) report(`discovery: socket error: ${describeError(err)}`);
  });
  socket.unref();
  const timer = setInterval(announce, s.intervalMs);
  timer.unref();
  announce();

  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      closed = true;
      clearInterval(timer);
      socket.close(() => resolve());
    });
    return closing;
  };

  return Object.freeze({
    port,
    announceNow: announce,
    stats: (): DiscoveryStats => ({ sent, heard, dropped: { ...dropped } }),
    close,
  });
};
