/**
 * Sisters (docs/architecture.md "Sisters"): real `tribe host` processes on
 * loopback, a tribe home each test. One host grows a tribe of three, heals it
 * after kill -9 of any sister (the first host included), two hosts started at
 * once make one tribe, the registry drops dead and forged records, and
 * `tribe stop` leaves nothing behind.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import test from 'ava';
import { base32 } from '../../protocols/session/vat-id.js';
import { signRecord, tribeIdOf, type SisterRecord } from '../../protocols/bootstrap/record.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { PROCESS_MS } from '../helpers/bounded.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { example, tempHome } from '../helpers/host.js';
import { isAlive } from '../helpers/processes.js';
import { eventually, killTribe, psOf, registryFiles, slotHome, slotPids, startTribe, tribeReady } from '../helpers/tribe.js';

/** A tribe of three is up, connected and `ready` within this (three processes start, lock down, connect). */
const READY_MS = 45_000;

const sessionsHaveBridges = (s: NonNullable<Awaited<ReturnType<typeof psOf>>>) =>
  s.sessions.every((x) => x.paths.some((p) => p.address.startsWith('via ')) && x.paths.some((p) => !p.address.startsWith('via ')));

test.serial('one tribe host on a fresh home grows a tribe of three: connected, ready, sessions through the third sister', async (t) => {
  const home = tempHome(t);
  const first = await startTribe(t, home, ['--core-size', '3']);
  const ps = await eventually(() => tribeReady(home, 3), READY_MS, 'three sisters ready', () => psOf(home));
  t.is(ps.tribe!.coreSize, 3);
  t.true(ps.tribe!.spawner, 'the first host is the spawner (the lowest live slot)');
  t.deepEqual(registryFiles(home), ['0.json', '1.json', '2.json']);
  const pids = slotPids(home);
  t.is(pids.get(0), first.proc.pid);
  t.is(new Set(pids.values()).size, 3, 'three processes');
  // Each sister is ready too, and each pair's session runs direct and through the third sister.
  for (const slot of [1, 2]) {
    const s = await eventually(() => tribeReady(home, 3, slot), READY_MS, `sister ${slot} ready`, () => psOf(slotHome(home, slot)));
    t.is(s.tribe!.slot, slot);
    t.false(s.tribe!.spawner);
  }
  for (const slot of [0, 1, 2]) {
    await eventually(async () => {
      const s = await psOf(slotHome(home, slot));
      return s && s.sessions.length === 2 && sessionsHaveBridges(s);
    }, READY_MS, `sister ${slot}'s sessions through bridges`, () => psOf(slotHome(home, slot)));
  }
  // An idle tribe is quiet: pings and heartbeats only. (Frames of a session once went round
  // between two sessions whose lead paths ran through each other: megabytes a second.)
  const bytesOut = (s: NonNullable<Awaited<ReturnType<typeof psOf>>>) => s.sessions.reduce((n, x) => n + x.bytesOut, 0);
  const before = (await psOf(home))!;
  const later = await eventually(async () => {
    const s = await psOf(home);
    return s && (s.tribe?.rounds ?? 0) >= (before.tribe?.rounds ?? 0) + 10 ? s : undefined;
  }, READY_MS, 'ten more rounds', () => psOf(home));
  const perRound = (bytesOut(later) - bytesOut(before)) / ((later.tribe!.rounds ?? 0) - (before.tribe!.rounds ?? 0));
  t.log(`an idle sister sends ${Math.round(perRound)} bytes a round to its two sisters`);
  t.true(perRound < 16_384, `${Math.round(perRound)} bytes a round`);
  // The visualizer and ps see the bootstrap machine: `tribe ps` prints the tribe.
  const text = await tribe(['ps', '--home', home]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^tribe [0-9a-f]{8} {2}slot 0 of core 3 \(spawner\) {2}ready$/m);
  t.is(text.stdout.match(/ connected /g)?.length, 2, text.stdout);
});

