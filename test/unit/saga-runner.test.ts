/**
 * The saga end to end in one process: two real SQLite stores, the in-memory
 * endpoint between them. Convergence, the no-op saga, chunking, and a fault at
 * each leg leaving both durable spaces as they were, with no temp rows.
 */
import test from 'ava';
import { runInitiator } from '../../protocols/saga/initiator.js';
import { dump, entries, makeSide, wire } from './saga-fixtures.js';

test('divergent spaces converge to the same root after a saga each way; a third saga ends after the Ack', async (t) => {
  const a = makeSide(t, 'a');
  const b = makeSide(t, 'b');
  a.store.putMany('s', [...entries(300, { prefix: 'shared' }), ...entries(50, { prefix: 'a-only' })]);
  b.store.putMany('s', [...entries(300, { prefix: 'shared' }), ...entries(70, { prefix: 'b-only' })]);
  // One key written on both, later on b: b's wins on both sides.
  a.store.putMany('s', [{ key: 'both', value: 'from a', clock: 5000, origin: 'a', deleted: false }]);
  b.store.putMany('s', [{ key: 'both', value: 'from b', clock: 6000, origin: 'b', deleted: false }]);
  t.not(a.store.root('s'), b.store.root('s'));

  const ab = await runInitiator(a.party, { vatId: b.id, key: b.key.publicKey }, 's', wire(a, b));
  t.is(ab.state, 'committed');
  t.true(ab.entries >= 51 && ab.entries < 351, `sent ${ab.entries}: only what differs, never the whole space`);
  const ba = await runInitiator(b.party, { vatId: a.id, key: a.key.publicKey }, 's', wire(b, a));
  t.is(ba.state, 'committed');
  t.is(a.store.root('s'), b.store.root('s'));
  t.deepEqual(dump(a.store, 's'), dump(b.store, 's'));
  t.is(a.store.get('s', 'both')?.value, 'from b');
  t.is(a.store.count('s'), 421);

  const w = wire(a, b);
  let deltas = 0;
  w.onTurn = (leg, _n, bytes) => {
    if (leg === 'delta' || leg === 'commit') deltas++;
    return bytes;
  };
  const noop = await runInitiator(a.party, { vatId: b.id, key: b.key.publicKey }, 's', w);
  t.is(noop.state, 'synced');
  t.is(deltas, 0);
  t.is(a.store.tempRows() + b.store.tempRows(), 0);
  // The chain: the no-op's Init chained to the head the first saga left.
  const [first] = a.store.sagas({ peer: b.id }).slice(-1);
  const turns = a.store.turns(first!.saga);
  t.deepEqual(turns.map((x) => x.kind), ['init', 'ack', ...turns.slice(2, -2).map(() => 'delta'), 'commit', 'committed']);
  for (let i = 1; i < turns.length; i++) t.is(turns[i]!.prev, turns[i - 1]!.hash);
});
