/** scripts/check-test-modifiers.mjs: skipped, exclusive, failing and todo tests need a listed reason. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { PROCESS_MS } from '../helpers/bounded.js';
import { repoRoot } from '../helpers/host.js';

interface Use {
  file: string;
  line: number;
  modifiers: string[];
  title: string | null;
}
interface Allowed {
  file: string;
  title: string | null;
  reason?: string;
}
const script = join(repoRoot, 'scripts', 'check-test-modifiers.mjs');
const { findModifiers, checkModifiers } = (await import(pathToFileURL(script).href)) as {
  findModifiers(source: string, file: string): Use[];
  checkModifiers(found: Use[], allowed: Allowed[]): string[];
};

// Spelled through T so that this file's own source holds no modifier for the script to find.
const T = 'test';

test('findModifiers: each modifier, chained with serial or not, with its title and line', (t) => {
  const source = [
    `import ${T} from 'ava';`,
    `${T}('plain', (t) => t.pass());`,
    `${T}.serial('serial only', (t) => t.pass());`,
    `${T}.skip('skipped', (t) => t.pass());`,
    `${T}.serial.only("exclusive", (t) => t.pass());`,
    `${T}.failing(\`known \${bug}\`, (t) => t.fail());`,
    `${T}.todo('later');`,
    `${T}.before.skip('hook', () => {});`,
    `(process.env.X ? ${T}.skip : ${T})('conditional', (t) => t.pass());`,
    `const label = 'region.only.listens'; t.skip;`,
  ].join('\n');
  t.deepEqual(findModifiers(source, 'test/unit/x.test.ts'), [
    { file: 'test/unit/x.test.ts', line: 4, modifiers: ['skip'], title: 'skipped' },
    { file: 'test/unit/x.test.ts', line: 5, modifiers: ['only'], title: 'exclusive' },
    { file: 'test/unit/x.test.ts', line: 6, modifiers: ['failing'], title: 'known $\u007bbug}' },
    { file: 'test/unit/x.test.ts', line: 7, modifiers: ['todo'], title: 'later' },
    { file: 'test/unit/x.test.ts', line: 8, modifiers: ['skip'], title: 'hook' },
    { file: 'test/unit/x.test.ts', line: 9, modifiers: ['skip'], title: null },
  ]);
});

test('findModifiers: ava imported under another name is followed', (t) => {
  const source = `import anyTest, { type TestFn } from 'ava';\nconst x = 1;\nanyTest.skip('renamed', (t) => t.pass());`;
  t.deepEqual(findModifiers(source, 'f.ts'), [{ file: 'f.ts', line: 3, modifiers: ['skip'], title: 'renamed' }]);
});

test('checkModifiers: unlisted, listed without a reason, and stale entries each fail; listed with a reason passes', (t) => {
  const skipped: Use = { file: 'a.ts', line: 3, modifiers: ['skip'], title: 'needs a browser' };
  const only: Use = { file: 'b.ts', line: 9, modifiers: ['only'], title: 'focus' };
  t.deepEqual(checkModifiers([], []), []);
  t.deepEqual(checkModifiers([skipped], [{ file: 'a.ts', title: 'needs a browser', reason: 'no Chromium in this image' }]), []);
  const problems = checkModifiers(
    [skipped, only],
    [
      { file: 'a.ts', title: 'needs a browser', reason: ' ' },
      { file: 'c.ts', title: 'gone', reason: 'was flaky' },
    ],
  );
  t.is(problems.length, 3, problems.join('\n'));
  t.regex(problems[0]!, /^a\.ts:3: test\.skip\("needs a browser"\) is listed in test\/allowed-modifiers\.json without a reason$/);
  t.regex(problems[1]!, /^b\.ts:9: test\.only\("focus"\) is not listed in test\/allowed-modifiers\.json with a reason$/);
  t.regex(problems[2]!, /lists c\.ts "gone", which has no skip\/only\/failing\/todo: remove it$/);
});

test('the script passes on this checkout (its allowlist is accurate)', (t) => {
  const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: PROCESS_MS });
  t.is(run.status, 0, run.stderr);
  t.is(run.stderr, '');
});
