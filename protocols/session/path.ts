/**
 * One secure path over one byte stream: the handshake (path.machine.ts
 * driving handshake.ts), then encrypted, authenticated frames, one cipher state
 * per direction (cipher-state.ts). This file is the thin adapter between the ByteStream, the
 * machine and the data path; README.md has the wire format.
 *
 * Failure semantics. Everything that goes wrong ends the path with a named error
 * (errors.ts): before the handshake completes, the `initiatePath`/`acceptPath`
 * promise rejects with it (and a `cancel` lifetime that ends first aborts the
 * handshake with its reason); after, the path's `lifetime` closes with it, for
 * every party that waits on it. Either way the stream is closed, every timer is
 * cleared, and the error is reported exactly once. Nothing throws out of the
 * stream's data handler.
 *
 * Batching: the inner frames sent in one turn (application frames, Pings,
 * Pongs) go out together as the plaintext of one Encrypted frame, sealed and
 * written once, when the turn ends (`PathClock.defer`), or at once when the next
 * frame would make that Encrypted frame pass `maxFrameBytes` (then the next one
 * starts). So a frame waits at most until the end of the turn it was sent in,
 * and no Encrypted frame is larger than the limit. A graceful `close` writes
 * what is waiting, then the Shutdown (in the same Encrypted frame when it fits),
 * then closes the stream; an abort, or any other end, drops what is waiting.
 *
 * Backpressure: the path writes whatever it is asked to while the stream's
 * unsent bytes, plus what waits for the end of the turn, stay within
 * `maxUnsentBytes`; a frame that would pass the bound is not taken, and the path
 * aborts with PathBackpressureError instead (send does not throw for it; the
 * lifetime tells). Nothing queues above the stream but the one turn's batch.
 *
 * The initiator is established once its Signature is written (it may send at
 * once, "0.5-RTT"); if the responder then refuses the signature, the initiator's
 * path closes with the responder's reason (BadSignatureError, …) and what it sent
 * is discarded unread.
 */
import { createActor } from 'xstate';
import { type Lifetime, makeLifetime } from '../lifetime.js';
import { FrameTooLargeError, HEADER_BYTES, MAX_FRAME_BYTES, Tag } from '../framing/frames.js';
import { OutboundBatch } from './outbound-batch.js';
import type { ByteStream } from '../framing/byte-stream.js';
import { AEAD_TAG_BYTES, CIPHERS, type CipherName, type CryptoSuite, type SigningKey } from './crypto.js';
import {
  AeadError,
  MalformedMessageError,
  PathBackpressureError,
  PathClosedError,
  PathOverflowError,
  SessionError,
} from './errors.js';
import {
  abortFrame,
  concatBytes,
  DEFAULT_DOMAIN,
  type HandshakeSteps,
  makeInitiatorSteps,
  type SessionSummary,
  makeResponderSteps,
  type Rendezvous,
  rendezvousOf,
} from './handshake.js';
import { type PathEffects, pathMachine, type PathRole } from './path.machine.js';
import { decodeReason, encodeReason, MAX_DOMAIN_CHARS } from './messages.js';
import {
  FIRST_INNER_TAG,
  InboundCipherState,
  LAST_INNER_TAG,
  makeFrameSplitter,
  MAX_REKEY_AFTER_MESSAGES,
  OutboundCipherState,
  REKEY_AFTER_MESSAGES,
} from './cipher-state.js';
import { type VatId, vatIdOf } from './vat-id.js';

