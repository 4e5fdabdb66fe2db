import test from 'ava';
import { closest, editDistance } from '../../runtime/did-you-mean.js';

test('edit distance counts an adjacent swap as one edit', (t) => {
  t.is(editDistance('spawn', 'spawn'), 0);
  t.is(editDistance('sapwn', 'spawn'), 1);
  t.is(editDistance('incremnt', 'increment'), 1);
  t.is(editDistance('', 'abc'), 3);
  t.is(editDistance('kitten', 'sitting'), 3);
});

test('closest suggests only near misses', (t) => {
  const commands = ['host', 'viz', 'ref', 'connect', 'revoke', 'spawn', 'call', 'ps', 'kill', 'stop'];
  t.is(closest('sapwn', commands), 'spawn');
  t.is(closest('stpo', commands), 'stop');
  t.is(closest('Spawn', commands), 'spawn');
  t.is(closest('frobnicate', commands), undefined);
  t.is(closest('x', commands), undefined, 'one letter is one edit from too much');
  t.is(closest('--nmae', ['--name', '--params']), '--name');
});
