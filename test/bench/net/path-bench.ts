/**
 * Section 4 of the bench, parts 2 and 3: the secure path (protocols/session/path.ts) alone.
 *
 * Bulk: 64 KiB payloads from a sender to a receiver over real loopback TCP in
 * this process (runtime/tcp.ts streams), through an established secure path,
 * against the same frames sent in the clear
 * (framing/frames.ts encodeFrame / makeFrameReader). Both keep the same window
 * of bytes in flight; MB/s counts payload bytes until all have arrived. The
 * secure path batches the payloads sent in one turn into Encrypted frames of up
 * to 2 MiB (path.ts), so a window of 32 payloads is about one seal.
 *
 * Handshakes: initiator and responder both in this process, over an in-memory
 * stream pair, one after another; handshakes/s and the CPU both sides spent
 * (process.cpuUsage), with node:crypto against @noble on both sides.
 *
 * This runs in the bench process, which is locked down like a host.
 */
import { randomBytes } from 'node:crypto';
import { encodeFrame, Tag } from '../../../protocols/framing/frames.js';
import { makeFrameReader } from '../../helpers/frames.js';
import { makeMemoryStreamPair } from '../../../protocols/framing/memory-stream.js';
import type { CipherName, CryptoSuite } from '../../../protocols/session/crypto.js';
import { nobleCrypto } from '../../../protocols/session/crypto-noble.js';
import { acceptPath, initiatePath, type PathClock, type PathIdentity, type SecurePath } from '../../../protocols/session/path.js';
import { vatIdOf } from '../../../protocols/session/vat-id.js';
import { nodeCrypto, preferredCiphers } from '../../../runtime/crypto-node.js';
import { dialTcp, listenTcp, type Listener } from '../../../runtime/tcp.js';
import { fmt, MiB, type RowInput, summarize, type Summary } from '../stats.js';

export interface PathBenchContext {
  readonly config: { readonly bulkMiB: number; readonly bulkReps: number; readonly handshakes: number; readonly handshakeReps: number; readonly warmups: number };
  row(r: RowInput): void;
  readonly details: Record<string, unknown>;
  log(line: string): void;
}

const PAYLOAD_BYTES = 64 * 1024;
/** Bytes sent but not yet received, at most: the same for both contenders. */
const WINDOW_BYTES = 32 * PAYLOAD_BYTES;

const clock: PathClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  // The end of turn a Node host should use (PathClock.defer says why).
  defer: (fn) => setImmediate(fn),
};

export const identityOf = (crypto: CryptoSuite, seedByte: number): PathIdentity => {
  const key = crypto.ed25519FromSeed(new Uint8Array(32).fill(seedByte));
  return { vatId: vatIdOf(crypto, key.publicKey), key };
};

/** One direction of a link: `send` a payload; `sink` hears how many payload bytes arrived. */
interface BulkLink {
  readonly name: string;
  send(payload: Uint8Array): void;
  sink: (bytes: number) => void;
  close(): Promise<void>;
}

/** Frames in the clear (`framed`), or the bare bytes with no framing at all (a reference ceiling). */
const plainLink = async (framed: boolean): Promise<BulkLink> => {
  let receiver: ((chunk: Uint8Array) => void) | undefined;
  const listener = await listenTcp('127.0.0.1', 0, (stream) => stream.onData((chunk) => receiver?.(chunk)));
  const stream = await dialTcp('127.0.0.1', listener.port);
  const reader = makeFrameReader();
  const link: BulkLink = {
    name: framed ? 'plain' : 'unframed',
    send: framed ? (payload) => stream.write(encodeFrame(Tag.Deliver, payload)) : (payload) => stream.write(payload),
    sink: () => {},
    close: async () => {
      stream.close();
      await listener.close();
    },
  };
  receiver = framed
    ? (chunk) => {
        let n = 0;
        for (const f of reader.push(chunk)) n += f.payload.length;
        if (n > 0) link.sink(n);
      }
    : (chunk) => link.sink(chunk.length);
  return link;
};