/** Handshake frames are a few hundred bytes; a peer that has not authenticated may not make us buffer more. */
export const MAX_HANDSHAKE_FRAME_BYTES = 16 * 1024;
/** A handshake is three messages and one round trip and a half; ten seconds covers a slow link and a loaded host. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** The keepalive interval: a Ping each (busy or not, so the round trip is measured); well under common NAT and proxy idle timeouts (30 s and up). */
export const IDLE_MS = 15_000;
/** Silence (pings unanswered) after which the peer counts as gone: three keepalive intervals. */
export const DEAD_MS = 45_000;
/** Inbound data held for a path whose owner has not called onFrame yet: two full frames. */
export const MAX_UNCLAIMED_BYTES = 2 * MAX_FRAME_BYTES;
/**
 * Bytes written to a peer that it has not read yet: four largest frames, so a
 * burst of big answers to a slow reader fits, and a peer that reads nothing
 * costs this much (plus kernel buffers and transient copies) per path at most.
 * Nothing slows a vat down yet when its peer reads slowly, so a single turn
 * that writes more than this to a peer that is not reading ends the session.
 */
export const MAX_UNSENT_BYTES = 4 * MAX_FRAME_BYTES;
/** Encrypted frames from this size on are written as their parts (header, ciphertext, tag) without joining them. */
export const WRITEV_MIN_BYTES = 16 * 1024;
/** A Ping's payload is an opaque token echoed in the Pong. */
export const MAX_PING_BYTES = 64;
/**
 * The smallest `maxFrameBytes` a path takes: the frames the path writes itself
 * must fit one Encrypted frame, and the largest, a Shutdown with the longest
 * reason (64 + 512 UTF-16 units, ≤ 1 750 bytes of msgpack), does with room.
 */
export const MIN_FRAME_BYTES = 2048;

export interface PathLimits {
  readonly maxHandshakeFrameBytes: number;
  /** Largest frame payload after the handshake, in both directions (send refuses larger). */
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  /** Encrypted frames (not inner frames) per key epoch and direction before the deterministic rekey. */
  readonly rekeyAfterMessages: number;
  readonly idleMs: number;
  readonly deadMs: number;
  readonly maxUnclaimedBytes: number;
  /** Unsent bytes on the stream beyond which the path aborts (PathBackpressureError); at least one largest frame. */
  readonly maxUnsentBytes: number;
}

export const DEFAULT_PATH_LIMITS: PathLimits = Object.freeze({
  maxHandshakeFrameBytes: MAX_HANDSHAKE_FRAME_BYTES,
  maxFrameBytes: MAX_FRAME_BYTES,
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  idleMs: IDLE_MS,
  deadMs: DEAD_MS,
  maxUnclaimedBytes: MAX_UNCLAIMED_BYTES,
  maxUnsentBytes: MAX_UNSENT_BYTES,
});

export interface PathIdentity {
  readonly vatId: VatId;
  /** `key.publicKey` is the raw Ed25519 public key whose hash is `vatId`. */
  readonly key: SigningKey;
}

export interface PathClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
  /**
   * Runs `fn` once, when the current turn's work is done: the moment a path
   * seals and writes the inner frames sent in the turn. Default queueMicrotask
   * (standard in every JS host), which ends the turn at the first microtask
   * checkpoint. A Node host should pass setImmediate: CapTP's sends come from
   * separate promise reactions (and, in a host, separate worker messages), which
   * a microtask flush splits into one Encrypted frame each; setImmediate waits
   * for the rest of the event-loop turn and batches them (between two hosts:
   * 2.9 → 2.0 Encrypted frames per sequential call, 2.6 → 0.6 per call with 100
   * outstanding) at no cost in round-trip time. A test passes its manual queue.
   */
  defer?(fn: () => void): void;
}

export interface PathOptions {
  readonly stream: ByteStream;
  readonly identity: PathIdentity;
  readonly crypto: CryptoSuite;
  readonly clock: PathClock;
  /** Both ends must use the same domain; default 'tribe'. */
  readonly domain?: string;
  readonly limits?: Partial<PathLimits>;
  /** XState inspection events of the path machine. */
  readonly inspect?: (ev: unknown) => void;
  /** In preference order; default CIPHERS (ChaCha20-Poly1305 first). */
  readonly ciphers?: readonly CipherName[];
  /**
   * A handshake still running when this ends is aborted with its reason (an
   * Abort with the reason's code goes to the peer, the promise rejects with the
   * reason). No effect once the path is established: its owner closes it.
   */
  readonly cancel?: Lifetime;
}

