/**
 * Binary frames for sessions between hosts (docs/protocol.md, "Frames").
 *
 *   byte 0      tag byte: class 0b11 (private), constructed bit set, tag number 0–31
 *               (ParrotTalk's ASN.1 layout: 0b11_1_ttttt, so 0xE0 | tag)
 *   bytes 1–4   payload length, unsigned 32-bit big-endian
 *   bytes 5…    payload: one msgpack value (handshake frames) or ciphertext (Encrypted)
 *
 * A fixed five-byte header lets the reader refuse an oversized frame before it
 * buffers a single payload byte, and lets a frame split at any byte boundary be
 * reassembled without re-parsing.
 */
import { Packr } from 'msgpackr';

export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError';
}
export class MalformedFrameError extends Error {
  override name = 'MalformedFrameError';
}

/** Bytes before the payload: tag byte + 32-bit length. */
export const HEADER_BYTES = 5;
/** Largest payload a reader accepts by default: big enough for a 1 MiB argument with room, small enough to bound a hostile peer. */
export const MAX_FRAME_BYTES = 2 * 1024 * 1024;
/** Class 0b11 and the constructed bit. */
const TAG_BASE = 0xe0;
const TAG_MASK = 0x1f;

/**
 * Tag numbers. 1–15 travel in the clear (handshake and refusals), 16–31 only
 * inside an Encrypted frame's plaintext (remote-promise operations and session control).
 */
export const Tag = {
  ProtocolOffered: 1,
  ProtocolAccepted: 2,
  Hello: 3,
  Response: 4,
  Signature: 5,
  Encrypted: 6,
  DuplicateConnection: 7,
  NotMe: 8,
  /** A loaded responder's demand: repeat Hello with this cookie. */
  Cookie: 9,
  /** A refusal with a reason, sent before closing (wrong version, bad frame, timeout). */
  Abort: 10,
  BridgeProvideFor: 11,
  BridgeAcceptFrom: 12,
  // inside Encrypted: CapTP messages by kind, then session control
  Bootstrap: 16,
  Deliver: 17,
  DeliverOnly: 18,
  Return: 19,
  Resolve: 20,
  GCExport: 21,
  GCAnswer: 22,
  Shutdown: 23,
  ChannelOpen: 24,
  ChannelClose: 25,
  Ping: 26,
  Pong: 27,
  // triple sessions (protocols/triple, docs/protocol.md "Triple sessions"): draft, not yet on the wire
  /** One application frame of a triple session: its sequence number, a piggybacked ack, the frame. */
  Sequenced: 28,
  /** A triple session's per-path control: heartbeat, heartbeat echo, cumulative ack. */
  TripleControl: 29,
  // bridges (protocols/bridge, docs/protocol.md "Bridges"): on a hop session between a host and a bridge
  /** Bytes of one relayed stream: route id, then the bytes. */
  Relay: 30,
  /** Rendezvous and routes: Provide, Accept, Ready, Refused, End. */
  BridgeControl: 31,
} as const;
export type TagName = keyof typeof Tag;

const TAG_NAMES = new Map<number, TagName>(Object.entries(Tag).map(([k, v]) => [v, k as TagName]));
export const tagName = (tag: number): TagName | undefined => TAG_NAMES.get(tag);

export const tagByte = (tag: number): number => {
  if (!Number.isInteger(tag) || tag < 0 || tag > TAG_MASK) throw new RangeError(`frame tag ${tag} is outside 0–31`);
  return TAG_BASE | tag;
};

/** Decodes a tag byte, or throws MalformedFrameError when it is not class 0b11 + constructed. */
export const tagOfByte = (byte: number): number => {
  if ((byte & ~TAG_MASK) !== TAG_BASE) {
    throw new MalformedFrameError(`tag byte 0x${byte.toString(16).padStart(2, '0')} is not a constructed private-class tag`);
  }
  return byte & TAG_MASK;
};

export const encodeFrame = (tag: number, payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  out[0] = tagByte(tag);
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, HEADER_BYTES);
  return out;
};

/** The u32 BE length of the header at `at` (the caller checked that five bytes are there). */
export const readLength = (b: Uint8Array, at: number): number =>
  (((b[at + 1] as number) << 24) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 8) | (b[at + 4] as number)) >>> 0;

