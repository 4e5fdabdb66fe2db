/** The host's home directory and its one-host-per-home lock. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { acquireLock, ensureHome, homePaths, resolveHome } from '../../runtime/home.js';

const tempDir = (t: ExecutionContext): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-home-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** The pid of a process that has exited: started, and awaited until it is gone. */
const deadPid = async (): Promise<number> => {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', () => resolve());
    child.once('error', reject);
  });
  return pid;
};

test('acquireLock writes our pid; a second acquire in this process throws HostAlreadyRunningError', (t) => {
  const { lock } = homePaths(tempDir(t));
  const release = acquireLock(lock);
  t.teardown(release);
  t.is(readFileSync(lock, 'utf8'), String(process.pid));
  t.is(statSync(lock).mode & 0o777, 0o600);
  const err = t.throws(() => acquireLock(lock));
  t.is(err?.name, 'HostAlreadyRunningError');
  t.is(readFileSync(lock, 'utf8'), String(process.pid), 'the lock is untouched');
});

test('release removes the lock, after which it can be taken again', (t) => {
  const { lock } = homePaths(tempDir(t));
  const release = acquireLock(lock);
  release();
  t.false(existsSync(lock));
  const again = acquireLock(lock);
  t.true(existsSync(lock));
  again();
  t.false(existsSync(lock));
});

test('a lock held by a live process is respected', async (t) => {
  const { lock } = homePaths(tempDir(t));
  // Our parent (the ava main process) is alive and is not us.
  writeFileSync(lock, String(process.ppid));
  const err = t.throws(() => acquireLock(lock));
  t.is(err?.name, 'HostAlreadyRunningError');
  t.regex(err?.message ?? '', new RegExp(`pid ${process.ppid}`));
  t.is(readFileSync(lock, 'utf8'), String(process.ppid));
});

test('a stale lock whose pid is dead is taken over', async (t) => {
  const { lock } = homePaths(tempDir(t));
  const pid = await deadPid();
  writeFileSync(lock, String(pid));
  const release = acquireLock(lock);
  t.is(readFileSync(lock, 'utf8'), String(process.pid));
  release();
  t.false(existsSync(lock));
});

test('a lock file with no pid in it is treated as stale', (t) => {
  const { lock } = homePaths(tempDir(t));
  for (const content of ['', 'garbage', '-5', '0']) {
    writeFileSync(lock, content);
    const release = acquireLock(lock);
    t.is(readFileSync(lock, 'utf8'), String(process.pid), JSON.stringify(content));
    release();
  }
});

test('ensureHome makes an owner-only directory, and refuses a file', (t) => {
  const base = tempDir(t);
  const home = join(base, 'a', 'b');
  ensureHome(home);
  t.true(statSync(home).isDirectory());
  t.is(statSync(home).mode & 0o777, 0o700);
  // An existing directory is the user's choice and keeps its mode (its key and
  // socket files are 0600 regardless).
  const loose = join(base, 'loose');
  mkdirSync(loose, { mode: 0o755 });
  ensureHome(loose);
  t.is(statSync(loose).mode & 0o777, 0o755);
  const file = join(base, 'file');
  writeFileSync(file, '');
  t.throws(() => ensureHome(file), { name: 'HomeError' });
});

test('resolveHome prefers the argument, then TRIBE_HOME, and is absolute', (t) => {
  t.is(resolveHome('/x/y'), '/x/y');
  t.true(resolveHome('rel').startsWith('/'));
  const saved = process.env['TRIBE_HOME'];
  t.teardown(() => {
    if (saved === undefined) delete process.env['TRIBE_HOME'];
    else process.env['TRIBE_HOME'] = saved;
  });
  process.env['TRIBE_HOME'] = '/from/env';
  t.is(resolveHome(), '/from/env');
  t.is(resolveHome('/arg'), '/arg');
  const paths = homePaths('/h');
  t.deepEqual(paths, {
    home: '/h',
    identity: '/h/identity.key',
    db: '/h/tribe.db',
    socket: '/h/control.sock',
    lock: '/h/host.pid',
  });
});
