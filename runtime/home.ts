/**
 * The host's home directory: identity key, SQLite store, control socket, lock.
 * Owner-only (0700 directory, 0600 files): the key and the socket are authority.
 */
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { HomeError, HostAlreadyRunningError } from './errors.js';

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
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const readPid = (path: string): number => {
  try {
    return Number.parseInt(readFileSync(path, 'utf8'), 10);
  } catch {
    return Number.NaN;
  }
};

/**
 * One host per home: an exclusive pid file. It appears complete or not at all
 * (written aside, then hard-linked into place, which fails if it exists), so
 * no second host can read it half-written and take it for stale. A pid file
 * whose process is gone (a host that was killed) is stale and taken over.
 */
export const acquireLock = (lockPath: string): (() => void) => {
  const release = () => {
    if (readPid(lockPath) === process.pid) rmSync(lockPath, { force: true });
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    const aside = `${lockPath}.${process.pid}.tmp`;
    try {
      writeFileSync(aside, String(process.pid), { mode: 0o600 });
      linkSync(aside, lockPath);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = readPid(lockPath);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new HostAlreadyRunningError(`a host is already running in ${lockPath.replace(/\/host\.pid$/, '')} (pid ${pid})`);
      }
      if (pid === process.pid) {
        throw new HostAlreadyRunningError(`this process already runs a host in ${lockPath.replace(/\/host\.pid$/, '')}`);
      }
      rmSync(lockPath, { force: true });
    } finally {
      rmSync(aside, { force: true });
    }
  }
  throw new HostAlreadyRunningError(`could not take the lock ${lockPath}`);
};