/** An initiator and a responder over one loopback TCP connection, with the given cipher. */
const securePair = async (crypto: CryptoSuite, cipher?: CipherName): Promise<{ a: SecurePath; b: SecurePath; listener: Listener }> => {
  const idA = identityOf(crypto, 1);
  const idB = identityOf(crypto, 2);
  const ciphers = cipher ? { ciphers: [cipher] } : {};
  let accepted: Promise<SecurePath> | undefined;
  const listener = await listenTcp('127.0.0.1', 0, (stream) => {
    accepted = acceptPath({ stream, identity: idB, crypto, clock, ...ciphers });
  });
  const stream = await dialTcp('127.0.0.1', listener.port);
  const a = await initiatePath({ stream, identity: idA, crypto, clock, wanted: idB.vatId, ...ciphers });
  if (!accepted) throw new Error('the listener saw no connection');
  return { a, b: await accepted, listener };
};

const secureLink = async (name: string, cipher?: CipherName): Promise<BulkLink & { cipher: string }> => {
  const { a, b, listener } = await securePair(nodeCrypto, cipher);
  const link = {
    name,
    cipher: a.cipher,
    send: (payload: Uint8Array) => a.send(Tag.Deliver, payload),
    sink: (_bytes: number) => {},
    close: async () => {
      a.close();
      b.close();
      await listener.close();
    },
  };
  b.onFrame((_tag, payload) => link.sink(payload.length));
  return link;
};

/** Sends `total` bytes in `payload`-sized frames, at most WINDOW_BYTES ahead of the receiver; resolves with elapsed ms. */
const transfer = (link: BulkLink, payload: Uint8Array, total: number): Promise<number> =>
  new Promise((resolve) => {
    let sent = 0;
    let received = 0;
    const pump = () => {
      while (sent < total && sent - received < WINDOW_BYTES) {
        link.send(payload);
        sent += payload.length;
      }
    };
    const start = performance.now();
    link.sink = (n) => {
      received += n;
      if (received >= total) resolve(performance.now() - start);
      else pump();
    };
    pump();
  });

export const benchBulk = async (ctx: PathBenchContext): Promise<void> => {
  const { config, row, details, log } = ctx;
  const links: BulkLink[] = [];
  try {
    // 'secure' is what a host picks here (preferredCiphers: AES-256-GCM first on a CPU with AES instructions), 'secure-alt' the other.
    const [preferred, other] = preferredCiphers();
    links.push(await plainLink(true), await secureLink('secure', preferred), await secureLink('secure-alt', other), await plainLink(false));
    const payload = new Uint8Array(randomBytes(PAYLOAD_BYTES));
    const total = Math.ceil((config.bulkMiB * MiB) / PAYLOAD_BYTES) * PAYLOAD_BYTES;
    for (let i = 0; i < config.warmups; i += 1) for (const l of links) await transfer(l, payload, total / 4);
    const rates = new Map<string, number[]>(links.map((l) => [l.name, []]));
    for (let rep = 0; rep < config.bulkReps; rep += 1) {
      for (let i = 0; i < links.length; i += 1) {
        const l = links[(i + rep) % links.length]!;
        const ms = await transfer(l, payload, total);
        rates.get(l.name)!.push(total / 1e6 / (ms / 1000));
      }
    }
    const sums = Object.fromEntries([...rates].map(([k, v]) => [k, summarize(v)])) as Record<string, Summary>;
    const cipherOf = (name: string) => (links.find((l) => l.name === name) as { cipher?: string }).cipher;
    details['sessions.bulk'] = { payloadBytes: PAYLOAD_BYTES, windowBytes: WINDOW_BYTES, totalBytes: total, ciphers: { secure: cipherOf('secure'), 'secure-alt': cipherOf('secure-alt') }, ...sums };
    const plain = sums['plain']!.median;
    // Per-repetition ratios: drift on a noisy machine moves both sides of one repetition alike.
    const paired = (name: string) => summarize(rates.get(name)!.map((x, i) => x / rates.get('plain')![i]!));
    const pairedSecure = paired('secure');
    const pairedAlt = paired('secure-alt');
    (details['sessions.bulk'] as Record<string, unknown>)['pairedRatioVsPlain'] = { secure: pairedSecure, 'secure-alt': pairedAlt };
    row({
      section: 'sessions',
      metric: `bulk 64 KiB frames, secure session (${cipherOf('secure')}, this host's default), loopback TCP`,
      unit: 'MB/s',
      ours: sums['secure']!.median,
      baseline: plain,
      baselineName: 'the same frames in the clear over loopback TCP (frames.ts encodeFrame/makeFrameReader)',
      note: `goal ≥ 0.85 × plain: ${sums['secure']!.median / plain >= 0.85 ? 'MET' : 'MISSED'}; ${fmt(total / MiB, 0)} MiB per repetition, ${WINDOW_BYTES / 1024} KiB in flight at most, sender and receiver in one locked-down process; per-repetition ratios: median ${fmt(pairedSecure.median, 2)}, range ${fmt(pairedSecure.min, 2)}–${fmt(pairedSecure.max, 2)}; secure ${fmt(sums['secure']!.min, 0)}–${fmt(sums['secure']!.max, 0)}, plain ${fmt(sums['plain']!.min, 0)}–${fmt(sums['plain']!.max, 0)} MB/s; the same bytes with no framing at all: ${fmt(sums['unframed']!.median, 0)} MB/s`,
    });
    row({
      section: 'sessions',
      metric: `  secure session, ${cipherOf('secure-alt')}`,
      unit: 'MB/s',
      ours: sums['secure-alt']!.median,
      baseline: plain,
      baselineName: 'plain, as above',
      note: `per-repetition ratios: median ${fmt(pairedAlt.median, 2)}, range ${fmt(pairedAlt.min, 2)}–${fmt(pairedAlt.max, 2)}`,
    });
    log(`  bulk: ${links.map((l) => `${l.name} ${fmt(sums[l.name]!.median, 0)} MB/s`).join(', ')}`);
  } finally {
    for (const l of links) await l.close();
  }
};

