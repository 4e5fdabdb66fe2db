/**
 * A replicated vat's rows as a sync space, so that the sync saga (which moves
 * keyed spaces between sisters, resumably and verified by digests) carries a
 * snapshot to a follower too far behind the leader's log.
 *
 * One entry per row, keys by table: `s/<key>` (a store value), `o/<id>` (a
 * durable object), `r/<callId>` (a reply); values are JSON text: the store
 * value as a JSON string, `{ kind, state }`, `[result, index]`.
 *
 * Failure semantics: every row is checked against the saga's limits before
 * anything is written; one that does not fit throws ReplicaTransferError and
 * the space is left as it was. The write is one transaction (putMany).
 */
import { isWellFormed, jsonFits } from '../../protocols/saga/codec.js';
import { DEFAULT_SAGA_LIMITS, type SagaLimits } from '../../protocols/saga/limits.js';
import type { SpaceStore } from '../../protocols/saga/spaces.js';
import type { SyncEntry } from '../../protocols/saga/space.js';
import { ReplicaSnapshotError, ReplicaTransferError } from './errors.js';
import type { ObjectState, ReplicaRows } from './write-set.js';

export const STORE_PREFIX = 's/';
export const OBJECT_PREFIX = 'o/';
export const REPLY_PREFIX = 'r/';

type TransferLimits = Pick<SagaLimits, 'maxKeyBytes' | 'maxValueBytes'>;

const utf8Bytes = (s: string) => Buffer.byteLength(s);

const entriesOf = (rows: ReplicaRows): [string, string][] => [
  ...rows.store.map(([key, value]): [string, string] => [STORE_PREFIX + key, JSON.stringify(value)]),
  ...rows.objects.map(([id, o]): [string, string] => [OBJECT_PREFIX + id, JSON.stringify({ kind: o.kind, state: o.state })]),
  ...rows.replies.map(([callId, result, idx]): [string, string] => [REPLY_PREFIX + callId, JSON.stringify([result, idx])]),
];

const checkFits = (key: string, value: string, limits: TransferLimits) => {
  const name = JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);
  if (!isWellFormed(key) || !isWellFormed(value)) throw new ReplicaTransferError(`row ${name} is not well-formed Unicode (a lone surrogate)`);
  if (utf8Bytes(key) > limits.maxKeyBytes) throw new ReplicaTransferError(`row ${name}: its space key is ${utf8Bytes(key)} bytes, over ${limits.maxKeyBytes}`);
  if (!jsonFits(value, limits.maxValueBytes)) throw new ReplicaTransferError(`row ${name}: its value is over ${limits.maxValueBytes} bytes as JSON`);
};

/** Makes `rows` the only live entries of `space`: a tombstone for every other key there. Answers how many entries were written. */
export const rowsToSpace = (
  rows: ReplicaRows,
  spaces: SpaceStore,
  space: string,
  origin: string,
  limits: TransferLimits = DEFAULT_SAGA_LIMITS,
): number => {
  const entries = entriesOf(rows);
  for (const [key, value] of entries) checkFits(key, value, limits);
  const keep = new Set(entries.map(([key]) => key));
  const clock = spaces.clock();
  const batch: SyncEntry[] = [];
  for (const e of spaces.entries(space)) {
    if (!keep.has(e.key)) batch.push({ key: e.key, value: '', clock, origin, deleted: true });
  }
  for (const [key, value] of entries) batch.push({ key, value, clock, origin, deleted: false });
  spaces.putMany(space, batch);
  return entries.length;
};

const parse = (key: string, value: string): unknown => {
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new ReplicaSnapshotError(`space entry ${JSON.stringify(key)} is not JSON`, { cause: err });
  }
};

/** The rows `rowsToSpace` wrote into `space`; throws ReplicaSnapshotError on an entry it could not have written. */
export const rowsFromSpace = (spaces: SpaceStore, space: string): ReplicaRows => {
  const store: [string, string][] = [];
  const objects: [string, ObjectState][] = [];
  const replies: [string, string, number][] = [];
  const bad = (key: string): never => {
    throw new ReplicaSnapshotError(`space entry ${JSON.stringify(key)} is not a replicated row`);
  };
  for (const { key, value } of spaces.entries(space)) {
    const v = parse(key, value);
    const name = key.slice(2);
    if (name.length === 0) bad(key);
    if (key.startsWith(STORE_PREFIX)) {
      if (typeof v !== 'string') bad(key);
      store.push([name, v as string]);
    } else if (key.startsWith(OBJECT_PREFIX)) {
      const o = v as ObjectState;
      if (typeof o !== 'object' || o === null || typeof o.kind !== 'string' || typeof o.state !== 'string') bad(key);
      objects.push([name, { kind: o.kind, state: o.state }]);
    } else if (key.startsWith(REPLY_PREFIX)) {
      const r = v as [unknown, unknown];
      if (!Array.isArray(r) || r.length !== 2 || typeof r[0] !== 'string' || !Number.isSafeInteger(r[1])) bad(key);
      replies.push([name, r[0] as string, r[1] as number]);
    } else {
      bad(key);
    }
  }
  // Replies in index order (then call id): the order the replies table prunes by.
  replies.sort((a, b) => a[2] - b[2] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { store, objects, replies };
};
