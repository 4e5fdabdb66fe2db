/**
 * A host in a child process for the handoff bench (section 6): a real host
 * (the public startHost API) listening on loopback that spawns the vats named
 * on its command line and announces a sturdy ref to each. Everything else is
 * done by the bench process through those refs.
 *
 *   node vat-host-peer.js <vat>=<actor> …  → ready line { refs: { <vat>: 'tribe://…' }, id, address }
 *
 * `<actor>` is a module of test/bench/actors/. Op `sessions` answers the host's
 * session table (frame counters per peer host).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHost } from '../../../runtime/index.js';
import { failPeer, servePeer } from './peer-io.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);

const main = async () => {
  const vats = process.argv.slice(2).map((arg) => {
    const [name, actor] = arg.split('=');
    if (!name || !actor) throw new Error(`expected <vat>=<actor>, got ${arg}`);
    return { name, actor };
  });
  const home = mkdtempSync(join(tmpdir(), 'tribe-bench-handoff-'));
  const host = await startHost({ home, control: false, restore: false, print: () => {}, listen: '127.0.0.1:0' });
  const cleanup = async () => {
    await host.stop();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    const refs: Record<string, string> = {};
    for (const { name, actor } of vats) {
      await host.spawnVat({ module: actorTs(actor), name });
      refs[name] = host.makeSturdyRef(name);
    }
    servePeer({ refs, address: host.address, id: host.id }, { sessions: () => host.ps().sessions }, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
};

main().catch(failPeer);
