/**
 * runtime/tribe/registry.ts and tribe-home.ts on real files: what a scan keeps
 * and removes (and why), withdraw, the tribe secret made once under contention,
 * and the tribe settings file.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { encodeRecord, RECORD_VERSION, type SisterRecord, signRecord, tribeIdOf } from '../../protocols/bootstrap/record.js';
import type { SigningKey } from '../../protocols/session/crypto.js';
import { base32, vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto, nodeSigningKey } from '../../runtime/crypto-node.js';
import { HomeError } from '../../runtime/errors.js';
import { homePaths } from '../../runtime/home.js';
import { loadOrCreateIdentity } from '../../runtime/identity.js';
import { makeRegistry } from '../../runtime/tribe/registry.js';
import { ensureRegistryDir, loadOrCreateSecret, loadTribeConfig, SECRET_BYTES, tribePaths } from '../../runtime/tribe/tribe-home.js';
import { PROCESS_MS, within } from '../helpers/bounded.js';
import { tempHome } from '../helpers/host.js';
import { spawnTracked } from '../helpers/processes.js';

/** The pid of a process that has exited: started, and awaited until it is gone. */
const deadPid = async (): Promise<number> => {
  const { child, exit } = spawnTracked(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await within(exit, PROCESS_MS, 'an empty node process to exit');
  return pid;
};

/** A tribe home with a registry directory, this tribe's id, a real identity key and another key. */
const setup = (t: ExecutionContext) => {
  const home = tempHome(t);
  ensureRegistryDir(home);
  const secret = loadOrCreateSecret(home);
  const tribe = tribeIdOf(nodeCrypto, secret);
  const identity = loadOrCreateIdentity(join(home, 'identity.pem'));
  const ours = nodeSigningKey(identity.privateKey);
  const other = nodeCrypto.ed25519FromSeed(new Uint8Array(32).fill(9));
  const printed: string[] = [];
  const registry = makeRegistry({ tribeHome: home, crypto: nodeCrypto, tribe, print: (line) => printed.push(line) });
  const paths = tribePaths(home);
  const recordOf = (key: SigningKey, over: Partial<SisterRecord> = {}): SisterRecord => ({
    v: RECORD_VERSION,
    tribe,
    vatId: vatIdOf(nodeCrypto, key.publicKey),
    key: base32(key.publicKey),
    slot: 1,
    address: '127.0.0.1:4100',
    bridgeRef: '',
    pid: process.pid,
    startedAt: Date.now(),
    machine: '0123456789abcdef',
    coreSize: 3,
    ...over,
  });
  /** Writes `<slot home>/host.pid` as a host holding that slot would. */
  const holdSlot = (slot: number, pid: number) => {
    const slotHome = paths.slotHome(slot);
    mkdirSync(slotHome, { recursive: true });
    writeFileSync(homePaths(slotHome).lock, String(pid));
  };
  const writeFile = (name: string, text: string | Uint8Array) => writeFileSync(join(paths.registry, name), text);
  const files = () => readdirSync(paths.registry).sort();
  return { home, tribe, ours, other, registry, printed, paths, recordOf, holdSlot, writeFile, files, identity };
};

test('a live record (our pid, holding its slot) is kept, and scanning again removes nothing', (t) => {
  const s = setup(t);
  const r = s.recordOf(s.ours, { slot: 1 });
  s.holdSlot(1, process.pid);
  s.registry.publish(signRecord(s.ours, r));
  t.deepEqual(s.files(), ['1.json']);
  t.is(statSync(join(s.paths.registry, '1.json')).mode & 0o777, 0o600);
  for (const round of [1, 2]) {
    const scan = s.registry.scan();
    t.deepEqual(scan.live, [r], `round ${round}`);
    t.deepEqual(scan.removed, [], `round ${round}`);
  }
  t.deepEqual(s.printed, []);
  t.deepEqual(s.registry.removedCounts(), {});
});

test('slot 0 is the tribe home itself: its pid file is the home\'s', (t) => {
  const s = setup(t);
  const r = s.recordOf(s.ours, { slot: 0 });
  s.registry.publish(signRecord(s.ours, r));
  t.deepEqual(s.registry.scan().removed.map((x) => x.why), [`dead: process ${process.pid} no longer holds slot 0`], 'no pid file: not its slot');
  s.holdSlot(0, process.pid);
  t.is(homePaths(s.home).lock, join(s.home, 'host.pid'));
  s.registry.publish(signRecord(s.ours, r));
  t.deepEqual(s.registry.scan().live, [r]);
});

test('a record of a dead process is removed as dead', async (t) => {
  const s = setup(t);
  const pid = await deadPid();
  s.holdSlot(2, pid);
  s.registry.publish(signRecord(s.ours, s.recordOf(s.ours, { slot: 2, pid })));
  const scan = s.registry.scan();
  t.deepEqual(scan.live, []);
  t.deepEqual(scan.removed, [{ file: '2.json', why: `dead: process ${pid} is gone` }]);
  t.deepEqual(s.files(), []);
  t.deepEqual(s.printed, [`registry: removed 2.json (dead: process ${pid} is gone)`]);
});

test('a live pid that no longer holds its slot (the pid file names another, or there is none) is removed', (t) => {
  const s = setup(t);
  s.holdSlot(3, process.ppid);
  s.registry.publish(signRecord(s.ours, s.recordOf(s.ours, { slot: 3 })));
  s.registry.publish(signRecord(s.ours, s.recordOf(s.ours, { slot: 4 }))); // no sisters/4/host.pid
  mkdirSync(join(s.home, 'sisters', '5'), { recursive: true });
  writeFileSync(join(s.home, 'sisters', '5', 'host.pid'), 'garbage');
  s.registry.publish(signRecord(s.ours, s.recordOf(s.ours, { slot: 5 })));
  const scan = s.registry.scan();
  t.deepEqual(scan.live, []);
  t.deepEqual(
    scan.removed.map((r) => r.why).sort(),
    [3, 4, 5].map((k) => `dead: process ${process.pid} no longer holds slot ${k}`),
  );
  t.deepEqual(s.files(), []);
});

test('forged, other-tribe, garbage and wrongly named records are removed, each with its reason; removedCounts counts them', async (t) => {
  const s = setup(t);
  for (const k of [1, 2, 3, 7, 8, 9]) s.holdSlot(k, process.pid);
  const keep = s.recordOf(s.ours, { slot: 1 });
  s.registry.publish(signRecord(s.ours, keep));
  // Signed by another key, claiming our VatId and key.
  s.writeFile('2.json', encodeRecord(signRecord(s.other, s.recordOf(s.ours, { slot: 2 }))));
  // Good signature, another tribe.
  s.writeFile('3.json', encodeRecord(signRecord(s.ours, s.recordOf(s.ours, { slot: 3, tribe: tribeIdOf(nodeCrypto, new Uint8Array(32)) }))));
  s.writeFile('4.json', Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff));
  s.writeFile('5.json', '');
  s.writeFile('notes.txt', 'hello');
  s.writeFile('07.json', encodeRecord(signRecord(s.ours, s.recordOf(s.ours, { slot: 7 }))));
  s.writeFile('8.json', encodeRecord(signRecord(s.ours, s.recordOf(s.ours, { slot: 9 }))));
  s.writeFile('12345.json', encodeRecord(signRecord(s.ours, s.recordOf(s.ours, { slot: 1000 }))));
  s.writeFile('6.json.999.tmp', 'half written'); // someone's write in progress: not ours to remove
  const pid = await deadPid();
  s.holdSlot(6, pid);
  s.writeFile('6.json', encodeRecord(signRecord(s.ours, s.recordOf(s.ours, { slot: 6, pid }))));

  const scan = s.registry.scan();
  t.deepEqual(scan.live, [keep]);
  const why = Object.fromEntries(scan.removed.map((r) => [r.file, r.why]));
  t.regex(why['2.json'] ?? '', /^forged: its signature is not /);
  t.regex(why['3.json'] ?? '', /^other-tribe: of tribe [0-9a-f]{32}$/);
  t.regex(why['4.json'] ?? '', /^malformed: not JSON$/);
  t.regex(why['5.json'] ?? '', /^malformed: not JSON$/);
  t.is(why['notes.txt'], 'malformed: not a record file name');
  t.is(why['12345.json'], 'malformed: not a record file name');
  t.is(why['07.json'], 'malformed: a record of slot 7 in 07.json');
  t.is(why['8.json'], 'malformed: a record of slot 9 in 8.json');
  t.is(why['6.json'], `dead: process ${pid} is gone`);
  t.is(scan.removed.length, 9);
  t.deepEqual(s.files(), ['1.json', '6.json.999.tmp']);
  t.deepEqual(s.registry.removedCounts(), { forged: 1, 'other-tribe': 1, malformed: 6, dead: 1 });
  t.is(s.printed.length, 9, 'each removal said once');

  // Counts add up over scans; a clean scan adds nothing.
  s.writeFile('2.json', encodeRecord(signRecord(s.other, s.recordOf(s.ours, { slot: 2 }))));
  s.registry.scan();
  s.registry.scan();
  t.deepEqual(s.registry.removedCounts(), { forged: 2, 'other-tribe': 1, malformed: 6, dead: 1 });
  t.is(s.printed.length, 10);
});

