// Fails if a test in test/ is skipped (.skip), exclusive (.only), expected to fail
// (.failing) or a placeholder (.todo) without being listed, with a reason, in
// test/allowed-modifiers.json — an array of { "file", "title", "reason" } (file relative
// to the checkout, title as written in the source, template literals raw). A listed entry
// that no longer matches a test fails too, so the list cannot rot. `npm test` runs it, so
// CI does. (ava also refuses .only in CI; this says so before anything runs, and covers
// the rest.)
//
// Usage: node scripts/check-test-modifiers.mjs
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const MODIFIERS = ['skip', 'only', 'failing', 'todo'];
const CHAIN_PARTS = ['serial', 'before', 'after', 'beforeEach', 'afterEach', 'always', ...MODIFIERS];
const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ALLOWLIST = 'test/allowed-modifiers.json';

/** The names ava's default export is imported under in `source` ('test' if none). */
const testNames = (source) => {
  const names = new Set(['test']);
  for (const m of source.matchAll(/import\s+([A-Za-z_$][\w$]*)\s*(?:,\s*\{[^}]*\}\s*)?from\s*['"]ava['"]/g)) names.add(m[1]);
  return [...names];
};

/** The string or template literal starting at `at` (after optional whitespace), or null. */
const literalAt = (source, at) => {
  let i = at;
  while (/\s/.test(source[i] ?? '')) i++;
  const quote = source[i];
  if (quote !== "'" && quote !== '"' && quote !== '`') return null;
  let text = '';
  for (i++; i < source.length && source[i] !== quote; i++) {
    if (source[i] === '\\') text += source[++i] ?? '';
    else text += source[i];
  }
  return i < source.length ? text : null;
};

/**
 * Every use of a modifier in one test file's `source`: { file, line, modifiers, title }.
 * `title` is the literal the test is declared with, or null where there is none to read
 * (a modifier used without a direct call, or a computed title).
 */
export const findModifiers = (source, file) => {
  const found = [];
  for (const name of testNames(source)) {
    const chain = new RegExp(`(?<![\\w$.])${name.replace(/\$/g, '\\$')}((?:\\s*\\.\\s*(?:${CHAIN_PARTS.join('|')})\\b)+)`, 'g');
    for (const m of source.matchAll(chain)) {
      const modifiers = m[1].split('.').map((s) => s.trim()).filter((s) => MODIFIERS.includes(s));
      if (modifiers.length === 0) continue;
      const after = m.index + m[0].length;
      const call = /^\s*\(/.exec(source.slice(after));
      const title = call ? literalAt(source, after + call[0].length) : null;
      const line = source.slice(0, m.index).split('\n').length;
      found.push({ file, line, modifiers, title });
    }
  }
  return found.sort((a, b) => a.line - b.line);
};

/** Problems (one line each) with `found` uses against the `allowed` list; none means it passes. */
export const checkModifiers = (found, allowed) => {
  const problems = [];
  const used = new Set();
  for (const f of found) {
    const entry = allowed.find((a) => a.file === f.file && a.title === f.title);
    const what = `${f.file}:${f.line}: test.${f.modifiers.join('.')}(${f.title === null ? '…' : JSON.stringify(f.title)})`;
    if (!entry) problems.push(`${what} is not listed in ${ALLOWLIST} with a reason`);
    else if (typeof entry.reason !== 'string' || entry.reason.trim() === '') problems.push(`${what} is listed in ${ALLOWLIST} without a reason`);
    if (entry) used.add(entry);
  }
  for (const a of allowed) {
    if (!used.has(a)) problems.push(`${ALLOWLIST} lists ${a.file} ${JSON.stringify(a.title)}, which has no skip/only/failing/todo: remove it`);
  }
  return problems;
};

const testFiles = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });

const main = () => {
  const found = testFiles(join(ROOT, 'test')).flatMap((path) => findModifiers(readFileSync(path, 'utf8'), relative(ROOT, path)));
  const allowed = JSON.parse(readFileSync(join(ROOT, ALLOWLIST), 'utf8'));
  const problems = checkModifiers(found, allowed);
  if (problems.length === 0) return 0;
  console.error(`check-test-modifiers: ${problems.length} test modifier(s) not accounted for:`);
  for (const p of problems) console.error(`  ${p}`);
  console.error(`A skipped, exclusive, failing or todo test needs an entry { "file", "title", "reason" } in ${ALLOWLIST}.`);
  return 1;
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main();
