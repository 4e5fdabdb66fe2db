/** The data path alone: a cipher state per direction (AEAD key, counter nonces, rekeying), and the inbound frame splitter. */
import { createDecipheriv, createHmac } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { encodeFrame, HEADER_BYTES, Tag } from '../../protocols/framing/frames.js';
import { CIPHERS, type CryptoSuite } from '../../protocols/session/crypto.js';
import { nextKey } from '../../protocols/session/handshake.js';
import {
  ENCRYPTION_OVERHEAD_BYTES,
  InboundCipherState,
  makeFrameSplitter,
  OutboundCipherState,
  parseInnerFrames,
  REKEY_AFTER_MESSAGES,
} from '../../protocols/session/cipher-state.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';

const crypto: CryptoSuite = nodeCrypto;
const key = new Uint8Array(32).fill(4);
const body = (b: Uint8Array) => b.subarray(HEADER_BYTES);

test('seal/open round trip with both ciphers; the frame is an Encrypted frame of the right size', (t) => {
  for (const cipher of CIPHERS) {
    const out = new OutboundCipherState(crypto, cipher, key, 100);
    const inn = new InboundCipherState(crypto, cipher, key, 100);
    const payload = new TextEncoder().encode('hello');
    const frame = out.seal(Tag.Deliver, payload);
    t.is(frame[0], 0xe0 | Tag.Encrypted);
    t.is(frame.length, payload.length + ENCRYPTION_OVERHEAD_BYTES);
    const inner = inn.open(body(frame));
    t.is(inner?.length, 1);
    t.is(inner?.[0]?.tag, Tag.Deliver);
    t.deepEqual(inner?.[0] && new Uint8Array(inner[0].payload), payload);
  }
});

test('counter nonces: the same plaintext never seals the same twice; a replayed or skipped frame fails', (t) => {
  const out = new OutboundCipherState(crypto, 'chacha20-poly1305', key, 100);
  const inn = new InboundCipherState(crypto, 'chacha20-poly1305', key, 100);
  const p = new Uint8Array([1, 2, 3]);
  const f1 = out.seal(Tag.Deliver, p);
  const f2 = out.seal(Tag.Deliver, p);
  const f3 = out.seal(Tag.Deliver, p);
  t.notDeepEqual(f1, f2);
  t.truthy(inn.open(body(f1)));
  t.is(inn.open(body(f1)), undefined, 'replay');
  t.is(inn.open(body(f3)), undefined, 'skipped f2');
  t.truthy(inn.open(body(f2)), 'a failed open does not advance the counter');
});

test('limit: REKEY_AFTER_MESSAGES is the default epoch; at a small limit both ends rekey in step', (t) => {
  t.is(REKEY_AFTER_MESSAGES, 2 ** 20);
  const out = new OutboundCipherState(crypto, 'aes-256-gcm', key, 5);
  const inn = new InboundCipherState(crypto, 'aes-256-gcm', key, 5);
  const sealed: Uint8Array[] = [];
  for (let i = 0; i < 23; i++) {
    const f = out.seal(Tag.Deliver, new Uint8Array([i]));
    sealed.push(f);
    t.is(inn.open(body(f))?.[0]?.payload[0], i);
  }
  t.is(out.rekeys, 4);
  t.is(inn.rekeys, 4);
  // Frame 5 is sealed under the second key: a receiver on the first key cannot open it at counter 0.
  const fresh = new InboundCipherState(crypto, 'aes-256-gcm', key, 1000);
  t.truthy(fresh.open(body(sealed[0]!)));
  const stale = new InboundCipherState(crypto, 'aes-256-gcm', key, 1000);
  t.is(stale.open(body(sealed[5]!)), undefined);
});