export interface InitiateOptions extends PathOptions {
  /** The VatId expected at the other end; the path fails with NotMeError if it is someone else. */
  readonly wanted?: VatId;
  /** Bridges to suggest for the session (Hello.bridges); default none. */
  readonly bridges?: readonly string[];
}

export interface AcceptOptions extends PathOptions {
  /** When `demand()` is true, a Hello without a valid cookie gets a Cookie and no DH or signing work. */
  readonly cookies?: { readonly secret: Uint8Array; demand(): boolean };
  /**
   * Called with the initiator's claimed VatId (not yet proven: the proof is its
   * Signature, later) on a valid Hello; 'duplicate' refuses with DuplicateConnection.
   */
  readonly decide?: (peer: VatId) => 'accept' | 'duplicate';
  /** Picks the session's bridges (Response.bridges) from the initiator's claimed VatId and suggestions; default none. */
  readonly selectBridges?: (peer: VatId, suggested: readonly string[]) => readonly string[];
}

export interface PathStats {
  /** Inner frames (messages, Pings, Pongs, Shutdown) opened and written. */
  framesIn: number;
  framesOut: number;
  /** Encrypted frames opened and written (each carries one or more inner frames). */
  sealsIn: number;
  sealsOut: number;
  bytesIn: number;
  bytesOut: number;
  rekeysIn: number;
  rekeysOut: number;
  /** Written and not yet taken by the peer (the stream's `unsentBytes`). */
  unsentBytes: number;
  rttMs?: number;
}

export interface SecurePath {
  readonly role: PathRole;
  readonly localId: VatId;
  readonly remoteId: VatId;
  /** 16 bytes, hex; equal on both ends. */
  readonly sessionId: string;
  readonly cipher: CipherName;
  readonly encoder: string;
  /** The bridges the responder selected in this path's handshake, each with the initiator's nonce; usually none. */
  readonly rendezvous: readonly Rendezvous[];
  /**
   * Sends one inner frame (tag 16–31, except Ping, Pong and Shutdown, which the
   * path owns). It goes out with the others of this turn, when the turn ends.
   * A payload of SMALL_PAYLOAD_BYTES or more is read then, not now: do not
   * change it after sending. Throws PathClosedError once closed, RangeError for
   * a tag the caller may not use, FrameTooLargeError above `maxFrameBytes`.
   */
  send(tag: number, payload: Uint8Array): void;
  /**
   * The one consumer of inbound frames (the session mux). Frames that arrived
   * before it was set are delivered when it is. A handler that throws aborts the
   * path with that error.
   */
  onFrame(handler: (tag: number, payload: Uint8Array) => void): void;
  /** Ends once, with the reason the path ended (PathClosedError for a graceful close by either side). */
  readonly lifetime: Lifetime;
  /** Graceful: the frames sent before it, an encrypted Shutdown carrying `reason`, then the stream closes. Idempotent. */
  close(reason?: { code: string; message: string }): void;
  /** Closes the stream at once, without a Shutdown; frames sent in this turn are dropped. Idempotent. */
  abort(reason: Error): void;
  stats(): PathStats;
}

export const initiatePath = (opts: InitiateOptions): Promise<SecurePath> =>
  startPath('initiator', opts, (ctx) => makeInitiatorSteps({ ...ctx, wanted: opts.wanted ?? null, bridges: opts.bridges }));

export const acceptPath = (opts: AcceptOptions): Promise<SecurePath> =>
  startPath('responder', opts, (ctx) =>
    makeResponderSteps({
      ...ctx,
      remoteAddress: opts.stream.remoteAddress,
      now: () => opts.clock.now(),
      cookies: opts.cookies,
      decide: opts.decide,
      selectBridges: opts.selectBridges,
    }),
  );

