/**
 * A scripted peer host for e2e tests against a real host over real TCP: a host
 * whose printed lines can be awaited, a throwaway identity, and a secure
 * session dialed by hand (its socket kept, so a test can stop reading it).
 */
import { createConnection, type Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import { initiatePath, type SecurePath } from '../../protocols/session/path.js';
import { vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import type { Host, HostOptions } from '../../runtime/index.js';
import { socketStream } from '../../runtime/tcp.js';
import { withHost } from './host.js';

export const realClock = {
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

export const fakeIdentity = () => {
  const key = nodeCrypto.ed25519FromSeed(nodeCrypto.randomBytes(32));
  return { vatId: vatIdOf(nodeCrypto, key.publicKey), key };
};

/** A host whose printed lines can be awaited. */
export const watchedHost = async (t: ExecutionContext, opts: HostOptions = {}) => {
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const host = await withHost(t, {
    spareWorkers: 0,
    ...opts,
    print: (line) => {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    },
  });
  const nextLine = (re: RegExp) =>
    new Promise<string>((resolve) => {
      const seen = lines.find((l) => re.test(l));
      if (seen) resolve(seen);
      else waiters.push({ re, resolve });
    });
  return { host, lines, nextLine };
};

/** A completed handshake with `host` under a fresh identity; `socket` is the raw TCP socket under the path. */
export const scriptedSession = async (host: Host): Promise<{ path: SecurePath; id: string; socket: Socket }> => {
  const identity = fakeIdentity();
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port: host.address!.port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
  const path = await initiatePath({ stream: socketStream(socket), identity, crypto: nodeCrypto, clock: realClock, wanted: host.id as any });
  return { path, id: identity.vatId, socket };
};
