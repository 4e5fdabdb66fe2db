/**
 * The handshake part of bench section 4 alone (net/path-bench.ts `benchHandshakes`),
 * for investigating handshake cost without the round-trip and bulk runs:
 *
 *   npm run build && node dist/test/bench/handshakes.js
 *   TRIBE_BENCH_PROFILE=2000 node --cpu-prof --cpu-prof-dir=/tmp/prof dist/test/bench/handshakes.js
 *
 * Locked down as the bench process and a host are (runtime/lockdown.ts), with the
 * same handshakes per repetition and repetitions as `npm run bench`.
 *
 * Environment:
 *   TRIBE_BENCH_HANDSHAKES=20     handshakes per repetition
 *   TRIBE_BENCH_HANDSHAKE_REPS=7  repetitions
 *   TRIBE_BENCH_PROFILE=n         instead: n node:crypto handshakes after n/10 untimed, nothing
 *                                 else in the process, so that a CPU profile shows only them
 */
import '../../runtime/lockdown.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { benchHandshakes, identityOf, timeHandshakes } from './net/path-bench.js';
import { fmt, type RowInput } from './stats.js';

const profile = Number(process.env['TRIBE_BENCH_PROFILE'] ?? 0);
if (profile > 0) {
  const [idA, idB] = [identityOf(nodeCrypto, 1), identityOf(nodeCrypto, 2)];
  await timeHandshakes(nodeCrypto, idA, idB, Math.ceil(profile / 10));
  const r = await timeHandshakes(nodeCrypto, idA, idB, profile);
  process.stdout.write(`node: ${fmt((profile * 1000) / r.wallMs, 0)} handshakes/s, ${fmt(r.cpuMs / profile, 3)} ms CPU each (both sides)\n`);
} else {
  const details: Record<string, unknown> = {};
  const rows: RowInput[] = [];
  await benchHandshakes({
    config: {
      bulkMiB: 0,
      bulkReps: 0,
      handshakes: Number(process.env['TRIBE_BENCH_HANDSHAKES'] ?? 20),
      handshakeReps: Number(process.env['TRIBE_BENCH_HANDSHAKE_REPS'] ?? 7),
      warmups: 2,
    },
    row: (r) => rows.push(r),
    details,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  for (const r of rows) process.stdout.write(`${r.metric}: ${fmt(r.ours, 2)} ${r.unit} (baseline ${fmt(r.baseline ?? Number.NaN, 2)})\n`);
  process.stdout.write(`${JSON.stringify(details['sessions.handshakes'])}\n`);
}