/** n full handshakes one after another; both ends here. Returns wall ms and CPU ms (user + system, both ends). */
export const timeHandshakes = async (crypto: CryptoSuite, idA: PathIdentity, idB: PathIdentity, n: number) => {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1) {
    const [sa, sb] = makeMemoryStreamPair();
    const [a, b] = await Promise.all([
      initiatePath({ stream: sa, identity: idA, crypto, clock, wanted: idB.vatId }),
      acceptPath({ stream: sb, identity: idB, crypto, clock }),
    ]);
    a.close();
    b.close();
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
};

export const benchHandshakes = async (ctx: PathBenchContext): Promise<void> => {
  const { config, row, details, log } = ctx;
  // Identity keys are long-lived (a host makes its key object once), so they are made outside the timing.
  const suites = [nodeCrypto, nobleCrypto].map((crypto) => ({ crypto, idA: identityOf(crypto, 1), idB: identityOf(crypto, 2) }));
  for (const s of suites) await timeHandshakes(s.crypto, s.idA, s.idB, Math.max(1, Math.ceil(config.handshakes / 4)));
  const perSec = new Map<string, number[]>(suites.map((s) => [s.crypto.name, []]));
  const cpuPer = new Map<string, number[]>(suites.map((s) => [s.crypto.name, []]));
  for (let rep = 0; rep < config.handshakeReps; rep += 1) {
    for (let i = 0; i < suites.length; i += 1) {
      const s = suites[(i + rep) % suites.length]!;
      const r = await timeHandshakes(s.crypto, s.idA, s.idB, config.handshakes);
      perSec.get(s.crypto.name)!.push((config.handshakes * 1000) / r.wallMs);
      cpuPer.get(s.crypto.name)!.push(r.cpuMs / config.handshakes);
    }
  }
  const [node, noble] = suites.map((s) => ({ rate: summarize(perSec.get(s.crypto.name)!), cpu: summarize(cpuPer.get(s.crypto.name)!), name: s.crypto.name }));
  details['sessions.handshakes'] = { perRepetition: config.handshakes, node, noble };
  const stream = 'both ends in this locked-down process over an in-memory stream pair, one at a time, each closed after';
  row({
    section: 'sessions',
    metric: `full handshakes/s, ${node!.name} both sides`,
    unit: 'handshakes/s',
    ours: node!.rate.median,
    baseline: noble!.rate.median,
    baselineName: `${noble!.name} both sides`,
    note: stream,
  });
  row({
    section: 'sessions',
    metric: `CPU per full handshake (both sides), ${node!.name}`,
    unit: 'ms CPU',
    ours: node!.cpu.median,
    baseline: noble!.cpu.median,
    baselineName: `${noble!.name} both sides`,
    note: 'process.cpuUsage (user + system) over the run / handshakes; lower is better',
  });
  log(`  handshakes: ${node!.name} ${fmt(node!.rate.median, 0)}/s (${fmt(node!.cpu.median, 2)} ms CPU), ${noble!.name} ${fmt(noble!.rate.median, 0)}/s (${fmt(noble!.cpu.median, 2)} ms CPU)`);
};
