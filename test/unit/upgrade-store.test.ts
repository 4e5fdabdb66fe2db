/** The SQL of upgrades (runtime/upgrade-store.ts) on a temp file: backup, finish, rollback, left records. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { openDatabase, openHostStore } from '../../runtime/store.js';
import { openUpgradeStore } from '../../runtime/upgrade-store.js';

const setup = (t: ExecutionContext) => {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-upgrade-store-'));
  const path = join(dir, 'tribe.db');
  const host = openHostStore(path);
  const db = openDatabase(path);
  let upgrades = openUpgradeStore(path);
  t.teardown(() => {
    upgrades.close();
    db.close();
    host.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const name of ['a', 'b']) {
    host.vats.save({ name, module: `/m/${name}1.ts`, params: '{"v":1}', durable: true, grants: [], timeBudgetMs: undefined, heapMb: undefined });
  }
  const put = db.prepare('INSERT OR REPLACE INTO vat_store (vat, key, value) VALUES (?, ?, ?)');
  const obj = db.prepare('INSERT OR REPLACE INTO vat_objects (vat, id, kind, state) VALUES (?, ?, ?, ?)');
  for (const vat of ['a', 'b']) {
    put.run(vat, 'count', '41');
    put.run(vat, 'name', JSON.stringify(`vat ${vat} \u00e9\u{1f600}`));
    obj.run(vat, 'r:root', 'root', '{}');
    obj.run(vat, 'd:x', 'Thing', '{"n":1}');
  }
  const rows = (vat: string) => ({
    store: db.prepare('SELECT key, value FROM vat_store WHERE vat = ? ORDER BY key').all(vat),
    objects: db.prepare('SELECT id, kind, state FROM vat_objects WHERE vat = ? ORDER BY id').all(vat),
  });
  const backups = () =>
    ['upgrades', 'upgrade_store_backup', 'upgrade_objects_backup'].map(
      (table) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n,
    );
  return {
    host,
    db,
    put,
    obj,
    rows,
    backups,
    get upgrades() {
      return upgrades;
    },
    reopen() {
      upgrades.close();
      upgrades = openUpgradeStore(path);
    },
  };
};

const record = { vat: 'a', oldModule: '/m/a1.ts', oldParams: '{"v":1}', newModule: '/m/a2.ts', newParams: '{"v":2}' };

test('a rollback puts the vat rows back exactly, whatever the new code wrote; other vats are untouched', (t) => {
  const s = setup(t);
  const before = s.rows('a');
  const other = s.rows('b');
  t.deepEqual(s.upgrades.begin(record), { keys: 2, objects: 2 });
  t.deepEqual(s.backups(), [1, 2, 2]);
  // What new code might do: change, add and delete keys and objects.
  s.put.run('a', 'count', '-1');
  s.put.run('a', 'migrated', 'true');
  s.db.prepare("DELETE FROM vat_store WHERE vat = 'a' AND key = 'name'").run();
  s.obj.run('a', 'd:x', 'Thing', '{"n":2}');
  s.obj.run('a', 'd:y', 'NewKind', '{}');
  s.db.prepare("DELETE FROM vat_objects WHERE vat = 'a' AND id = 'r:root'").run();
  const rolled = s.upgrades.rollBack('a');
  t.like(rolled, record);
  t.deepEqual(s.rows('a'), before);
  t.deepEqual(s.rows('b'), other);
  t.deepEqual(s.backups(), [0, 0, 0]);
  t.is(s.host.vats.get('a')!.module, '/m/a1.ts', 'the vats row never pointed elsewhere');
  t.is(s.upgrades.rollBack('a'), undefined, 'nothing left to roll back');
});

test('finish points the vats row at the new module and params and drops the backup; the rows stay as the new code left them', (t) => {
  const s = setup(t);
  s.upgrades.begin(record);
  s.put.run('a', 'count', '42');
  s.upgrades.finish('a');
  t.like(s.host.vats.get('a'), { module: '/m/a2.ts', params: '{"v":2}', durable: true });
  t.like(s.host.vats.get('b'), { module: '/m/b1.ts' });
  t.deepEqual(s.backups(), [0, 0, 0]);
  t.deepEqual((s.rows('a').store as Array<{ key: string; value: string }>).find((r) => r.key === 'count'), { key: 'count', value: '42' });
  t.throws(() => s.upgrades.finish('a'), { message: /no upgrade of vat "a" is recorded/ });
});

test('a second begin for the same vat is refused and changes nothing', (t) => {
  const s = setup(t);
  s.upgrades.begin(record);
  t.throws(() => s.upgrades.begin(record), { name: 'UpgradeInProgressError', message: /an upgrade of vat "a" to \/m\/a2\.ts is recorded/ });
  t.deepEqual(s.backups(), [1, 2, 2], 'no second copy of the backup');
});

test('a record a dead host left is listed at the next open, and rolls back', (t) => {
  const s = setup(t);
  const before = s.rows('a');
  s.upgrades.begin(record);
  s.put.run('a', 'count', '-4');
  s.reopen();
  t.deepEqual(
    s.upgrades.unfinished().map((r) => r.vat),
    ['a'],
  );
  s.upgrades.rollBack('a');
  t.deepEqual(s.rows('a'), before);
  t.deepEqual(s.upgrades.unfinished(), []);
});
