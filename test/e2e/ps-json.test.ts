/**
 * `tribe ps --json` against docs/protocol.md §12: the four field tables are
 * read from the document, and real output of two `tribe host` processes with a
 * session between them (and a vat that crashed) must match them both ways: no
 * field the document does not list, no required field missing, every type as
 * documented, and every optional field seen at least once (but `rttMs`, which
 * needs 15 s of silence). A field added to or dropped from the code fails here
 * until §12 says so.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { example, fixture, repoRoot, tempHome } from '../helpers/host.js';
import { preferredCiphers } from '../../runtime/crypto-node.js';

interface Field {
  readonly type: 'string' | 'number' | 'boolean' | 'array' | 'object';
  readonly optional: boolean;
}
type Table = Map<string, Field>;

/** §12's tables, by the line that introduces each: 'Top level', 'vats', 'sessions', 'names'. */
const documentedTables = (): Map<string, Table> => {
  const doc = readFileSync(join(repoRoot, 'docs', 'protocol.md'), 'utf8');
  const start = doc.indexOf('\n## 12. Host status: `tribe ps --json`');
  if (start < 0) throw new Error('docs/protocol.md has no §12 "Host status: `tribe ps --json`"');
  const tables = new Map<string, Table>();
  let current: Table | undefined;
  for (const line of doc.slice(start + 1).split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const intro = /^(Top level|Each `(\w+)` entry):$/.exec(line);
    if (intro) {
      current = new Map();
      tables.set(intro[2] ?? 'Top level', current);
      continue;
    }
    const row = /^\| `(\w+)` \| (string|number|boolean|array|object)(, optional)? \|/.exec(line);
    if (row && current) current.set(row[1]!, { type: row[2] as Field['type'], optional: row[3] !== undefined });
    else if (line.startsWith('| `')) throw new Error(`§12 row not understood: ${line}`);
  }
  return tables;
};

const typeOf = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

/** Every mismatch between `objects` and `table`, as readable lines; `seen` collects the keys met. */
const mismatches = (what: string, table: Table, objects: readonly Record<string, unknown>[], seen: Set<string>): string[] => {
  const out: string[] = [];
  for (const [i, o] of objects.entries()) {
    for (const [key, value] of Object.entries(o)) {
      seen.add(key);
      const field = table.get(key);
      if (!field) out.push(`${what}[${i}].${key} is not in §12`);
      else if (typeOf(value) !== field.type) out.push(`${what}[${i}].${key} is ${typeOf(value)}, §12 says ${field.type}`);
    }
    for (const [key, field] of table) if (!field.optional && !(key in o)) out.push(`${what}[${i}] lacks ${key}, which §12 does not mark optional`);
  }
  return out;
};

const ps = async (home: string): Promise<any> => {
  const r = await tribe(['ps', '--json', '--home', home]);
  if (r.code !== 0) throw new Error(`tribe ps --json failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
};

test('tribe ps --json has exactly the fields and types docs/protocol.md §12 lists, on two hosts with a session', async (t) => {
  const tables = documentedTables();
  t.deepEqual([...tables.keys()], ['Top level', 'vats', 'sessions', 'names'], 'the four tables of §12');

  const homeA = tempHome(t);
  const homeB = tempHome(t);
  // A serves the visualizer (the default), B does not: `viz` is seen both ways.
  const [a, b] = await Promise.all([startHostProcess(t, homeA), startHostProcess(t, homeB, ['--no-viz'])]);
  const run = async (args: string[]) => {
    const r = await tribe(args);
    t.is(r.code, 0, `tribe ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await run(['spawn', example('counter.ts'), '--name', 'counter', '--home', homeB]);
  // A vat that ends by its time budget stays listed, with `cause` and `detail`.
  await run(['spawn', fixture('runaway.ts'), '--name', 'r', '--time-budget', '300', '--home', homeB]);
  t.is((await tribe(['call', 'r', 'loop', '--home', homeB])).code, 1);
  const ref = await run(['ref', 'counter', '--home', homeB]);
  await run(['connect', ref, '--as', 'bcounter', '--home', homeA]);
  t.is(await run(['call', 'bcounter', 'increment', '--home', homeA]), '1');

  const statuses = [await ps(homeA), await ps(homeB)];
  const seen = new Map([...tables.keys()].map((k) => [k, new Set<string>()]));
  const problems = statuses.flatMap((s, i) => [
    ...mismatches(`host ${'AB'[i]}`, tables.get('Top level')!, [s], seen.get('Top level')!),
    ...(['vats', 'sessions', 'names'] as const).flatMap((k) =>
      Array.isArray(s[k]) ? mismatches(`host ${'AB'[i]} ${k}`, tables.get(k)!, s[k], seen.get(k)!) : [],
    ),
  ]);
  t.deepEqual(problems, []);
  const unseen = [...tables].flatMap(([k, table]) => [...table.keys()].filter((f) => !seen.get(k)!.has(f)).map((f) => `${k}.${f}`));
  t.deepEqual(
    unseen,
    ['Top level.bridgeRef', 'Top level.tribe', 'Top level.system', 'sessions.rttMs', 'sessions.redialAttempts', 'sessions.redialError', 'sessions.bridges'],
    'every documented field appears in this run, but rttMs (it waits for a 15 s silence), the re-dial fields (they need a lost path: resume-hosts.test.ts), the bridge fields (they need bridge hosts: bridges-kill.test.ts reads them from tribe ps --json) and the tribe fields (they need sisters: tribe.test.ts reads them)',
  );

  // The values §12 describes.
  const [sa, sb] = statuses;
  t.is(sa.id, a.id);
  t.is(sb.id, b.id);
  t.is(sa.listen, a.listen);
  t.is(sa.viz, a.viz);
  t.regex(sa.viz, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  t.false('viz' in sb);
  t.is(sa.home, homeA);
  t.true(Number.isInteger(sa.pid) && sa.pid !== sb.pid);
  t.like(sa.sessions[0], { peer: b.id, address: b.listen, role: 'initiator', cipher: preferredCiphers()[0], channels: 2 });
  t.like(sb.sessions[0], { peer: a.id, role: 'responder', cipher: preferredCiphers()[0], channels: 2 });
  t.regex(sb.sessions[0].address, /^127\.0\.0\.1:\d+$/);
  for (const s of [sa.sessions[0], sb.sessions[0]]) {
    t.true(s.since <= Date.now() && s.since > Date.now() - 60_000);
    t.true(s.framesIn > 0 && s.framesOut > 0 && s.bytesIn > s.framesIn && s.bytesOut > s.framesOut);
    t.true(['critical', 'degraded', 'healthy'].includes(s.state), s.state);
    t.is(s.paths.length, 1);
    t.like(s.paths[0], { address: s.address, role: s.role });
  }
  t.deepEqual(sa.names, [{ name: 'bcounter', owner: 'host' }]);
  t.deepEqual(sb.names, [{ name: 'counter', owner: 'counter' }]);
  t.deepEqual(sa.vats, []);
  t.like(sb.vats[0], { name: 'counter', module: example('counter.ts'), state: 'running', durable: false, peers: [`${a.id}/@host`] });
  t.like(sb.vats[1], { name: 'r', state: 'crashed', cause: 'time-budget', detail: 'vat "r" did not yield for 300 ms (time budget)', peers: [] });
});