/** docs/protocol.md §5.1–5.2 written out with node:crypto alone: no code of ours derives or opens. */
const specRekey = (k: Uint8Array): Uint8Array => {
  const prk = createHmac('sha256', new Uint8Array(32)).update(k).digest(); // Extract, salt = 32 zero bytes
  return new Uint8Array(createHmac('sha256', prk).update('tribe/1 rekey').update(new Uint8Array([1])).digest()); // Expand, L = 32
};
const specOpen = (k: Uint8Array, counter: number, frame: Uint8Array): Uint8Array | undefined => {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(counter));
  const c = body(frame);
  try {
    const d = createDecipheriv('chacha20-poly1305', k, nonce, { authTagLength: 16 });
    d.setAuthTag(c.subarray(c.length - 16));
    return new Uint8Array(Buffer.concat([d.update(c.subarray(0, c.length - 16)), d.final()]));
  } catch {
    return undefined;
  }
};

test('spec §5.2: frames 0 … R−1 use k with counters 0 … R−1; frame R uses k′ = Expand(Extract(0^32, k), "tribe/1 rekey", 32) at counter 0', (t) => {
  const R = 4;
  const out = new OutboundCipherState(crypto, 'chacha20-poly1305', key, R);
  const frames = Array.from({ length: 2 * R + 1 }, (_, i) => out.seal(Tag.Ping, new Uint8Array([i])));
  const k1 = specRekey(key);
  const k2 = specRekey(k1);
  t.deepEqual(k1, nextKey(crypto, key), "the spec's two HMACs are the code's HKDF");
  for (let i = 0; i < R; i++) {
    t.deepEqual(specOpen(key, i, frames[i]!), Uint8Array.from([0xe0 | Tag.Ping, 0, 0, 0, 1, i]), `frame ${i}: k, counter ${i}`);
    t.is(specOpen(k1, i, frames[i]!), undefined);
  }
  t.is(specOpen(key, R, frames[R]!), undefined, 'frame R is not under k at counter R');
  for (let i = R; i < 2 * R; i++) t.is(specOpen(k1, i - R, frames[i]!)?.[5], i, `frame ${i}: k′, counter ${i - R}`);
  t.is(specOpen(k2, 0, frames[2 * R]!)?.[5], 2 * R, "frame 2R: k″, counter 0");
});

test('inner frames: each header checked against the plaintext, all of them before any is used', (t) => {
  const ok = encodeFrame(Tag.Deliver, new Uint8Array(3));
  const two = encodeFrame(Tag.Return, new Uint8Array([7, 8]));
  t.is(parseInnerFrames(ok)[0]?.payload.length, 3);
  t.deepEqual(
    parseInnerFrames(new Uint8Array([...ok, ...two, ...encodeFrame(Tag.Ping, new Uint8Array(0))])).map((f) => [f.tag, [...f.payload]]),
    [
      [Tag.Deliver, [0, 0, 0]],
      [Tag.Return, [7, 8]],
      [Tag.Ping, []],
    ],
  );
  const bad = (plain: Uint8Array, what: string, message: RegExp) => t.throws(() => parseInnerFrames(plain), { name: 'MalformedMessageError', message }, what);
  bad(new Uint8Array(0), 'no inner frame at all', /carries no inner frame/);
  bad(ok.subarray(0, 4), 'no header', /inner frame of 4 bytes has no header/);
  bad(ok.subarray(0, 7), 'length mismatch', /inner frame says 3 bytes, carries 2/);
  bad(encodeFrame(Tag.Hello, new Uint8Array(0)), 'clear tag inside', /tag 3 is outside 16–31/);
  bad(new Uint8Array([0x11, 0, 0, 0, 0]), 'bad tag byte', /bad tag byte/);
  bad(new Uint8Array([...ok, ...two.subarray(0, 6)]), 'a truncated second frame', /inner frame 2 says 2 bytes, carries 1/);
  bad(new Uint8Array([...ok, 0xf1]), 'trailing bytes', /inner frame 2 of 1 bytes has no header/);
  bad(new Uint8Array([...ok, ...encodeFrame(Tag.Encrypted, new Uint8Array(1))]), 'a forbidden tag in second place', /inner frame 2 tag 6 is outside 16–31/);
});

const splitAll = (max: number, chunks: Uint8Array[]) => {
  const s = makeFrameSplitter(max);
  const got: Array<[number, number[]]> = [];
  for (const c of chunks) {
    s.push(c, (tag, p) => {
      got.push([tag, [...p]]);
      return true;
    });
  }
  return { got, pending: s.pending };
};

