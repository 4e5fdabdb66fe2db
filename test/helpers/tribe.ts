/**
 * Tribes of real `tribe host` processes for tests: started with the CLI, watched
 * through the hosts' control sockets and the tribe home's files, and never left
 * behind — a test's teardown stops the tribe and kills any sister still alive
 * (sisters run detached, outside the first host's process group).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { connect } from '../../runtime/client.js';
import type { HostStatus } from '../../runtime/host-api.js';
import { WaitTimeoutError } from './bounded.js';
import { startHostProcess, tribe, type RunningHost } from './cli.js';
import { isAlive } from './processes.js';

export const slotHome = (home: string, slot: number) => (slot === 0 ? home : join(home, 'sisters', String(slot)));

/** The pid in each slot's pid file (slot → pid), for the slots that have one. */
export const slotPids = (home: string): Map<number, number> => {
  const out = new Map<number, number>();
  const slots = [0, ...(existsSync(join(home, 'sisters')) ? readdirSync(join(home, 'sisters')).filter((d) => /^\d+$/.test(d)).map(Number) : [])];
  for (const k of slots) {
    try {
      const pid = Number.parseInt(readFileSync(join(slotHome(home, k), 'host.pid'), 'utf8'), 10);
      if (Number.isInteger(pid)) out.set(k, pid);
    } catch {}
  }
  return out;
};

/** The registry's record files (`<slot>.json`) now. */
export const registryFiles = (home: string): string[] => (existsSync(join(home, 'registry')) ? readdirSync(join(home, 'registry')).sort() : []);

/** `ps()` of the host in `home`, or undefined when none answers. */
export const psOf = async (home: string): Promise<HostStatus | undefined> => {
  let client: Awaited<ReturnType<typeof connect>> | undefined;
  try {
    client = await connect({ home });
    return await client.ps();
  } catch {
    return undefined;
  } finally {
    await client?.close().catch(() => {});
  }
};

/** Polls the async `check` every 100 ms until it holds; rejects after `ms` with what was seen last. */
export const eventually = async <T>(check: () => Promise<T | undefined | false>, ms: number, what: string, seen?: () => Promise<unknown>): Promise<T> => {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got !== undefined && got !== false) return got;
    if (Date.now() >= deadline) {
      const last = seen ? JSON.stringify(await seen().catch((e: unknown) => String(e))).slice(0, 2000) : '';
      throw new WaitTimeoutError(`${what}: not within ${ms} ms${last ? ` (last seen: ${last})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** The tribe as slot `slot`'s host sees it: ready, with `size` sisters of which every other one is connected. */
export const tribeReady = async (home: string, size: number, slot = 0): Promise<HostStatus | undefined> => {
  const s = await psOf(slotHome(home, slot));
  const t = s?.tribe;
  if (!s || !t || t.state !== 'ready' || (t.sisters?.length ?? 0) !== size - 1) return undefined;
  return t.sisters!.every((x) => x.state === 'connected') ? s : undefined;
};

const killSlots = (home: string): number => {
  let killed = 0;
  for (const pid of slotPids(home).values()) {
    if (pid !== process.pid && isAlive(pid)) {
      killed += 1;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  return killed;
};

/**
 * Kills every process a tribe home's slots name: what a failed test leaves to
 * clean. Again until none is left for a while: a sister killed mid-spawn leaves
 * its spawn to finish. Throws if processes keep appearing (a tribe that cannot
 * be stopped is a failure of its own).
 */
export const killTribe = async (home: string): Promise<void> => {
  const deadline = Date.now() + 10_000;
  let quietSince = Date.now();
  while (Date.now() - quietSince < 1_000) {
    if (killSlots(home) > 0) quietSince = Date.now();
    if (Date.now() > deadline) throw new Error(`the tribe in ${home} kept starting processes after it was killed`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** Starts `tribe host` on a fresh tribe home (no announcements: tests run side by side); the teardown stops it, then kills what is left. `env`: see startHostProcess. */
export const startTribe = async (t: Pick<ExecutionContext, 'teardown'>, home: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<RunningHost> => {
  t.teardown(async () => {
    await tribe(['stop', '--home', home]).catch(() => {});
    await killTribe(home);
  });
  return startHostProcess(t, home, ['--tribe', ...(extra.includes('--viz') ? [] : ['--no-viz']), ...(extra.includes('--discovery') ? [] : ['--no-discovery']), ...extra], env);
};

/**
 * Live `tribe host` processes (`…/main.js host --home H …`) whose home is one of
 * `homes` or under one: what a test must not leave behind. Read from /proc, so it
 * finds hosts no pid file names (one killed before writing it, one in another
 * network namespace). Linux only; elsewhere answers none.
 */
export const hostProcessesUnder = (homes: readonly string[]): { pid: number; home: string }[] => {
  if (!existsSync('/proc')) return [];
  const out: { pid: number; home: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(join('/proc', entry, 'cmdline'), 'utf8').split('\0');
    } catch {
      continue; // Gone meanwhile.
    }
    const cli = argv.findIndex((a) => a.endsWith(join('cli', 'main.js')));
    if (cli < 0 || argv[cli + 1] !== 'host') continue;
    const home = argv[argv.indexOf('--home', cli) + 1];
    if (home === undefined || argv.indexOf('--home', cli) < 0) continue;
    if (homes.some((h) => home === h || home.startsWith(`${h}/`)) && isAlive(Number(entry))) out.push({ pid: Number(entry), home });
  }
  return out;
};
