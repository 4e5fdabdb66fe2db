/**
 * The reaper a test worker starts (see processes.ts): reads one JSON line per change
 * on stdin — `{group}` / `{done}` for process groups, `{dir}` / `{doneDir}` for temp
 * directories — and when stdin closes, which happens however the worker ends (SIGKILL
 * included), kills the groups and removes the directories still listed, then exits.
 */
import { rmSync } from 'node:fs';

const groups = new Set<number>();
const dirs = new Set<string>();
let pending = '';

const apply = (line: string): void => {
  const m = JSON.parse(line) as { group?: number; done?: number; dir?: string; doneDir?: string };
  if (typeof m.group === 'number') groups.add(m.group);
  if (typeof m.done === 'number') groups.delete(m.done);
  if (typeof m.dir === 'string') dirs.add(m.dir);
  if (typeof m.doneDir === 'string') dirs.delete(m.doneDir);
};

const reap = (): void => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  // A killed process runs no more code: its home can go now.
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  for (let cut = pending.indexOf('\n'); cut >= 0; cut = pending.indexOf('\n')) {
    apply(pending.slice(0, cut));
    pending = pending.slice(cut + 1);
  }
});
process.stdin.on('end', reap);
process.stdin.on('error', reap);
