/**
 * Section 7 of `npm run bench`: durable objects.
 *
 * 1. Turns/s: a driver vat calls `ping(i)` in sequence on an object of another
 *    vat, held as a reference. Durable: an instance of a durable kind in a
 *    durable vat, each ping a write its turn commits (one SQLite transaction,
 *    synchronous = FULL) before the answer leaves; baseline: the same code in a
 *    non-durable vat, the count in a closure. Also `peek(i)`, which writes
 *    nothing: what the turn hold and the durable reference cost alone.
 * 2. Restart: `restartVat` of a durable vat holding 10,000 stored durable
 *    objects, until a reference the embedder held to one of them answers
 *    again; baseline: the same vat with none. And the whole host started on
 *    its home, until a stored object answers; baseline: one object.
 * 3. Memory: host RSS per 10,000 durable objects kept resident in a vat, after
 *    full GC; baseline: 10,000 small Far objects of the same shape in a plain
 *    vat (actors/many.ts).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { E, type Host, startHost } from '../../runtime/index.js';
import { fmt, gcHere, median, MiB, quietRss, summarize, timed, type RowInput } from './stats.js';

export interface DurableConfig {
  readonly calls: number;
  readonly reps: number;
  readonly warmups: number;
  readonly objects: number;
  readonly restartReps: number;
  readonly memReps: number;
}

export interface DurableContext {
  readonly config: DurableConfig;
  row(r: RowInput): void;
  readonly details: Record<string, unknown>;
  log(line: string): void;
  tempDir(prefix: string): string;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);
const SECTION = 'durable objects';

const newHost = (ctx: DurableContext, exposeGc = false): Promise<Host> =>
  startHost({ home: ctx.tempDir('tribe-bench-durable-'), control: false, listen: false, viz: false, print: () => {}, spareWorkers: 0, exposeGc });

const turns = async (ctx: DurableContext) => {
  const { config } = ctx;
  const host = await newHost(ctx);
  try {
    const pair = async (prefix: string, durable: boolean) => {
      const { root: targets } = await host.spawnVat({ module: actorTs('durable-target'), name: `${prefix}-target`, durable });
      const { root: driver } = await host.spawnVat({ module: actorTs('durable-driver'), name: `${prefix}-driver` });
      await E(driver).hold(await E(targets).target());
      return driver;
    };
    const contenders = { durable: await pair('d', true), plain: await pair('p', false) };
    const rate = async (driver: unknown, method: string) => {
      const ms = (await timed(`${method} x ${config.calls}`, E(driver as any).sequential(method, config.calls))) as number;
      return (config.calls / ms) * 1000;
    };
    const samples: Record<string, number[]> = { 'durable-ping': [], 'plain-ping': [], 'durable-peek': [], 'plain-peek': [] };
    for (let rep = 0; rep < config.warmups + config.reps; rep += 1) {
      // Interleaved, and the order turns each repetition: drift on a shared machine lands on both.
      const order = rep % 2 === 0 ? (['durable', 'plain'] as const) : (['plain', 'durable'] as const);
      for (const who of order) {
        for (const method of ['ping', 'peek']) {
          const r = await rate(contenders[who], method);
          if (rep >= config.warmups) samples[`${who}-${method}`]!.push(r);
        }
      }
    }
    const sums = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
    ctx.details['durable.turns'] = sums;
    ctx.row({
      section: SECTION,
      metric: 'turns/s, sequential calls that write (durable kind, committed per turn)',
      unit: 'calls/s',
      ours: sums['durable-ping']!.median,
      baseline: sums['plain-ping']!.median,
      baselineName: 'same code in a non-durable vat',
      note: 'each turn commits one SQLite transaction (synchronous = FULL) before its answer leaves',
    });
    ctx.row({
      section: SECTION,
      metric: '  calls that write nothing (the turn hold and the durable reference alone)',
      unit: 'calls/s',
      ours: sums['durable-peek']!.median,
      baseline: sums['plain-peek']!.median,
      baselineName: 'same code in a non-durable vat',
      note: "a durable vat's answers wait for the end of the turn (setImmediate)",
    });
    ctx.log(`  durable turns/s ${fmt(sums['durable-ping']!.median, 0)} vs ${fmt(sums['plain-ping']!.median, 0)} non-durable`);
  } finally {
    await host.stop();
  }
};

const restart = async (ctx: DurableContext) => {
  const { config } = ctx;
  const host = await newHost(ctx);
  try {
    const { root: empty } = await host.spawnVat({ module: actorTs('durable-target'), name: 'r-empty', durable: true });
    const { root: full } = await host.spawnVat({ module: actorTs('durable-target'), name: 'r-full', durable: true });
    // Made in steps: one turn's commit is one transaction, and 10,000 objects in one is fine but slow to build.
    for (let made = 0; made < config.objects; made += 1000) await E(full).stored(Math.min(1000, config.objects - made));
    const heldFull = await E(full).first();
    const heldEmpty = await E(empty).target();
    const once = async (name: string, held: unknown, method: string) => {
      const t0 = performance.now();
      await host.restartVat(name);
      const restarted = performance.now();
      await E(held as any)[method](0);
      return { restartMs: restarted - t0, firstCallMs: performance.now() - t0 };
    };
    const full_: number[] = [];
    const empty_: number[] = [];
    const fullRestart: number[] = [];
    for (let rep = 0; rep < config.restartReps + 1; rep += 1) {
      const f = await once('r-full', heldFull, 'get');
      const e = await once('r-empty', heldEmpty, 'peek');
      if (rep === 0) continue; // the first restart also warms the module cache
      full_.push(f.firstCallMs);
      fullRestart.push(f.restartMs);
      empty_.push(e.firstCallMs);
    }
    ctx.details['durable.restart'] = { objects: config.objects, full: summarize(full_), empty: summarize(empty_), fullRestartOnly: summarize(fullRestart) };
    ctx.row({
      section: SECTION,
      metric: `vat restart with ${fmt(config.objects, 0)} durable objects, until a held reference answers`,
      unit: 'ms',
      ours: median(full_),
      baseline: median(empty_),
      baselineName: 'the same vat with no durable objects',
      note: `restartVat alone ${fmt(median(fullRestart), 0)} ms; objects are made again only when used, so the count costs the start nothing`,
    });
    ctx.log(`  restart with ${config.objects} objects: ${fmt(median(full_), 0)} ms (empty ${fmt(median(empty_), 0)} ms)`);
  } finally {
    await host.stop();
  }
};

/** The whole host stopped and started on its home: until a stored object answers, with and without 10,000 of them. */
const hostRestart = async (ctx: DurableContext) => {
  const { config } = ctx;
  const homeFull = ctx.tempDir('tribe-bench-durable-full-');
  const homeEmpty = ctx.tempDir('tribe-bench-durable-empty-');
  const opts = (home: string) => ({ home, control: false, listen: false, viz: false, print: () => {}, spareWorkers: 0 }) as const;
  {
    const full = await startHost(opts(homeFull));
    const { root } = await full.spawnVat({ module: actorTs('durable-target'), name: 'h', durable: true });
    for (let made = 0; made < config.objects; made += 1000) await E(root).stored(Math.min(1000, config.objects - made));
    await full.stop();
    const empty = await startHost(opts(homeEmpty));
    const { root: r2 } = await empty.spawnVat({ module: actorTs('durable-target'), name: 'h', durable: true });
    await E(r2).stored(1);
    await empty.stop();
  }
  const once = async (home: string) => {
    const t0 = performance.now();
    const host = await startHost(opts(home));
    try {
      await E(E(host.names.lookup('h')).first()).get();
      return performance.now() - t0;
    } finally {
      await host.stop();
    }
  };
  const full: number[] = [];
  const empty: number[] = [];
  for (let rep = 0; rep < config.restartReps + 1; rep += 1) {
    const f = await once(homeFull);
    const e = await once(homeEmpty);
    if (rep === 0) continue;
    full.push(f);
    empty.push(e);
  }
  ctx.details['durable.hostRestart'] = { objects: config.objects, full: summarize(full), oneObject: summarize(empty) };
  ctx.row({
    section: SECTION,
    metric: `host start with ${fmt(config.objects, 0)} durable objects, until a stored one answers`,
    unit: 'ms',
    ours: median(full),
    baseline: median(empty),
    baselineName: 'the same host with one durable object',
    note: 'startHost on the home (store checks, vat restored), then a lookup and one call',
  });
  ctx.log(`  host start with ${config.objects} objects: ${fmt(median(full), 0)} ms (one object ${fmt(median(empty), 0)} ms)`);
};