test.serial('kill -9 of a sister: respawned with its identity, rejoins, and its durable vat comes back with its state', async (t) => {
  const home = tempHome(t);
  // Two sisters are enough here (three processes cost CI time; the first test grows three).
  await startTribe(t, home, ['--core-size', '2']);
  const before = await eventually(() => tribeReady(home, 2, 1), READY_MS, 'sister 1 ready', () => psOf(slotHome(home, 1)));
  const spawned = await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--durable', '--home', slotHome(home, 1)]);
  t.is(spawned.code, 0, spawned.stderr);
  for (let i = 0; i < 5; i++) t.is((await tribe(['call', 'counter', 'increment', '--home', slotHome(home, 1)])).code, 0);
  const pid = slotPids(home).get(1)!;
  process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  const after = await eventually(async () => {
    const p = slotPids(home).get(1);
    return p !== undefined && p !== pid && isAlive(p) ? tribeReady(home, 2, 1) : undefined;
  }, READY_MS, 'sister 1 respawned and ready', () => psOf(slotHome(home, 1)));
  t.log(`slot 1 ready again ${Date.now() - killedAt} ms after kill -9`);
  t.is(after.id, before.id, 'the same identity (its home kept its key)');
  const read = await tribe(['call', 'counter', 'read', '--home', slotHome(home, 1)]);
  t.is(read.code, 0, read.stderr);
  t.is(read.stdout.trim(), '5', 'the durable count survived the kill');
  await eventually(() => tribeReady(home, 2, 0), READY_MS, 'the first host sees the tribe whole again', () => psOf(home));
});

test.serial('kill -9 of the first host: the others keep serving, a new spawner restores slot 0 with its identity', async (t) => {
  const home = tempHome(t);
  const first = await startTribe(t, home, ['--core-size', '3']);
  await eventually(() => tribeReady(home, 3, 2), READY_MS, 'sister 2 ready', () => psOf(slotHome(home, 2)));
  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'c', '--home', slotHome(home, 2)])).code, 0);
  first.proc.kill('SIGKILL');
  await first.exited;
  // Served meanwhile: sister 2 answers while slot 0 is down or coming back.
  const during = await tribe(['call', 'c', 'increment', '--home', slotHome(home, 2)]);
  t.is(during.code, 0, during.stderr);
  const back = await eventually(async () => {
    const p = slotPids(home).get(0);
    return p !== undefined && p !== first.proc.pid && isAlive(p) ? tribeReady(home, 3, 0) : undefined;
  }, READY_MS, 'slot 0 respawned and ready', () => psOf(home));
  t.is(String(back.id), first.id, 'slot 0 has its identity back');
  await eventually(() => tribeReady(home, 3, 1), READY_MS, 'sister 1 ready', () => psOf(slotHome(home, 1)));
  // Slot 1, the lowest live slot while slot 0 was down, spawned it; slot 0 spawns again now.
  t.regex(readFileSync(join(slotHome(home, 1), 'host.log'), 'utf8'), /^spawning sister slot 0 \(pid \d+\)$/m);
  t.true(back.tribe!.spawner);
  t.is((await tribe(['call', 'c', 'increment', '--home', slotHome(home, 2)])).stdout.trim(), '2');
});

