/**
 * What the start-time store check costs: `node dist/test/bench/store-check.js [rows...]`.
 *
 * For each row count it builds a host store with that many `vat_store` rows (100-byte
 * values, 10 vats), closes it, then times `checkStoreFile` (read-only open, PRAGMA
 * quick_check(1), the schema read) and a whole `openHostStore` (check + open + the write
 * at open) cold (first run) and warm (median of 5; the file is in the page cache either way).
 * Prints one JSON line per size.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openHostStore, openVatStoreBackend, SCHEMA_VERSION } from '../../runtime/store.js';
import { checkStoreFile } from '../../runtime/store-check.js';

const VATS = 10;
const VALUE = 'x'.repeat(100);
const BATCH = 10_000;

const ms = (f: () => void): number => {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const sizes = process.argv.slice(2).map(Number);
for (const rows of sizes.length ? sizes : [10_000, 100_000, 1_000_000]) {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-bench-store-'));
  const path = join(dir, 'tribe.db');
  openHostStore(path).close();
  for (let v = 0; v < VATS; v++) {
    const backend = openVatStoreBackend(path, `vat-${v}`);
    for (let i = 0; i < rows / VATS; i += BATCH) {
      const writes = new Map<string, string>();
      for (let j = i; j < Math.min(i + BATCH, rows / VATS); j++) writes.set(`key-${j}`, VALUE);
      backend.commit(writes);
    }
    backend.close();
  }
  const check = [0, 1, 2, 3, 4, 5].map(() => ms(() => checkStoreFile(path, SCHEMA_VERSION)));
  const open = [0, 1, 2, 3, 4].map(() => ms(() => openHostStore(path).close()));
  console.log(
    JSON.stringify({
      rows,
      fileMiB: +(statSync(path).size / 2 ** 20).toFixed(1),
      checkFirstMs: +check[0]!.toFixed(2),
      checkMedianMs: +median(check.slice(1)).toFixed(2),
      openHostStoreMedianMs: +median(open).toFixed(2),
    }),
  );
  rmSync(dir, { recursive: true, force: true });
}
