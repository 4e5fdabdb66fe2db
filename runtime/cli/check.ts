/**
 * `tribe spawn --check`: typecheck an actor module with tsc before the host loads it.
 *
 * The host only strips types (esbuild), so a module with type errors loads and fails
 * later, at a call. This runs the project's own tsc on the module and what it imports,
 * with the project's tsconfig (the nearest one above the module; the `tribe init`
 * options when there is none), and refuses with TypeCheckError listing the
 * diagnostics. Errors elsewhere in the project do not block this module.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { TypeCheckError } from '../errors.js';

/** Diagnostics shown in the error; more are counted, not listed (a broken import can make hundreds). */
export const MAX_SHOWN_DIAGNOSTICS = 20;
/** tsc on a cold cache checks a project with its libraries in a few seconds; a minute means it hangs. */
const TSC_TIMEOUT_MS = 60_000;

/** What a module is checked with when no tsconfig.json lies above it: the `tribe init` options. */
const DEFAULT_OPTIONS = {
  target: 'ES2022',
  lib: ['ES2023'],
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  strict: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
};

const findUp = (from: string, file: string): string | undefined => {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, file))) return join(dir, file);
    if (dirname(dir) === dir) return undefined;
  }
};

/** The project's TypeScript compiler, else the one tribe-runtime was built with. */
const findTsc = (projectDir: string): string => {
  for (const from of [join(projectDir, 'package.json'), import.meta.url]) {
    try {
      const manifest = createRequire(from).resolve('typescript/package.json');
      const bin = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: { tsc?: string } }).bin?.tsc;
      if (bin) return join(dirname(manifest), bin);
    } catch {
      // not installed there: try the next place
    }
  }
  throw new TypeCheckError(`no TypeScript compiler found from ${projectDir}: add typescript to the project's devDependencies`);
};

const runTsc = (tsc: string, config: string, cwd: string): Promise<{ code: number; output: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [tsc, '--pretty', 'false', '-p', config], { cwd, timeout: TSC_TIMEOUT_MS }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });

/** Resolves if `module` (an absolute path) typechecks; rejects with TypeCheckError listing tsc's diagnostics. */
export const checkModule = async (module: string): Promise<void> => {
  if (!existsSync(module)) return; // the spawn reports ModuleNotFoundError in its own words
  const tsconfig = findUp(dirname(module), 'tsconfig.json');
  const projectDir = tsconfig ? dirname(tsconfig) : dirname(module);
  // Next to the project's tsconfig, so that its `types` and `typeRoots` resolve as they do for the project.
  const config = join(projectDir, `.tribe-check-${process.pid}.tsconfig.json`);
  writeFileSync(
    config,
    JSON.stringify({
      ...(tsconfig ? { extends: `./${relative(projectDir, tsconfig)}` } : {}),
      compilerOptions: { ...(tsconfig ? {} : DEFAULT_OPTIONS), noEmit: true },
      files: [module],
      include: [],
    }),
  );
  let result: { code: number; output: string };
  try {
    result = await runTsc(findTsc(projectDir), config, projectDir);
  } finally {
    rmSync(config, { force: true });
  }
  if (result.code === 0) return;
  const lines = result.output.split('\n').filter((line) => line.trim() !== '');
  const errors = lines.filter((line) => /error TS\d+/.test(line)).length;
  const shown = lines.slice(0, MAX_SHOWN_DIAGNOSTICS);
  const more = lines.length > shown.length ? [`… and ${lines.length - shown.length} more lines`] : [];
  throw new TypeCheckError(
    [
      `${module} does not typecheck (${errors} error${errors === 1 ? '' : 's'}; tsc with ${tsconfig ?? 'strict defaults'}); not spawned:`,
      ...[...shown, ...more].map((line) => `  ${line}`),
    ].join('\n'),
  );
};
