/** BASELINE for spawn time and idle memory: a worker that imports nothing and says it is ready. */
import { parentPort } from 'node:worker_threads';

parentPort!.on('message', async (cmd: { id: number; op: string }) => {
  if (cmd.op === 'gc') {
    const { gcHere } = await import('./stats.js');
    gcHere();
    await new Promise((r) => setTimeout(r, 0));
    gcHere();
    parentPort!.postMessage({ id: cmd.id, value: true });
  } else {
    parentPort!.postMessage({ id: cmd.id, error: `unknown op ${cmd.op}` });
  }
});
parentPort!.postMessage({ ready: true });
