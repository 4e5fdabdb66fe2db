/**
 * Triple services between real sisters (runtime/replica/): a tribe of three
 * `tribe host` processes on loopback, one home for the whole file.
 *
 *   1. `tribe spawn counter.ts --replicas 3`: every sister is a replica, one
 *      leads (the same one, in the same term, on all three) and runs the vat;
 *      `tribe call` on any sister reaches it; ps shows role, term, commit, lag.
 *   2. kill -9 of the leader's host during 10,000 increments from several
 *      clients (on the other two sisters): every increment is acknowledged once
 *      with its own value (none lost, none applied twice: the answers are
 *      exactly 1..10,000), a new leader serves within FAILOVER_MS, and the
 *      killed sister, respawned behind the leader's compacted log, catches up
 *      to the same rows by a state transfer (a sync saga).
 *   3. the naming service (`sister.names`, three replicas): kill -9 of its
 *      leader; a name published before resolves, one published after is in
 *      the survivors' tables and resolves, the restarted sister catches up.
 */
import '@endo/init';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { E } from '@endo/far';
import { connect } from '../../runtime/client.js';
import type { HostStatus, ServiceStatus } from '../../runtime/host-api.js';
import { tribe } from '../helpers/cli.js';
import { example, fixture, tempHome } from '../helpers/host.js';
import { eventually, hostProcessesUnder, killTribe, psOf, slotHome, slotPids, startTribe, tribeReady } from '../helpers/tribe.js';

/** Three sisters up and connected (three processes start and lock down on a loaded 2-CPU machine). */
const READY_MS = 60_000;
/** A new leader serves within this after the old one's host died: its followers' election timeout, an election, a vat start. */
const FAILOVER_MS = 10_000;
const CORE = 3;
/** Entries between snapshots in this file's tribe (1,000 by default). */
const SNAPSHOT_EVERY = 50;
const INCREMENTS = 10_000;
const CLIENTS = 4;
/** Calls each client keeps in flight. */
const IN_FLIGHT = 16;

const later: (() => unknown)[] = [];
const fileScope: Pick<ExecutionContext, 'teardown'> = { teardown: (fn) => void later.push(fn) };
test.after.always('stop the tribe and remove its home', async () => {
  while (later.length > 0) await later.pop()!();
});

let theHome: string | undefined;
const home = (): string => (theHome ??= tempHome(fileScope));
let started = false;
/** The file's tribe of three, started once; each test waits for all three ready (an earlier test may have killed one). */
const tribeUp = async () => {
  if (!started) {
    started = true;
    // A short log (compacted every SNAPSHOT_EVERY entries): a killed replica comes back behind the leader's snapshot.
    await startTribe(fileScope, home(), ['--core-size', String(CORE)], { TRIBE_TEST_RAFT_SNAPSHOT_EVERY: String(SNAPSHOT_EVERY) });
  }
  await eventually(async () => (await tribeReady(home(), CORE, 0)) && (await tribeReady(home(), CORE, 1)) && tribeReady(home(), CORE, 2), READY_MS, 'three sisters ready', () => psOf(home()));
};

const serviceOn = async (slot: number, name: string): Promise<{ ps: HostStatus; service: ServiceStatus } | undefined> => {
  const ps = await psOf(slotHome(home(), slot));
  const service = ps?.services?.find((s) => s.name === name);
  return ps && service ? { ps, service } : undefined;
};
const slotOf = async (vatId: string): Promise<number | undefined> => {
  for (let k = 0; k < CORE; k++) if ((await psOf(slotHome(home(), k)))?.id === vatId) return k;
  return undefined;
};
/** The leader all live replicas agree on, serving, or undefined. */
const agreedLeader = async (name: string, slots: readonly number[]): Promise<{ leader: string; term: number } | undefined> => {
  const seen = await Promise.all(slots.map((k) => serviceOn(k, name)));
  if (seen.some((s) => s === undefined)) return undefined;
  const leader = seen[0]!.service.leader;
  const term = seen[0]!.service.term;
  if (!leader || seen.some((s) => s!.service.leader !== leader || s!.service.term !== term)) return undefined;
  const serving = seen.find((s) => s!.ps.id === leader)?.service.serving;
  return serving === false ? undefined : { leader, term };
};

