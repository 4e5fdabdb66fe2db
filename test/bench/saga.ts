/**
 * Section 10 of `npm run bench`: the sync saga (Init / Ack / Delta / Commit).
 *
 * 1. A push between two real sister processes (`tribe host --core-size 2`, as
 *    a user starts it): N keys of ≈ 1 KiB imported on slot 0 with `tribe space
 *    import`, then `tribe sync --space S --with 1 --json`; the push row's `ms`
 *    (measured in slot 0's host, enliven to Committed). A fresh space per
 *    repetition, so each one moves every row.
 * 2. The same push in this process through the protocol alone: runInitiator
 *    against makeResponder on two SQLite stores, the responder passed as the
 *    endpoint (no CapTP, no network, no base64). A fresh responder store (and
 *    identity) per repetition.
 *    Baseline of 1 and 2, run after each repetition in this process: the same
 *    rows (same table, same sizes) copied between two SQLite files in one
 *    transaction (WAL, synchronous = FULL, as the saga's Commit), both ways —
 *    ATTACH + INSERT … SELECT, and a prepared-statement row loop — the faster
 *    median is the floor.
 * 3. A no-op: a push between sides that are in sync already (spaces of 1,000
 *    and 100,000 small keys, and an empty one), which ends after the Ack. Over
 *    the tribe the baseline is one E() round trip between a vat on slot 0 and
 *    a vat on slot 1 (timed inside the vat, 200 in a row); in this process it
 *    is the same Init and Ack turns sealed and opened (JSON, Ed25519 sign and
 *    verify, hash) with nothing else: the crypto floor of signed turns.
 *
 * Every process this starts is stopped (`tribe stop`), then any slot's process
 * still alive is killed (test/helpers/tribe.ts killTribe).
 */
