/**
 * The files `tribe init` writes: a TypeScript project for actor modules. Kept as
 * string constants so that they are part of the build (dist has them with no copy
 * step). The test in test/e2e/init.test.ts typechecks and runs what these become.
 */

/** Versions written into the project's package.json (taken from tribe-runtime's own). */
export interface TemplateVersions {
  readonly tribeRuntime: string;
  readonly endoFar: string;
  readonly typescript: string;
  readonly typesNode: string;
}

const packageJson = (name: string, v: TemplateVersions): string =>
  `${JSON.stringify(
    {
      name,
      version: '0.1.0',
      private: true,
      type: 'module',
      scripts: {
        typecheck: 'tsc -p tsconfig.json --noEmit',
        // The test is compiled to build/ and run from there; the host loads counter.ts itself.
        test: 'tsc -p tsconfig.json && node --test build/counter.test.js',
      },
      dependencies: { 'tribe-runtime': `^${v.tribeRuntime}`, '@endo/far': v.endoFar },
      devDependencies: { '@types/node': v.typesNode, typescript: v.typescript },
    },
    null,
    2,
  )}\n`;

// No DOM library: actor code has no window, fetch or timers, only its powers.
const tsconfigJson = `{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2023"],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "types": ["node"],
    "strict": true,
    "noUncheckedIndexedAccess": true,
    "verbatimModuleSyntax": true,
    "skipLibCheck": false,
    "rootDir": ".",
    "outDir": "build"
  },
  "include": ["*.ts"]
}
`;

const counterTs = `/**
 * An actor module. The host calls make(powers, params) once, when the vat starts;
 * what it returns is the vat's root object, published under the vat's name.
 *
 *   npx tribe spawn counter.ts --name counter                        # counts from 0
 *   npx tribe spawn counter.ts --name ten --params '{"start":10,"step":5}'
 *   npx tribe call ten increment                                      # → 15
 *
 * The host strips the types when it loads the module (no build step). Actor code
 * may import '@endo/far' and its own relative files; \`import type\` is erased, so
 * types from 'tribe-runtime' are fine.
 */
import { Far } from '@endo/far';
import type { MakeActor, Powers } from 'tribe-runtime';

/** What --params may hold. Without --params, params is undefined and the defaults apply. */
export interface Params {
  /** The first value (default 0). */
  start?: number;
  /** What increment() adds when it is given no argument (default 1). */
  step?: number;
}

export const make = (powers: Powers, { start = 0, step = 1 }: Params = {}) => {
  // Params and arguments arrive as JSON from outside: the types say what we expect, not what came.
  if (!Number.isFinite(start)) throw new TypeError(\`params.start must be a number, got \${JSON.stringify(start)}\`);
  let count = start;
  powers.log(\`counting from \${start} in steps of \${step}\`);
  return Far('Counter', {
    increment(by: number = step): number {
      if (!Number.isInteger(by) || by < 1) {
        throw new RangeError(\`increment(by): by must be a positive integer, got \${JSON.stringify(by)}\`);
      }
      count += by;
      return count;
    },
    read: (): number => count,
  });
};

// tsc checks that make fits what the host calls, and the inferred root type is kept.
make satisfies MakeActor<Params>;
`;

const counterTestTs = `/**
 * Runs the counter in a real vat: a host in a temporary home, the actor spawned
 * from counter.ts. \`npm test\` compiles this file to build/ and runs it there
 * with node --test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
// Importing tribe-runtime locks down this process (SES), as every program that uses E() must.
import { E, startHost, type Host } from 'tribe-runtime';
import type { make } from './counter.js';

type Counter = Awaited<ReturnType<typeof make>>;

// The source file, not its compiled copy: this test runs from build/, and the host loads .ts itself.
const actor = fileURLToPath(new URL('../counter.ts', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'counter-test-'));
let host: Host;

before(async () => {
  // No control socket, no network: nothing but this process can reach the host.
  host = await startHost({ home, control: false, listen: false, print: () => {} });
});
after(async () => {
  await host.stop();
  rmSync(home, { recursive: true, force: true });
});

test('without params it counts from 0 in steps of 1', async () => {
  const { root } = await host.spawnVat({ module: actor, name: 'plain' });
  const counter: Counter = root;
  assert.equal(await E(counter).increment(), 1);
  assert.equal(await E(counter).increment(3), 4);
  assert.equal(await E(counter).read(), 4);
});

test('params set the start and the step', async () => {
  const { root } = await host.spawnVat({ module: actor, name: 'ten', params: { start: 10, step: 5 } });
  const counter: Counter = root;
  assert.equal(await E(counter).increment(), 15);
});

test('a step that is not a positive integer is refused, and the count is unchanged', async () => {
  const { root } = await host.spawnVat({ module: actor, name: 'strict' });
  const counter: Counter = root;
  await assert.rejects(E(counter).increment(0), /RangeError/);
  assert.equal(await E(counter).read(), 0);
});
`;

const readme = (name: string): string => `# ${name}

Actors for [Tribe](https://www.npmjs.com/package/tribe-runtime), written in TypeScript.

\`\`\`sh
npm install
npm test             # tsc (strict), then counter.test.ts against a real host
npm run typecheck    # tsc only
\`\`\`

(While \`tribe-runtime\` is not on the npm registry, install it from a checkout first:
\`npm install /path/to/tribe\`.)

Run the actor by hand: start a host in one terminal (\`npx tribe host\`), then in another

\`\`\`sh
npx tribe spawn counter.ts --name counter
npx tribe call counter increment       # → 1  (params default: start 0, step 1)
npx tribe spawn counter.ts --name ten --params '{"start":10,"step":5}'
npx tribe call ten increment           # → 15
npx tribe stop
\`\`\`

An actor module exports \`make(powers, params)\` and returns its root object, made with \`Far\`.
\`powers\` (type \`Powers\` from \`tribe-runtime\`) holds \`names\`, \`timer\`, \`log\`, and \`store\`
in vats spawned with \`--durable\`. The module may import \`@endo/far\` and its own relative files;
\`import type\` is erased when the host loads it. The host loads \`.ts\` files directly, so there is
no build step for actors; \`build/\` holds only the compiled test.
`;

const gitignore = `node_modules/
build/
`;

/** File name → contents, in the order they are written. */
export const projectFiles = (name: string, versions: TemplateVersions): ReadonlyArray<readonly [string, string]> => [
  ['package.json', packageJson(name, versions)],
  ['tsconfig.json', tsconfigJson],
  ['counter.ts', counterTs],
  ['counter.test.ts', counterTestTs],
  ['README.md', readme(name)],
  ['.gitignore', gitignore],
];
