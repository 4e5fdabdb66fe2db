/** Shared test plumbing: temp homes and hosts that are always stopped. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { startHost, type Host, type HostOptions } from '../../runtime/index.js';

/** Source tree root (tests run from dist/test/...). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const fixture = (name: string) => join(repoRoot, 'test', 'fixtures', name);
export const example = (name: string) => join(repoRoot, 'vats', 'examples', name);

export const tempHome = (t: ExecutionContext): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

export const withHost = async (t: ExecutionContext, opts: HostOptions = {}): Promise<Host> => {
  const host = await startHost({ home: tempHome(t), control: false, print: () => {}, ...opts });
  t.teardown(() => host.stop());
  return host;
};
