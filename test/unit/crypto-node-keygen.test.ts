/**
 * The node suite's ephemeral keys on Node 20: generating an X25519 pair and then
 * exporting its public half from the KeyObject can deadlock the process (the
 * export holds the key's mutex while a GC it triggers finalizes the generation
 * job, whose destructor takes the same mutex). runtime/crypto-node.ts has the
 * generation encode the public half itself. Whether a run hits the window is up
 * to the GC, so this makes many keys in a child process, several times: the old
 * way hung most runs within a few thousand keys.
 */
import test from 'ava';
import { PROCESS_MS, within } from '../helpers/bounded.js';
import { killGroup, spawnTracked } from '../helpers/processes.js';

/** Keys per child: several times what hung the generate-then-export loop in most runs. */
const KEYS = 20_000;
const RUNS = 3;

const suiteUrl = new URL('../../runtime/crypto-node.js', import.meta.url).href;
const script = `
import { nodeCrypto } from ${JSON.stringify(suiteUrl)};
const peer = nodeCrypto.x25519().publicKey;
for (let i = 0; i < ${KEYS}; i++) {
  const eph = nodeCrypto.x25519();
  if (eph.publicKey.length !== 32) throw new Error('bad public key');
  if (i % 8 === 0) eph.agree(peer);
}
process.stdout.write('done');
`;

test(`node suite: ${RUNS} × ${KEYS} fresh X25519 keys in a child process, none hangs`, async (t) => {
  t.timeout(RUNS * PROCESS_MS);
  for (let run = 0; run < RUNS; run++) {
    const { child, exit } = spawnTracked(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const { code } = await within(exit, PROCESS_MS, `run ${run + 1}: ${KEYS} keys`);
      t.is(code, 0, `run ${run + 1}`);
      t.is(out, 'done');
    } finally {
      if (child.pid !== undefined) killGroup(child.pid);
    }
  }
});