const memory = async (ctx: DurableContext) => {
  const { config } = ctx;
  const host = await newHost(ctx, true);
  try {
    const { root: durable } = await host.spawnVat({ module: actorTs('durable-target'), name: 'm-durable', durable: true });
    const { root: plain } = await host.spawnVat({ module: actorTs('many'), name: 'm-plain' });
    const collect = async () => {
      gcHere();
      await Promise.all(['m-durable', 'm-plain'].map(async (n) => E(await host.vatAdmin(n)).collectGarbage()));
      gcHere();
    };
    // One unmeasured step each: JIT and the first heap growth.
    await E(durable).makeMany(config.objects);
    await E(plain).makeMany(config.objects);
    const d: number[] = [];
    const p: number[] = [];
    let before = await quietRss(collect);
    for (let rep = 0; rep < config.memReps; rep += 1) {
      await E(durable).makeMany(config.objects);
      const mid = await quietRss(collect);
      d.push((mid.rss - before.rss) / MiB);
      await E(plain).makeMany(config.objects);
      const after = await quietRss(collect);
      p.push((after.rss - mid.rss) / MiB);
      before = after;
    }
    const per10k = (xs: number[]) => (median(xs) * 10_000) / config.objects;
    ctx.details['durable.memory'] = { objectsPerStep: config.objects, durableMiB: summarize(d), plainMiB: summarize(p) };
    ctx.row({
      section: SECTION,
      metric: 'host RSS per 10,000 durable objects resident, after full GC',
      unit: 'MiB',
      ours: per10k(d),
      baseline: per10k(p),
      baselineName: '10,000 small Far objects of the same shape in a plain vat',
      note: `≈ ${fmt((per10k(d) * MiB) / 10_000, 0)} B/object; a durable object not in use is a row, not memory`,
    });
    ctx.log(`  memory per 10k durable ${fmt(per10k(d), 2)} MiB (plain ${fmt(per10k(p), 2)} MiB)`);
  } finally {
    await host.stop();
  }
};

export const benchDurable = async (ctx: DurableContext) => {
  ctx.log('[7/7] durable objects');
  await turns(ctx);
  await restart(ctx);
  await hostRestart(ctx);
  await memory(ctx);
};