const checkOptions = (opts: PathOptions) => {
  const limits = { ...DEFAULT_PATH_LIMITS, ...opts.limits };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`limits.${k} must be a positive integer, got ${v}`);
  }
  if (limits.rekeyAfterMessages > MAX_REKEY_AFTER_MESSAGES) throw new RangeError(`limits.rekeyAfterMessages exceeds 2^32`);
  if (limits.maxFrameBytes > 0xffffffff) throw new RangeError('limits.maxFrameBytes exceeds the 32-bit length field');
  if (limits.maxFrameBytes < MIN_FRAME_BYTES) throw new RangeError(`limits.maxFrameBytes must be at least ${MIN_FRAME_BYTES} (a Shutdown must fit)`);
  // A largest Encrypted frame (maxFrameBytes after its header) must fit an empty stream.
  if (limits.maxUnsentBytes < limits.maxFrameBytes + HEADER_BYTES) {
    throw new RangeError(`limits.maxUnsentBytes must hold one largest frame (${limits.maxFrameBytes + HEADER_BYTES} bytes)`);
  }
  const ciphers = opts.ciphers ?? CIPHERS;
  if (ciphers.length === 0 || ciphers.some((c) => !CIPHERS.includes(c))) throw new RangeError(`ciphers must be among ${CIPHERS.join(', ')}`);
  const domain = opts.domain ?? DEFAULT_DOMAIN;
  if (domain.length === 0 || domain.length > MAX_DOMAIN_CHARS) throw new RangeError(`domain must be 1–${MAX_DOMAIN_CHARS} characters`);
  if (vatIdOf(opts.crypto, opts.identity.key.publicKey) !== opts.identity.vatId) {
    throw new TypeError('identity.vatId is not the VatId of identity.key.publicKey');
  }
  return { limits, ciphers, domain };
};

type StepsFactory = (ctx: {
  crypto: CryptoSuite;
  identity: PathIdentity;
  domain: string;
  ciphers: readonly CipherName[];
}) => HandshakeSteps;

const startPath = (role: PathRole, opts: PathOptions, makeSteps: StepsFactory): Promise<SecurePath> => {
  let checked: ReturnType<typeof checkOptions>;
  let steps: HandshakeSteps;
  try {
    checked = checkOptions(opts);
    steps = makeSteps({ crypto: opts.crypto, identity: opts.identity, domain: checked.domain, ciphers: checked.ciphers });
  } catch (err) {
    opts.stream.close();
    return Promise.reject(err);
  }
  const cancelled = opts.cancel?.reason;
  if (cancelled) {
    opts.stream.close();
    return Promise.reject(cancelled);
  }
  return new Promise((resolve, reject) => runPath(role, opts, checked.limits, steps, resolve, reject));
};

const isUserTag = (tag: number) =>
  Number.isInteger(tag) && tag >= FIRST_INNER_TAG && tag <= LAST_INNER_TAG && tag !== Tag.Ping && tag !== Tag.Pong && tag !== Tag.Shutdown;