import { createWriteStream, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { makeSagaBook, type SagaEndpoint, type SagaParty } from '../../protocols/saga/endpoint.js';
import { openTurn, parseTurn, sealTurn } from '../../protocols/saga/codec.js';
import { runInitiator } from '../../protocols/saga/initiator.js';
import { DEFAULT_SAGA_LIMITS } from '../../protocols/saga/limits.js';
import { makeResponder, type Responder } from '../../protocols/saga/responder.js';
import type { SyncEntry } from '../../protocols/saga/space.js';
import type { SigningKey } from '../../protocols/session/crypto.js';
import { vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { openSpaceStore, type SpaceStore } from '../../runtime/saga/space-store.js';
import { openDatabase } from '../../runtime/store.js';
import { within } from '../helpers/bounded.js';
import { cliPath } from '../helpers/cli.js';
import { isAlive, killGroup, spawnTracked } from '../helpers/processes.js';
import { killTribe, slotHome, slotPids, tribeReady } from '../helpers/tribe.js';
import { fmt, median, summarize, type RowInput } from './stats.js';

export interface SagaBenchConfig {
  /** Keys of the bulk push. */
  readonly keys: number;
  /** Characters of each bulk value (ASCII: bytes too). */
  readonly valueBytes: number;
  /** Bulk pushes over the tribe (each imports a fresh space first). */
  readonly bulkReps: number;
  /** Bulk pushes in this process (each to a fresh responder store). */
  readonly localBulkReps: number;
  /** Sizes of the spaces that are in sync already (small values). */
  readonly noopKeys: readonly number[];
  /** No-op syncs over the tribe per size (each also takes one E() baseline sample). */
  readonly noopReps: number;
  /** No-op sagas in this process per size. */
  readonly localNoopReps: number;
  /** E() round trips per baseline sample (timed inside the driver vat). */
  readonly pings: number;
  /** Profile the main thread of both sisters into this directory (cpu-prof-preload.ts; written when they stop). */
  readonly profileDir?: string;
}

export interface SagaBenchContext {
  readonly config: SagaBenchConfig;
  row(r: RowInput): void;
  readonly details: Record<string, unknown>;
  log(line: string): void;
  tempDir(prefix: string): string;
}

/** A tribe not ready within this fails the section (a loaded 2-CPU machine is slow, never this slow). */
const READY_MS = 90_000;
/** One CLI command (an import or a sync of 100,000 keys takes tens of seconds here). */
const CLI_MS = 300_000;
/** After `tribe stop`, how long the sisters get to exit on their own (and write their profiles). */
const STOP_GRACE_MS = 15_000;
const POLL_MS = 50;
/** Characters of each value in the no-op spaces: their cost is per key, so keep the import cheap. */
const NOOP_VALUE_BYTES = 32;
const MB = 1e6;
/** The monotonic clock in µs: the clock of V8's CPU profiles, in every process of this machine. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- data ----------------------------------------------------------------------

const FILLER = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.repeat(8);
const keyAt = (i: number) => `k${String(i).padStart(7, '0')}`;
const valueAt = (i: number, size: number) => {
  const head = `v${i}:`;
  let v = head;
  while (v.length < size) v += FILLER.slice(i % 62, i % 62 + Math.min(size - v.length, 400));
  return v;
};
/** Payload bytes of `n` keys: keys and values (what a user put in). */
const payloadBytes = (n: number, size: number) => {
  let b = 0;
  for (let i = 0; i < n; i++) b += keyAt(i).length + Math.max(size, `v${i}:`.length);
  return b;
};

/** `tribe space import`'s input: JSON lines {"key","value"}. */
const writeJsonLines = async (path: string, n: number, size: number) => {
  const out = createWriteStream(path);
  for (let i = 0; i < n; i++) {
    if (!out.write(`${JSON.stringify({ key: keyAt(i), value: valueAt(i, size) })}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
};

const entriesOf = (n: number, size: number, origin: string): SyncEntry[] => {
  const clock = Date.now();
  return Array.from({ length: n }, (_, i) => ({ key: keyAt(i), value: valueAt(i, size), clock, origin, deleted: false }));
};

// --- the floor: rows copied between two SQLite files -----------------------------------

const removeDb = (path: string) => {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
};

type FloorWay = 'attach' | 'loop';
/**
 * Copies `space`'s rows of sync_entries from `srcPath` into a fresh file with the same
 * table (its CREATE statement and index, read from the source), in one transaction;
 * answers the ms of that transaction. The file is opened like the host's store (WAL,
 * synchronous = FULL: the commit is fsynced, as the saga's Commit is).
 */
const floorCopy = (srcPath: string, space: string, dir: string, way: FloorWay, want: number): number => {
  const dstPath = join(dir, `floor-${way}.sqlite`);
  removeDb(dstPath);
  const src = new Database(srcPath, { readonly: true });
  const dst = openDatabase(dstPath);
  try {
    const ddl = src.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE tbl_name = 'sync_entries' AND sql IS NOT NULL").all();
    for (const { sql } of ddl) dst.exec(sql);
    let rows: number;
    let ms: number;
    if (way === 'attach') {
      dst.prepare('ATTACH DATABASE ? AS src').run(srcPath);
      const copy = dst.prepare('INSERT INTO main.sync_entries SELECT * FROM src.sync_entries WHERE space = ?');
      const t = performance.now();
      rows = dst.transaction(() => copy.run(space).changes)();
      ms = performance.now() - t;
    } else {
      const select = src.prepare('SELECT * FROM sync_entries WHERE space = ?');
      const insert = dst.prepare('INSERT INTO sync_entries (space, bucket, key, value, clock, origin, deleted, digest) VALUES (@space, @bucket, @key, @value, @clock, @origin, @deleted, @digest)');
      const t = performance.now();
      rows = dst.transaction(() => {
        let n = 0;
        for (const r of select.iterate(space)) n += insert.run(r as Record<string, unknown>).changes;
        return n;
      })();
      ms = performance.now() - t;
    }
    if (rows !== want) throw new Error(`BenchError: the floor copied ${rows} rows, want ${want}`);
    return ms;
  } finally {
    src.close();
    dst.close();
    removeDb(dstPath);
  }
};

/** One sample of each way, in alternating order. */
const floorSample = (srcPath: string, space: string, dir: string, want: number, rep: number, into: Record<FloorWay, number[]>) => {
  const ways: FloorWay[] = rep % 2 === 0 ? ['attach', 'loop'] : ['loop', 'attach'];
  for (const w of ways) into[w].push(floorCopy(srcPath, space, dir, w, want));
};

const floorOf = (s: Record<FloorWay, number[]>) => {
  const way: FloorWay = median(s.attach) <= median(s.loop) ? 'attach' : 'loop';
  return { way, ms: median(s[way]), other: median(s[way === 'attach' ? 'loop' : 'attach']) };
};
const FLOOR_NAMES: Record<FloorWay, string> = {
  attach: 'ATTACH + INSERT … SELECT',
  loop: 'prepared-statement row loop',
};

// --- in-process parties ---------------------------------------------------------------

interface Side {
  readonly id: string;
  readonly key: SigningKey;
  readonly path: string;
  readonly store: SpaceStore;
  readonly party: SagaParty;
}

const makeSide = (dir: string, name: string): Side => {
  const key = nodeCrypto.ed25519FromSeed(nodeCrypto.sha256(encoder.encode(`saga bench ${name}`)));
  const id = vatIdOf(nodeCrypto, key.publicKey);
  const path = join(dir, `${name}.sqlite`);
  const store = openSpaceStore(path, nodeCrypto, DEFAULT_SAGA_LIMITS);
  return { id, key, path, store, party: { crypto: nodeCrypto, key, self: id, store, limits: DEFAULT_SAGA_LIMITS, now: () => Date.now(), book: makeSagaBook() } };
};

const responderFor = (from: Side, to: Side): Responder =>
  makeResponder(to.party, { keyOf: (id) => (id === from.id ? from.key.publicKey : undefined), accepts: () => true, maxActive: 8 });

const push = (from: Side, to: Side, space: string, endpoint: SagaEndpoint) => runInitiator(from.party, { vatId: to.id, key: to.key.publicKey }, space, endpoint);

// --- the tribe through its CLI ------------------------------------------------------------

/** Runs one `tribe` command to its end (bounded; killed on timeout); answers its stdout, throws on a non-zero exit. */
const cli = async (args: readonly string[], what: string, ms = CLI_MS): Promise<string> => {
  const { child, exit } = spawnTracked(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (err += String(d)));
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  try {
    await within(closed, ms, what);
  } catch (e) {
    killGroup(child.pid!);
    throw e;
  }
  const { code } = await exit;
  if (code !== 0) throw new Error(`BenchError: tribe ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`);
  return out;
};

interface SyncRow {
  readonly direction: 'push' | 'pull';
  readonly state: string;
  readonly entries: number;
  readonly applied: number;
  readonly ms: number;
  readonly error?: string;
}

const syncOnce = async (home: string, space: string): Promise<{ push: SyncRow; pull: SyncRow }> => {
  const report = JSON.parse(await cli(['sync', '--space', space, '--with', '1', '--json', '--home', home], `tribe sync --space ${space}`)) as { results: SyncRow[] };
  const push = report.results.find((r) => r.direction === 'push');
  const pull = report.results.find((r) => r.direction === 'pull');
  if (!push || !pull || push.state === 'failed' || pull.state === 'failed') throw new Error(`BenchError: tribe sync --space ${space}: ${JSON.stringify(report.results)}`);
  return { push, pull };
};

const rootOn = async (home: string, slot: number, space: string): Promise<{ root: string; count: number }> =>
  JSON.parse(await cli(['space', 'root', space, '--json', '--home', slotHome(home, slot)], `tribe space root on slot ${slot}`));

const until = async (check: () => Promise<boolean>, ms: number, what: string) => {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`BenchError: ${what}: not within ${ms} ms`);
    await sleep(POLL_MS);
  }
};

/** Starts a tribe of two on `home`; answers its stop (graceful, then SIGKILL to whatever a slot still holds). */
const startTribe = async (home: string, profileDir: string | undefined, log: (l: string) => void) => {
  // Node refuses --cpu-prof in NODE_OPTIONS, and the first host spawns slot 1 with its own environment: a preload profiles both.
  const preload = new URL('./cpu-prof-preload.js', import.meta.url).href;
  const env = { ...process.env, ...(profileDir ? { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${preload}`.trim(), TRIBE_BENCH_CPU_PROF_DIR: profileDir } : {}) };
  const t0 = performance.now();
  const first = spawnTracked(process.execPath, [cliPath, 'host', '--home', home, '--core-size', '2', '--no-viz', '--no-discovery'], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const stderr: string[] = [];
  first.child.stderr!.on('data', (d) => stderr.push(String(d)));
  const pids = new Set<number>([first.child.pid!]);
  const stop = async () => {
    for (const pid of slotPids(home).values()) pids.add(pid);
    await cli(['stop', '--home', home], 'tribe stop', 30_000).catch((e: unknown) => log(`  tribe stop: ${(e as Error).message}`));
    await until(async () => [...pids].every((p) => !isAlive(p)), STOP_GRACE_MS, 'the sisters to exit after tribe stop').catch(() => {});
    const left = [...pids].filter((p) => isAlive(p)).length;
    await killTribe(home);
    if (isAlive(first.child.pid!)) killGroup(first.child.pid!);
    await within(first.exit, 30_000, 'the first tribe host to exit');
    return left;
  };
  try {
    await until(async () => {
      for (const pid of slotPids(home).values()) pids.add(pid);
      if (first.child.exitCode !== null) throw new Error(`BenchError: tribe host exited: ${stderr.join('').slice(-2000)}`);
      return (await tribeReady(home, 2, 0)) !== undefined && (await tribeReady(home, 2, 1)) !== undefined;
    }, READY_MS, 'a tribe of 2 ready');
  } catch (err) {
    await stop();
    throw err;
  }
  return { readyMs: performance.now() - t0, stop };
};

// --- the section -----------------------------------------------------------------------------

export async function benchSaga({ config, row, details, log, tempDir }: SagaBenchContext): Promise<void> {
  const { keys, valueBytes, bulkReps, localBulkReps, noopKeys, noopReps, localNoopReps, pings, profileDir } = config;
  /** With profileDir: when each CLI command ran, for saga-profile.ts to cut the sisters' profiles by. */
  const windows: { label: string; from: number; to: number }[] = [];
  const marked = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
    const from = nowUs();
    try {
      return await run();
    } finally {
      windows.push({ label, from, to: nowUs() });
    }
  };
  const load0 = loadavg();
  const bulkBytes = payloadBytes(keys, valueBytes);
  log(`[10] sync saga: ${fmt(keys, 0)} keys × ${valueBytes} B (${fmt(bulkBytes / MB, 1)} MB) × ${bulkReps} over a tribe of 2, × ${localBulkReps} in process; no-ops at ${noopKeys.map((n) => fmt(n, 0)).join(', ')} keys (load ${load0.map((x) => x.toFixed(2)).join(' ')})`);
  const dir = tempDir('tribe-bench-saga-');
  const files = new Map<string, string>();
  const fileOf = async (n: number, size: number) => {
    const path = join(dir, `${n}x${size}.jsonl`);
    if (!files.has(path)) {
      await writeJsonLines(path, n, size);
      files.set(path, path);
    }
    return path;
  };

  // The in-process initiator: it holds every space this section pushes, and its file is the floor's source.
  const a = makeSide(dir, 'a');
  const sides: Side[] = [a];
  const tribeFloor: Record<FloorWay, number[]> = { attach: [], loop: [] };
  const localFloor: Record<FloorWay, number[]> = { attach: [], loop: [] };
  try {
    let t = performance.now();
    a.store.putMany('bulk', entriesOf(keys, valueBytes, a.id));
    const fillMs = performance.now() - t;
    log(`  in-process store filled: ${fmt(keys, 0)} keys in ${fmt(fillMs, 0)} ms (putMany: digests, one fsynced transaction)`);
    floorSample(a.path, 'bulk', dir, keys, 0, { attach: [], loop: [] }); // warm-up, untimed

    // 1 and 3, over the tribe.
    const home = tempDir('tribe-bench-saga-home-');
    const tribe = await startTribe(home, profileDir, log);
    log(`  tribe of 2 ready in ${fmt(tribe.readyMs, 0)} ms${profileDir ? ` (profiling into ${profileDir})` : ''}`);
    const pushMs: number[] = [];
    const pullAfterPushMs: number[] = [];
    const importMs: number[] = [];
    const noop = new Map<number, { push: number[]; pull: number[] }>([0, ...noopKeys].map((n) => [n, { push: [], pull: [] }]));
    const pingMs: number[] = [];
    let leftAfterStop = 0;
    try {
      const bulkFile = await fileOf(keys, valueBytes);
      for (let rep = 0; rep < bulkReps; rep++) {
        const space = `bulk-${rep}`;
        t = performance.now();
        await marked('import', () => cli(['space', 'import', space, bulkFile, '--home', home], `tribe space import ${space}`));
        importMs.push(performance.now() - t);
        const { push: p, pull } = await marked('bulk push', () => syncOnce(home, space));
        if (p.state !== 'committed' || p.entries !== keys || p.applied !== keys) throw new Error(`BenchError: push of ${space}: ${JSON.stringify(p)}`);
        const [r0, r1] = [await rootOn(home, 0, space), await rootOn(home, 1, space)];
        if (r0.root !== r1.root || r1.count !== keys) throw new Error(`BenchError: ${space} differs after the push: ${JSON.stringify([r0, r1])}`);
        pushMs.push(p.ms);
        pullAfterPushMs.push(pull.ms);
        floorSample(a.path, 'bulk', dir, keys, rep, tribeFloor);
        log(`  tribe push ${rep + 1}/${bulkReps}: ${fmt(p.ms, 0)} ms (${fmt((keys * 1000) / p.ms, 0)} keys/s, ${fmt((bulkBytes / MB) * (1000 / p.ms), 1)} MB/s); import ${fmt(importMs.at(-1)!, 0)} ms; floor attach ${fmt(tribeFloor.attach.at(-1)!, 0)} ms, loop ${fmt(tribeFloor.loop.at(-1)!, 0)} ms`);
      }

      // No-op spaces, synced once, then pushed again and again; an E() baseline between vats on the two sisters.
      for (const n of noopKeys) {
        await cli(['space', 'import', `noop-${n}`, await fileOf(n, NOOP_VALUE_BYTES), '--home', home], `tribe space import noop-${n}`);
        const first = await syncOnce(home, `noop-${n}`);
        if (first.push.applied !== n) throw new Error(`BenchError: the first push of noop-${n}: ${JSON.stringify(first.push)}`);
      }
      await cli(['spawn', actorTs('pinger'), '--name', 'saga-bench-pinger', '--on', '1', '--home', home], 'spawn the pinger on slot 1');
      await cli(['spawn', actorTs('driver'), '--name', 'saga-bench-driver', '--on', '0', '--home', home], 'spawn the driver on slot 0');
      if ((await cli(['call', 'saga-bench-driver', 'connect', '"saga-bench-pinger"', '--home', home], 'connect the driver')).trim() !== 'true') throw new Error('BenchError: the driver did not reach the pinger');
      const kinds = [...noop.keys()];
      for (let rep = 0; rep < noopReps; rep++) {
        // Rotate who goes first: drift on a shared machine hits every kind alike.
        for (let i = 0; i <= kinds.length; i++) {
          const k = (i + rep) % (kinds.length + 1);
          if (k === kinds.length) {
            pingMs.push(Number(await cli(['call', 'saga-bench-driver', 'sequential', String(pings), '--home', home], 'pings')) / pings);
            continue;
          }
          const n = kinds[k]!;
          const r = await marked(`no-op ${n}`, () => syncOnce(home, `noop-${n}`));
          if (r.push.state !== 'synced' || r.pull.state !== 'synced') throw new Error(`BenchError: noop-${n} was not in sync: ${JSON.stringify(r)}`);
          noop.get(n)!.push.push(r.push.ms);
          noop.get(n)!.pull.push(r.pull.ms);
        }
        log(`  no-op round ${rep + 1}/${noopReps}: ${kinds.map((n) => `${fmt(n, 0)} keys ${noop.get(n)!.push.at(-1)} ms`).join(', ')}; E() round trip ${fmt(pingMs.at(-1)!, 2)} ms`);
      }
    } finally {
      const pids = Object.fromEntries([...slotPids(home)].map(([slot, pid]) => [pid, slot]));
      leftAfterStop = await tribe.stop();
      if (profileDir) writeFileSync(join(profileDir, 'windows.json'), `${JSON.stringify({ slots: pids, windows }, null, 1)}\n`);
    }

    // 2 and 3, in this process.
    const localMs: number[] = [];
    for (let rep = 0; rep < localBulkReps; rep++) {
      const b = makeSide(dir, `b${rep}`);
      try {
        t = performance.now();
        const o = await push(a, b, 'bulk', responderFor(a, b));
        const ms = performance.now() - t;
        if (o.state !== 'committed' || o.applied !== keys || b.store.root('bulk') !== a.store.root('bulk')) throw new Error(`BenchError: in-process push: ${JSON.stringify(o)}`);
        localMs.push(ms);
      } finally {
        b.store.close();
        removeDb(b.path);
      }
      floorSample(a.path, 'bulk', dir, keys, rep, localFloor);
      log(`  in-process push ${rep + 1}/${localBulkReps}: ${fmt(localMs.at(-1)!, 0)} ms; floor attach ${fmt(localFloor.attach.at(-1)!, 0)} ms, loop ${fmt(localFloor.loop.at(-1)!, 0)} ms`);
    }

    const r = makeSide(dir, 'r');
    sides.push(r);
    const responder = responderFor(a, r);
    const local = new Map<number, { saga: number[]; turns: number[]; initBytes: number; ackBytes: number }>();
    for (const n of noopKeys) {
      const space = `noop-${n}`;
      a.store.putMany(space, entriesOf(n, NOOP_VALUE_BYTES, a.id));
      await push(a, r, space, responder);
      // The Init and Ack of a no-op, kept to seal and open them alone.
      let turns: { init: Uint8Array; ack: Uint8Array } | undefined;
      const capture: SagaEndpoint = { ...responder, init: async (b) => { const ack = await responder.init(b); turns = { init: b, ack }; return ack; } };
      if ((await push(a, r, space, capture)).state !== 'synced') throw new Error(`BenchError: ${space} is not in sync in process`);
      const init = parseTurn(turns!.init, DEFAULT_SAGA_LIMITS).turn;
      const ack = parseTurn(turns!.ack, DEFAULT_SAGA_LIMITS).turn;
      const sealAndOpen = () => {
        const t0 = performance.now();
        const i = sealTurn(nodeCrypto, a.key, init);
        const oi = openTurn(nodeCrypto, i.bytes, { key: a.key.publicKey, from: a.id, to: r.id, seq: 0, kinds: ['init'], seen: () => false }, DEFAULT_SAGA_LIMITS);
        const k = sealTurn(nodeCrypto, r.key, ack);
        openTurn(nodeCrypto, k.bytes, { key: r.key.publicKey, from: r.id, to: a.id, saga: init.saga, space, seq: 1, prev: oi.hash, kinds: ['ack'] }, DEFAULT_SAGA_LIMITS);
        return performance.now() - t0;
      };
      const s = { saga: [] as number[], turns: [] as number[], initBytes: turns!.init.length, ackBytes: turns!.ack.length };
      for (let rep = 0; rep < localNoopReps; rep++) {
        const sagaFirst = rep % 2 === 0;
        if (!sagaFirst) s.turns.push(sealAndOpen());
        const t0 = performance.now();
        const o = await push(a, r, space, responder);
        s.saga.push(performance.now() - t0);
        if (o.state !== 'synced') throw new Error(`BenchError: ${space} was not in sync: ${JSON.stringify(o)}`);
        if (sagaFirst) s.turns.push(sealAndOpen());
      }
      local.set(n, s);
      log(`  in-process no-op, ${fmt(n, 0)} keys: ${fmt(median(s.saga), 2)} ms; Init + Ack sealed and opened alone ${fmt(median(s.turns), 2)} ms (Init ${fmt(s.initBytes / 1024, 1)} KiB)`);
    }

    // --- rows ---------------------------------------------------------------------------
    const load1 = loadavg();
    const mib = `${fmt(keys, 0)} keys × ${valueBytes} B (${fmt(bulkBytes / MB, 1)} MB)`;
    const perRate = (ms: number) => ({ keys: (keys * 1000) / ms, mb: (bulkBytes / MB) * (1000 / ms) });
    const tf = floorOf(tribeFloor);
    const lf = floorOf(localFloor);
    const pushMed = median(pushMs);
    const localMed = median(localMs);
    const section = 'sync saga';
    const bulkRows = (label: string, ms: number, samples: number[], f: ReturnType<typeof floorOf>, extra: string) => {
      const floorName = `the same rows copied between two SQLite files in this process, one transaction (${FLOOR_NAMES[f.way]}; the other way ${fmt(f.other, 0)} ms)`;
      row({ section, metric: label, unit: 'ms', ours: ms, baseline: f.ms, baselineName: floorName, note: `${fmt(Math.min(...samples), 0)}–${fmt(Math.max(...samples), 0)} ms over ${samples.length}; ${extra}` });
      row({ section, metric: '  keys/s', unit: 'keys/s', ours: perRate(ms).keys, baseline: perRate(f.ms).keys, baselineName: 'the floor above' });
      row({ section, metric: '  MB/s (keys + values)', unit: 'MB/s', ours: perRate(ms).mb, baseline: perRate(f.ms).mb, baselineName: 'the floor above' });
    };
    bulkRows(`push ${mib} between two sister processes (tribe sync, push row's ms)`, pushMed, pushMs, tf, `import ${fmt(median(importMs), 0)} ms (untimed)`);
    bulkRows(`the same push in one process (runInitiator → makeResponder, no CapTP)`, localMed, localMs, lf, `tribe push / in-process push = ${fmt(pushMed / localMed, 2)}`);
    const ping = median(pingMs);
    for (const n of [...noopKeys, 0]) {
      const s = noop.get(n)!;
      row({
        section,
        metric: `no-op push (in sync, ends after the Ack), ${n === 0 ? 'empty space' : `${fmt(n, 0)} keys`}, between the sisters`,
        unit: 'ms',
        ours: median(s.push),
        baseline: ping,
        baselineName: `one E() round trip, vat on slot 0 → vat on slot 1 (median of ${pings} in a row, ${noopReps} samples)`,
        note: `${fmt(Math.min(...s.push), 0)}–${fmt(Math.max(...s.push), 0)} ms; the pull back (also in sync) ${fmt(median(s.pull), 0)} ms; ms resolution`,
      });
    }
    for (const n of noopKeys) {
      const s = local.get(n)!;
      row({
        section,
        metric: `no-op saga in one process, ${fmt(n, 0)} keys`,
        unit: 'ms',
        ours: median(s.saga),
        baseline: median(s.turns),
        baselineName: 'the same Init and Ack sealed and opened alone (JSON, Ed25519 sign + verify, SHA-256)',
        note: `Init ${fmt(s.initBytes / 1024, 1)} KiB, Ack ${fmt(s.ackBytes / 1024, 1)} KiB; ${localNoopReps} sagas`,
      });
    }
    details['saga'] = {
      keys,
      valueBytes,
      payloadBytes: bulkBytes,
      loadavg: { before: load0, after: load1 },
      tribe: { readyMs: tribe.readyMs, pushMs: summarize(pushMs), pullAfterPushMs: summarize(pullAfterPushMs), importMs: summarize(importMs), leftAfterStop, floor: { attach: summarize(tribeFloor.attach), loop: summarize(tribeFloor.loop) } },
      local: { fillMs, pushMs: summarize(localMs), floor: { attach: summarize(localFloor.attach), loop: summarize(localFloor.loop) } },
      noop: Object.fromEntries([...noop].map(([n, s]) => [n, { push: summarize(s.push), pull: summarize(s.pull) }])),
      pingMs: summarize(pingMs),
      localNoop: Object.fromEntries([...local].map(([n, s]) => [n, { saga: summarize(s.saga), turns: summarize(s.turns), initBytes: s.initBytes, ackBytes: s.ackBytes }])),
    };
    log(`  medians: tribe push ${fmt(pushMed, 0)} ms, in-process ${fmt(localMed, 0)} ms, floor ${fmt(tf.ms, 0)} / ${fmt(lf.ms, 0)} ms (${tf.way}); ${leftAfterStop} process(es) left after tribe stop (killed); load ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    for (const s of sides) s.store.close();
  }
}
