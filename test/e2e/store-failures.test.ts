/**
 * A store that cannot be used: `tribe host` refuses to start with one line naming the file
 * and the cause, exits 1, and leaves the store's bytes as they were. Real processes, real
 * files: a garbage file, a truncated store, a damaged page, a newer schema, a read-only home
 * (a tmpfs remounted read-only: root ignores mode bits), an immutable store file (chattr +i),
 * and a full disk (a small tmpfs filled to the last page), at start and during a turn.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PROCESS_MS, within } from '../helpers/bounded.js';
import { cliPath, startHostProcess, tribe } from '../helpers/cli.js';
import { example, tempHome } from '../helpers/host.js';
import { spawnTracked } from '../helpers/processes.js';
import { SCHEMA_VERSION } from '../../runtime/store.js';

const isRoot = process.getuid?.() === 0;

/** Mounts and chattr need root; elsewhere the test says why it did nothing (CI runs as root). */
const notRoot = (t: ExecutionContext, what: string): boolean => {
  if (isRoot) return false;
  t.log(`skipped: ${what} needs root`);
  t.pass();
  return true;
};

/** Each tribe.db* file's SHA-256: the refusal must leave all of them, and no others, as they were. */
const storeFiles = (home: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(home)
      .filter((f) => f.startsWith('tribe.db'))
      .sort()
      .map((f) => [f, createHash('sha256').update(readFileSync(join(home, f))).digest('hex')]),
  );

/**
 * Runs `tribe host` and waits for it to exit; fails at once if it gets ready instead
 * (a host that starts on a store it should refuse).
 */