test.serial('two tribe hosts started at the same moment on one home end in one tribe of three, not six', async (t) => {
  const home = tempHome(t);
  t.teardown(async () => {
    await tribe(['stop', '--home', home]).catch(() => {});
    await killTribe(home);
  });
  const flags = ['--core-size', '3', '--no-viz', '--no-discovery'];
  const [a, b] = await Promise.all([startHostProcess(t, home, flags), startHostProcess(t, home, flags)]);
  t.not(a.id, b.id);
  const ps = await eventually(() => tribeReady(home, 3), READY_MS, 'one tribe of three', () => psOf(home));
  t.is(ps.tribe!.sisters!.length, 2);
  t.deepEqual(registryFiles(home), ['0.json', '1.json', '2.json']);
  const pids = [...slotPids(home).entries()].filter(([, pid]) => isAlive(pid));
  t.deepEqual(pids.map(([k]) => k).sort(), [0, 1, 2], 'slots 0-2 live, no fourth');
  t.true([a.proc.pid, b.proc.pid].every((p) => pids.some(([, q]) => q === p)), 'both hand-started hosts are sisters');
  // A host started when the core is full is a member: the next slot, and it spawns nothing.
  const c = await startHostProcess(t, home, flags);
  const member = await eventually(() => tribeReady(home, 4, 3), READY_MS, 'the member sees three sisters', () => psOf(slotHome(home, 3)));
  t.is(member.id as string, c.id);
  t.is(member.tribe!.slot, 3);
  t.false(member.tribe!.spawner);
  t.is(member.tribe!.alive, 3, 'the core is full');
  t.deepEqual(c.output.filter((l) => l.includes('spawning')), []);
  await eventually(() => tribeReady(home, 4), READY_MS, 'slot 0 counts the member too', () => psOf(home));
  t.deepEqual([...slotPids(home).entries()].filter(([, pid]) => isAlive(pid)).map(([k]) => k).sort(), [0, 1, 2, 3]);
});

test.serial('registry records of dead processes, forged signatures, other tribes and garbage are ignored and removed', async (t) => {
  const home = tempHome(t);
  await startTribe(t, home, ['--core-size', '1']);
  await eventually(() => tribeReady(home, 1), READY_MS, 'a tribe of one ready', () => psOf(home));
  const secret = new Uint8Array(readFileSync(join(home, 'tribe.key')));
  const mine = JSON.parse(readFileSync(join(home, 'registry', '0.json'), 'utf8')).record as SisterRecord;
  const stranger = nodeCrypto.ed25519FromSeed(nodeCrypto.randomBytes(32));
  const strangerId = base32(nodeCrypto.sha256(stranger.publicKey));
  const base: SisterRecord = { ...mine, vatId: strangerId as SisterRecord['vatId'], key: base32(stranger.publicKey), pid: 2 ** 22 + 12345 };
  // A process that is gone (a pid past any the kernel hands out here), signed right.
  writeFileSync(join(home, 'registry', '5.json'), JSON.stringify(signRecord(stranger, { ...base, slot: 5 })));
  // Claims this host's VatId with another key's signature.
  const forged = signRecord(stranger, { ...mine, slot: 6 });
  writeFileSync(join(home, 'registry', '6.json'), JSON.stringify(forged));
  // Another tribe's record, alive (this test's own pid), signed right.
  writeFileSync(join(home, 'registry', '7.json'), JSON.stringify(signRecord(stranger, { ...base, slot: 7, pid: process.pid, tribe: tribeIdOf(nodeCrypto, nodeCrypto.randomBytes(32)) })));
  writeFileSync(join(home, 'registry', '8.json'), 'not a record');
  t.not(tribeIdOf(nodeCrypto, secret), '');
  const ps = await eventually(async () => {
    const s = await psOf(home);
    return registryFiles(home).length === 1 && s?.tribe?.registryRemoved && Object.values(s.tribe.registryRemoved).reduce((a, b) => a + b, 0) >= 4 ? s : undefined;
  }, READY_MS, 'the bad records removed', async () => ({ files: registryFiles(home), ps: (await psOf(home))?.tribe }));
  t.deepEqual(registryFiles(home), ['0.json']);
  t.deepEqual(ps.tribe!.registryRemoved, { dead: 1, forged: 1, 'other-tribe': 1, malformed: 1 });
  t.is(ps.tribe!.state, 'ready');
  t.deepEqual(ps.tribe!.sisters, [], 'none of them became a sister');
});

