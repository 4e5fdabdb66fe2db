/** README's error list names every error class a user can meet: adding one without a line there fails here. */
import '@endo/init';
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as capabilityErrors from '../../capabilities/errors.js';
import * as sessionErrors from '../../protocols/session/errors.js';
import * as sagaErrors from '../../protocols/saga/errors.js';
import * as runtimeErrors from '../../runtime/errors.js';
import * as replicaErrors from '../../runtime/replica/errors.js';
import * as raftErrors from '../../protocols/raft/errors.js';
import { DialError } from '../../runtime/tcp.js';
import * as vatErrors from '../../vats/errors.js';
import { repoRoot } from '../helpers/host.js';

/** Base classes never thrown as themselves. */
const ABSTRACT = new Set(['TribeError', 'SagaError', 'ReplicaError', 'RaftError']);

test('README lists every named error class', (t) => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Errors'), readme.indexOf('## Programmatic API'));
  t.true(section.length > 100, 'README has an Errors section before the API');
  const classes = [capabilityErrors, sessionErrors, sagaErrors, runtimeErrors, replicaErrors, raftErrors, vatErrors, { DialError }]
    .flatMap((m) => Object.entries(m))
    .filter(([name, v]) => typeof v === 'function' && v.prototype instanceof Error && !ABSTRACT.has(name))
    .map(([name]) => name);
  t.true(classes.length >= 40, `found ${classes.length} classes`);
  const missing = classes.filter((name) => !section.includes(`\`${name}\``));
  t.deepEqual(missing, [], `missing from README's error list: ${missing.join(', ')}`);
});
