/**
 * A host's side of relaying (docs/protocol.md section 15): asks a bridge, over
 * the hop session with it, to meet a peer (Provide or Accept with the nonce
 * both ends know) and turns the route it gets into a ByteStream, over which the
 * two ends then run their own secure path (handshake and AEAD, end to end).
 *
 * Failure semantics: `meet` rejects with the bridge's refusal by name
 * (NotABridgeError, BridgeLimitError, BridgeRendezvousTimeoutError, …), with
 * BridgeRendezvousTimeoutError when no answer comes within `timeoutMs`, or with
 * RelayEndedError when the hop session ends first. A stream ends (`onClose`
 * with the reason) when the bridge sends End, when the hop session ends, or
 * when `endAll` is called (its hop session lost its last path: bytes can no
 * longer flow, and waiting would only delay the replacement of the path).
 * Closing a stream tells the bridge (End), which tells the other end.
 */
import type { ByteStream } from '../framing/byte-stream.js';
import { Tag } from '../framing/frames.js';
import { shortVatId, type VatId } from '../session/vat-id.js';
import { type Control, encodeControl, encodeRelay, MAX_RELAY_CHUNK_BYTES, Op } from './codec.js';
import { type BridgeError, bridgeErrorFromCode, BridgeRendezvousTimeoutError, RelayEndedError } from './errors.js';
import type { HopLink } from './hop.js';

/** A meet's answer may take the bridge's whole rendezvous wait (10 s) and a round trip. */
export const MEET_TIMEOUT_MS = 12_000;

export interface RelayClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

/** A relayed stream, and when it ended (with the reason, or undefined when its own end closed it). */
export interface RelayStream extends ByteStream {
  readonly ended: Promise<Error | undefined>;
}

export interface RelayClient {
  /** Meets `peer` at this bridge with `nonce` (Provide: we dial the path; Accept: the peer does). */
  meet(op: typeof Op.Provide | typeof Op.Accept, peer: VatId, nonce: Uint8Array): Promise<RelayStream>;
  /** Ready, Refused or End from the bridge. */
  control(c: Control): void;
  /** A Relay frame for one of our routes; false when the route is not ours or not live. */
  relay(route: number, bytes: Uint8Array): boolean;
  /** Ends every stream and meet with `reason` (the hop session lost its paths). */
  endAll(reason: Error): void;
  readonly streams: number;
}

interface RouteStream {
  readonly stream: RelayStream;
  deliver(bytes: Uint8Array): void;
  end(err?: Error): void;
}

export const makeRelayClient = (link: HopLink, opts: { clock: RelayClock; timeoutMs?: number }): RelayClient => {
  const { clock } = opts;
  const timeoutMs = opts.timeoutMs ?? MEET_TIMEOUT_MS;
  const routes = new Map<number, RouteStream>();
  const meets = new Map<number, { resolve(s: RelayStream): void; reject(e: Error): void; timer: unknown }>();
  let nextReq = 1;
  const bridge = shortVatId(link.peer);

  const endAll = (reason: Error) => {
    for (const [req, m] of [...meets]) {
      meets.delete(req);
      clock.clearTimeout(m.timer);
      m.reject(reason);
    }
    for (const r of [...routes.values()]) r.end(reason);
  };
  link.lifetime.onClose(() => endAll(new RelayEndedError(`the session with bridge ${bridge} ended`)));

  const openRoute = (route: number): RouteStream => {
    let onData: ((chunk: Uint8Array) => void) | undefined;
    let onClose: ((err?: Error) => void) | undefined;
    let early: Uint8Array[] = [];
    let closed = false;
    let why: Error | undefined;
    let settle!: (err: Error | undefined) => void;
    const ended = new Promise<Error | undefined>((resolve) => {
      settle = resolve;
    });
    const finish = (err: Error | undefined) => {
      if (closed) return;
      closed = true;
      why = err;
      routes.delete(route);
      early = [];
      settle(err);
      onClose?.(err);
    };
    const writeOne = (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length; at += MAX_RELAY_CHUNK_BYTES) {
        link.send(Tag.Relay, encodeRelay(route, bytes.subarray(at, at + MAX_RELAY_CHUNK_BYTES)));
      }
    };
    const stream: RelayStream = {
      ended,
      write(bytes) {
        if (closed) return false;
        try {
          writeOne(bytes);
        } catch (err) {
          finish(err as Error);
          return false;
        }
        return true;
      },
      writev(parts) {
        if (closed) return false;
        try {
          for (const p of parts) writeOne(p);
        } catch (err) {
          finish(err as Error);
          return false;
        }
        return true;
      },
      get unsentBytes() {
        return closed ? 0 : link.backlog();
      },
      drained: () => Promise.resolve(),
      onData(h) {
        onData = h;
        const held = early;
        early = [];
        for (const b of held) h(b);
      },
      onClose(h) {
        onClose = h;
        if (closed) h(why);
      },
      close() {
        if (closed) return;
        if (!link.lifetime.isClosed) {
          try {
            link.send(Tag.BridgeControl, encodeControl({ op: Op.End, route, code: 'relay-ended', message: 'closed by its end' }));
          } catch {
            // the hop session ended meanwhile: the bridge ends the route itself
          }
        }
        finish(undefined);
      },
      remoteAddress: `via ${bridge}`,
    };
    const r: RouteStream = {
      stream,
      deliver(bytes) {
        if (closed) return;
        if (onData) onData(bytes);
        // Before the path's reader is set (the meet's promise settles a turn later): kept, in order.
        else early.push(new Uint8Array(bytes));
      },
      end: finish,
    };
    routes.set(route, r);
    return r;
  };

  return {
    meet(op, peer, nonce) {
      if (link.lifetime.isClosed) return Promise.reject(new RelayEndedError(`the session with bridge ${bridge} ended`));
      const req = nextReq++;
      return new Promise<RelayStream>((resolve, reject) => {
        const timer = clock.setTimeout(() => {
          if (!meets.delete(req)) return;
          reject(new BridgeRendezvousTimeoutError(`bridge ${bridge} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        meets.set(req, { resolve, reject, timer });
        link.send(Tag.BridgeControl, encodeControl({ op, req, peer, nonce }));
      });
    },
    control(c) {
      if (c.op === Op.Ready || c.op === Op.Refused) {
        const m = meets.get(c.req);
        if (!m) {
          // Timed out here already: the route the bridge made is not wanted.
          if (c.op === Op.Ready && !link.lifetime.isClosed) {
            link.send(Tag.BridgeControl, encodeControl({ op: Op.End, route: c.route, code: 'relay-ended', message: 'the meet timed out' }));
          }
          return;
        }
        meets.delete(c.req);
        clock.clearTimeout(m.timer);
        if (c.op === Op.Ready) m.resolve(openRoute(c.route).stream);
        else m.reject(bridgeErrorFromCode(c.code, `bridge ${bridge}: ${c.message}`) as BridgeError);
      } else if (c.op === Op.End) {
        routes.get(c.route)?.end(bridgeErrorFromCode(c.code, `bridge ${bridge}: ${c.message}`));
      }
    },
    relay(route, bytes) {
      const r = routes.get(route);
      if (!r) return false;
      r.deliver(bytes);
      return true;
    },
    endAll,
    get streams() {
      return routes.size;
    },
  };
};
