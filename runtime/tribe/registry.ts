/**
 * The sisters registry of one machine: a directory under the tribe home with
 * one signed record per live sister (`<slot>.json`). A record is kept only while
 * it is true: its signature is its VatId's (else forged), it is of this tribe,
 * its process is alive and is the one holding its slot's lock (the slot's pid
 * file names it). Anything else is removed when read, and said once.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CryptoSuite } from '../../protocols/session/crypto.js';
import { checkRecord, encodeRecord, type SignedRecord, type SisterRecord } from '../../protocols/bootstrap/record.js';
import { homePaths, readPid, writeFileAtomically } from '../home.js';
import { tribePaths } from './tribe-home.js';

export interface RegistryScan {
  readonly live: readonly SisterRecord[];
  /** What this scan removed, and why: for the host's output and `tribe ps`. */
  readonly removed: readonly { readonly file: string; readonly why: string }[];
}

export interface Registry {
  /** Writes this host's record (replacing its slot's older one). */
  publish(signed: SignedRecord): void;
  /** Removes this host's record, if the file is still its own. */
  withdraw(record: SisterRecord): void;
  /** The live records; false, forged and dead ones are removed. */
  scan(): RegistryScan;
  /** Records removed since the start, by reason. */
  removedCounts(): Record<string, number>;
  /**
   * The slots below `coreSize` whose lock a live process holds (its pid file
   * names it), sister or not: a host starting, or a `--solo` host on the tribe
   * home, is not spawned over.
   */
  occupied(coreSize: number): number[];
}

/** Whether process `pid` exists (EPERM: it does, as another user's). */
export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
};

export const makeRegistry = (opts: {
  readonly tribeHome: string;
  readonly crypto: CryptoSuite;
  readonly tribe: string;
  readonly print: (line: string) => void;
}): Registry => {
  const paths = tribePaths(opts.tribeHome);
  const dir = paths.registry;
  const counts: Record<string, number> = {};
  const fileOf = (slot: number) => join(dir, `${slot}.json`);
  /** The pid in slot `slot`'s pid file: the process that holds its lock (NaN: none). */
  const slotPid = (slot: number) => readPid(homePaths(paths.slotHome(slot)).lock);

  const remove = (file: string, why: string, removed: { file: string; why: string }[]) => {
    try {
      rmSync(join(dir, file), { force: true });
    } catch {
      return; // read-only registry: kept, and ignored again next time
    }
    counts[why.split(':')[0]!] = (counts[why.split(':')[0]!] ?? 0) + 1;
    removed.push({ file, why });
  };

  return {
    publish(signed) {
      writeFileAtomically(fileOf(signed.record.slot), encodeRecord(signed));
    },
    withdraw(record) {
      const file = fileOf(record.slot);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        return;
      }
      const check = checkRecord(opts.crypto, opts.tribe, text);
      if (check.ok && check.record.pid === record.pid && check.record.vatId === record.vatId) rmSync(file, { force: true });
    },
    scan() {
      const live: SisterRecord[] = [];
      const removed: { file: string; why: string }[] = [];
      let files: string[];
      try {
        files = readdirSync(dir);
      } catch {
        return { live, removed };
      }
      for (const file of files) {
        // Files being written (`<slot>.json.<pid>.tmp`) are someone else's, mid-rename.
        if (!/^\d{1,4}\.json$/.test(file)) {
          if (!file.includes('.tmp')) remove(file, 'malformed: not a record file name', removed);
          continue;
        }
        let text: string;
        try {
          text = readFileSync(join(dir, file), 'utf8');
        } catch {
          continue; // removed meanwhile
        }
        const check = checkRecord(opts.crypto, opts.tribe, text);
        if (!check.ok) {
          remove(file, `${check.why}: ${check.detail}`, removed);
          continue;
        }
        const r = check.record;
        if (`${r.slot}.json` !== file) {
          remove(file, `malformed: a record of slot ${r.slot} in ${file}`, removed);
          continue;
        }
        if (!pidAlive(r.pid)) {
          remove(file, `dead: process ${r.pid} is gone`, removed);
          continue;
        }
        // A live pid that no longer holds the slot is another process now (pid reuse) or a host mid-restart.
        if (slotPid(r.slot) !== r.pid) {
          remove(file, `dead: process ${r.pid} no longer holds slot ${r.slot}`, removed);
          continue;
        }
        live.push(r);
      }
      for (const { file, why } of removed) opts.print(`registry: removed ${file} (${why})`);
      return { live: live.sort((a, b) => a.slot - b.slot), removed };
    },
    removedCounts: () => ({ ...counts }),
    occupied: (coreSize) => Array.from({ length: coreSize }, (_, k) => k).filter((k) => {
      const pid = slotPid(k);
      return Number.isInteger(pid) && pid > 0 && pidAlive(pid);
    }),
  };
};