/** The counter's count in slot `slot`'s rows (read-only, beside the running host). */
const countInStore = (slot: number, vat: string): number | undefined => {
  const db = new Database(join(slotHome(home(), slot), 'tribe.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT value FROM vat_store WHERE vat = ? AND key = ?').get(vat, 'count') as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as number) : undefined;
  } finally {
    db.close();
  }
};

test.serial('tribe spawn --replicas 3: three replicas agree on one leader, which serves; calls reach it from every sister, from actors that looked it up or were handed it, and from the API', async (t) => {
  await tribeUp();
  const spawned = await tribe(['spawn', example('counter.ts'), '--name', 'tally', '--replicas', '3', '--home', home()]);
  t.is(spawned.code, 0, spawned.stderr);
  t.regex(spawned.stdout, /spawned tally: a service replicated on 3 sisters, led by \w+/);
  const agreed = await eventually(() => agreedLeader('tally', [0, 1, 2]), READY_MS, 'the replicas to agree on a serving leader', () => serviceOn(0, 'tally'));
  t.log(`leader ${agreed.leader.slice(0, 8)} in term ${agreed.term}`);
  for (let k = 0; k < CORE; k++) {
    const call = await tribe(['call', 'tally', 'increment', '--home', slotHome(home(), k)]);
    t.is(call.code, 0, call.stderr);
    t.is(call.stdout.trim(), String(k + 1), `the call from slot ${k} is applied once, in order`);
  }
  // What actors do: a vat looks the service up by name, and another is handed the reference; both reach it.
  for (const [k, how] of [[1, 'lookup'], [2, 'hold']] as const) {
    const spawnedHolder = await tribe(['spawn', fixture('holder.ts'), '--name', `holder-${how}`, '--on', String(k), '--home', home()]);
    t.is(spawnedHolder.code, 0, spawnedHolder.stderr);
    const given = how === 'lookup' ? ['lookup', '"tally"'] : ['hold', '@tally'];
    t.is((await tribe(['call', `holder-${how}`, ...given, '--home', home()])).stdout.trim(), 'true');
    const viaActor = await tribe(['call', `holder-${how}`, 'call', '"increment"', '--home', home()]);
    t.is(viaActor.code, 0, viaActor.stderr);
    t.is(viaActor.stdout.trim(), String(how === 'lookup' ? 4 : 5), `an actor that got it by ${how} calls it`);
  }
  // The embedder API's twin of --replicas.
  const client = await connect({ home: slotHome(home(), 1) });
  t.teardown(() => client.close());
  const api = await client.spawn({ module: example('counter.ts'), name: 'api-tally', replicas: 3 });
  t.is(api.name, 'api-tally');
  t.is(await E(api.root).increment(2), 2);
  const ps = await tribe(['ps', '--home', home()]);
  t.regex(ps.stdout, /SERVICE\s+ROLE\s+LEADER\s+TERM\s+COMMIT/);
  t.regex(ps.stdout, /tally\s+(leader \(serving\)|follower)/);
  // Every replica applied the three increments to its own rows.
  await eventually(async () => [0, 1, 2].every((k) => countInStore(k, 'tally') === 5), READY_MS, 'every replica to hold count 5', async () => [0, 1, 2].map((k) => countInStore(k, 'tally')));
  const bad = await tribe(['spawn', example('counter.ts'), '--name', 'x', '--replicas', '2', '--home', home()]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /UsageError: --replicas is 3, 5 or 7/);
});

