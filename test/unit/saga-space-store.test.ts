/**
 * The saga's SQLite store on its own: what staging costs as a saga's temp
 * space grows. Each Delta turn stages one chunk; a chunk must cost what the
 * chunk holds, not what the saga staged before it, or a sync slows down as it
 * runs (quadratic in its size). Measured in CPU time of the (synchronous)
 * calls, which the machine's load changes far less than wall time, and as a
 * ratio of late chunks to early ones, so the machine's speed cancels out.
 */
import test from 'ava';
import { digestEntry } from '../../protocols/saga/space.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { entries, makeSide } from './saga-fixtures.js';

/** 25 MB staged in chunks of 256 KB: enough that re-reading what was staged dwarfs a chunk's own cost. */
const CHUNKS = 100;
const CHUNK_ENTRIES = 256;
const VALUE_CHARS = 1_000;
/** Late chunks may cost this much more than early ones (measured here: 0.65-0.85; 4.8-5.7 when each chunk counted and summed the saga's temp rows). */
const LATE_OVER_EARLY = 2.5;

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('staging a Delta chunk costs the same late in a big saga as early: nothing staged before it is read again', (t) => {
  const side = makeSide(t, 'stager');
  side.store.begin('saga-1', 'peer', 's', 'responder');
  const costs: number[] = [];
  for (let c = 0; c < CHUNKS; c++) {
    const chunk = entries(CHUNK_ENTRIES, { prefix: `c${c}-`, size: VALUE_CHARS }).map((e) => digestEntry(nodeCrypto, e));
    const before = cpuMicros();
    side.store.stage('saga-1', chunk, c * CHUNK_ENTRIES);
    costs.push(cpuMicros() - before);
  }
  t.is(side.store.staged('saga-1').entries, CHUNKS * CHUNK_ENTRIES);
  // Chunks 5-14 (past the first statements' warm-up) against the last ten.
  const early = median(costs.slice(5, 15));
  const late = median(costs.slice(-10));
  t.log(`CPU per chunk of ${CHUNK_ENTRIES} entries: early ${early} µs, late ${late} µs (ratio ${(late / early).toFixed(2)})`);
  t.true(late < LATE_OVER_EARLY * early, `late chunks cost ${(late / early).toFixed(1)} × early ones`);
});
