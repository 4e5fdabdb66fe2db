/**
 * A `tribe host` process with a durable counter published as 'main-counter'
 * (test/fixtures/durable-counters.ts), for tests that call it from another host:
 * its ref, the address it listens on, and the same ref dialled through a proxy.
 */
import type { ExecutionContext } from 'ava';
import type { Host } from '../../runtime/index.js';
import { startHostProcess, tribe, type RunningHost } from './cli.js';
import type { FaultProxy } from './fault-proxy.js';
import { fixture, tempHome } from './host.js';

export interface CounterHost {
  readonly host: RunningHost;
  readonly home: string;
  /** The counter's ref, naming the host's listen address. */
  readonly ref: string;
  /** Where the host listens, for a proxy in front of it. */
  readonly target: { readonly host: string; readonly port: number };
}

/** Spawns the durable counters vat in the host at `home` and returns the ref of 'main-counter'. */
export const publishCounter = async (t: ExecutionContext, home: string): Promise<string> => {
  const spawned = await tribe(['spawn', fixture('durable-counters.ts'), '--name', 'counters', '--durable', '--home', home]);
  t.is(spawned.code, 0, spawned.stderr);
  const ref = await tribe(['ref', 'main-counter', '--home', home]);
  t.is(ref.code, 0, ref.stderr);
  return ref.stdout.trim();
};

/** A counter host process in `home` (a fresh one by default), started with `--no-viz` and `extra`. */
export const counterHost = async (t: ExecutionContext, home = tempHome(t), extra: string[] = []): Promise<CounterHost> => {
  const host = await startHostProcess(t, home, ['--no-viz', ...extra]);
  const ref = await publishCounter(t, home);
  const [h, p] = host.listen!.split(':');
  return { host, home, ref, target: { host: h!, port: Number(p) } };
};

/** The same ref, dialled through the proxy. */
export const via = (ref: string, proxy: FaultProxy): string => ref.replace(/@[^/]+:\d+\//, `@${proxy.address}/`);

/** `a`'s session with `peer`, as `ps` shows it. */
export const sessionOf = (a: Host, peer: string) => a.ps().sessions.find((s) => s.peer === peer);
