/**
 * A peer that floods valid requests and never reads the answers, over real
 * TCP. Without a bound the host would keep every answer queued for it, in
 * memory, for as long as the socket stays open. The path bounds what waits to
 * be sent (PathLimits.maxUnsentBytes): past it that session ends with
 * PathOverflowError, the socket is dropped, and the host serves others.
 */
import '@endo/init';
import test from 'ava';
import { createConnection } from 'node:net';
import { once } from 'node:events';
import { E, Far } from '@endo/far';
import { makeConnection, type Connection } from '../../capabilities/connection.js';
import { makeSessionMux, type SessionMux } from '../../capabilities/session-mux.js';
import { parseSturdyRef } from '../../capabilities/sturdy-ref.js';
import { initiatePath } from '../../protocols/session/path.js';
import type { VatId } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { socketStream } from '../../runtime/tcp.js';
import { fixture, withHost } from '../helpers/host.js';
import { fakeIdentity, realClock, watchedHost, within } from '../helpers/peers.js';

const maxUnsentBytes = 1024 * 1024;

const channel = (mux: SessionMux, local: string, remote: string): Connection => {
  let conn!: Connection;
  const send = mux.open(local, remote, { deliver: (m) => conn.dispatch(m), close: (reason) => conn.abort(reason) });
  conn = makeConnection({ name: `${local}->${remote}`, send });
  return conn;
};

test('a peer that floods calls and does not read the answers: its session ends with PathOverflowError, the host serves others', async (t) => {
  const { host, nextLine } = await watchedHost(t, { sessionLimits: { maxUnsentBytes } });
  await host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });

  const socket = createConnection({ host: '127.0.0.1', port: host.address!.port });
  t.teardown(() => void socket.destroy());
  await once(socket, 'connect');
  const identity = fakeIdentity();
  const path = await initiatePath({
    stream: socketStream(socket),
    identity,
    crypto: nodeCrypto,
    clock: realClock,
    wanted: host.id as VatId,
    // The flood goes out in one burst; the flooder allows itself to queue all of it.
    limits: { maxUnsentBytes: 256 * 1024 * 1024 },
  });
  const mux = makeSessionMux({ path, name: 'flooder', gateway: Far('Nothing', {}) });
  const answer = await E(await mux.gateway()).enliven(parseSturdyRef(host.makeSturdyRef('bob')).swiss, 'me');
  const bob = await E(await channel(mux, 'me', 'bob').getBootstrap()).redeem(answer.ticket);
  t.is(await E(bob).label(), 'bob');

  // From here on the flooder reads nothing: the kernel's buffers fill, then the host's.
  socket.pause();
  const closed = new Promise<Error>((r) => path.onClose(r));
  const chunk = 'x'.repeat(256 * 1024);
  for (let i = 0; i < 128; i++) E(bob).echo(chunk).catch(() => {});

  const ended = await nextLine(new RegExp(`session with ${identity.vatId.slice(0, 8)} ended`), 30_000);
  t.regex(ended, new RegExp(`PathOverflowError: .*not reading.*limit ${maxUnsentBytes}`));
  t.is(host.ps().sessions.length, 0);
  // The host drops the socket (after its close grace), whatever the flooder does.
  await within(host.remote!.idle(), 10_000, 'the host to drop the flooder\'s socket');
  socket.resume();
  t.is((await within(closed, 10_000, 'the flooder to see its session end')).name, 'PathLostError');

  const other = await withHost(t, { spareWorkers: 0 });
  t.is(await E(await other.enliven(host.makeSturdyRef('bob'))).label(), 'bob');
});
