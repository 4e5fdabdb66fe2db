/**
 * A tribe's home on one machine: the tribe home itself is slot 0's host home
 * (so a single host's home keeps its layout), and beside its files:
 *
 *   tribe.key        the tribe's secret (32 bytes, 0600): membership, as a capability
 *   tribe.json       this machine's settings: core size, machine id
 *   registry/        one signed record per live sister of this machine (<slot>.json)
 *   sisters/<k>/     the home of slot k ≥ 1: its own identity, store, socket, lock
 *
 * A host's slot is the home whose lock it holds (home.ts): at most one process
 * per slot, whoever started it, so two hosts started at once on one tribe home
 * end in two slots, never one slot twice.
 */
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HomeError } from '../errors.js';
import { homeFileError, writeFileAtomically } from '../home.js';

/** Slots a tribe home has room for: a machine's core and its members started by hand. */
export const MAX_SLOTS = 64;
export const SECRET_BYTES = 32;

export const tribePaths = (tribeHome: string) => ({
  tribeHome,
  secret: join(tribeHome, 'tribe.key'),
  config: join(tribeHome, 'tribe.json'),
  registry: join(tribeHome, 'registry'),
  slotHome: (slot: number) => (slot === 0 ? tribeHome : join(tribeHome, 'sisters', String(slot))),
});

/**
 * Writes `bytes` to `path` unless it exists, atomically: written aside, then
 * linked into place (link fails when the name exists, so of two writers at once
 * exactly one wins and both read the winner's bytes).
 */
const createOnce = (path: string, bytes: Uint8Array | string): void => {
  const aside = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(aside, bytes, { mode: 0o600 });
    try {
      linkSync(aside, path);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
  } catch (err) {
    throw homeFileError(path, 'write', err);
  } finally {
    rmSync(aside, { force: true });
  }
};

/** The tribe's secret, made on first use (or replaced by the one a join brought: `adopt`). */
export const loadOrCreateSecret = (tribeHome: string, adopt?: Uint8Array): Uint8Array => {
  const { secret } = tribePaths(tribeHome);
  if (adopt) {
    writeFileAtomically(secret, adopt);
    return adopt;
  }
  createOnce(secret, randomBytes(SECRET_BYTES));
  const bytes = new Uint8Array(readFileSync(secret));
  if (bytes.length !== SECRET_BYTES) {
    throw new HomeError(`${secret} is not a tribe secret (${bytes.length} bytes, not ${SECRET_BYTES}); move it away to start a new tribe`);
  }
  return bytes;
};

export interface TribeConfig {
  readonly coreSize: number;
  /** This machine's id in the tribe (random, made once): which sisters this home spawns. */
  readonly machine: string;
}

/** This machine's settings; the first host writes them, later ones read them (a given `coreSize` replaces the kept one). */
export const loadTribeConfig = (tribeHome: string, coreSize: number | undefined): TribeConfig => {
  const { config } = tribePaths(tribeHome);
  createOnce(config, JSON.stringify({ coreSize: coreSize ?? 3, machine: randomBytes(8).toString('hex') }));
  let kept: TribeConfig;
  try {
    kept = JSON.parse(readFileSync(config, 'utf8')) as TribeConfig;
  } catch (err) {
    throw new HomeError(`${config} is not readable tribe settings: ${(err as Error).message}; move it away to start afresh`, { cause: err });
  }
  // JSON.parse answers any JSON value (null too); a core size beyond MAX_SLOTS would make every record this home signs malformed.
  if (
    kept === null ||
    typeof kept !== 'object' ||
    !Number.isInteger(kept.coreSize) ||
    kept.coreSize < 1 ||
    kept.coreSize > MAX_SLOTS ||
    typeof kept.machine !== 'string' ||
    !/^[0-9a-f]{16}$/.test(kept.machine)
  ) {
    throw new HomeError(`${config} holds no valid tribe settings; move it away to start afresh`);
  }
  if (coreSize !== undefined && coreSize !== kept.coreSize) {
    kept = { ...kept, coreSize };
    writeFileAtomically(config, JSON.stringify(kept));
  }
  return kept;
};

export const ensureRegistryDir = (tribeHome: string): string => {
  const { registry } = tribePaths(tribeHome);
  try {
    mkdirSync(registry, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw homeFileError(registry, 'make', err);
  }
  return registry;
};
