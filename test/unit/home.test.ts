/** The host's home directory and its one-host-per-home lock. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { acquireLock, ensureHome, homePaths, resolveHome } from '../../runtime/home.js';
import { PROCESS_MS, within } from '../helpers/bounded.js';
import { spawnTracked } from '../helpers/processes.js';

const tempDir = (t: ExecutionContext): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-home-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** The pid of a process that has exited: started, and awaited until it is gone. */
const deadPid = async (): Promise<number> => {
  const { child, exit } = spawnTracked(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await within(exit, PROCESS_MS, 'an empty node process to exit');
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

/** A child process that takes the lock and holds it until killed. */
const holdLockInChild = async (lock: string) => {
  const home = new URL('../../runtime/home.js', import.meta.url).href;
  const { child, exit } = spawnTracked(
    process.execPath,
    ['--input-type=module', '-e', `const { acquireLock } = await import(${JSON.stringify(home)}); acquireLock(${JSON.stringify(lock)}); console.log('locked'); setInterval(() => {}, 1000);`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await within(
    new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    }),
    PROCESS_MS,
    'the lock holder to say it holds the lock',
  );
  return { child, exit };
};

test('a lock held by a live process is respected; the kernel frees it when that process is killed', async (t) => {
  const { lock } = homePaths(tempDir(t));
  const { child, exit } = await holdLockInChild(lock);
  t.teardown(() => child.kill('SIGKILL'));
  const err = t.throws(() => acquireLock(lock));
  t.is(err?.name, 'HostAlreadyRunningError');
  t.regex(err?.message ?? '', new RegExp(`pid ${child.pid}`));
  t.is(readFileSync(lock, 'utf8'), String(child.pid));
  // SIGKILL: no cleanup runs in the child, its pid file stays; the lock does not.
  child.kill('SIGKILL');
  await within(exit, PROCESS_MS, 'the lock holder to exit after SIGKILL');
  t.is(readFileSync(lock, 'utf8'), String(child.pid), 'the stale pid file is still there');
  const release = acquireLock(lock);
  t.is(readFileSync(lock, 'utf8'), String(process.pid));
  release();
});

test('a pid file alone (no process holding the lock) does not block', (t) => {
  const { lock } = homePaths(tempDir(t));
  // Our parent (the ava main process) is alive, but holds no lock on this home.
  writeFileSync(lock, String(process.ppid));
  const release = acquireLock(lock);
  t.is(readFileSync(lock, 'utf8'), String(process.pid));
  release();
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

test('hosts racing for a home with a stale pid file: exactly one wins, every time', async (t) => {
  const home = new URL('../../runtime/home.js', import.meta.url).href;
  const contender = (lock: string) => {
    const { child, exit } = spawnTracked(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { acquireLock } = await import(${JSON.stringify(home)});
         try { acquireLock(${JSON.stringify(lock)}); console.log('locked'); } catch (e) { console.log(e.name); }
         process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const said = new Promise<string>((resolve) => child.stdout!.once('data', (d) => resolve(String(d).trim())));
    return { child, exit, said };
  };
  for (let round = 0; round < 8; round++) {
    const { lock } = homePaths(tempDir(t));
    writeFileSync(lock, String(await deadPid()));
    const a = contender(lock);
    const b = contender(lock);
    t.teardown(() => {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
    });
    const results = (await within(Promise.all([a.said, b.said]), PROCESS_MS, `round ${round}: both contenders to report`)).sort();
    t.deepEqual(results, ['HostAlreadyRunningError', 'locked'], `round ${round}`);
    a.child.stdin!.end();
    b.child.stdin!.end();
    await within(Promise.all([a.exit, b.exit]), PROCESS_MS, `round ${round}: both contenders to exit`);
  }
});

test('the lock does not depend on GC: a holder that drops what acquireLock returned keeps the lock through a forced GC', async (t) => {
  const { lock } = homePaths(tempDir(t));
  const home = new URL('../../runtime/home.js', import.meta.url).href;
  // The holder keeps nothing of what acquireLock returns; a WeakRef (which keeps nothing
  // alive) tells whether the GC really collected it, so the test cannot pass vacuously.
  const { child, exit } = spawnTracked(
    process.execPath,
    [
      '--expose-gc',
      '--input-type=module',
      '-e',
      `const { acquireLock } = await import(${JSON.stringify(home)});
       const dropped = new WeakRef(acquireLock(${JSON.stringify(lock)}));
       for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
       console.log(dropped.deref() === undefined ? 'collected' : 'still reachable');
       process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  const said = await within(
    new Promise<string>((resolve, reject) => {
      child.stdout!.once('data', (d) => resolve(String(d).trim()));
      child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    }),
    PROCESS_MS,
    'the lock holder to report after its forced GC',
  );
  t.is(said, 'collected', 'the returned release function was garbage-collected');
  const err = t.throws(() => acquireLock(lock));
  t.is(err?.name, 'HostAlreadyRunningError', 'the home is still locked by the holder');
  t.regex(err?.message ?? '', new RegExp(`pid ${child.pid}`));
  // Process exit still frees it.
  child.stdin!.end();
  await within(exit, PROCESS_MS, 'the lock holder to exit');
  const release = acquireLock(lock);
  t.is(readFileSync(lock, 'utf8'), String(process.pid));
  release();
});
