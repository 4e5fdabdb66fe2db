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
  t.deepEqual(await E(root).ambientGlobals(), []);
});
