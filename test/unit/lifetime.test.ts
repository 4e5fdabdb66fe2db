/** protocols/lifetime.ts: one end, any number of parties, children that die with their parent. */
import test from 'ava';
import { makeLifetime } from '../../protocols/lifetime.js';

test('every party hears the end once, in order, with the first reason; a late party hears it on a microtask', async (t) => {
  const { lifetime, close } = makeLifetime();
  const heard: string[] = [];
  lifetime.onClose((r) => heard.push(`a:${r.message}`));
  lifetime.onClose(() => {
    throw new Error('a broken hook');
  });
  lifetime.onClose((r) => heard.push(`b:${r.message}`));
  t.false(lifetime.isClosed);
  t.true(close(new Error('first')));
  t.false(close(new Error('second')), 'only the first close counts');
  t.deepEqual(heard, ['a:first', 'b:first'], 'in the same turn, a throwing hook notwithstanding');
  t.is(lifetime.reason?.message, 'first');
  t.is((await lifetime.closed).message, 'first');
  let late: string | undefined;
  lifetime.onClose((r) => {
    late = r.message;
  });
  t.is(late, undefined, 'not inside the caller');
  await Promise.resolve();
  t.is(late, 'first');
});

test('a removed hook does not run', (t) => {
  const { lifetime, close } = makeLifetime();
  let ran = false;
  const remove = lifetime.onClose(() => {
    ran = true;
  });
  remove();
  close(new Error('x'));
  t.false(ran);
});

test('a child ends with its parent, and the parent forgets a child that ended first', (t) => {
  const parent = makeLifetime();
  let parentHooks = 0;
  const counting = {
    ...parent.lifetime,
    onClose: (hook: (r: Error) => void) => {
      parentHooks += 1;
      const remove = parent.lifetime.onClose(hook);
      return () => {
        parentHooks -= 1;
        remove();
      };
    },
  };
  for (let i = 0; i < 100; i++) makeLifetime(counting).close();
  t.is(parentHooks, 0, 'finished children leave nothing on the parent');
  const child = makeLifetime(counting);
  const grandchild = makeLifetime(child.lifetime);
  parent.close(new Error('stopping'));
  t.is(child.lifetime.reason?.message, 'stopping');
  t.is(grandchild.lifetime.reason?.message, 'stopping');
  const born = makeLifetime(parent.lifetime);
  t.is(born.lifetime.reason?.message, 'stopping', 'a child of an ended parent is born ended');
});

test('whileOpen: the work, unless the lifetime ends first; a late result goes to `late`', async (t) => {
  const a = makeLifetime();
  t.is(await a.lifetime.whileOpen(Promise.resolve(7)), 7);
  let finish!: (v: string) => void;
  const slow = new Promise<string>((r) => (finish = r));
  const lated: string[] = [];
  const raced = a.lifetime.whileOpen(slow, (v) => lated.push(v));
  a.close(new Error('cancelled'));
  await t.throwsAsync(raced, { message: 'cancelled' });
  finish('stream');
  await slow;
  await Promise.resolve();
  t.deepEqual(lated, ['stream']);
  await t.throwsAsync(a.lifetime.whileOpen(Promise.resolve(1)), { message: 'cancelled' }, 'already ended: rejects');
});
