/**
 * Importing the package locks the realm down, but a program's own uncaught errors
 * still print as Node prints them (message and stack on stderr, exit code 1), and
 * vats keep their own, unchanged lockdown. Each case is a real child process.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { fixture, tempHome } from '../helpers/host.js';
import { runNode } from '../helpers/cli.js';

const PACKAGE = new URL('../../runtime/index.js', import.meta.url).href;
const ENDO_INIT = new URL('../../../node_modules/@endo/init/index.js', import.meta.url).href;

interface ProgramResult {
  code: number | null;
  stdout: string;
  stderr: string;
  file: string;
}

/** Runs `source` as an ES module program (the package's entry is `PACKAGE`) to its end, with no LOCKDOWN_* settings. */
const runProgram = async (t: ExecutionContext, source: string): Promise<ProgramResult> => {
  const dir = tempHome(t);
  const file = join(dir, 'program.mjs');
  writeFileSync(file, source.replaceAll('PACKAGE', JSON.stringify(PACKAGE)).replaceAll('ENDO_INIT', JSON.stringify(ENDO_INIT)).replaceAll('HOME', JSON.stringify(join(dir, 'home'))));
  // The test run sets LOCKDOWN_ERROR_TAMING; a user's program does not.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOCKDOWN_')));
  return { ...(await runNode([file], env, 'the program to end')), file };
};

const assertNodeReport = (t: ExecutionContext, r: ProgramResult, message: string, frame: string) => {
  t.is(r.code, 1, r.stderr);
  t.true(r.stderr.startsWith(`Error: ${message}\n    at ${frame} (file://${r.file}:`), r.stderr);
  t.regex(r.stderr, new RegExp(`\\n\\nNode\\.js ${process.version.replaceAll('.', '\\.')}\\n$`));
  t.false(r.stderr.includes('SES_'), r.stderr);
};

test('an uncaught exception in a program that imports the package prints message and stack, exit 1', async (t) => {
  const r = await runProgram(
    t,
    `import { E } from PACKAGE;
     const throwIt = () => { throw new Error('boom from the program'); };
     console.log(typeof E);
     throwIt();`,
  );
  t.is(r.stdout, 'function\n', 'the package loaded');
  assertNodeReport(t, r, 'boom from the program', 'throwIt');
});

test('an unhandled rejection prints message and stack, exit 1', async (t) => {
  const r = await runProgram(
    t,
    `import { E } from PACKAGE;
     const rejectIt = async () => { throw new Error('rejected in the program'); };
     void E;
     rejectIt();`,
  );
  assertNodeReport(t, r, 'rejected in the program', 'rejectIt');
});

test("an error's own properties and cause are shown, as Node shows them", async (t) => {
  const r = await runProgram(
    t,
    `import PACKAGE;
     const fail = () => { const e = new Error('outer', { cause: new TypeError('inner') }); e.code = 'E_OUTER'; throw e; };
     fail();`,
  );
  assertNodeReport(t, r, 'outer', 'fail');
  t.regex(r.stderr, /\{\n {2}code: 'E_OUTER',\n {2}\[cause\]: TypeError: inner\n {6}at /);
});

test("a program's own uncaughtException handler takes over, as it does without the package", async (t) => {
  const r = await runProgram(
    t,
    `import PACKAGE;
     process.on('uncaughtException', (err) => console.log('handled:', err.message));
     setTimeout(() => console.log('still running'), 1);
     throw new Error('handled by the program');`,
  );
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'handled: handled by the program\nstill running\n');
  t.is(r.stderr, '');
});

test('a program that imports @endo/init after the package locks down once; no LOCKDOWN_ variable is left set', async (t) => {
  const r = await runProgram(
    t,
    `import { E } from PACKAGE;
     import ENDO_INIT;
     console.log(JSON.stringify(Object.keys(process.env).filter((k) => k.startsWith('LOCKDOWN_'))));
     const fail = () => { throw new Error('after both imports'); };
     fail();`,
  );
  t.is(r.stdout, '[]\n', r.stderr);
  assertNodeReport(t, r, 'after both imports', 'fail');
});

test('vats keep their own lockdown: stacks made in a vat stay hidden while the program sees its own', async (t) => {
  const r = await runProgram(
    t,
    `import { startHost, E } from PACKAGE;
     const host = await startHost({ home: HOME, listen: false, control: false, spareWorkers: 0, print: () => {} });
     try {
       const { root } = await host.spawnVat({ module: ${JSON.stringify(fixture('realm-probe.ts'))}, name: 'probe' });
       console.log(JSON.stringify({ vatStack: await E(root).errorStack(), vatFrozen: await E(root).intrinsicsFrozen(), programStack: new Error('mine').stack.includes('program.mjs') }));
     } finally {
       await host.stop();
     }
     throw new Error('after the host stopped');`,
  );
  const report = JSON.parse(r.stdout) as { vatStack: string; vatFrozen: boolean; programStack: boolean };
  t.true(report.programStack, 'the program sees its own stacks');
  t.true(report.vatFrozen, 'the vat is locked down');
  // SES's default (safe) error taming in the vat: the stack says nothing of where the error was made.
  t.false(report.vatStack.includes('realm-probe'), report.vatStack);
  t.false(report.vatStack.includes(' at '), report.vatStack);
  t.is(r.code, 1, r.stderr);
  t.true(r.stderr.startsWith('Error: after the host stopped\n    at '), r.stderr);
});