test.serial('tribe stop stops every sister and leaves no process, socket, pid file or record behind', async (t) => {
  const home = tempHome(t);
  const first = await startTribe(t, home, ['--core-size', '3']);
  await eventually(() => tribeReady(home, 3), READY_MS, 'three sisters ready', () => psOf(home));
  const pids = [...slotPids(home).values()];
  t.is(pids.length, 3);
  const stop = await tribe(['stop', '--home', home]);
  t.is(stop.code, 0, stop.stderr);
  t.regex(stop.stdout, /stopping 2 sisters and this host/);
  t.is(await first.exited, 0);
  t.deepEqual(pids.filter(isAlive), [], 'no sister process left');
  for (const slot of [0, 1, 2]) {
    t.false(existsSync(join(slotHome(home, slot), 'control.sock')), `slot ${slot}: no control socket`);
    t.false(existsSync(join(slotHome(home, slot), 'host.pid')), `slot ${slot}: no pid file`);
  }
  t.deepEqual(registryFiles(home), [], 'no record left');
  // Nothing respawned after the stop, and a new host takes slot 0 (its lock is free).
  const again = await startHostProcess(t, home, ['--core-size', '1', '--no-viz', '--no-discovery']);
  t.teardown(async () => killTribe(home));
  t.is(again.id, first.id);
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await again.exited, 0);
  t.true(PROCESS_MS > 0);
});

