import test from 'ava';
import { E } from '../../runtime/index.js';
import { fixture, withHost } from '../helpers/host.js';

test('actor code cannot reach ambient authority, and the vat keeps serving', async (t) => {
  const host = await withHost(t);
  const { root } = await host.spawnVat({ module: fixture('confined.ts'), name: 'confined' });
  for (const method of ['process', 'require', 'importFs', 'fetch', 'dateNow', 'newDate', 'random', 'mutateIntrinsics']) {
    const outcome: string = await E(root)[method]();
    t.regex(outcome, /^blocked: /, `${method}: ${outcome}`);
    t.is(await E(root).ping(), 'pong', `still serving after ${method}`);
  }
  // These four are shims that only throw a teaching AmbientAuthorityError (test/e2e/teaching-errors.test.ts).
  t.deepEqual(await E(root).ambientGlobals(), ['setTimeout', 'setInterval', 'setImmediate', 'console']);
});

test('a symlink inside the module directory cannot carry an import outside it', async (t) => {
  const { mkdtempSync, symlinkSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const outside = mkdtempSync(join(tmpdir(), 'tribe-outside-'));
  const dir = mkdtempSync(join(tmpdir(), 'tribe-mod-'));
  t.teardown(() => {
    rmSync(outside, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(outside, 'secret.js'), 'export const secret = "s3cret";');
  symlinkSync(join(outside, 'secret.js'), join(dir, 'secret.js'));
  writeFileSync(join(dir, 'main.js'), "import { secret } from './secret.js';\nexport const make = () => ({ secret });");
  const host = await withHost(t);
  const err = await t.throwsAsync(host.spawnVat({ module: join(dir, 'main.js'), name: 'linked' }));
  t.is(err?.name, 'ModuleNotAllowedError');
  t.regex(err?.message ?? '', /secret\.js is really .*tribe-outside-.*secret\.js, outside /);
  t.false(err?.message.includes('s3cret'));
});