export interface FrameSplitter {
  /**
   * Feeds a chunk (split anywhere) and calls `onFrame` for each complete frame in
   * order, until it returns false. Throws MalformedFrameError or
   * FrameTooLargeError as soon as a header is bad, before buffering the payload it
   * announces. Payloads are views: copy what you keep.
   */
  push(chunk: Uint8Array, onFrame: (tag: number, payload: Uint8Array) => boolean): void;
  /** The largest payload accepted from the next header on (a session lowers it for the handshake). */
  maxFrameBytes: number;
  /** Bytes held for an unfinished frame. */
  readonly pending: number;
}

/**
 * The one inbound frame parser. The limit can change between two frames of one
 * chunk, and frames are handed over one at a time so the caller can stop mid-chunk.
 *
 * Copies: a frame that lies whole inside one chunk is handed over as a view of
 * that chunk (no copy). A frame split over chunks is copied once, straight into
 * a buffer of its announced size (allocated when its header is complete, so
 * after the limit check); the pieces are never joined again. A header split over
 * chunks is kept in a five-byte buffer.
 */
export const makeFrameSplitter = (maxFrameBytes = MAX_FRAME_BYTES): FrameSplitter => {
  /** An unfinished header: its first `headFill` bytes. */
  const head = new Uint8Array(HEADER_BYTES);
  let headFill = 0;
  /** An unfinished payload, its tag, and how much of it has arrived. */
  let body: Uint8Array | undefined;
  let bodyTag = 0;
  let bodyFill = 0;
  const self: FrameSplitter = {
    maxFrameBytes,
    get pending() {
      return body ? HEADER_BYTES + bodyFill : headFill;
    },
    push(chunk, onFrame) {
      const n = chunk.length;
      let at = 0;
      while (at < n) {
        if (body) {
          // Copied: the stream may reuse a chunk's memory once onData returns.
          const take = Math.min(body.length - bodyFill, n - at);
          body.set(chunk.subarray(at, at + take), bodyFill);
          bodyFill += take;
          at += take;
          if (bodyFill < body.length) return;
          const payload = body;
          body = undefined;
          if (!onFrame(bodyTag, payload)) return;
          continue;
        }
        if (headFill > 0) {
          const take = Math.min(HEADER_BYTES - headFill, n - at);
          head.set(chunk.subarray(at, at + take), headFill);
          headFill += take;
          at += take;
          if (headFill < HEADER_BYTES) return;
          headFill = 0;
          // The tag byte was checked when it arrived.
          const tag = (head[0] as number) & TAG_MASK;
          const len = readLength(head, 0);
          if (len > self.maxFrameBytes) throw new FrameTooLargeError(`frame of ${len} bytes exceeds the ${self.maxFrameBytes}-byte limit`);
          if (len > 0) {
            body = new Uint8Array(len);
            bodyTag = tag;
            bodyFill = 0;
          } else if (!onFrame(tag, new Uint8Array(0))) return;
          continue;
        }
        // Whole frames in this chunk go out as views.
        const left = n - at;
        const tag = tagOfByte(chunk[at] as number);
        if (left < HEADER_BYTES) {
          head.set(chunk.subarray(at), 0);
          headFill = left;
          return;
        }
        const len = readLength(chunk, at);
        if (len > self.maxFrameBytes) throw new FrameTooLargeError(`frame of ${len} bytes exceeds the ${self.maxFrameBytes}-byte limit`);
        if (left < HEADER_BYTES + len) {
          body = new Uint8Array(len);
          bodyTag = tag;
          bodyFill = left - HEADER_BYTES;
          body.set(chunk.subarray(at + HEADER_BYTES), 0);
          return;
        }
        const payload = chunk.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len);
        at += HEADER_BYTES + len;
        if (!onFrame(tag, payload)) return;
      }
    },
  };
  return self;
};

// --- msgpack payloads ---

/**
 * Plain msgpack: no records, no structure sharing, maps decode to objects. Hostile
 * input is validated by the caller's schema after decoding; this only guarantees
 * a value or a MalformedFrameError.
 *
 * `structuredClone: false` matters on the decoding side: without it msgpackr
 * honours the id/pointer extensions (0x69/0x70) in any input, so thirteen hostile
 * bytes decode to an array that contains itself, which a recursive schema check or
 * a logger cannot walk. With it a decoded value is always a tree. (msgpackr's other built-in
 * extensions still decode: Date, Set, BigInt, Error, RegExp, typed arrays,
 * undefined; schemas refuse what they do not expect.)
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, structuredClone: false });

export const encodePayload = (value: unknown): Uint8Array => packr.pack(value);

export const decodePayload = (bytes: Uint8Array): unknown => {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new MalformedFrameError(`payload is not msgpack: ${(err as Error).message}`);
  }
};