test('live records come sorted by slot; publish replaces its slot\'s older record', (t) => {
  const s = setup(t);
  for (const k of [0, 1, 2]) s.holdSlot(k, process.pid);
  const [r2, r0, r1] = [2, 0, 1].map((slot) => s.recordOf(s.ours, { slot, startedAt: 1000 + slot }));
  for (const r of [r2!, r0!, r1!]) s.registry.publish(signRecord(s.ours, r));
  t.deepEqual(s.registry.scan().live, [r0, r1, r2]);
  const newer = s.recordOf(s.other, { slot: 1, startedAt: 5000 });
  s.registry.publish(signRecord(s.other, newer));
  t.deepEqual(s.registry.scan().live, [r0, newer, r2]);
  t.deepEqual(s.files(), ['0.json', '1.json', '2.json'], 'no files left aside');
});

test('withdraw removes only our own record: not one another process or key has since written', (t) => {
  const s = setup(t);
  s.holdSlot(1, process.pid);
  const mine = s.recordOf(s.ours, { slot: 1 });
  const file = join(s.paths.registry, '1.json');

  // The slot's file is another key's now (a newer host took the slot): kept.
  const theirs = s.recordOf(s.other, { slot: 1 });
  s.registry.publish(signRecord(s.other, theirs));
  s.registry.withdraw(mine);
  t.true(existsSync(file), 'another VatId\'s record is kept');
  // Our key, another pid (we restarted and this is the old process's withdraw): kept.
  s.registry.publish(signRecord(s.ours, { ...mine, pid: process.ppid }));
  s.registry.withdraw(mine);
  t.true(existsSync(file), 'another pid\'s record is kept');
  // A forged record claiming to be ours is not ours either.
  writeFileSync(file, encodeRecord(signRecord(s.other, mine)));
  s.registry.withdraw(mine);
  t.true(existsSync(file), 'a forgery is left for scan to remove');

  s.registry.publish(signRecord(s.ours, mine));
  s.registry.publish(signRecord(s.other, s.recordOf(s.other, { slot: 2 })));
  s.registry.withdraw(mine);
  t.false(existsSync(file), 'ours is removed');
  t.deepEqual(s.files(), ['2.json'], 'and only ours');
  s.registry.withdraw(mine); // nothing there: no throw
  t.deepEqual(s.registry.removedCounts(), {}, 'a withdraw is no removal');
});

