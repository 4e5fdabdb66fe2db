/**
 * Host B of the Tribe contender for round trips between hosts: a real host
 * (the public startHost API) listening on loopback, with the bench targets in
 * vats of their own, whose sturdy refs it announces. The bench process is host
 * A: its driver vats look these refs up (powers.names.lookup) and so reach the
 * targets across one secure session (TCP, handshake, AEAD, channel mux).
 *
 *   node tribe-host-peer.js   → ready line { refs: { pinger, pipe }, address }
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHost } from '../../../runtime/index.js';
import { make as makePinger } from '../actors/pinger.js';
import { make as makePipeTarget } from '../actors/pipe-target.js';
import { failPeer, servePeer } from './peer-io.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);

const main = async () => {
  const home = mkdtempSync(join(tmpdir(), 'tribe-bench-b-'));
  const host = await startHost({ home, control: false, restore: false, print: () => {}, listen: '127.0.0.1:0' });
  try {
    await host.spawnVat({ module: actorTs('pinger'), name: 'pinger' });
    await host.spawnVat({ module: actorTs('pipe-target'), name: 'pipe-target' });
    // The same targets held by the host itself: calls to them cross the session only, no vat hop.
    host.names.publish('host-pinger', makePinger());
    host.names.publish('host-pipe-target', makePipeTarget());
    const refs = {
      pinger: host.makeSturdyRef('pinger'),
      pipe: host.makeSturdyRef('pipe-target'),
      hostPinger: host.makeSturdyRef('host-pinger'),
      hostPipe: host.makeSturdyRef('host-pipe-target'),
    };
    servePeer({ refs, address: host.address, id: host.id }, { sessions: () => host.ps().sessions }, async () => {
      await host.stop();
      rmSync(home, { recursive: true, force: true });
    });
  } catch (err) {
    await host.stop();
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
};

main().catch(failPeer);
