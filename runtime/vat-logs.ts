/**
 * Vat logs on disk: what vats write with `powers.log`, kept in `<home>/logs/` so
 * that `tribe logs` can show them while the host runs and after it stopped.
 *
 * One file for the whole host, `vats.log`, a line per log call:
 * `<ISO time> <vat> <text>`. The vat name is the host's (the supervisor knows
 * which worker sent the line) and the text is sanitized by the supervisor (one
 * line, no control characters), so a vat can neither forge another vat's lines
 * nor break the format. At `maxFileBytes` the file is rotated, `vats.log` →
 * `vats.log.1` → … → `vats.log.<maxOldFiles>`, and the oldest is dropped: disk
 * use stays under (maxOldFiles + 1) × maxFileBytes (plus one line) however much
 * vats log and however many vats come and go. One file per vat would grow with
 * every vat name ever used; the price of one file is that a chatty vat pushes
 * the others' old lines out sooner.
 *
 * Files and directory are owner-only (0600, 0700), like the rest of the home:
 * actors may log what their callers told them.
 *
 * Failure semantics: writing is best effort. The first I/O error (disk full, home
 * removed) is reported through `onError` and the writer stops; the host and its
 * vats carry on, and the lines still reach the host's output.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  writeSync,
  fchmodSync,
} from 'node:fs';
import { join } from 'node:path';

export interface LogLimits {
  /** Size at which `vats.log` is rotated, in bytes. */
  readonly maxFileBytes: number;
  /** Rotated files kept beside `vats.log`; older ones are deleted. */
  readonly maxOldFiles: number;
}

export const DEFAULT_LOG_LIMITS: LogLimits = Object.freeze({
  // About 10,000 lines of 100 characters: days of an ordinary actor's logging, quick to read whole.
  maxFileBytes: 1 << 20,
  // Three old files: at most 4 MiB on disk, and a rotation never takes the lines just before it.
  maxOldFiles: 3,
});

export const LOG_FILE = 'vats.log';

export const logDir = (home: string): string => join(home, 'logs');

/** One parsed line of a log file. */
export interface LogLine {
  readonly time: string;
  readonly vat: string;
  readonly text: string;
}

const LINE_PATTERN = /^(\S+) (\S+) (.*)$/;

export const parseLogLine = (raw: string): LogLine | undefined => {
  const m = LINE_PATTERN.exec(raw);
  return m ? { time: m[1]!, vat: m[2]!, text: m[3]! } : undefined;
};

export interface VatLogWriter {
  /** Appends one line for `vat`; `text` must already be one sanitized line. */
  append(vat: string, text: string): void;
  close(): void;
}

const ownerOnlyDir = (dir: string): void => {
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
};

const openAppend = (path: string): { fd: number; size: number } => {
  const fd = openSync(path, 'a', 0o600);
  // A file left by an older version or copied in keeps no wider mode.
  fchmodSync(fd, 0o600);
  return { fd, size: fstatSync(fd).size };
};

export const openVatLogWriter = (
  home: string,
  limits: LogLimits = DEFAULT_LOG_LIMITS,
  onError: (err: Error) => void = () => {},
): VatLogWriter => {
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`logLimits.${k} must be a positive integer, got ${v}`);
  }
  const dir = logDir(home);
  const current = join(dir, LOG_FILE);
  ownerOnlyDir(dir);
  let file: { fd: number; size: number } | undefined = openAppend(current);

  const rotate = (f: { fd: number }): { fd: number; size: number } => {
    closeSync(f.fd);
    // Renaming onto an existing name replaces it: the oldest file goes here.
    for (let n = limits.maxOldFiles - 1; n >= 1; n--) {
      const from = `${current}.${n}`;
      if (existsSync(from)) renameSync(from, `${current}.${n + 1}`);
    }
    renameSync(current, `${current}.1`);
    return openAppend(current);
  };

  return {
    append(vat, text) {
      if (!file) return;
      const line = `${new Date().toISOString()} ${vat} ${text}\n`;
      const bytes = Buffer.byteLength(line);
      try {
        if (file.size > 0 && file.size + bytes > limits.maxFileBytes) file = rotate(file);
        writeSync(file.fd, line);
        file.size += bytes;
      } catch (err) {
        try {
          closeSync(file.fd);
        } catch {
          // closed by a failed rotation already
        }
        file = undefined;
        onError(err as Error);
      }
    },
    close() {
      if (file) closeSync(file.fd);
      file = undefined;
    },
  };
};

