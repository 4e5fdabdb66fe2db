/**
 * Security state at rest and across restarts (docs/security.md "The host's
 * home, key, socket and lock", "Sturdy refs"): a revoked ref stays revoked
 * after the host is killed and restarted; the store keeps swiss numbers only as
 * SHA-256 hashes; a home whose identity key is not the one its store recorded
 * refuses to start; every file in the home is owner-only, whatever the umask.
 */
import '@endo/init';
import test from 'ava';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { E } from '@endo/far';
import { parseSturdyRef } from '../../capabilities/sturdy-ref.js';
import { startHost } from '../../runtime/index.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { fixture, tempHome, withHost } from '../helpers/host.js';

const freshDir = (t: any): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

test('a revoked sturdy ref stays revoked after its host is killed (SIGKILL) and restarted; other refs keep working', async (t) => {
  const homeB = freshDir(t);
  const b = await startHostProcess(t, homeB, ['--no-viz']);
  t.is((await tribe(['spawn', fixture('party.ts'), '--name', 'bob', '--params', '{"label":"bob"}', '--home', homeB])).code, 0);
  const revoked = (await tribe(['ref', 'bob', '--home', homeB])).stdout.trim();
  const kept = (await tribe(['ref', 'bob', '--home', homeB])).stdout.trim();
  const a = await withHost(t, { spareWorkers: 0 });
  t.is(await E(await a.enliven(revoked)).label(), 'bob');

  t.is((await tribe(['revoke', revoked, '--home', homeB])).stdout.trim(), 'revoked');
  // No graceful stop: the revocation must already be on disk when the CLI says so.
  b.proc.kill('SIGKILL');
  await b.exited;
  const b2 = await startHostProcess(t, homeB, ['--no-viz']);
  t.is(b2.id, b.id);
  t.is(b2.listen, b.listen, 'the restarted host listens where its refs point');

  await t.throwsAsync(a.enliven(revoked), { message: /^SturdyRefError: unknown or revoked sturdy ref/ });
  t.is(await E(await a.enliven(kept)).label(), 'bob');
  const again = await tribe(['revoke', revoked, '--home', homeB]);
  t.regex(again.stderr, /^tribe: SturdyRefError: unknown or already revoked sturdy ref/);
});

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const fromBase32 = (text: string): Buffer => {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text) {
    value = (value << 5) | BASE32.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
};

/** Every way a swiss number could sit in a file: its text in two cases and two encodings, a prefix, its bytes raw and in hex and base64. */
const encodings = (swiss: string): Array<[string, Buffer]> => {
  const raw = fromBase32(swiss);
  return [
    ['text', Buffer.from(swiss)],
    ['upper-case text', Buffer.from(swiss.toUpperCase())],
    ['UTF-16 text', Buffer.from(swiss, 'utf16le')],
    ['first 12 characters', Buffer.from(swiss.slice(0, 12))],
    ['raw bytes', raw],
    ['hex', Buffer.from(raw.toString('hex'))],
    ['upper-case hex', Buffer.from(raw.toString('hex').toUpperCase())],
    ['base64', Buffer.from(raw.toString('base64').replace(/=+$/, ''))],
    ['base64url', Buffer.from(raw.toString('base64url'))],
  ];
};

test('the store keeps swiss numbers only as hashes: no encoding of a live swiss is anywhere in tribe.db, its WAL or its shared memory', async (t) => {
  const home = tempHome(t);
  // The visualizer on: its history is written into the same file.
  const host = await startHost({ home, control: false, print: () => {}, spareWorkers: 0, viz: 0 });
  t.teardown(() => host.stop());
  await host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const refs = Array.from({ length: 20 }, () => host.makeSturdyRef('bob'));
  // Enlivened over a session too, so that sessions, machines and their history have run with them.
  const peer = await withHost(t, { spareWorkers: 0 });
  for (const ref of refs.slice(0, 5)) t.is(await E(await peer.enliven(ref)).label(), 'bob');
  await peer.stop();

  const files = () => readdirSync(home).filter((f) => f.startsWith('tribe.db'));
  const check = (when: string) => {
    const seen = files();
    t.true(seen.includes('tribe.db'), `${when}: ${seen.join(', ')}`);
    const bytes = Buffer.concat(seen.map((f) => readFileSync(join(home, f))));
    for (const ref of refs) {
      const swiss = parseSturdyRef(ref).swiss;
      // The check can see: the hash of each swiss number is there.
      const hash = createHash('sha256').update(swiss).digest('hex');
      t.true(bytes.includes(Buffer.from(hash)), `${when}: the hash of a swiss is stored`);
      for (const [how, needle] of encodings(swiss)) t.false(bytes.includes(needle), `${when}: a swiss number as ${how} in ${seen.join(', ')}`);
    }
    return seen;
  };
  t.true(check('while the host runs').includes('tribe.db-wal'), 'the WAL was searched too');
  await host.stop();
  check('after the host stopped');
});

