/**
 * The triple session layer alone (protocols/triple), over in-memory frame
 * paths in one process, against one path with no triple layer. Not part of
 * `npm run bench` yet; run it by itself after a build:
 *
 *   node dist/test/bench/triple.js [--rounds 3]
 *
 * Each end echoes every frame it gets. Per scenario:
 * - sequential: one frame out, wait for its echo, 5,000 times: round trips/s,
 *   p50 / p99 of the round trip;
 * - 100 outstanding: 100 frames in flight at all times, 50,000 echoes: frames/s
 *   (each echo is two frames through the layer).
 * A fast in-memory path delivers what was sent in one turn on the next
 * (setImmediate); a slowed one after `delayMs` (setTimeout); a lossy one drops
 * a seeded share of frames. Both triple modes ('all', 'standby') run over three
 * paths. Rounds alternate the scenarios; medians are reported.
 */
import { Tag } from '../../protocols/framing/frames.js';
import { type Lifetime, makeLifetime } from '../../protocols/lifetime.js';
import { seededRandom } from '../../protocols/framing/memory-stream.js';
import { makeTripleSession, type TripleMode, type TriplePath } from '../../protocols/triple/triple-session.js';
import { median, quantile } from './stats.js';

interface BenchEnd extends TriplePath {
  receive(frames: Array<[number, Uint8Array]>): void;
}

/** Two ends; what one sends in a turn reaches the other together, a turn (or `delayMs`) later. */
const makeBenchLink = (delayMs = 0, drop = 0, seed = 1): [BenchEnd, BenchEnd] => {
  const random = seededRandom(seed);
  const whole = makeLifetime();
  const make = (): BenchEnd & { other?: BenchEnd } => {
    let handler: ((tag: number, payload: Uint8Array) => void) | undefined;
    let queue: Array<[number, Uint8Array]> = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      const q = queue;
      queue = [];
      end.other?.receive(q);
    };
    const end: BenchEnd & { other?: BenchEnd } = {
      lifetime: whole.lifetime as Lifetime,
      send(tag, payload) {
        if (whole.lifetime.isClosed) throw new Error('closed');
        if (drop > 0 && random() < drop) return;
        queue.push([tag, payload]);
        if (scheduled) return;
        scheduled = true;
        if (delayMs > 0) setTimeout(flush, delayMs);
        else setImmediate(flush);
      },
      onFrame(h) {
        handler = h;
      },
      abort(reason) {
        whole.close(reason);
      },
      receive(frames) {
        for (const [t, p] of frames) {
          if (whole.lifetime.isClosed) return;
          handler?.(t, p);
        }
      },
    };
    return end;
  };
  const a = make();
  const b = make();
  a.other = b;
  b.other = a;
  return [a, b];
};

interface Path2 {
  send(tag: number, payload: Uint8Array): void;
  onFrame(h: (tag: number, payload: Uint8Array) => void): void;
  abort(reason: Error): void;
}

type Scenario = { name: string; make: () => { a: Path2; b: Path2; stop: () => void } };