/** The log files of a home, oldest first (`vats.log.N` … `vats.log.1`, `vats.log`). */
export const logFiles = (home: string): string[] => {
  const dir = logDir(home);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const old = names
    .map((n) => ({ n, k: /^vats\.log\.(\d+)$/.exec(n)?.[1] }))
    .filter((x) => x.k !== undefined)
    .sort((a, b) => Number(b.k) - Number(a.k))
    .map((x) => join(dir, x.n));
  return [...old, ...(names.includes(LOG_FILE) ? [join(dir, LOG_FILE)] : [])];
};

const CHUNK_BYTES = 64 * 1024;

/**
 * Reads a file from `offset` to its end, through an open descriptor (which keeps
 * following the file after the host renames it). Returns the complete lines and
 * the new offset; a partly written last line is left for the next read.
 */
const readLines = (fd: number, offset: number): { lines: string[]; offset: number } => {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(CHUNK_BYTES);
  let at = offset;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, at);
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    at += n;
  }
  const all = Buffer.concat(chunks);
  const end = all.lastIndexOf(0x0a);
  if (end < 0) return { lines: [], offset };
  return { lines: all.subarray(0, end).toString('utf8').split('\n'), offset: offset + end + 1 };
};

export interface LogFollower {
  /**
   * Lines not returned yet, oldest first: on the first call every line kept (the
   * rotated files, then `vats.log`), afterwards what the host appended since,
   * across rotations too. A partly written last line waits for the next call.
   */
  poll(): string[];
  close(): void;
}

/**
 * Reads a home's vat logs and, polled again, follows them as `tail -F` does.
 * Every file is opened at the start, so a rotation while we read moves nothing
 * under us; when the host rotates `vats.log` later, the rest of the old file is
 * read through its open descriptor, then the new file from its start.
 */
export const followVatLogs = (home: string): LogFollower => {
  const current = join(logDir(home), LOG_FILE);
  const openFile = (path: string) => {
    try {
      const fd = openSync(path, 'r');
      return { fd, ino: fstatSync(fd).ino, offset: 0 };
    } catch {
      return undefined; // rotated away since the listing, or not there (yet)
    }
  };
  const files = logFiles(home);
  let older = files.filter((f) => f !== current).flatMap((f) => openFile(f) ?? []);
  let open = openFile(current);
  const drain = (f: { fd: number; offset: number }, into: string[]) => {
    const r = readLines(f.fd, f.offset);
    f.offset = r.offset;
    into.push(...r.lines);
  };
  return {
    poll() {
      const lines: string[] = [];
      for (const f of older) {
        drain(f, lines);
        closeSync(f.fd);
      }
      older = [];
      open ??= openFile(current);
      if (!open) return lines;
      drain(open, lines);
      let ino: number | undefined;
      try {
        ino = statSync(current).ino;
      } catch {
        ino = undefined; // between the rename and the new file's creation
      }
      if (ino !== undefined && ino !== open.ino) {
        drain(open, lines); // what the host wrote to the old file just before it rotated
        closeSync(open.fd);
        open = openFile(current);
        if (open) drain(open, lines);
      }
      return lines;
    },
    close() {
      for (const f of [...older, ...(open ? [open] : [])]) closeSync(f.fd);
      older = [];
      open = undefined;
    },
  };
};

/** Every line kept in a home's log files, oldest first. */
export const readVatLogs = (home: string): string[] => {
  const follower = followVatLogs(home);
  try {
    return follower.poll();
  } finally {
    follower.close();
  }
};
