/** Shared test plumbing: temp homes and hosts that are always stopped. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { startHost, type Host, type HostOptions } from '../../runtime/index.js';
import { IO_MS, within } from './bounded.js';
import { trackDir } from './processes.js';

/** Source tree root (tests run from dist/test/...). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const fixture = (name: string) => join(repoRoot, 'test', 'fixtures', name);
export const example = (name: string) => join(repoRoot, 'vats', 'examples', name);

/**
 * Where temp homes go: the per-run directory scripts/check-leftovers.mjs makes (and
 * afterwards checks is empty), or the system's temp directory when ava runs alone.
 */
export const TEST_RUN_ENV = 'TRIBE_TEST_RUN';
const tempRoot = (): string => process.env[TEST_RUN_ENV] || tmpdir();

/** A fresh home, removed by the test's teardown (or a file scope's: anything with `teardown`) or, failing that, when the worker ends (processes.ts). */
export const tempHome = (t: Pick<ExecutionContext, 'teardown'>): string => {
  const dir = mkdtempSync(join(tempRoot(), 'tribe-test-'));
  const tracked = trackDir(dir);
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    tracked.forget();
  });
  return dir;
};

export const withHost = async (t: ExecutionContext, opts: HostOptions = {}): Promise<Host> => {
  const home = tempHome(t);
  const host = await within(startHost({ home, control: false, print: () => {}, ...opts }), IO_MS, `startHost in ${home}`);
  t.teardown(() => within(host.stop(), IO_MS, `host ${host.id.slice(0, 8)} to stop`));
  return host;
};

/**
 * Watches the vat lifecycle machines through the host's `inspect` option, so tests
 * can await a vat's end (an event) instead of sleeping or polling.
 */
export const makeVatWatcher = () => {
  const done = new Map<string, { state: string; cause?: string; detail?: string }>();
  const waiters = new Map<string, Array<(r: { state: string; cause?: string; detail?: string }) => void>>();
  const events: Array<{ vat: string; event: string; state: unknown }> = [];
  const inspect = (ev: any) => {
    const ctx = ev.snapshot?.context ?? ev.actorRef?.getSnapshot?.()?.context;
    const vat = ctx?.name;
    if (typeof vat !== 'string') return;
    if (ev.type === '@xstate.event') events.push({ vat, event: ev.event.type, state: ev.actorRef.getSnapshot().value });
    if (ev.type === '@xstate.snapshot' && ev.snapshot.status === 'done') {
      const r = { state: String(ev.snapshot.value), cause: ctx.cause, detail: ctx.detail };
      done.set(vat, r);
      for (const w of waiters.get(vat) ?? []) w(r);
      waiters.delete(vat);
    }
  };
  return {
    inspect,
    events,
    ended: (vat: string, ms = IO_MS) =>
      within(
        new Promise<{ state: string; cause?: string; detail?: string }>((resolve) => {
          const r = done.get(vat);
          if (r) resolve(r);
          else waiters.set(vat, [...(waiters.get(vat) ?? []), resolve]);
        }),
        ms,
        `vat ${vat}'s lifecycle machine to end`,
      ),
  };
};
