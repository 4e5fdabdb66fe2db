/**
 * BASELINE for the round-trip bench: raw @endo/captp between two worker threads
 * joined by one MessagePort. Same lockdown as a vat (`@endo/init`), CapTP
 * messages posted as plain objects (no envelope), and the very same workload
 * code as the vats run (actors/pinger.js, actors/driver.js), here outside any
 * compartment and without the runtime around it.
 */
import '@endo/init';
import { makeCapTP } from '@endo/captp';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { make as makeDriver } from './actors/driver.js';
import { make as makePinger } from './actors/pinger.js';

const { role, port, gcImports = false } = workerData as { role: 'driver' | 'target'; port: MessagePort; gcImports?: boolean };
if (!parentPort) throw new Error('raw-captp-worker must run in a worker thread');
const control = parentPort;

const captp = makeCapTP(`raw-${role}`, (m) => port.postMessage(m), role === 'target' ? makePinger() : undefined, { gcImports });
port.on('message', (m) => captp.dispatch(m));

const boot = role === 'driver' ? captp.getBootstrap() : undefined;
const driver: any =
  role === 'driver' ? makeDriver({ names: { lookup: async () => boot }, timer: { now: () => Date.now() } }) : undefined;
const ops: Record<string, (...args: any[]) => unknown> = {
  gc: async () => (await import('./stats.js')).gcAndSettle(),
  connect: (name: string) => driver.connect(name),
  sequential: (n: number) => driver.sequential(n),
  concurrent: (n: number, window: number) => driver.concurrent(n, window),
};
control.on('message', async (cmd: { id: number; op: string; args: unknown[] }) => {
  try {
    const value = await ops[cmd.op]!(...cmd.args);
    control.postMessage({ id: cmd.id, value });
  } catch (err) {
    control.postMessage({ id: cmd.id, error: String((err as Error)?.message ?? err) });
  }
});
control.postMessage({ ready: true });