test.serial('kill -9 of the leader during 10,000 increments from several clients: none lost, none applied twice, a new leader in bounded time', async (t) => {
  await tribeUp();
  const spawned = await tribe(['spawn', example('counter.ts'), '--name', 'hits', '--replicas', '3', '--home', home()]);
  t.is(spawned.code, 0, spawned.stderr);
  const first = await eventually(() => agreedLeader('hits', [0, 1, 2]), READY_MS, 'a serving leader', () => serviceOn(0, 'hits'));
  const leaderSlot = (await slotOf(first.leader))!;
  const others = [0, 1, 2].filter((k) => k !== leaderSlot);
  const leaderPid = slotPids(home()).get(leaderSlot)!;
  t.log(`leader ${first.leader.slice(0, 8)} is slot ${leaderSlot} (pid ${leaderPid}), term ${first.term}; clients on slots ${others.join(', ')}`);

  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => connect({ home: slotHome(home(), others[i % others.length]!) })));
  t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => {}))));
  const fronts = await Promise.all(clients.map((c) => c.lookup('hits')));

  const answers: number[] = [];
  let issued = 0;
  let killedAt: number | undefined;
  /** The first answer after the kill: the calls stalled from the kill until a new leader answered. */
  let resumedAt: number | undefined;
  const worker = async (front: unknown) => {
    while (issued < INCREMENTS) {
      issued += 1;
      const sent = Date.now();
      const value = (await E(front as any).increment()) as number;
      answers.push(value);
      if (killedAt !== undefined && resumedAt === undefined && sent > killedAt) resumedAt = Date.now();
      if (killedAt === undefined && answers.length >= INCREMENTS / 5) {
        killedAt = Date.now();
        process.kill(leaderPid, 'SIGKILL');
        killed();
      }
    }
  };
  // Watches the survivors from the kill until they agree on a new leader that serves (before the killed one returns).
  let killed!: () => void;
  const kill = new Promise<void>((r) => (killed = r));
  const newLeader = kill.then(() =>
    eventually(async () => {
      const a = await agreedLeader('hits', others);
      return a && a.leader !== first.leader ? { ...a, at: Date.now() } : undefined;
    }, FAILOVER_MS, 'a new leader among the survivors', () => serviceOn(others[0]!, 'hits')),
  );
  newLeader.catch(() => {});
  const began = Date.now();
  await Promise.all(fronts.flatMap((f) => Array.from({ length: IN_FLIGHT }, () => worker(f))));
  const ms = Date.now() - began;
  t.truthy(killedAt, 'the leader was killed mid-run');
  t.log(`${INCREMENTS} increments by ${CLIENTS} clients × ${IN_FLIGHT} in flight: ${ms} ms (${Math.round((INCREMENTS * 1000) / ms)}/s), leader killed after ${INCREMENTS / 5}; the first call sent after the kill was answered ${resumedAt! - killedAt!} ms after it`);

  // None lost, none twice: the answers are exactly 1..10,000.
  t.is(answers.length, INCREMENTS);
  const sorted = [...answers].sort((a, b) => a - b);
  const firstWrong = sorted.findIndex((v, i) => v !== i + 1);
  t.is(firstWrong, -1, `answers are 1..${INCREMENTS} (at ${firstWrong}: ${sorted[firstWrong]}, around: ${sorted.slice(Math.max(0, firstWrong - 2), firstWrong + 3).join(',')})`);
  t.is(await E(fronts[0] as any).read(), INCREMENTS);

  const next = await newLeader;
  t.true(next.term > first.term, 'in a later term');
  t.log(`the survivors agreed on a new serving leader ${next.at - killedAt!} ms after the kill (seen by polling ps every 100 ms)`);

  // The killed sister comes back (its spawner starts it again, same VatId) and catches up.
  await eventually(async () => countInStore(leaderSlot, 'hits') === INCREMENTS && (await serviceOn(leaderSlot, 'hits'))?.service.lastApplied === (await serviceOn(others[0]!, 'hits'))?.service.commitIndex, READY_MS, 'the restarted replica to catch up', async () => [countInStore(leaderSlot, 'hits'), (await serviceOn(leaderSlot, 'hits'))?.service]);
  t.deepEqual(others.map((k) => countInStore(k, 'hits')), [INCREMENTS, INCREMENTS]);
  // It was behind the leader's compacted log: its state came by a sync saga, committed into a space of its own.
  const transfers = sagasInStore(leaderSlot, 'svc.%');
  t.true(transfers.some((x) => x.role === 'responder' && x.state === 'committed'), `a state transfer committed on the restarted replica: ${JSON.stringify(transfers)}`);
  t.true((await serviceOn(others[0]!, 'hits'))!.service.snapshotIndex > 0, 'the log was compacted');
});

