import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { IO_MS, PROCESS_MS, within } from '../helpers/bounded.js';
import { cliPath, startHostProcess, tribe } from '../helpers/cli.js';
import { fixture, tempHome } from '../helpers/host.js';
import { killGroup, spawnTracked } from '../helpers/processes.js';
import { DEFAULT_LOG_LIMITS, followVatLogs, openVatLogWriter } from '../../runtime/vat-logs.js';

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) (.*)$/;

/** `tribe logs` output as [vat, text] pairs, checking every line's shape. */
const pairs = (t: { regex(s: string, r: RegExp): void }, stdout: string): Array<[string, string]> =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      t.regex(l, LINE);
      const m = LINE.exec(l)!;
      return [m[1]!, m[2]!];
    });

test('tribe logs: every vat\'s lines with its name, NAME\'s alone, -n, owner-only files, and the same after the host stopped', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-viz']);
  for (const name of ['p1', 'p2']) t.is((await tribe(['spawn', fixture('powers.ts'), '--name', name, '--home', home])).code, 0);
  t.is((await tribe(['call', 'p1', 'say', '"hello"', '--home', home])).code, 0);
  // A vat cannot write a line that reads as another vat's: the newline is escaped.
  t.is((await tribe(['call', 'p2', 'say', '"hi\\n2030-01-01T00:00:00.000Z p1 forged"', '--home', home])).code, 0);
  t.is((await tribe(['call', 'p1', 'say', '"again"', '--home', home])).code, 0);

  const expected: Array<[string, string]> = [
    ['p1', 'says hello {"n":1}'],
    ['p2', 'says hi\\n2030-01-01T00:00:00.000Z p1 forged {"n":1}'],
    ['p1', 'says again {"n":1}'],
  ];
  const all = await tribe(['logs', '--home', home]);
  t.is(all.code, 0, all.stderr);
  t.deepEqual(pairs(t, all.stdout), expected);
  const p1 = await tribe(['logs', 'p1', '--home', home]);
  t.deepEqual(pairs(t, p1.stdout), expected.filter(([v]) => v === 'p1'));
  const lastOne = await tribe(['logs', 'p1', '-n', '1', '--home', home]);
  t.deepEqual(pairs(t, lastOne.stdout), [['p1', 'says again {"n":1}']]);

  t.is(statSync(join(home, 'logs')).mode & 0o777, 0o700);
  t.is(statSync(join(home, 'logs', 'vats.log')).mode & 0o777, 0o600);

  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
  const after = await tribe(['logs', '--home', home]);
  t.is(after.code, 0, after.stderr);
  t.deepEqual(pairs(t, after.stdout), expected, 'read from the files once the host is gone');
  t.is((await tribe(['logs', 'nobody', '--home', home])).stdout, '', 'a vat that never logged has no lines');
  const bad = await tribe(['logs', '-n', 'many', '--home', home]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^tribe: UsageError: -n wants a number of lines, got "many"\n$/);
});

test('tribe logs -f prints NAME\'s new lines as they come and ends cleanly on SIGINT', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, ['--no-viz']);
  for (const name of ['p1', 'p2']) t.is((await tribe(['spawn', fixture('powers.ts'), '--name', name, '--home', home])).code, 0);
  t.is((await tribe(['call', 'p1', 'say', '"before"', '--home', home])).code, 0);

  const { child, exit } = spawnTracked(process.execPath, [cliPath, 'logs', 'p1', '-f', '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] });
  // A failed assertion throws before the SIGINT below: the follower must not outlive the test.
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) killGroup(child.pid!);
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const seen: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    seen.push(l);
    for (const w of waiters.filter((x) => x.re.test(l))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(l);
    }
  });
  const line = (re: RegExp) =>
    within(
      new Promise<string>((resolve) => {
        const old = seen.find((l) => re.test(l));
        if (old) resolve(old);
        else waiters.push({ re, resolve });
      }),
      IO_MS,
      `tribe logs -f to print a line matching ${re} (printed: ${JSON.stringify(seen)})`,
    );

  await line(/ p1 says before /);
  // p2 logs first: were the filter broken, its line would come before p1's next one.
  t.is((await tribe(['call', 'p2', 'say', '"other"', '--home', home])).code, 0);
  t.is((await tribe(['call', 'p1', 'say', '"after"', '--home', home])).code, 0);
  await line(/ p1 says after /);
  t.deepEqual(seen.map((l) => LINE.exec(l)?.slice(1)), [
    ['p1', 'says before {"n":1}'],
    ['p1', 'says after {"n":1}'],
  ]);

  child.kill('SIGINT');
  const ended = await within(exit, PROCESS_MS, 'tribe logs -f to end on SIGINT');
  t.deepEqual(ended, { code: 0, signal: null });
  t.is(stderr, '');
  t.is((await tribe(['stop', '--home', home])).code, 0);
  t.is(await host.exited, 0);
});

test('vat logs rotate at the size limit and keep a bounded number of old files; tribe logs reads them in order', async (t) => {
  // The defaults: rotation at 1 MiB, three old files, at most 4 MiB of logs per home.
  t.deepEqual({ ...DEFAULT_LOG_LIMITS }, { maxFileBytes: 1 << 20, maxOldFiles: 3 });
  const home = tempHome(t);
  const limits = { maxFileBytes: 300, maxOldFiles: 2 };
  const writer = openVatLogWriter(home, limits);
  // Each line is `<24-char time> v<0|1> line <n padded to 4>` + newline: 38 bytes, 7 to a file.
  const perFile = 7;
  const text = (n: number) => `line ${String(n).padStart(4, '0')}`;
  const follower = followVatLogs(home);
  const followed: string[] = [];
  for (let n = 0; n < 40; n++) {
    writer.append(`v${n % 2}`, text(n));
    if (n % 5 === 4) followed.push(...follower.poll()); // across rotations as they happen
  }
  writer.close();
  follower.close();

  const files = readdirSync(join(home, 'logs')).sort();
  t.deepEqual(files, ['vats.log', 'vats.log.1', 'vats.log.2']);
  for (const f of files) {
    const path = join(home, 'logs', f);
    t.true(statSync(path).size <= limits.maxFileBytes, `${f} is ${statSync(path).size} bytes`);
    t.is(statSync(path).mode & 0o777, 0o600);
  }
  // The follower saw every line once, in order, although the files rotated under it.
  t.deepEqual(followed.map((l) => LINE.exec(l)?.[2]), Array.from({ length: 40 }, (_, n) => text(n)));

  // What is kept is the newest lines, contiguous and in order, read by the real CLI.
  const r = await tribe(['logs', '--home', home]);
  t.is(r.code, 0, r.stderr);
  const kept = pairs(t, r.stdout).map(([, s]) => s);
  const newest = Number(kept.at(-1)!.slice(5));
  t.is(newest, 39);
  t.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => text(newest - kept.length + 1 + i)));
  t.true(kept.length > 2 * perFile && kept.length <= 3 * perFile, `${kept.length} lines kept`);
  t.is(readFileSync(join(home, 'logs', 'vats.log'), 'utf8').split('\n').filter(Boolean).length, kept.length - 2 * perFile);
  const odd = await tribe(['logs', 'v1', '--home', home]);
  t.true(pairs(t, odd.stdout).every(([v, s]) => v === 'v1' && Number(s.slice(5)) % 2 === 1));
});