/** Runs until closed; settles the handshake through resolve/reject. */
const runPath = (
  role: PathRole,
  opts: PathOptions,
  limits: PathLimits,
  steps: HandshakeSteps,
  resolve: (p: SecurePath) => void,
  reject: (err: Error) => void,
): void => {
  const { stream, crypto, clock } = opts;
  const splitter = makeFrameSplitter(limits.maxHandshakeFrameBytes);
  const stats: PathStats = { framesIn: 0, framesOut: 0, sealsIn: 0, sealsOut: 0, bytesIn: 0, bytesOut: 0, rekeysIn: 0, rekeysOut: 0, unsentBytes: 0 };
  const maxPayload = limits.maxFrameBytes - HEADER_BYTES - AEAD_TAG_BYTES;
  let outbound: OutboundCipherState | undefined;
  let inbound: InboundCipherState | undefined;
  let path: SecurePath | undefined;
  let done = false;
  let reported = false;
  let streamEnded = false;
  let reason: Error | undefined;
  let heardMark = 0;
  let frameHandler: ((tag: number, payload: Uint8Array) => void) | undefined;
  const life = makeLifetime();
  let unclaimed: Array<[number, Uint8Array]> = [];
  let unclaimedBytes = 0;
  /** A write was refused at the bound: nothing more goes out while the abort takes effect. */
  let backedUp = false;

  /** Inner frames of this turn, waiting to be sealed together (the largest plaintext leaves room for the AEAD tag). */
  const batch = new OutboundBatch(limits.maxFrameBytes - AEAD_TAG_BYTES);
  let flushQueued = false;
  const defer = clock.defer ? (fn: () => void) => clock.defer?.(fn) : (fn: () => void) => queueMicrotask(fn);
  /** The Encrypted frame the batch would make, in bytes on the wire. */
  const batchWireBytes = () => (batch.frames === 0 ? 0 : HEADER_BYTES + batch.bytes + AEAD_TAG_BYTES);

  /** Whether `n` more bytes stay within maxUnsentBytes, counting the batch; past it, the path aborts and nothing more is written. */
  const room = (n: number): boolean => {
    if (backedUp) return false;
    const unsent = stream.unsentBytes;
    const waiting = batchWireBytes();
    if (unsent + waiting + n <= limits.maxUnsentBytes) return true;
    backedUp = true;
    const held = waiting > 0 ? `, ${waiting} waiting for the end of the turn,` : '';
    const why = `${unsent} bytes unsent${held} and ${n} more would pass the bound of ${limits.maxUnsentBytes}: the peer is not reading`;
    tell({ type: 'path.abort', error: new PathBackpressureError(why) });
    return false;
  };
  const write = (bytes: Uint8Array) => {
    if (!room(bytes.length)) return;
    stats.bytesOut += bytes.length;
    stream.write(bytes);
  };
  /** Seals what waits into one Encrypted frame and writes it (its bytes were counted against the bound when each frame joined). */
  const flush = () => {
    if (!outbound || batch.frames === 0) return;
    const { parts, bytes, frames } = batch.take();
    const wire = outbound.sealParts(parts, bytes);
    stats.bytesOut += HEADER_BYTES + bytes + AEAD_TAG_BYTES;
    stats.framesOut += frames;
    stats.sealsOut++;
    // Small frames are joined (a copy of a few hundred bytes costs less than a corked writev of
    // several parts through Node's stream machinery); large ones go as their parts, uncopied.
    if (stream.writev && bytes >= WRITEV_MIN_BYTES) stream.writev(wire);
    else stream.write(concatBytes(wire));
  };
  const endOfTurn = () => {
    flushQueued = false;
    if (!done) flush();
  };
  /** Adds an inner frame to this turn's Encrypted frame, first writing that one if the frame would not fit it. */
  const sealAndWrite = (tag: number, payload: Uint8Array) => {
    if (!outbound || done) return;
    const joins = batch.frames > 0 && batch.fits(payload.length);
    // Checked before taking it: a frame that will not be written is not kept or encrypted either.
    if (!room(HEADER_BYTES + payload.length + (joins ? 0 : HEADER_BYTES + AEAD_TAG_BYTES))) return;
    if (!batch.fits(payload.length)) flush();
    batch.add(tag, payload);
    if (!flushQueued) {
      flushQueued = true;
      defer(endOfTurn);
    }
  };
  const tell = (ev: Parameters<typeof actor.send>[0]) => {
    if (!done) actor.send(ev);
  };

  /** The end, reported once: reject the handshake, or close the path's lifetime. */
  const report = (err: Error) => {
    if (reported) return;
    reported = true;
    reason = err;
    stopCancel();
    if (!path) reject(err);
    life.close(err);
  };

  /** Hands one frame to its owner (or holds it until there is one); false when that ended the path. */
  const deliver = (tag: number, payload: Uint8Array): boolean => {
    if (frameHandler) {
      try {
        frameHandler(tag, payload);
      } catch (err) {
        tell({ type: 'path.abort', error: err instanceof Error ? err : new Error(String(err)) });
        return false;
      }
      return true;
    }
    unclaimedBytes += payload.length;
    if (unclaimedBytes > limits.maxUnclaimedBytes) {
      tell({ type: 'frame.invalid', error: new PathOverflowError(`more than ${limits.maxUnclaimedBytes} bytes arrived before onFrame was set`) });
      return false;
    }
    unclaimed.push([tag, payload]);
    return true;
  };

  /**
   * The data path: open, check every inner frame, dispatch them in order. Any
   * failure ends the path through the machine; a malformed plaintext (or an
   * oversized Ping in it) delivers none of its frames. Frames after a Shutdown,
   * or after one whose handling ended the path, are dropped.
   */
  const onEncrypted = (sealed: Uint8Array) => {
    if (!inbound) return;
    let frames: ReturnType<InboundCipherState['open']>;
    try {
      frames = inbound.open(sealed);
    } catch (err) {
      return tell({ type: 'frame.invalid', error: err as Error });
    }
    if (!frames) return tell({ type: 'frame.invalid', error: new AeadError('an Encrypted frame failed to authenticate') });
    stats.sealsIn++;
    stats.framesIn += frames.length;
    const bigPing = frames.find((f) => f.tag === Tag.Ping && f.payload.length > MAX_PING_BYTES);
    if (bigPing) return tell({ type: 'frame.invalid', error: new MalformedMessageError(`Ping of ${bigPing.payload.length} bytes`) });
    for (const inner of frames) {
      if (done) return;
      switch (inner.tag) {
        case Tag.Ping:
          sealAndWrite(Tag.Pong, inner.payload);
          break;
        case Tag.Pong:
          if (inner.payload.length === 8) {
            const rtt = clock.now() - new DataView(inner.payload.buffer, inner.payload.byteOffset, 8).getFloat64(0);
            if (rtt >= 0 && rtt <= limits.deadMs) stats.rttMs = rtt;
          }
          break;
        case Tag.Shutdown: {
          let r: { code: string; message: string };
          try {
            r = decodeReason(inner.payload, 'Shutdown');
          } catch (err) {
            return tell({ type: 'frame.invalid', error: err as Error });
          }
          return tell({ type: 'peer.shutdown', code: r.code, message: r.message });
        }
        default:
          if (!deliver(inner.tag, inner.payload)) return;
      }
    }
  };

  const onWireFrame = (tag: number, payload: Uint8Array): boolean => {
    if (path && tag === Tag.Encrypted) onEncrypted(payload);
    // Handshake frames are kept (transcript), so they are copied out of the receive buffer.
    else tell({ type: 'frame.received', tag, payload: new Uint8Array(payload) });
    return !done;
  };

  const establish = (summary: SessionSummary | undefined) => {
    const keys = steps.takeKeys();
    const [out, inn] =
      role === 'initiator' ? [keys.initiatorToResponder, keys.responderToInitiator] : [keys.responderToInitiator, keys.initiatorToResponder];
    outbound = new OutboundCipherState(crypto, keys.cipher, out, limits.rekeyAfterMessages);
    inbound = new InboundCipherState(crypto, keys.cipher, inn, limits.rekeyAfterMessages);
    out.fill(0);
    inn.fill(0);
    splitter.maxFrameBytes = limits.maxFrameBytes;
    if (!summary) throw new SessionError('established without a session summary');
    path = makeSecurePath(summary.remoteId, summary.sessionId, summary.cipher, summary.encoder, rendezvousOf(keys));
    // Established: from here on the owner ends the path, not the handshake's canceller.
    stopCancel();
    resolve(path);
  };

  const makeSecurePath = (remoteId: VatId, sessionId: string, cipher: CipherName, encoder: string, rendezvous: readonly Rendezvous[]): SecurePath => ({
    role,
    localId: opts.identity.vatId,
    remoteId,
    sessionId,
    cipher,
    encoder,
    rendezvous,
    send(tag, payload) {
      if (done) throw new PathClosedError('closed', 'the path is closed', reason ? { cause: reason } : {});
      if (!isUserTag(tag)) throw new RangeError(`tag ${tag} is not an application tag (16–31 but Ping, Pong, Shutdown)`);
      if (payload.length > maxPayload) throw new FrameTooLargeError(`payload of ${payload.length} bytes exceeds ${maxPayload}`);
      sealAndWrite(tag, payload);
    },
    onFrame(handler) {
      frameHandler = handler;
      const queued = unclaimed;
      unclaimed = [];
      unclaimedBytes = 0;
      for (const [tag, payload] of queued) {
        if (done) break;
        deliver(tag, payload);
      }
    },
    lifetime: life.lifetime,
    close(r) {
      if (done) return;
      const code = r?.code ?? 'closed';
      const message = r?.message ?? 'closed by the local side';
      tell({ type: 'path.close', error: new PathClosedError(code, `closed (${code}): ${message}`, { detail: message }) });
    },
    abort(err) {
      tell({ type: 'path.abort', error: err });
    },
    stats: () => ({ ...stats, rekeysIn: inbound?.rekeys ?? 0, rekeysOut: outbound?.rekeys ?? 0, unsentBytes: stream.unsentBytes }),
  });

  const effects: PathEffects = {
    writeFrames: (frames) => {
      if (frames.length > 0) write(frames.length === 1 ? (frames[0] as Uint8Array) : concatBytes(frames));
    },
    sendAbort: (error) => {
      if (!streamEnded) write(abortFrame(error));
    },
    sendShutdown: (error) => {
      if (streamEnded) return;
      // What was sent before the close goes first; the stream closes right after this.
      sealAndWrite(Tag.Shutdown, encodeReason({ code: error.code, message: error.detail ?? error.message }));
      flush();
    },
    sendPing: () => {
      const token = new Uint8Array(8);
      new DataView(token.buffer).setFloat64(0, clock.now());
      sealAndWrite(Tag.Ping, token);
    },
    markTraffic: () => {
      heardMark = stats.framesIn;
    },
    deliverData: (payload) => onEncrypted(payload),
    closeStream: () => {
      done = true;
      batch.clear();
      outbound?.wipe();
      inbound?.wipe();
      stream.close();
    },
    announceEstablished: (summary) => establish(summary),
    announceClosed: (error) => report(error ?? new PathClosedError('closed', 'closed')),
    heardFromPeer: () => stats.framesIn !== heardMark,
    mayStillBeRefused: () => role === 'initiator' && stats.framesIn === 0,
  };

  const actor = createActor(pathMachine, {
    input: {
      role,
      steps,
      effects,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
      idleMs: limits.idleMs,
      deadMs: limits.deadMs,
    },
    clock,
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
  });
  // A bug in an effect must still end the path cleanly, not leave it half open.
  actor.subscribe({
    error: (err) => {
      done = true;
      stream.close();
      report(err instanceof Error ? err : new SessionError(String(err)));
    },
  });

  const stopCancel = opts.cancel?.onClose((why) => tell({ type: 'path.abort', error: why })) ?? (() => {});
  stream.onData((chunk) => {
    if (done) return;
    stats.bytesIn += chunk.length;
    try {
      splitter.push(chunk, onWireFrame);
    } catch (err) {
      tell({ type: 'frame.invalid', error: err as Error });
    }
  });
  stream.onClose((err) => {
    streamEnded = true;
    tell({ type: 'stream.closed', error: err });
  });
  actor.start();
};
