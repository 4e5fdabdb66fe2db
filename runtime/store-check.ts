/**
 * Whether the host's store file can be used, decided before anything writes to it.
 *
 * Failure semantics: `checkStoreFile` either returns (the file is absent, or a readable,
 * undamaged store this Tribe understands, in a writable place) or throws
 * StoreUnusableError naming the file, the cause in words and what to do. It never
 * writes to the store or its -wal: it reads through a read-only connection, and a
 * -wal/-shm pair that only this read-only connection created (empty) is removed again
 * on refusal, so a refused home is left as it was found. `storeUnusable` turns an
 * error met later while opening or first writing (disk full, read-only) into the same
 * error class; anything it does not recognize is returned unchanged.
 */
import { accessSync, constants, existsSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreUnusableError } from './errors.js';

/** What went wrong with a file, in words, and what the person at the terminal can do about it. */
export interface FileProblem {
  readonly cause: string;
  readonly remedy: string;
}

const REMEDY_DAMAGED = 'restore it from a backup, or move it aside to start with an empty store';
const REMEDY_WRITABLE = 'make the home and its files writable (remount read-write, chmod, chattr -i) and start again';
const REMEDY_FULL = 'free space on that disk and start again';

const codeOf = (err: unknown): string => String((err as { code?: unknown })?.code ?? '');
/**
 * The error's own words on one line, without what the message repeats: Node's
 * `EROFS: read-only file system, access '/the/path'` becomes `read-only file system`
 * (the code and the file are said around it).
 */
const messageOf = (err: unknown): string => {
  const code = codeOf(err);
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
  const bare = code && text.startsWith(`${code}: `) ? text.slice(code.length + 2) : text;
  return bare.replace(/, [a-z]+( '[^']*'( -> '[^']*')?)?$/, '');
};

/**
 * The problem behind an OS or SQLite error on a home file, or undefined when it is not
 * one of the ways a file stops being usable (those errors pass through unchanged).
 */
export const fileProblem = (err: unknown): FileProblem | undefined => {
  const code = codeOf(err);
  const said = `${code}: ${messageOf(err)}`;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') {
    return { cause: `the disk is full (${said})`, remedy: REMEDY_FULL };
  }
  // SQLite grows the -shm file by writing to it; on a full disk that write fails with this code.
  if (code === 'SQLITE_IOERR_SHMSIZE') {
    return { cause: `the disk is full: its -shm file could not grow (${said})`, remedy: REMEDY_FULL };
  }
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code.startsWith('SQLITE_READONLY')) {
    return { cause: `it cannot be written (${said})`, remedy: REMEDY_WRITABLE };
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return { cause: `it cannot be opened (${said})`, remedy: 'check that the home and its files exist and are readable and writable, and start again' };
  }
  if (code === 'SQLITE_NOTADB') {
    return { cause: `it is not an SQLite database, or its header is damaged (${said})`, remedy: REMEDY_DAMAGED };
  }
  if (code.startsWith('SQLITE_CORRUPT')) return { cause: `it is damaged (${said})`, remedy: REMEDY_DAMAGED };
  if (code === 'EIO' || code.startsWith('SQLITE_IOERR')) {
    return { cause: `the disk reported an I/O error (${said})`, remedy: 'check the disk, restore the store from a backup if it is damaged, and start again' };
  }
  return undefined;
};

const unusable = (path: string, p: FileProblem, cause?: unknown): StoreUnusableError =>
  new StoreUnusableError(`cannot use the store ${path}: ${p.cause}; it was left as it is. To go on, ${p.remedy}`, { cause });

/** `err` as a StoreUnusableError naming `path` when it is a file problem; otherwise unchanged. */
export const storeUnusable = (path: string, err: unknown): unknown => {
  if (err instanceof StoreUnusableError) return err;
  const p = fileProblem(err);
  return p ? unusable(path, p, err) : err;
};

/** Writable for this process (EROFS and chattr +i stop root too; mode bits do not). */
const assertWritable = (path: string, store: string) => {
  try {
    accessSync(path, constants.W_OK);
  } catch (err) {
    const p = fileProblem(err);
    const where = path === store ? '' : ` (${path})`;
    throw p ? unusable(store, { ...p, cause: `${p.cause}${where}` }, err) : err;
  }
};

interface ProbeResult {
  readonly quickCheck: string;
  readonly schema: string | undefined;
}

/**
 * Reads the store through a read-only connection: `PRAGMA quick_check(1)` (every page of
 * every b-tree, without the index cross-checks of integrity_check) and the schema version.
 */
const probe = (path: string): ProbeResult => {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const quickCheck = String(db.pragma('quick_check(1)', { simple: true }));
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
    const row = hasMeta
      ? db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get()
      : undefined;
    return { quickCheck, schema: row?.value };
  } finally {
    db.close();
  }
};

/**
 * Refuses a store that cannot be used, before the host writes anything to it. `known` is
 * the newest schema version this Tribe reads: a store written by a newer one is refused,
 * never downgraded.
 */
export const checkStoreFile = (path: string, known: number): void => {
  if (!existsSync(path)) {
    assertWritable(dirname(path), path); // a new store is created there
    return;
  }
  // Tribe's first act on a new store writes its first page, so an empty file is what is left of a truncated one.
  if (statSync(path).size === 0) {
    throw unusable(path, { cause: 'it is empty (0 bytes), as a truncated store would be', remedy: REMEDY_DAMAGED });
  }
  for (const f of [dirname(path), path, `${path}-wal`, `${path}-shm`]) {
    if (f === dirname(path) || f === path || existsSync(f)) assertWritable(f, path);
  }
  const made = [`${path}-wal`, `${path}-shm`].filter((f) => !existsSync(f));
  try {
    const { quickCheck, schema } = probe(path);
    if (quickCheck !== 'ok') {
      throw unusable(path, { cause: `it is damaged (quick_check: ${quickCheck.replace(/\s+/g, ' ')})`, remedy: REMEDY_DAMAGED });
    }
    if (schema !== undefined) {
      const version = Number(schema);
      if (!Number.isInteger(version) || version < 1) {
        throw unusable(path, { cause: `its schema version reads ${JSON.stringify(schema)}, which no Tribe writes`, remedy: REMEDY_DAMAGED });
      }
      if (version > known) {
        throw unusable(path, {
          cause: `it was written by a newer Tribe (store schema ${version}; this Tribe reads up to ${known})`,
          remedy: 'run the newer Tribe, or restore a backup made with this one (a store is never downgraded)',
        });
      }
    }
  } catch (err) {
    // A read-only connection writes neither file; one it created is empty and holds nothing.
    for (const f of made) {
      if (existsSync(f) && (f.endsWith('-shm') || statSync(f).size === 0)) rmSync(f, { force: true });
    }
    throw storeUnusable(path, err);
  }
};

/**
 * After a durable vat died, one small write to the host's own connection says whether the
 * store still takes writes: the vat's own message carries only SQLite's words, not the file.
 * Returns the line to print (file, cause, what to do) or undefined when the write went through.
 */
export const storeWriteProblem = (path: string, vat: string, write: () => void): string | undefined => {
  try {
    write();
    return undefined;
  } catch (err) {
    const p = fileProblem(err);
    if (!p) return `the store ${path} failed a write: ${messageOf(err)}`;
    return `the store ${path} cannot be written: ${p.cause}; what vat ${vat} committed before is kept. Fix that, then \`tribe restart ${vat}\``;
  }
};
