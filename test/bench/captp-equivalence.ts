/**
 * Differential check for the proposed @endo patches (docs/patches): prints a
 * transcript that must come out byte for byte the same for the unpatched and
 * the patched packages. captp-variants.ts `--check` runs it for each variant and
 * compares with the unpatched one.
 *
 * Two parts:
 * - marshal: `toCapData` (body and slots) and `fromCapData` (the value, shown
 *   re-encoded, or the error message) of 3,000 seeded random passables from
 *   @endo/pass-style's own arbitraries, plus hand-written bodies aimed at the
 *   plain-data fast path (escapes, QCLASS spelled with escapes, -0, key order,
 *   malformed input);
 * - captp: every CapTP message between two endpoints, in order, while a
 *   driver runs a script of calls: plain and special arguments, remotables
 *   passed and returned, promises, rejections, pipelining, E.get, E.sendOnly,
 *   function calls, a bad receiver, and an abort.
 *
 *   node dist/test/bench/captp-equivalence.js [--endo=DIR] [--samples=3000]
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const get = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const endoRoot = get('endo');
const samples = Number(get('samples') ?? '3000');

const load = (spec: string): Promise<any> =>
  endoRoot ? import(pathToFileURL(createRequire(join(endoRoot, 'x.js')).resolve(spec)).href) : import(spec);

await load('@endo/init');
const { makeMarshal } = await load('@endo/marshal');
const { makeCapTP } = await load('@endo/captp');
const { E, Far } = await load('@endo/far');
const { makeArbitraries } = await load('@endo/pass-style/tools.js');
const fc = (await import('fast-check')).default;

const out: string[] = [];
const line = (s: string) => out.push(s);
const errText = (e: unknown) => `${(e as Error)?.name}: ${(e as Error)?.message}`;

// --- marshal ---
const marshalPart = () => {
  const slotOf = new Map<unknown, string>();
  const valOf = new Map<string, unknown>();
  const valToSlot = (v: unknown) => {
    let s = slotOf.get(v);
    if (s === undefined) {
      s = `s${slotOf.size}`;
      slotOf.set(v, s);
      valOf.set(s, v);
    }
    return s;
  };
  const slotToVal = (s: string, iface?: string) => {
    if (!valOf.has(s)) valOf.set(s, Far(`${iface ?? 'imported'}`, {}));
    return valOf.get(s);
  };
  const m = makeMarshal(valToSlot, slotToVal, { serializeBodyFormat: 'capdata', marshalSaveError: () => {} });
  const roundTrip = (label: string, v: unknown) => {
    let data: { body: string; slots: string[] };
    try {
      data = m.toCapData(harden(v));
    } catch (e) {
      line(`${label} encode throws ${errText(e)}`);
      return;
    }
    line(`${label} ${data.body} ${JSON.stringify(data.slots)}`);
    decode(`${label} back`, data);
  };
  const decode = (label: string, data: unknown) => {
    try {
      const v = m.fromCapData(data);
      line(`${label} = ${m.toCapData(v).body} frozen=${Object.isFrozen(v)}`);
    } catch (e) {
      line(`${label} throws ${errText(e)}`);
    }
  };
  const { arbPassable } = makeArbitraries(fc, ['byteArray']);
  fc.sample(arbPassable, { seed: 42, numRuns: samples }).forEach((v: unknown, i: number) => {
    roundTrip(`#${i}`, v);
  });
  const bodies = [
    '7', '-0', '1e400', '"a\\"b"', '"\\u0040qclass"', '{"\\u0040qclass":"undefined"}', '{"@qclass":"undefined"}',
    '{"b":1,"a":2}', '{"__proto__":1}', '{"a":1,"a":2}', '[1,[2,{"x":null}]]', '{"@qclass":"slot","index":0}',
    '{"@qclass":"slot","index":1}', '[{"@qclass":"slot","index":0},{"@qclass":"slot","index":0}]', '{"then":1}',
    '"\\ud800"', 'nope', '#"smallcaps"', '#{"a":"$0.Alleged: x"}',
  ];
  for (const body of bodies) decode(`body ${body}`, { body, slots: ['o-1', 'o-2'] });
  decode('slots not an array', { body: '7', slots: 'o-1' });
  decode('body not a string', { body: 7, slots: [] });
  reentrancy();
  for (const v of [[1, 'a', null, true], { a: 1, b: [2] }, { b: 1, a: 2 }, { '@qclass': 1 }, [NaN], [-0], ['\u{1F600}'], [undefined]]) {
    roundTrip(`plain? ${JSON.stringify(v)}`, v);
  }
};

/** A marshaller whose slot hooks call it again in the middle of an encoding or decoding. */
const reentrancy = () => {
  const names = new Map<unknown, string>();
  const [a, b, c, again] = ['a', 'b', 'c', 'again'].map((n) => {
    const r = Far(n, {});
    names.set(r, n);
    return r;
  });
  const m: any = makeMarshal(
    (v: unknown) => {
      const name = names.get(v)!;
      if (v !== again) return name;
      const inner = m.toCapData(harden([c, b, c]));
      return `${name}(${inner.body} ${inner.slots})`;
    },
    (slot: string) => {
      if (slot !== 'again') return Far(`from ${slot}`, {});
      const inner = m.fromCapData({ body: '[{"@qclass":"slot","index":1},{"@qclass":"slot","index":0}]', slots: ['x', 'y'] });
      return Far(`again after ${inner.map(String).join(' ')}`, {});
    },
    { serializeBodyFormat: 'capdata' },
  );
  const outer = m.toCapData(harden([a, again, b, a]));
  line(`reentrant encode ${outer.body} ${JSON.stringify(outer.slots)}`);
  const body = '[{"@qclass":"slot","index":0},{"@qclass":"slot","index":1},{"@qclass":"slot","index":2},{"@qclass":"slot","index":0}]';
  const back = m.fromCapData({ body, slots: ['p', 'again', 'q'] });
  line(`reentrant decode ${back.map(String).join(' ')} same=${back[0] === back[3]}`);
};

