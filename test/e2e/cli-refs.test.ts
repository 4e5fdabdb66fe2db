import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { example, tempHome } from '../helpers/host.js';
import { SCHEMA_VERSION } from '../../runtime/store.js';

const swissOf = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);
/** What `tribe refs` lists as a ref's id: the start of the SHA-256 of its swiss number, as the store keeps it. */
const idOf = (ref: string) => createHash('sha256').update(swissOf(ref)).digest('hex').slice(0, 12);

interface Listed {
  id: string;
  name: string;
  createdAt: number;
  revokedAt?: number;
}

test('tribe refs lists the refs made here by id, name, creation and revocation, never a swiss number; revoke by id', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-viz']);
  const cli = async (...args: string[]) => {
    const r = await tribe([...args, '--home', home]);
    t.is(r.code, 0, `tribe ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const none = await cli('refs');
  t.is(none, 'no sturdy refs (make one with: tribe ref NAME)');
  for (const name of ['counter', 'other']) await cli('spawn', example('counter.ts'), '--name', name);
  const before = Date.now();
  const [r1, r2, r3] = [await cli('ref', 'counter'), await cli('ref', 'counter'), await cli('ref', 'other')] as [string, string, string];
  const after = Date.now();

  const listed: Listed[] = JSON.parse(await cli('refs', '--json'));
  t.deepEqual(
    listed.map((r) => [r.id, r.name, r.revokedAt]).sort(),
    [[idOf(r1), 'counter', undefined], [idOf(r2), 'counter', undefined], [idOf(r3), 'other', undefined]].sort(),
  );
  for (const r of listed) t.true(r.createdAt >= before - 1000 && r.createdAt <= after, `created at ${r.createdAt}`);
  const table = await cli('refs');
  const lines = table.split('\n');
  t.regex(lines[0]!, /^ID {12}NAME {5}CREATED {15}REVOKED$/);
  t.is(lines.length, 4);
  for (const [ref, name] of [[r1, 'counter'], [r2, 'counter'], [r3, 'other']] as const) {
    t.true(lines.some((l) => new RegExp(`^${idOf(ref)}  ${name} +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ  -$`).test(l)), table);
  }
  // Neither the listing nor the store holds a swiss number: only whoever was given a ref can use it.
  const db = readFileSync(join(home, 'tribe.db')).toString('latin1') + readFileSync(join(home, 'tribe.db-wal')).toString('latin1');
  for (const ref of [r1, r2, r3]) {
    t.false(table.includes(swissOf(ref)));
    t.false(db.includes(swissOf(ref)), 'the store keeps hashes only');
  }

  t.is(await cli('refs', 'revoke', idOf(r1)), `revoked ref ${idOf(r1)} (to counter)`);
  const dead = await tribe(['call', r1, 'read', '--home', home]);
  t.is(dead.code, 1);
  t.regex(dead.stderr, /^tribe: SturdyRefError: unknown or revoked sturdy ref\n$/);
  t.is(await cli('call', r2, 'read'), '0', 'the other ref to the same actor still works');
  // `tribe revoke` takes an id as well as a ref; revoking by ref keeps the ref listed, as revoked.
  t.is(await cli('revoke', idOf(r3)), `revoked ref ${idOf(r3)} (to other)`);
  t.is(await cli('revoke', r2), 'revoked');
  const revoked: Listed[] = JSON.parse(await cli('refs', '--json'));
  t.is(revoked.length, 3);
  for (const r of revoked) t.true(r.revokedAt! >= r.createdAt && r.revokedAt! <= Date.now(), JSON.stringify(r));
  t.regex(await cli('refs'), new RegExp(`\\n${idOf(r1)}  counter  \\S+Z  \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\n`));

  const cases: Array<{ args: string[]; code: number; error: RegExp }> = [
    { args: ['refs', 'revoke', idOf(r1)], code: 1, error: new RegExp(`^SturdyRefError: the sturdy ref ${idOf(r1)} \\(to counter\\) is already revoked$`) },
    { args: ['refs', 'revoke', '0'.repeat(12)], code: 1, error: /^SturdyRefError: no sturdy ref of this host has the id 000000000000 \(see tribe refs\)$/ },
    { args: ['refs', 'revoke', 'xyz'], code: 2, error: /^UsageError: a ref id is 12 or more hex characters, as tribe refs lists it; got "xyz"$/ },
    { args: ['refs', 'revoke'], code: 2, error: /^UsageError: tribe refs revoke takes one ID \(from tribe refs\)$/ },
    { args: ['refs', 'nonsense'], code: 2, error: /^UsageError: tribe refs takes no argument but "revoke ID", got nonsense$/ },
  ];
  for (const c of cases) {
    const r = await tribe([...c.args, '--home', home]);
    t.is(r.code, c.code, `${c.args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^tribe: [^\n]*\n$/, 'one line');
    t.regex(r.stderr.slice('tribe: '.length, -1), c.error);
  }

  // Revocations are kept across a restart of the host.
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
  const again = await startHostProcess(t, home, ['--no-viz']);
  t.deepEqual(JSON.parse(await cli('refs', '--json')), revoked);
  t.is((await tribe(['call', r1, 'read', '--home', home])).code, 1);
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await again.exited, 0);
});

test('a version 1 store (revoked refs deleted, no revoked_at) is upgraded: its refs keep working and can be listed and revoked', async (t) => {
  const home = tempHome(t);
  const first = await startHostProcess(t, home, ['--no-viz']);
  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--home', home])).code, 0);
  const ref = (await tribe(['ref', 'counter', '--home', home])).stdout.trim();
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await first.exited, 0);

  // Back to the version 1 table, as a host before this change left it.
  const db = new Database(join(home, 'tribe.db'));
  db.exec(`
    CREATE TABLE v1 (swiss_hash TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO v1 SELECT swiss_hash, name, created_at FROM sturdy_refs;
    DROP TABLE sturdy_refs;
    ALTER TABLE v1 RENAME TO sturdy_refs;
    UPDATE meta SET value = '1' WHERE key = 'schema';
  `);
  db.close();

  const host = await startHostProcess(t, home, ['--no-viz']);
  t.is((await tribe(['call', ref, 'increment', '--home', home])).stdout.trim(), '1');
  const listed: Listed[] = JSON.parse((await tribe(['refs', '--json', '--home', home])).stdout);
  t.deepEqual(listed.map((r) => [r.id, r.name, r.revokedAt]), [[idOf(ref), 'counter', undefined]]);
  t.is((await tribe(['refs', 'revoke', idOf(ref), '--home', home])).code, 0);
  t.is((await tribe(['call', ref, 'read', '--home', home])).code, 1);
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
  const upgraded = new Database(join(home, 'tribe.db'), { readonly: true });
  t.is(upgraded.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get()!.value, String(SCHEMA_VERSION));
  upgraded.close();
});
