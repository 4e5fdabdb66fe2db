/**
 * capabilities/captp-tables.ts: with gcImports, an import nobody holds is
 * collected, released to the peer, and leaves nothing behind in the tables.
 */
import '@endo/init';
import test from 'ava';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { makeImportExportTables } from '../../capabilities/captp-tables.js';
import { LOCAL_MS, until } from '../helpers/bounded.js';

test('gcImports: a collected import is released and its finalizer token forgotten (nothing kept per call)', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const released: string[] = [];
  const tables = makeImportExportTables({
    gcImports: true,
    releaseSlot: (slot) => void released.push(slot),
    makeRemoteKit: () => ({ promise: new Promise(() => {}), settler: { resolveWithPresence: () => ({}) } }),
  });
  const N = 200;
  // Made and dropped in a function of its own, so that nothing on this stack holds them.
  (() => {
    for (let i = 0; i < N; i++) tables.markAsImported(`p-${i}`, {});
  })();
  t.is(tables.importsTracked, N);
  await until(
    () => {
      gc();
      return released.length === N && tables.importsTracked === 0;
    },
    LOCAL_MS,
    'every import collected and forgotten',
    () => `${released.length} released, ${tables.importsTracked} still tracked`,
  );
  t.false(tables.hasImport('p-0'));
});
