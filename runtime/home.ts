/**
 * The host's home directory: identity key, SQLite store, control socket, lock.
 * Owner-only (0700 directory, 0600 files): the key and the socket are authority.
 */
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { HomeError, HostAlreadyRunningError } from './errors.js';
import { fileProblem } from './store-check.js';

/** `err` as a HomeError naming `file` and the cause in words when it is a file problem (disk full, read-only); otherwise unchanged. */
export const homeFileError = (file: string, doing: string, err: unknown): unknown => {
  const p = fileProblem(err);
  return p ? new HomeError(`cannot ${doing} ${file}: ${p.cause}. To go on, ${p.remedy}`, { cause: err }) : err;
};

export const resolveHome = (home?: string): string =>
  resolve(home ?? process.env['TRIBE_HOME'] ?? join(homedir(), '.tribe'));

export const homePaths = (home: string) => ({
  home,
  identity: join(home, 'identity.key'),
  db: join(home, 'tribe.db'),
  socket: join(home, 'control.sock'),
  lock: join(home, 'host.pid'),
});

/** Creates the home owner-only. An existing directory keeps its mode: its files are 0600 anyway. */
export const ensureHome = (home: string): void => {
  try {
    if (mkdirSync(home, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(home, 0o700);
  } catch (err) {
    throw new HomeError(`cannot use ${home} as the host's home: ${(err as Error).message}`, { cause: err });
  }
  if (!statSync(home).isDirectory()) throw new HomeError(`${home} is not a directory`);
  // Found here, with the home named, rather than by whichever file is written first.
  try {
    accessSync(home, constants.W_OK);
  } catch (err) {
    throw homeFileError(home, 'use the home', err);
  }
};

/** The pid a pid file names; NaN when it is missing or unreadable. */
export const readPid = (path: string): number => {
  try {
    return Number.parseInt(readFileSync(path, 'utf8'), 10);
  } catch {
    return Number.NaN;
  }
};

/**
 * Writes `data` (owner-only) aside and renames it into place: a reader sees the
 * old file or the new one, never half of one. The aside file is removed if
 * either step fails; the error is thrown as it came.
 */
export const writeFileAtomically = (path: string, data: string | Uint8Array): void => {
  const aside = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(aside, data, { mode: 0o600 });
    renameSync(aside, path);
  } catch (err) {
    rmSync(aside, { force: true });
    throw err;
  }
};

/**
 * The handles of the locks this process holds. Process-wide on purpose:
 * the kernel lock belongs to the process, and a handle reachable only from the
 * caller's release function would be closed by the GC's finalizer (releasing the
 * lock) as soon as the caller dropped that function.
 */
const heldLocks = new Set<Database.Database>();

/** How long a starting host waits out another process's half-taken lock before giving up. */
export const LOCK_CONTENTION_MS = 250;

/**
 * One host per home. The lock itself is a kernel lock: a SQLite write
 * transaction held open on `<pid file>.lock` for the host's lifetime (POSIX
 * advisory locks under the hood). The kernel releases it when the process
 * ends, however it ends, so there is no stale lock to take over and no race in
 * taking one over. The pid file beside it only tells people *which* process
 * holds the home. The lock file is never deleted: deleting it while another
 * process has it open would let two processes lock two different files.
 *
 * The lock lives until `release()` or the end of the process, never less: the
 * open database handle is kept in `heldLocks` below, not only in the returned
 * function, so a caller that drops that function does not lose the lock.
 */
export const acquireLock = (lockPath: string): (() => void) => {
  const home = dirname(lockPath);
  // A short busy timeout rather than none, so a contender that meets a lock in the
  // middle of being taken waits for the outcome instead of failing on a transient.
  let db: Database.Database;
  try {
    db = new Database(`${lockPath}.lock`, { timeout: LOCK_CONTENTION_MS });
  } catch (err) {
    throw homeFileError(`${lockPath}.lock`, 'open the lock file', err);
  }
  try {
    chmodSync(`${lockPath}.lock`, 0o600);
    // IMMEDIATE takes SQLite's single RESERVED lock at once: of two contenders exactly
    // one gets it (EXCLUSIVE can leave both stuck half-way and fail both).
    db.exec('BEGIN IMMEDIATE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw homeFileError(`${lockPath}.lock`, 'take the lock', err);
    const pid = readPid(lockPath);
    throw new HostAlreadyRunningError(
      pid === process.pid
        ? `this process already runs a host in ${home}`
        : `a host is already running in ${home}${Number.isInteger(pid) && pid > 0 ? ` (pid ${pid})` : ''}`,
    );
  }
  try {
    writeFileAtomically(lockPath, String(process.pid));
  } catch (err) {
    db.close();
    throw homeFileError(lockPath, 'write', err);
  }
  heldLocks.add(db);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (readPid(lockPath) === process.pid) rmSync(lockPath, { force: true });
    heldLocks.delete(db);
    db.close();
  };
};