const realClock = {
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

const triple = (mode: TripleMode, links: Array<{ delayMs?: number; drop?: number }>) => () => {
  let epoch = 1;
  const a = makeTripleSession({ name: 'A', clock: realClock, epoch: epoch++, mode });
  const b = makeTripleSession({ name: 'B', clock: realClock, epoch: epoch++, mode });
  links.forEach((l, i) => {
    const [x, y] = makeBenchLink(l.delayMs, l.drop, i + 1);
    a.attach(x, `link-${i}`);
    b.attach(y, `link-${i}`);
  });
  return {
    a,
    b,
    stop: () => {
      a.abort(new Error('bench over'));
      b.abort(new Error('bench over'));
    },
    ready: () => a.state !== 'starting' && b.state !== 'starting',
  };
};

const single = (delayMs = 0) => () => {
  const [a, b] = makeBenchLink(delayMs);
  return { a, b, stop: () => a.abort(new Error('bench over')) };
};

const PAYLOAD = new Uint8Array(64);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sequential round trips: returns per-trip ms. */
const sequential = (a: Path2, b: Path2, n: number): Promise<number[]> =>
  new Promise((resolve) => {
    const rtts: number[] = [];
    let t0 = 0;
    b.onFrame((tag, p) => b.send(tag, p));
    const next = () => {
      t0 = performance.now();
      a.send(Tag.Deliver, PAYLOAD);
    };
    a.onFrame(() => {
      rtts.push(performance.now() - t0);
      if (rtts.length === n) resolve(rtts);
      else next();
    });
    next();
  });

/** `window` frames in flight, `n` echoes: returns elapsed ms. */
const windowed = (a: Path2, b: Path2, n: number, window: number): Promise<number> =>
  new Promise((resolve) => {
    let sent = 0;
    let got = 0;
    const t0 = performance.now();
    b.onFrame((tag, p) => b.send(tag, p));
    a.onFrame(() => {
      got++;
      if (got === n) resolve(performance.now() - t0);
      else if (sent < n) {
        sent++;
        a.send(Tag.Deliver, PAYLOAD);
      }
    });
    for (; sent < Math.min(window, n); sent++) a.send(Tag.Deliver, PAYLOAD);
  });

const scenarios = (): Scenario[] => [
  { name: 'single path, no triple layer', make: single() },
  { name: 'triple all, 3 paths', make: triple('all', [{}, {}, {}]) },
  { name: 'triple standby, 3 paths', make: triple('standby', [{}, {}, {}]) },
  { name: 'triple, 1 fast path only', make: triple('all', [{}]) },
  { name: 'single path +5 ms, no triple layer', make: single(5) },
  { name: 'triple all, path 1 +5 ms', make: triple('all', [{ delayMs: 5 }, {}, {}]) },
  { name: 'triple standby, path 1 +5 ms', make: triple('standby', [{ delayMs: 5 }, {}, {}]) },
  { name: 'triple all, path 1 loses 5%', make: triple('all', [{ drop: 0.05 }, {}, {}]) },
  { name: 'triple standby, path 1 loses 5%', make: triple('standby', [{ drop: 0.05 }, {}, {}]) },
  // The lossy path is also the fastest: standby keeps it as primary (5% loss is not 'degraded').
  { name: 'triple all, fastest path loses 5%', make: triple('all', [{ drop: 0.05 }, { delayMs: 1 }, { delayMs: 1 }]) },
  { name: 'triple standby, fastest path loses 5%', make: triple('standby', [{ drop: 0.05 }, { delayMs: 1 }, { delayMs: 1 }]) },
];

const main = async () => {
  const roundsArg = process.argv.indexOf('--rounds');
  const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
  const results = new Map<string, { rtps: number[]; p50: number[]; p99: number[]; fps: number[] }>();
  for (let round = 0; round < rounds; round++) {
    for (const s of scenarios()) {
      const r = results.get(s.name) ?? { rtps: [], p50: [], p99: [], fps: [] };
      results.set(s.name, r);
      const slow = s.name.includes('+5 ms') && s.name.startsWith('single');
      const seqN = slow ? 300 : 5_000;
      const winN = slow ? 5_000 : 50_000;
      {
        const m = s.make();
        // Let heartbeats validate every path and measure their RTTs.
        await sleep(50);
        const rtts = await sequential(m.a, m.b, seqN);
        m.stop();
        const total = rtts.reduce((x, y) => x + y, 0);
        r.rtps.push((seqN / total) * 1000);
        r.p50.push(quantile(rtts, 0.5) * 1000);
        r.p99.push(quantile(rtts, 0.99) * 1000);
      }
      {
        const m = s.make();
        await sleep(50);
        const ms = await windowed(m.a, m.b, winN, 100);
        m.stop();
        r.fps.push(((2 * winN) / ms) * 1000);
      }
    }
  }
  const base = results.get('single path, no triple layer');
  const rows = [...results].map(([name, r]) => ({
    scenario: name,
    'round trips/s': Math.round(median(r.rtps)),
    'p50 µs': Math.round(median(r.p50)),
    'p99 µs': Math.round(median(r.p99)),
    'frames/s (100 out)': Math.round(median(r.fps)),
    'µs/frame (100 out)': (1e6 / median(r.fps)).toFixed(2),
    'vs single (100 out)': base ? (median(r.fps) / median(base.fps)).toFixed(2) : '',
  }));
  console.log(`triple session bench, ${rounds} rounds, medians (node ${process.version})`);
  console.table(rows);
};

await main();