test.serial('tribe stop while a sister is being respawned: the one starting is ended too, nothing comes back', async (t) => {
  const home = tempHome(t);
  const first = await startTribe(t, home, ['--core-size', '2']);
  await eventually(() => tribeReady(home, 2), READY_MS, 'two sisters ready', () => psOf(home));
  const old = slotPids(home).get(1)!;
  process.kill(old, 'SIGKILL');
  // The spawner has noticed (the record is gone) and is starting a new slot 1.
  await eventually(async () => !registryFiles(home).includes('1.json') && first.output.some((l) => /^spawning sister slot 1 \(pid \d+\)$/.test(l)), READY_MS, 'slot 1 being respawned', async () => first.output.slice(-5));
  const stop = await tribe(['stop', '--home', home]);
  t.is(stop.code, 0, stop.stderr);
  t.is(await first.exited, 0);
  // A host spawned for slot 1 takes well under this to write its pid file; none may be alive after it.
  const watchUntil = Date.now() + 3_000;
  while (Date.now() < watchUntil) {
    const alive = [...slotPids(home).values()].filter(isAlive);
    t.deepEqual(alive, [], `no tribe process alive after the stop (${first.output.filter((l) => l.includes('slot 1')).join(' | ')})`);
    if (alive.length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.deepEqual(registryFiles(home), []);
});

test.serial('tribe spawn places vats on the least loaded sister or --on one; names and refs work from every sister, vats included', async (t) => {
  const home = tempHome(t);
  await startTribe(t, home, ['--core-size', '3']);
  const ps = await eventually(() => tribeReady(home, 3), READY_MS, 'three sisters ready', () => psOf(home));
  const slots = new Map([[ps.id as string, 0], ...ps.tribe!.sisters!.map((x) => [x.vatId, x.slot] as [string, number])]);
  const short = (id: string) => id.slice(0, 8);
  // Three counters: this host first (a tie keeps it here), then one on each sister with none.
  const placed: number[] = [];
  for (const name of ['c0', 'c1', 'c2']) {
    const r = await tribe(['spawn', example('counter.ts'), '--name', name, '--home', home]);
    t.is(r.code, 0, r.stderr);
    const on = /on sister (\S+)/.exec(r.stdout)?.[1];
    placed.push(on === undefined ? 0 : slots.get([...slots.keys()].find((id) => short(id) === on)!)!);
    // The next placement counts this vat (it is in the sister's load once its Sister is pinged, or at once here).
    await eventually(async () => {
      const s = await psOf(home);
      const load = (s?.vats.length ?? 0) + (s?.tribe?.sisters ?? []).reduce((n, x) => n + (x.vats ?? 0), 0);
      return load === placed.length;
    }, READY_MS, 'the load seen by the spawner', () => psOf(home));
  }
  t.deepEqual([...placed].sort(), [0, 1, 2], `one vat per sister (placed on ${placed.join(', ')})`);
  // --on a slot; a room on slot 1, a member on slot 2 that finds the room by name (a vat's names.lookup).
  t.is((await tribe(['spawn', example('chat-room.ts'), '--name', 'room', '--on', '1', '--home', home])).code, 0);
  const member = await tribe(['spawn', example('chat-member.ts'), '--name', 'alice', '--on', '2', '--params', '{"room":"room","name":"alice"}', '--home', home]);
  t.is(member.code, 0, member.stderr);
  t.regex(member.stdout, new RegExp(`on sister ${short([...slots].find(([, k]) => k === 2)![0])}`));
  // Every name from every sister.
  for (const slot of [0, 1, 2]) {
    for (const name of ['c0', 'c1', 'c2']) {
      const r = await tribe(['call', name, 'increment', '--home', slotHome(home, slot)]);
      t.is(r.code, 0, `${name} from slot ${slot}: ${r.stderr}`);
    }
  }
  for (const name of ['c0', 'c1', 'c2']) t.is((await tribe(['call', name, 'read', '--home', home])).stdout.trim(), '3');
  t.is((await tribe(['call', 'alice', 'say', '"hi"', '--home', home])).code, 0);
  const history = await tribe(['call', 'room', 'history', '--home', slotHome(home, 2)]);
  t.regex(history.stdout, /hi/);
  // A sturdy ref made through slot 0 for a vat on slot 1 names slot 1's host, and reaches it.
  const c1Slot = placed.indexOf(1);
  const ref = (await tribe(['ref', `c${c1Slot}`, '--home', home])).stdout.trim();
  t.true(ref.startsWith(`tribe://${[...slots].find(([, k]) => k === 1)![0]}@`), ref);
  t.is((await tribe(['call', ref, 'read', '--home', slotHome(home, 2)])).stdout.trim(), '3');
  // A name is the tribe's; a sister that is not there is named so.
  const taken = await tribe(['spawn', example('counter.ts'), '--name', 'c0', '--on', '2', '--home', home]);
  t.is(taken.code, 1);
  t.regex(taken.stderr, /VatExistsError: the name "c0" is already published in this tribe/);
  const nowhere = await tribe(['spawn', example('counter.ts'), '--name', 'x', '--on', '7', '--home', home]);
  t.regex(nowhere.stderr, /SisterNotFoundError: no sister "7" in this tribe; this machine's sisters: 0 \(/);
  const unknown = await tribe(['call', 'nobody', 'read', '--home', home]);
  t.regex(unknown.stderr, /NameNotFoundError/);
});

test.serial('Ctrl-C in the first host\'s terminal stops the whole tribe; SIGTERM to a sister stops only it, and it is respawned', async (t) => {
  const home = tempHome(t);
  const first = await startTribe(t, home, ['--core-size', '2']);
  await eventually(() => tribeReady(home, 2), READY_MS, 'two sisters ready', () => psOf(home));
  const s2 = slotPids(home).get(1)!;
  process.kill(s2, 'SIGTERM');
  await eventually(async () => {
    const p = slotPids(home).get(1);
    return p !== undefined && p !== s2 && !isAlive(s2) && isAlive(p) ? tribeReady(home, 2) : undefined;
  }, READY_MS, 'slot 1 back after its SIGTERM', () => psOf(home));
  const pids = [...slotPids(home).values()];
  first.proc.kill('SIGINT');
  t.is(await first.exited, 0);
  t.deepEqual(pids.filter(isAlive), [], 'every sister stopped with the first host');
  t.deepEqual(registryFiles(home), []);
});

test.serial('a member of another home joins with a sister ref, and after a restart without it finds the tribe again by its announcements', async (t) => {
  const homeA = tempHome(t);
  const homeB = tempHome(t);
  // A port range of this test's own (16 ports), below the kernel's ephemeral ports.
  const discovery = `127.0.0.1:${20_000 + Math.floor(Math.random() * 600) * 16}`;
  const a = await startTribe(t, homeA, ['--core-size', '1', '--discovery', discovery]);
  await eventually(() => tribeReady(homeA, 1), READY_MS, 'tribe A ready', () => psOf(homeA));
  const ref = (await tribe(['ref', 'sister', '--home', homeA])).stdout.trim();
  t.regex(ref, /^tribe:\/\//);
  const b = await startTribe(t, homeB, ['--core-size', '1', '--discovery', discovery, '--join', ref]);
  const joined = await eventually(() => tribeReady(homeB, 2), READY_MS, 'B ready with A connected', () => psOf(homeB));
  const psA = await eventually(() => tribeReady(homeA, 2), READY_MS, 'A sees B', () => psOf(homeA));
  t.is(joined.tribe!.tribe, psA.tribe!.tribe, 'one tribe: B took its secret');
  t.not(joined.tribe!.machine, psA.tribe!.machine, 'two machines (tribe homes), each with its own core');
  t.is(joined.tribe!.sisters![0]!.vatId, a.id);
  // B stops alone, forgets what its join told it, and starts again without --join.
  t.is((await tribe(['stop', '--only-this', '--home', homeB])).code, 0);
  t.is(await b.exited, 0);
  // Nobody on B's machine starts it again: it left, and A stops expecting it (whole again, alone).
  await eventually(() => tribeReady(homeA, 1), READY_MS, 'A ready without B after B left', () => psOf(homeA));
  rmSync(join(homeB, 'joined.json'));
  await startTribe(t, homeB, ['--core-size', '1', '--discovery', discovery]);
  const again = await eventually(() => tribeReady(homeB, 2), READY_MS, 'B found A again by announcements', () => psOf(homeB));
  t.is(again.tribe!.sisters![0]!.vatId, a.id);
  t.true((again.tribe!.discovery?.heard ?? 0) > 0, 'B heard announcements');
  t.deepEqual(again.tribe!.discovery?.dropped.mac ?? 0, 0);
  await eventually(() => tribeReady(homeA, 2), READY_MS, 'A sees B again', () => psOf(homeA));
});

test.serial('a tribe host on a home whose slot 0 runs a --solo host takes slot 1 and spawns nothing over the solo host', async (t) => {
  const home = tempHome(t);
  const solo = await startHostProcess(t, home, ['--no-viz']);
  const member = await startTribe(t, home, ['--core-size', '2']);
  t.not(member.id, solo.id);
  const ps = await eventually(async () => {
    const s = await psOf(slotHome(home, 1));
    return s?.tribe && (s.tribe.rounds ?? 0) >= 6 ? s : undefined;
  }, READY_MS, 'six rounds of supervision', () => psOf(slotHome(home, 1)));
  t.is(ps.tribe!.slot, 1);
  t.true(ps.tribe!.spawner, 'the only sister spawns for this machine');
  t.deepEqual(member.output.filter((l) => l.includes('spawning')), [], 'slot 0 is held by the solo host: never spawned over');
  t.deepEqual([...slotPids(home).keys()].sort(), [0, 1]);
  t.is((await tribe(['call', 'sister', 'status', '--home', home])).code, 1, 'the solo host has no Sister');
});

test.serial('--core-size auto keeps one sister per CPU', async (t) => {
  const home = tempHome(t);
  await startTribe(t, home, ['--core-size', 'auto']);
  const want = Math.min(availableParallelism(), 16);
  const ps = await eventually(() => tribeReady(home, want), READY_MS, `${want} sisters ready`, () => psOf(home));
  t.is(ps.tribe!.coreSize, want);
  t.is(JSON.parse(readFileSync(join(home, 'tribe.json'), 'utf8')).coreSize, want, 'kept in the home for the next start');
});