// --- captp ---
const captpPart = async () => {
  const turn = () => new Promise<void>((r) => setImmediate(r));
  let driver: any;
  let target: any;
  const wire = (dir: string, peer: () => any) => (m: any) => {
    line(`${dir} ${JSON.stringify(m, (_k, v) => (v instanceof Error ? errText(v) : v))}`);
    setImmediate(() => peer().dispatch(m));
  };
  const child = Far('Child', { ping: (i: unknown) => i });
  const held: unknown[] = [];
  const bootstrap = Far('Boot', {
    ping: (i: unknown) => i,
    getChild: () => child,
    keep: (x: unknown) => {
      held.push(x);
      return held.length;
    },
    echo: (x: unknown) => x,
    fail: (why: string) => {
      throw Error(why);
    },
    later: (p: Promise<unknown>) => p.then((v) => ['got', v]),
    getFn: () => Far('fn', (a: number) => a * 2),
    getRecord: () => harden({ a: 1, b: [child] }),
  });
  target = makeCapTP('eq-target', wire('t>d', () => driver), bootstrap, { onReject: () => {} });
  driver = makeCapTP('eq-driver', wire('d>t', () => target), undefined, { onReject: () => {} });
  const boot = await driver.getBootstrap();
  const show = async (label: string, p: Promise<unknown>) => {
    try {
      const v = await p;
      line(`${label} -> ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
    } catch (e) {
      line(`${label} rejects ${errText(e)}`);
    }
  };
  for (const a of [1, -0, NaN, Infinity, 'x', 'q"\\', '@qclass', null, undefined, true, 10n, [], {}, { b: 1, a: 2 }, [[1], { x: 'y' }]]) {
    await show(`ping ${String(a)}`, E(boot).ping(harden(a)));
  }
  const mine = Far('Mine', { hello: () => 'hi' });
  await show('echo mine', E(boot).echo(mine).then((x: unknown) => x === mine));
  await show('keep mine twice', E(boot).keep(mine).then(() => E(boot).keep(mine)));
  await show('echo error', E(boot).echo(Error('as data')));
  await show('fail', E(boot).fail('on purpose'));
  await show('pipelined', E(E(boot).getChild()).ping(5));
  await show('E.get', E.get(E(boot).getRecord()).a);
  await show('function call', E(E(boot).getFn())(21));
  let resolve!: (v: unknown) => void;
  const pending = new Promise((r) => {
    resolve = r;
  });
  const later = E(boot).later(pending);
  await turn();
  resolve('resolved later');
  await show('promise argument', later);
  E.sendOnly(boot).ping('send only');
  await turn();
  await turn();
  const proxy: any = E(boot);
  await show('bad receiver', proxy.ping.call({}, 1));
  await show('unknown method', E(boot).nope());
  driver.abort(Error('done'));
  await turn();
  await show('after abort', E(boot).ping(1));
};

/** What an E(x) or E.sendOnly(x) proxy shows of itself (its traps and what it forwards to its target). */
const proxyPart = () => {
  const x = Far('X', { m: () => 1 });
  for (const [label, proxy] of [
    ['E(x)', E(x)],
    ['E.sendOnly(x)', E.sendOnly(x)],
  ] as const) {
    const show = (what: string, f: () => unknown) => {
      try {
        line(`${label} ${what}: ${JSON.stringify(f())}`);
      } catch (e) {
        line(`${label} ${what} throws ${errText(e)}`);
      }
    };
    show('typeof', () => typeof proxy);
    show('ownKeys', () => Reflect.ownKeys(proxy).map(String));
    show('name', () => Object.getOwnPropertyDescriptor(proxy, 'name'));
    show('length', () => Object.getOwnPropertyDescriptor(proxy, 'length'));
    show('isFrozen', () => Object.isFrozen(proxy));
    show('proto is Function.prototype', () => Object.getPrototypeOf(proxy) === Function.prototype);
    show('has anything', () => 'anything' in proxy);
    show('method name', () => proxy.m.name);
    show('method frozen', () => Object.isFrozen(proxy.m));
    show('set', () => Reflect.set(proxy, 'y', 1));
    show('new', () => new (proxy as any)());
  }
};

marshalPart();
proxyPart();
await captpPart();
console.log(out.join('\n'));