const writeKey = (path: string) =>
  writeFileSync(path, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });

test('a home whose identity key is not the one its store recorded refuses to start (CLI): IdentityKeyMismatchError, nothing changed', async (t) => {
  const home = freshDir(t);
  const first = await startHostProcess(t, home, ['--no-viz']);
  t.is((await tribe(['stop', '--home', home])).code, 0);
  await first.exited;
  const keyPath = join(home, 'identity.key');
  const original = readFileSync(keyPath);
  writeKey(keyPath);

  const refused = await tribe(['host', '--home', home, '--no-viz', '--solo']);
  t.is(refused.code, 1);
  t.regex(
    refused.stderr,
    new RegExp(`^tribe: IdentityKeyMismatchError: the identity key in ${home} is not the one its store recorded \\(VatId ${first.id}, the key's is [a-z2-7]{52}\\); refusing to start\n$`),
  );
  const db = new Database(join(home, 'tribe.db'), { readonly: true });
  t.is((db.prepare("SELECT value FROM meta WHERE key = 'vatId'").get() as { value: string }).value, first.id);
  db.close();
  t.false(readdirSync(home).includes('host.pid'), 'no host holds the home');

  // With its own key back, the home starts as itself.
  writeFileSync(keyPath, original, { mode: 0o600 });
  const again = await startHostProcess(t, home, ['--no-viz']);
  t.is(again.id, first.id);
});

test('the same refusal in process: the lock is released and the store closed, so the home starts once its key is back', async (t) => {
  const home = tempHome(t);
  const first = await startHost({ home, control: false, print: () => {}, spareWorkers: 0 });
  await first.stop();
  const keyPath = join(home, 'identity.key');
  const original = readFileSync(keyPath);
  writeKey(keyPath);
  const err = await t.throwsAsync(startHost({ home, control: false, print: () => {}, spareWorkers: 0 }));
  t.is(err?.name, 'IdentityKeyMismatchError');

  writeFileSync(keyPath, original, { mode: 0o600 });
  const again = await startHost({ home, control: false, print: () => {}, spareWorkers: 0 });
  t.is(again.id, first.id);
  await again.stop();
  // Every connection to the store was closed: the last one to close removed the WAL.
  t.deepEqual(
    readdirSync(home).filter((f) => f.startsWith('tribe.db')),
    ['tribe.db'],
  );
});

/** Every file in `dir` (sockets included) with its permission bits. */
const modes = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((f) => !statSync(join(dir, f)).isDirectory())
      .map((f) => [f, (statSync(join(dir, f)).mode & 0o777).toString(8)]),
  );

test('under umask 000, in an existing 0755 home, every file the host makes is 0600: key, store, WAL, shared memory, socket, lock', async (t) => {
  const parent = freshDir(t);
  const home = join(parent, 'home');
  mkdirSync(home, { mode: 0o755 });
  // The umask is copied into the child when it is spawned, synchronously here.
  const previous = process.umask(0o000);
  const starting = startHostProcess(t, home);
  process.umask(previous);
  const host = await starting;
  // A durable vat opens the store from its own worker; the visualizer's history has its own connection.
  t.is((await tribe(['spawn', fixture('powers.ts'), '--name', 'p', '--durable', '--home', home])).code, 0);
  t.is((await tribe(['call', 'p', 'put', '"k"', '"v"', '--home', home])).stdout.trim(), '"v"');

  const running = modes(home);
  for (const f of ['identity.key', 'tribe.db', 'tribe.db-wal', 'tribe.db-shm', 'control.sock', 'host.pid', 'host.pid.lock']) {
    t.true(f in running, `${f} exists: ${JSON.stringify(running)}`);
  }
  for (const [f, mode] of Object.entries(running)) t.is(mode, '600', `${f} is ${mode}`);
  t.is(statSync(home).mode & 0o777, 0o755, 'an existing home keeps its mode');

  t.is((await tribe(['stop', '--home', home])).code, 0);
  await host.exited;
  for (const [f, mode] of Object.entries(modes(home))) t.is(mode, '600', `after stop, ${f} is ${mode}`);
});

test('under umask 000 a new home is created 0700', async (t) => {
  const home = join(freshDir(t), 'new-home');
  const previous = process.umask(0o000);
  const starting = startHostProcess(t, home, ['--no-viz']);
  process.umask(previous);
  await starting;
  t.is(statSync(home).mode & 0o777, 0o700);
  for (const [f, mode] of Object.entries(modes(home))) t.is(mode, '600', `${f} is ${mode}`);
  t.is((await tribe(['stop', '--home', home])).code, 0);
});
