/**
 * The two inner frames of bridges (docs/protocol.md section 15), sent on a hop
 * session between a host and a bridge, inside that session's ordered stream:
 *
 *   Relay (30)          u32 route ‖ bytes                        bytes of one relayed stream
 *   BridgeControl (31)  u8 op ‖ …                                see below
 *     1 Provide / 2 Accept   op ‖ u32 req ‖ 52 B peer VatId (ASCII) ‖ 32 B nonce
 *     3 Ready                op ‖ u32 req ‖ u32 route
 *     4 Refused              op ‖ u32 req ‖ u8 n ‖ code (n B ASCII) ‖ message (UTF-8, rest)
 *     5 End                  op ‖ u32 route ‖ u8 n ‖ code ‖ message
 *
 * Fixed layouts: a decoder refuses anything else with BridgeMalformedError
 * before a byte of it is acted on. Route and request ids are non-zero.
 */
import { BRIDGE_NONCE_BYTES } from '../session/messages.js';
import { isVatId, VAT_ID_CHARS, type VatId } from '../session/vat-id.js';
import { BridgeMalformedError } from './errors.js';

export const Op = { Provide: 1, Accept: 2, Ready: 3, Refused: 4, End: 5 } as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Bytes of one Relay frame's payload at most: a 64 KiB chunk keeps one stream from holding a hop session's batch long. */
export const MAX_RELAY_CHUNK_BYTES = 64 * 1024;
/** A reason's code is a wire code (SessionError.code); its message is cut to this. */
const MAX_CODE_BYTES = 64;
const MAX_MESSAGE_BYTES = 512;

export type Control =
  | { readonly op: typeof Op.Provide | typeof Op.Accept; readonly req: number; readonly peer: VatId; readonly nonce: Uint8Array }
  | { readonly op: typeof Op.Ready; readonly req: number; readonly route: number }
  | { readonly op: typeof Op.Refused; readonly req: number; readonly code: string; readonly message: string }
  | { readonly op: typeof Op.End; readonly route: number; readonly code: string; readonly message: string };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

const u32 = (v: DataView, at: number, what: string): number => {
  const n = v.getUint32(at);
  if (n === 0) throw new BridgeMalformedError(`${what} 0`);
  return n;
};

export const encodeRelay = (route: number, bytes: Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, route);
  out.set(bytes, 4);
  return out;
};

/** The route and a view of the bytes (valid while the payload is). */
export const decodeRelay = (payload: Uint8Array): { route: number; bytes: Uint8Array } => {
  if (payload.length < 5 || payload.length > 4 + MAX_RELAY_CHUNK_BYTES) throw new BridgeMalformedError(`Relay of ${payload.length} bytes`);
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return { route: u32(v, 0, 'Relay route'), bytes: payload.subarray(4) };
};

const reasonBytes = (code: string, message: string): Uint8Array => {
  const c = utf8.encode(code).subarray(0, MAX_CODE_BYTES);
  let m = utf8.encode(message);
  if (m.length > MAX_MESSAGE_BYTES) m = utf8.encode(message.slice(0, MAX_MESSAGE_BYTES / 4));
  const out = new Uint8Array(1 + c.length + m.length);
  out[0] = c.length;
  out.set(c, 1);
  out.set(m, 1 + c.length);
  return out;
};

export const encodeControl = (c: Control): Uint8Array => {
  if ('peer' in c) {
    const out = new Uint8Array(5 + VAT_ID_CHARS + BRIDGE_NONCE_BYTES);
    const v = new DataView(out.buffer);
    out[0] = c.op;
    v.setUint32(1, c.req);
    out.set(utf8.encode(c.peer), 5);
    out.set(c.nonce, 5 + VAT_ID_CHARS);
    return out;
  }
  if ('route' in c && c.op === Op.Ready) {
    const out = new Uint8Array(9);
    const v = new DataView(out.buffer);
    out[0] = c.op;
    v.setUint32(1, c.req);
    v.setUint32(5, c.route);
    return out;
  }
  if (!('code' in c)) throw new RangeError('unreachable');
  const reason = reasonBytes(c.code, c.message);
  const out = new Uint8Array(5 + reason.length);
  out[0] = c.op;
  new DataView(out.buffer).setUint32(1, 'req' in c ? c.req : c.route);
  out.set(reason, 5);
  return out;
};

export const decodeControl = (p: Uint8Array): Control => {
  if (p.length < 5) throw new BridgeMalformedError(`BridgeControl of ${p.length} bytes`);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const op = p[0]!;
  const id = u32(v, 1, 'BridgeControl id');
  switch (op) {
    case Op.Provide:
    case Op.Accept: {
      if (p.length !== 5 + VAT_ID_CHARS + BRIDGE_NONCE_BYTES) throw new BridgeMalformedError(`BridgeControl ${op} of ${p.length} bytes`);
      const peer = String.fromCharCode(...p.subarray(5, 5 + VAT_ID_CHARS));
      if (!isVatId(peer)) throw new BridgeMalformedError('BridgeControl peer is not a VatId');
      return { op, req: id, peer, nonce: p.slice(5 + VAT_ID_CHARS) };
    }
    case Op.Ready:
      if (p.length !== 9) throw new BridgeMalformedError(`Ready of ${p.length} bytes`);
      return { op, req: id, route: u32(v, 5, 'Ready route') };
    case Op.Refused:
    case Op.End: {
      const n = p[5];
      if (n === undefined || n === 0 || n > MAX_CODE_BYTES || p.length < 6 + n || p.length > 6 + n + MAX_MESSAGE_BYTES) {
        throw new BridgeMalformedError(`BridgeControl ${op}: bad reason`);
      }
      const code = String.fromCharCode(...p.subarray(6, 6 + n));
      if (!/^[a-z0-9-]+$/.test(code)) throw new BridgeMalformedError('BridgeControl reason code');
      let message: string;
      try {
        message = fromUtf8.decode(p.subarray(6 + n));
      } catch {
        throw new BridgeMalformedError('BridgeControl reason message is not UTF-8');
      }
      return op === Op.Refused ? { op, req: id, code, message } : { op, route: id, code, message };
    }
    default:
      throw new BridgeMalformedError(`unknown BridgeControl op ${op}`);
  }
};

/** A bridge as hosts name it: `tribe://<VatId>@<host>:<port>` (a sturdy ref's form, without a swiss number). */
export interface BridgeRef {
  readonly vatId: VatId;
  /** 'host:port' or '[v6]:port', as a dial takes it. */
  readonly address: string;
}

const REF_PATTERN = /^tribe:\/\/([a-z2-7]{52})@((?:\[[0-9a-fA-F:.]+\])|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** The ref, or undefined when `text` is not one (checked, never thrown: refs come from peers too). */
export const parseBridgeRef = (text: unknown): BridgeRef | undefined => {
  if (typeof text !== 'string' || text.length > 256) return undefined;
  const m = REF_PATTERN.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535 || !isVatId(m[1])) return undefined;
  return { vatId: m[1], address: `${m[2]}:${port}` };
};

export const formatBridgeRef = (ref: BridgeRef): string => `tribe://${ref.vatId}@${ref.address}`;

/** How a relayed path's address reads (`tribe ps`, logs): never dialled again as such. */
export const relayedAddress = (bridge: VatId): string => `via ${bridge.slice(0, 8)}`;
export const isRelayedAddress = (address: string): boolean => address.startsWith('via ');