/** Slot `slot`'s sync sagas of the spaces LIKE `pattern`. */
const sagasInStore = (slot: number, pattern: string): { space: string; role: string; state: string }[] => {
  const db = new Database(join(slotHome(home(), slot), 'tribe.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT space, role, state FROM sync_sagas WHERE space LIKE ?').all(pattern) as { space: string; role: string; state: string }[];
  } finally {
    db.close();
  }
};

/** Names in slot `slot`'s naming-service table (read-only, beside the running host). */
const namesInStore = (slot: number): string[] => {
  const db = new Database(join(slotHome(home(), slot), 'tribe.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT name FROM replica_names ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  } catch {
    return []; // not made yet
  } finally {
    db.close();
  }
};

test.serial('the naming service is a triple service: names survive the loss of its leader, and a name published after it resolves from every sister', async (t) => {
  await tribeUp();
  const names = await eventually(() => agreedLeader('sister.names', [0, 1, 2]), READY_MS, 'the naming service to have a leader', () => serviceOn(0, 'sister.names'));
  t.deepEqual((await serviceOn(0, 'sister.names'))!.service.replicas.length, 3, 'on three sisters');
  const leaderSlot = (await slotOf(names.leader))!;
  const [publisher, reader] = [0, 1, 2].filter((k) => k !== leaderSlot) as [number, number];
  const before = await tribe(['spawn', example('counter.ts'), '--name', 'before-loss', '--on', String(publisher), '--home', home()]);
  t.is(before.code, 0, before.stderr);
  await eventually(async () => [0, 1, 2].every((k) => namesInStore(k).includes('before-loss')), READY_MS, 'every replica to hold the name', async () => [0, 1, 2].map(namesInStore));

  // The naming service's leader dies: a new one is elected, and the names stay.
  process.kill(slotPids(home()).get(leaderSlot)!, 'SIGKILL');
  const call = await tribe(['call', 'before-loss', 'increment', '--home', slotHome(home(), reader)]);
  t.is(call.code, 0, call.stderr);
  t.is(call.stdout.trim(), '1');
  // Asked of a survivor: the killed sister's home answers only once its respawned host has joined the tribe again.
  const after = await tribe(['spawn', example('counter.ts'), '--name', 'after-loss', '--on', String(publisher), '--home', slotHome(home(), reader)]);
  t.is(after.code, 0, after.stderr);
  await eventually(async () => [publisher, reader].every((k) => namesInStore(k).includes('after-loss')), READY_MS, 'the survivors to hold the new name', async () => [publisher, reader].map(namesInStore));
  const next = await eventually(async () => {
    const a = await agreedLeader('sister.names', [publisher, reader]);
    return a && a.leader !== names.leader ? a : undefined;
  }, FAILOVER_MS, 'a new leader of the naming service', () => serviceOn(reader, 'sister.names'));
  t.true(next.term > names.term);
  const called = await tribe(['call', 'after-loss', 'increment', '--home', slotHome(home(), reader)]);
  t.is(called.code, 0, called.stderr);
  // The killed sister comes back and catches up: it holds the name published while it was gone.
  await eventually(async () => namesInStore(leaderSlot).includes('after-loss'), READY_MS, 'the restarted replica to catch up', async () => namesInStore(leaderSlot));
});

test.serial('the tribe stops with its services, and leaves no process', async (t) => {
  await tribeUp();
  const stop = await tribe(['stop', '--home', home()]);
  t.is(stop.code, 0, stop.stderr);
  await killTribe(home());
  t.deepEqual(hostProcessesUnder([home()]), []);
});