test('splitter: frames split at any byte boundary come out whole and in order', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 16, max: 31 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 12 }),
      fc.array(fc.nat(5000), { maxLength: 20 }),
      (frames, cuts) => {
        const wire = new Uint8Array(frames.flatMap(([tag, p]) => [...encodeFrame(tag, p)]));
        const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let last = 0;
        for (const p of [...points, wire.length]) {
          chunks.push(wire.slice(last, p));
          last = p;
        }
        const { got, pending } = splitAll(1000, chunks);
        return pending === 0 && JSON.stringify(got) === JSON.stringify(frames.map(([tag, p]) => [tag, [...p]]));
      },
    ),
  );
  t.pass();
});

test('splitter: an oversized header is refused before its payload arrives; the limit can change between frames', (t) => {
  const s = makeFrameSplitter(10);
  const header = encodeFrame(Tag.Encrypted, new Uint8Array(11)).subarray(0, HEADER_BYTES);
  const err = t.throws(() => s.push(header, () => true));
  t.is(err?.name, 'MalformedMessageError');
  t.is((err?.cause as Error | undefined)?.name, 'FrameTooLargeError');
  const s2 = makeFrameSplitter(10);
  const two = new Uint8Array([...encodeFrame(5, new Uint8Array(2)), ...encodeFrame(6, new Uint8Array(50))]);
  const tags: number[] = [];
  s2.push(two, (tag) => {
    tags.push(tag);
    s2.maxFrameBytes = 100;
    return true;
  });
  t.deepEqual(tags, [5, 6]);
});

test('splitter: garbage is refused at the first byte; stopping mid-chunk drops the rest', (t) => {
  const err = t.throws(() => makeFrameSplitter(100).push(new TextEncoder().encode('G'), () => true));
  t.is((err?.cause as Error | undefined)?.name, 'MalformedFrameError');
  const s = makeFrameSplitter(100);
  let n = 0;
  s.push(new Uint8Array([...encodeFrame(1, new Uint8Array(1)), ...encodeFrame(2, new Uint8Array(1))]), () => {
    n++;
    return false;
  });
  t.is(n, 1);
});

test('splitter: a frame delivered a byte at a time is joined once and kept as a copy', (t) => {
  const frame = encodeFrame(Tag.Encrypted, new Uint8Array(64).fill(9));
  const s = makeFrameSplitter(100);
  const got: Uint8Array[] = [];
  const scratch = new Uint8Array(1);
  for (const b of frame) {
    scratch[0] = b; // the "stream" reuses its buffer
    s.push(scratch, (_tag, p) => {
      got.push(p);
      return true;
    });
  }
  t.is(got.length, 1);
  t.deepEqual([...got[0]!], new Array(64).fill(9));
});

test('splitter: a frame inside one chunk is a view of it; a frame split over chunks is copied once, into a buffer of its own size', (t) => {
  const big = encodeFrame(Tag.Encrypted, new Uint8Array(100_000).map((_, i) => i & 0xff));
  const small = encodeFrame(Tag.Encrypted, new Uint8Array([1, 2, 3]));
  const wire = new Uint8Array([...small, ...big, ...small]);
  const s = makeFrameSplitter(200_000);
  const got: Uint8Array[] = [];
  const chunks = [wire.subarray(0, 8 + 2), wire.subarray(10, 40_000), wire.subarray(40_000, 90_000), wire.subarray(90_000)];
  for (const c of chunks) {
    s.push(c, (_tag, p) => {
      got.push(p);
      return true;
    });
  }
  t.is(got.length, 3);
  t.is(got[0]!.buffer, wire.buffer, 'whole in the first chunk: a view');
  t.is(got[2]!.buffer, wire.buffer, 'whole in the last chunk: a view');
  t.is(got[1]!.byteLength, 100_000);
  t.is(got[1]!.buffer.byteLength, 100_000, 'split: one buffer of exactly the payload');
  t.deepEqual(got[1], big.subarray(HEADER_BYTES));
  t.is(s.pending, 0);
});