const refusedStart = async (home: string) => {
  const { child, exit } = spawnTracked(process.execPath, [cliPath, 'host', '--home', home, '--no-viz', '--no-listen', '--solo'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ready = new Promise<never>((_, reject) =>
    child.stdout!.on('data', (d) => {
      stdout += String(d);
      if (/^ready /m.test(stdout)) {
        child.kill('SIGKILL');
        reject(new Error(`the host started on a store it should refuse:\n${stdout}`));
      }
    }),
  );
  await within(Promise.race([closed, ready]), PROCESS_MS, `tribe host (${home}) to refuse to start`);
  const { code } = await exit;
  return { code, stdout, stderr };
};

/** A home with a real store: a durable counter at 7, the host stopped cleanly. */
const realStore = async (t: ExecutionContext, home: string) => {
  const host = await startHostProcess(t, home, ['--no-viz', '--no-listen']);
  const cli = async (...args: string[]) => {
    const r = await tribe([...args, '--home', home]);
    t.is(r.code, 0, `tribe ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await cli('spawn', example('counter.ts'), '--name', 'counter', '--durable', '--params', '{"start":5}');
  await cli('call', 'counter', 'increment');
  t.is(await cli('call', 'counter', 'increment'), '7');
  await cli('stop');
  t.is(await host.exited, 0);
};

/** The refusal every case shares: exit 1, one line `tribe: <Name>: …<file>…`, nothing printed as started, store bytes unchanged. */
const assertRefused = async (t: ExecutionContext, home: string, name: string, file: string, cause: RegExp) => {
  const before = storeFiles(home);
  const r = await refusedStart(home);
  t.is(r.code, 1, r.stderr);
  t.notRegex(r.stdout, /^ready /m);
  const lines = r.stderr.split('\n').filter(Boolean);
  t.is(lines.length, 1, r.stderr);
  t.true(lines[0]!.startsWith(`tribe: ${name}: `), r.stderr);
  t.true(lines[0]!.includes(file), `names ${file}: ${r.stderr}`);
  t.regex(lines[0]!, cause);
  t.deepEqual(storeFiles(home), before, 'the store files are byte for byte as they were');
  return lines[0]!;
};

/** A tmpfs of `size` mounted at `dir` for this test, unmounted in its teardown (before the home is removed). */
const mountTmpfs = (t: ExecutionContext, dir: string, size: string) => {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  t.teardown(() => {
    try {
      execFileSync('umount', [dir]);
    } catch {
      execFileSync('umount', ['-l', dir]); // still busy: detach now, freed when the last user exits
    }
  });
};

/** Fills the file system of `dir` to its last page with one file; returns its path. */
const fillDisk = (dir: string): string => {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  try {
    for (let chunk = 1 << 20; chunk >= 512; ) {
      try {
        writeSync(fd, Buffer.alloc(chunk));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        chunk >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
};

const STORE_CAUSE_DAMAGED = /it is damaged \(|not an SQLite database/;

test('a store file of garbage: StoreUnusableError naming it (not a database), exit 1, bytes unchanged', async (t) => {
  const home = tempHome(t);
  const db = join(home, 'tribe.db');
  const fd = openSync(db, 'w');
  writeSync(fd, createHash('sha512').update('not a store').digest().subarray(0, 64).toString('hex').repeat(128));
  closeSync(fd);
  const line = await assertRefused(t, home, 'StoreUnusableError', db, /it is not an SQLite database, or its header is damaged \(SQLITE_NOTADB/);
  t.regex(line, /it was left as it is\. To go on, restore it from a backup, or move it aside/);
});

test('a truncated store (half its pages, and 0 bytes): StoreUnusableError, damaged, bytes unchanged', async (t) => {
  const home = tempHome(t);
  await realStore(t, home);
  const db = join(home, 'tribe.db');
  const size = statSync(db).size;
  t.true(size >= 4 * 4096, `a store of several pages (${size} bytes)`);
  truncateSync(db, Math.floor(size / 2 / 4096) * 4096 + 100);
  await assertRefused(t, home, 'StoreUnusableError', db, STORE_CAUSE_DAMAGED);
  truncateSync(db, 0);
  await assertRefused(t, home, 'StoreUnusableError', db, /it is empty \(0 bytes\), as a truncated store would be/);
});

test('a damaged page in a real store (valid header): quick_check finds it before anything writes', async (t) => {
  const home = tempHome(t);
  await realStore(t, home);
  const db = join(home, 'tribe.db');
  // Page 3 onwards hold the tables; overwrite one with junk, keeping page 1 (header and schema) intact.
  const pages = statSync(db).size / 4096;
  const fd = openSync(db, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, (pages - 2) * 4096);
  closeSync(fd);
  await assertRefused(t, home, 'StoreUnusableError', db, /it is damaged \((quick_check|SQLITE_CORRUPT)/);
});

test('a store written by a newer Tribe (schema above SCHEMA_VERSION) is refused, never downgraded', async (t) => {
  const home = tempHome(t);
  await realStore(t, home);
  const db = join(home, 'tribe.db');
  const conn = new Database(db);
  conn.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(SCHEMA_VERSION + 1));
  conn.close();
  await assertRefused(
    t,
    home,
    'StoreUnusableError',
    db,
    new RegExp(`it was written by a newer Tribe \\(store schema ${SCHEMA_VERSION + 1}; this Tribe reads up to ${SCHEMA_VERSION}\\)`),
  );
  const after = new Database(db, { readonly: true });
  t.is(after.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get()?.value, String(SCHEMA_VERSION + 1));
  after.close();
});

test('a read-only home (a tmpfs remounted read-only): HomeError naming the home, store untouched, then it starts once writable', async (t) => {
  if (notRoot(t, 'mounting a tmpfs')) return;
  const home = join(tempHome(t), 'disk');
  mountTmpfs(t, home, '8m');
  await realStore(t, home);
  execFileSync('mount', ['-o', 'remount,ro', home]);
  await assertRefused(t, home, 'HomeError', home, /cannot use the home .*: it cannot be written \(EROFS: read-only file system/);
  execFileSync('mount', ['-o', 'remount,rw', home]);
  const host = await startHostProcess(t, home, ['--no-viz', '--no-listen']);
  t.is((await tribe(['call', 'counter', 'read', '--home', home])).stdout.trim(), '7');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
});

test('an immutable store file (chattr +i) in a writable home: StoreUnusableError, cannot be written', async (t) => {
  if (notRoot(t, 'chattr +i')) return;
  const home = join(tempHome(t), 'disk');
  mountTmpfs(t, home, '8m');
  await realStore(t, home);
  const db = join(home, 'tribe.db');
  execFileSync('chattr', ['+i', db]);
  t.teardown(() => execFileSync('chattr', ['-i', db]));
  await assertRefused(t, home, 'StoreUnusableError', db, /it cannot be written \(EPERM/);
});

test('a full disk at start: refused with the file and "the disk is full", store untouched; starts after space is freed', async (t) => {
  if (notRoot(t, 'mounting a tmpfs')) return;
  const home = join(tempHome(t), 'disk');
  mountTmpfs(t, home, '8m');
  await realStore(t, home);
  const filler = fillDisk(home);
  // The lock is the first file the host writes: it is the one named.
  const line = await assertRefused(t, home, 'HomeError', join(home, 'host.pid'), /the disk is full \((ENOSPC|SQLITE_FULL)/);
  t.regex(line, /free space on that disk and start again$/);
  // Pages freed one by one: once the lock and its pid file fit, the store is the file that
  // cannot grow: first its -shm (the read-only check's), then the first write (SQLITE_FULL).
  const refusals: string[] = [];
  for (let pages = 1; pages <= 24 && !refusals.some((l) => l.includes('SQLITE_FULL: database or disk is full); it was left')); pages++) {
    truncateSync(filler, statSync(filler).size - 4096);
    const before = storeFiles(home);
    const r = await refusedStart(home);
    t.is(r.code, 1, r.stderr);
    t.deepEqual(storeFiles(home), before);
    refusals.push(r.stderr);
  }
  const store = join(home, 'tribe.db');
  const storeRefusals = refusals.filter((l) => l.startsWith('tribe: StoreUnusableError'));
  t.true(storeRefusals.length > 0, refusals.join(''));
  for (const l of storeRefusals) {
    t.regex(l, new RegExp(`^tribe: StoreUnusableError: cannot use the store ${store}: the disk is full(: its -shm file could not grow)? \\((SQLITE_FULL|SQLITE_IOERR_SHMSIZE)[^\n]*\n$`));
  }
  t.regex(storeRefusals.at(-1)!, /\(SQLITE_FULL: database or disk is full\); it was left as it is/, 'the write at open found the full disk');
  rmSync(filler);
  const host = await startHostProcess(t, home, ['--no-viz', '--no-listen']);
  t.is((await tribe(['call', 'counter', 'read', '--home', home])).stdout.trim(), '7');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
});

test('the disk fills during a durable turn: the vat dies, the host stays up and names the store and the cause; committed data survives', async (t) => {
  if (notRoot(t, 'mounting a tmpfs')) return;
  const home = join(tempHome(t), 'disk');
  mountTmpfs(t, home, '8m');
  await realStore(t, home);
  const host = await startHostProcess(t, home, ['--no-viz', '--no-listen']);
  const call = (...args: string[]) => tribe(['call', 'counter', ...args, '--home', home]);
  t.is((await call('increment')).stdout.trim(), '8');
  const filler = fillDisk(home);
  // The WAL grows with each commit, so one of the next turns finds no page for its frames.
  let failed: Awaited<ReturnType<typeof call>> | undefined;
  let committed = 8;
  for (let i = 0; i < 64 && !failed; i++) {
    const r = await call('increment');
    if (r.code !== 0) failed = r;
    else committed = Number(r.stdout.trim());
  }
  t.truthy(failed, 'a turn failed to commit on the full disk');
  const output = () => host.output.join('\n');
  t.regex(output(), /^vat "counter" could not commit its store: StoreUnusableError: cannot use the store \S+tribe\.db: the disk is full \(SQLITE_FULL/m);
  t.regex(
    output(),
    new RegExp(`the store ${join(home, 'tribe.db')} cannot be written: the disk is full \\(SQLITE_FULL: database or disk is full\\); what vat counter committed before is kept`),
  );
  // The host is up and answers.
  const ps = await tribe(['ps', '--json', '--home', home]);
  t.is(ps.code, 0, ps.stderr);
  t.deepEqual(
    JSON.parse(ps.stdout).vats.map((v: { name: string; state: string }) => [v.name, v.state]),
    [['counter', 'crashed']],
  );
  t.is(host.proc.exitCode, null);
  // Space freed, host restarted: the count is the last committed one, not less.
  rmSync(filler);
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
  const again = await startHostProcess(t, home, ['--no-viz', '--no-listen']);
  // A reply leaves only after its turn committed, and the failed turn committed nothing.
  t.is((await call('read')).stdout.trim(), String(committed));
  t.is((await call('increment')).stdout.trim(), String(committed + 1));
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await again.exited, 0);
  t.false(existsSync(filler));
});