test('a registry directory that does not exist scans empty', (t) => {
  const home = tempHome(t);
  const registry = makeRegistry({ tribeHome: home, crypto: nodeCrypto, tribe: '0'.repeat(32), print: () => t.fail('nothing to say') });
  t.deepEqual(registry.scan(), { live: [], removed: [] });
});

// --- tribe home: the secret and the settings ---

test('loadOrCreateSecret: 32 bytes, 0600, the same on every later call; a wrong-sized secret is refused', (t) => {
  const home = tempHome(t);
  const first = loadOrCreateSecret(home);
  t.is(first.length, SECRET_BYTES);
  t.is(statSync(tribePaths(home).secret).mode & 0o777, 0o600);
  for (let i = 0; i < 20; i++) t.deepEqual(loadOrCreateSecret(home), first);
  t.deepEqual(readdirSync(home), ['tribe.key'], 'no file left aside');
  writeFileSync(tribePaths(home).secret, new Uint8Array(31));
  const err = t.throws(() => loadOrCreateSecret(home), { instanceOf: HomeError });
  t.regex(err?.message ?? '', /not a tribe secret \(31 bytes/);
});

test('loadOrCreateSecret adopts a secret a join brought, replacing the old one', (t) => {
  const home = tempHome(t);
  loadOrCreateSecret(home);
  const adopted = new Uint8Array(32).fill(5);
  t.deepEqual(loadOrCreateSecret(home, adopted), adopted);
  t.deepEqual(loadOrCreateSecret(home), adopted);
});

test('loadOrCreateSecret from several processes at once: one secret, the same for all', async (t) => {
  const home = tempHome(t);
  const module = new URL('../../runtime/tribe/tribe-home.js', import.meta.url).href;
  // Each child spins until a shared start instant, so their create calls overlap.
  const start = Date.now() + 1500;
  const script = `const { loadOrCreateSecret } = await import(${JSON.stringify(module)});
while (Date.now() < ${start});
process.stdout.write(Buffer.from(loadOrCreateSecret(${JSON.stringify(home)})).toString('hex'));`;
  const children = Array.from({ length: 6 }, () => {
    const { child, exit } = spawnTracked(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (b) => (out += b));
    child.stderr!.on('data', (b) => (err += b));
    return exit.then(({ code }) => ({ code, out, err }));
  });
  const results = await within(Promise.all(children), PROCESS_MS, 'six children to read the secret');
  for (const r of results) t.is(r.code, 0, r.err);
  const secrets = new Set(results.map((r) => r.out));
  t.is(secrets.size, 1, [...secrets].join(' '));
  const [hex] = secrets;
  t.regex(hex!, /^[0-9a-f]{64}$/);
  t.is(Buffer.from(loadOrCreateSecret(home)).toString('hex'), hex!);
  t.deepEqual(readdirSync(home), ['tribe.key'], 'no file left aside');
});

test('loadTribeConfig keeps the first core size and machine id, replaces the core size when given', (t) => {
  const home = tempHome(t);
  const first = loadTribeConfig(home, undefined);
  t.is(first.coreSize, 3, 'the default');
  t.regex(first.machine, /^[0-9a-f]{16}$/);
  t.deepEqual(loadTribeConfig(home, undefined), first);
  const five = loadTribeConfig(home, 5);
  t.deepEqual(five, { coreSize: 5, machine: first.machine });
  t.deepEqual(loadTribeConfig(home, undefined), five, 'the new core size is kept');
  t.deepEqual(loadTribeConfig(home, 5), five);
  t.deepEqual(JSON.parse(readFileSync(tribePaths(home).config, 'utf8')), five);

  const other = tempHome(t);
  const given = loadTribeConfig(other, 2);
  t.is(given.coreSize, 2, 'a first start with a core size writes it');
  t.not(given.machine, first.machine, 'each tribe home is its own machine');
  t.deepEqual(readdirSync(other), ['tribe.json'], 'no file left aside');
});

test('loadTribeConfig refuses a corrupt tribe.json with HomeError and leaves it alone', (t) => {
  const corrupt = [
    'not json',
    '',
    'null',
    '42',
    '"text"',
    '[]',
    '{}',
    JSON.stringify({ coreSize: 0, machine: '0123456789abcdef' }),
    JSON.stringify({ coreSize: 2.5, machine: '0123456789abcdef' }),
    JSON.stringify({ coreSize: '3', machine: '0123456789abcdef' }),
    JSON.stringify({ coreSize: 65, machine: '0123456789abcdef' }),
    JSON.stringify({ coreSize: 3, machine: 'short' }),
    JSON.stringify({ coreSize: 3, machine: 7 }),
  ];
  for (const text of corrupt) {
    const home = tempHome(t);
    writeFileSync(tribePaths(home).config, text);
    for (const coreSize of [undefined, 4]) {
      const err = t.throws(() => loadTribeConfig(home, coreSize), { instanceOf: HomeError }, `${JSON.stringify(text)}, core size ${coreSize}`);
      t.regex(err?.message ?? '', /tribe\.json/);
    }
    t.is(readFileSync(tribePaths(home).config, 'utf8'), text, 'left as it was');
  }
});
