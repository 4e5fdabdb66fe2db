/**
 * vat-main in this realm, with in-memory ports: checks the turn discipline of
 * durable vats deterministically — a reply leaves the vat only after the turn's
 * writes were committed, and waits for as long as the commit is held.
 */
import '@endo/init';
import test from 'ava';
import { pathToFileURL } from 'node:url';
import { E, Far } from '@endo/far';
import { makeConnection } from '../../capabilities/connection.js';
import { runVat } from '../../vats/vat-main.js';
import type { PortLike, VatSpec } from '../../vats/link.js';
import { makeModuleCompiler } from '../../vats/module-compiler.js';
import { makeModuleReader } from '../../runtime/module-reader.js';
import { example } from '../helpers/host.js';

/**
 * `holdTurnEnds`: the end-of-turn commit points (the vat's `setImmediate`) are
 * kept in `held` instead of run, so a test decides when a turn commits.
 */
const makeVat = (durable: boolean, holdTurnEnds = false) => {
  const events: string[] = [];
  const held: Array<() => void> = [];
  const toHost: Array<(m: unknown) => void> = [];
  const data = new Map<string, string>();
  const parent: PortLike = {
    postMessage(msg) {
      const m = msg as { k: string; m?: { type: string } };
      if (m.k === 'c') events.push(`send ${m.m!.type}`);
      // Deliver asynchronously, like a real port.
      queueMicrotask(() => {
        for (const h of toHost) h(msg);
      });
    },
    onMessage: (h) => void toVat.push(h),
    onClose: () => {},
    close: () => {},
  };
  const toVat: Array<(m: unknown) => void> = [];
  const compile = makeModuleCompiler(makeModuleReader());
  const hostConn = makeConnection({
    name: 'test-host',
    send: (m) =>
      queueMicrotask(() => {
        for (const h of toVat) h({ k: 'c', m });
      }),
    bootstrap: Far('HostForVat', { compileModule: (url: string) => compile(url) }),
  });
  toHost.push((msg) => {
    const m = msg as { k: string; m?: unknown };
    if (m.k === 'c') hostConn.dispatch(m.m);
  });
  const module = example('counter.ts');
  const spec: VatSpec = {
    name: 'counter',
    module,
    moduleUrl: pathToFileURL(module).href,
    params: 'null',
    durable,
    grants: [],
    traceLimit: 0,
    hostId: 'a'.repeat(52),
  };
  runVat({
    spec,
    parent,
    wrapPort: () => parent,
    storeBackend: {
      get: (k) => data.get(k),
      keys: () => [...data.keys()],
      object: () => undefined,
      kinds: () => [],
      idsOf: () => [],
      commit(writes) {
        events.push(`commit ${[...writes.keys()].join(',')}`);
        for (const [k, v] of writes) if (v === undefined) data.delete(k); else data.set(k, v);
      },
    },
    clock: {
      now: () => 0,
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
      setImmediate: (fn) => void (holdTurnEnds ? held.push(fn) : setImmediate(fn)),
    },
    collectGarbage: undefined,
    realm: { Date, Math },
    die: (reason) => {
      throw new Error(reason);
    },
    exit: () => events.push('exit'),
    externalMemory: () => 0,
    randomBytes: (n) => new Uint8Array(n),
  });
  return { events, data, held, admin: hostConn.getBootstrap() };
};

test('durable vat: the reply to a turn is sent only after that turn commits', async (t) => {
  const { events, data, admin } = makeVat(true);
  const root = await E(admin).load();
  events.length = 0;
  t.is(await E(root).increment(), 1);
  const commit = events.indexOf('commit count');
  const reply = events.indexOf('send CTP_RETURN');
  t.true(commit >= 0, events.join(' | '));
  t.true(reply > commit, `reply after commit: ${events.join(' | ')}`);
  t.is(data.get('count'), '1');
});

/** Ports here deliver on microtasks, so one macrotask later everything in flight has landed. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

test('durable vat: while its turn has not committed, the reply does not leave; releasing the commit sends it', async (t) => {
  const { events, data, held, admin } = makeVat(true, true);
  let root: unknown;
  const loading = E(admin).load().then((r: unknown) => {
    root = r;
  });
  // Loading takes several turns (module requests to the host), each ending at a commit point: let them go.
  while (root === undefined) {
    await settled();
    for (const end of held.splice(0)) end();
  }
  await loading;
  events.length = 0;
  let replied = false;
  const reply = E(root as any).increment().then((n: number) => {
    replied = true;
    return n;
  });
  await settled();
  t.is(held.length, 1, 'the turn that wrote ends at a commit point, held by the test');
  t.false(events.includes('send CTP_RETURN'), `no reply before the commit: ${events.join(' | ')}`);
  t.false(replied);
  t.false(data.has('count'), 'nothing committed yet');
  held.shift()!();
  const order = events.filter((e) => e === 'commit count' || e === 'send CTP_RETURN');
  t.deepEqual(order, ['commit count', 'send CTP_RETURN'], 'the commit, then the reply it held back');
  t.is(await reply, 1);
  t.is(data.get('count'), '1');
});

test('non-durable vat: no store, replies go out at once', async (t) => {
  const { events, admin } = makeVat(false);
  const root = await E(admin).load();
  t.is(await E(root).increment(), 1);
  t.false(events.some((e) => e.startsWith('commit')));
});
