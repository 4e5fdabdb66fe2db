/**
 * Entry point of a vat worker thread. It locks the realm down first (SES via
 * @endo/init), then gathers the worker's powers — module files, the durable
 * store, a clock — and hands them to vats/vat-main.ts, which holds no
 * platform code of its own.
 */
import '@endo/init';
import { randomBytes } from 'node:crypto';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { runVat } from '../vats/vat-main.js';
import type { VatSpec } from '../vats/link.js';
import { wrapMessagePort, type SpareAssignment } from './ports.js';
import { quietMarshalLogging } from './quiet-console.js';

quietMarshalLogging();
const data = workerData as { spec: VatSpec | undefined; dbPath: string; exposeGc: boolean };
const { dbPath, exposeGc } = data;
if (!parentPort) throw new Error('vat-worker must run in a worker thread');
const parent = parentPort;
// A spare worker (see ports.ts) is started and locked down before it has a vat;
// it learns which vat to become from its first message.
const spec: VatSpec =
  data.spec ??
  (await new Promise<VatSpec>((resolve) =>
    parent.once('message', (m: SpareAssignment) => resolve(m.spec)),
  ));

async function storeBackendFor(vat: VatSpec) {
  const local = (await import('./store.js')).openVatStoreBackend(dbPath, vat.name);
  if (!vat.replicated) return local;
  const { makeReplicatedBackend } = await import('./replica/turn-backend.js');
  return makeReplicatedBackend(local, (msg) => parent.postMessage(msg));
}

// Workers reject --expose-gc in execArgv; setting the flag and reading `gc` from a
// fresh context gives the same function. Only when asked (tests, diagnostics).
let gc: (() => void) | undefined;
if (exposeGc) {
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
}
runVat({
  spec,
  parent: wrapMessagePort(parent),
  wrapPort: (raw) => wrapMessagePort(raw as MessagePort),
  // SQLite is loaded only by durable vats: the others save its memory. A replica of a
  // replicated service reads its rows here and commits through its host (the service's log).
  storeBackend: spec.durable ? await storeBackendFor(spec) : undefined,
  clock: {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
    setImmediate: (fn) => void setImmediate(fn),
  },
  collectGarbage: gc ? () => gc() : undefined,
  realm: { Date, Math },
  exit: () => process.exit(0),
  externalMemory: () => getHeapStatistics().external_memory,
  randomBytes: (n) => randomBytes(n),
  precise: () => performance.now(),
  die: (reason) => {
    process.stderr.write(`${reason}\n`);
    process.exit(70);
  },
});
