/**
 * The shapes a replicated vat's state travels in: the write-set of one turn
 * (a Raft `data` command) and the rows of a snapshot transfer. Checked here
 * strictly and by nothing but the data itself, so every replica accepts or
 * refuses the same entry the same way (a refusal is the entry's result).
 */
import { ReplicaSnapshotError, ReplicaWriteSetError } from './errors.js';

/** A durable object's row (vats/store.ts ObjectRow). */
export interface ObjectState {
  readonly kind: string;
  readonly state: string;
}

/**
 * One turn's effects, absolute: each write puts a whole value (null deletes the
 * key), each object row is the object's whole state, each reply is the result
 * of one exactly-once call. Later tuples of one list win over earlier ones.
 */
export interface WriteSet {
  readonly writes: readonly (readonly [key: string, value: string | null])[];
  readonly objects: readonly (readonly [id: string, row: ObjectState])[];
  readonly replies: readonly (readonly [callId: string, result: string])[];
}

/** Every row of one vat's replicated state: what `exportRows` gives and `restore` takes (`{ rows }`). */
export interface ReplicaRows {
  readonly store: readonly (readonly [key: string, value: string])[];
  readonly objects: readonly (readonly [id: string, row: ObjectState])[];
  readonly replies: readonly (readonly [callId: string, result: string, index: number])[];
}

type Fail = (message: string) => never;

const isText = (s: unknown): s is string => typeof s === 'string';
const isName = (s: unknown): s is string => typeof s === 'string' && s.length > 0;
const isPlainObject = (o: unknown): o is Record<string, unknown> => {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return false;
  const proto = Object.getPrototypeOf(o);
  return proto === Object.prototype || proto === null;
};
const hasExactKeys = (o: Record<string, unknown>, keys: readonly string[]) => {
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(o, k));
};

const listOf = (o: Record<string, unknown>, name: string, fail: Fail): unknown[] => {
  const list = o[name];
  if (!Array.isArray(list)) fail(`${name} is not an array`);
  return list as unknown[];
};

const pair = (t: unknown, where: string, fail: Fail): [unknown, unknown] => {
  if (!Array.isArray(t) || t.length !== 2) fail(`${where} is not a pair`);
  return t as [unknown, unknown];
};

const checkObjects = (list: unknown[], fail: Fail): void => {
  for (const [i, t] of list.entries()) {
    const [id, row] = pair(t, `objects[${i}]`, fail);
    if (!isName(id)) fail(`objects[${i}]: the id is not a non-empty string`);
    if (!isPlainObject(row) || !hasExactKeys(row, ['kind', 'state']) || !isName(row['kind']) || !isText(row['state'])) {
      fail(`objects[${i}]: the row is not { kind, state } of strings`);
    }
  }
};

/** Checks that `data` is a write-set; throws ReplicaWriteSetError saying where it is not. */
export const checkWriteSet = (data: unknown): WriteSet => {
  const fail: Fail = (message) => {
    throw new ReplicaWriteSetError(`the write-set is malformed: ${message}`);
  };
  if (!isPlainObject(data) || !hasExactKeys(data, ['writes', 'objects', 'replies'])) fail('not { writes, objects, replies }');
  const o = data as Record<string, unknown>;
  for (const [i, t] of listOf(o, 'writes', fail).entries()) {
    const [key, value] = pair(t, `writes[${i}]`, fail);
    if (!isName(key)) fail(`writes[${i}]: the key is not a non-empty string`);
    if (value !== null && !isText(value)) fail(`writes[${i}]: the value is not a string or null`);
  }
  checkObjects(listOf(o, 'objects', fail), fail);
  for (const [i, t] of listOf(o, 'replies', fail).entries()) {
    const [callId, result] = pair(t, `replies[${i}]`, fail);
    if (!isName(callId)) fail(`replies[${i}]: the call id is not a non-empty string`);
    if (!isText(result)) fail(`replies[${i}]: the result is not a string`);
  }
  return data as unknown as WriteSet;
};

/** Checks that `data` is `{ rows }` of a snapshot transfer; throws ReplicaSnapshotError saying where it is not. */
export const checkRows = (data: unknown): ReplicaRows => {
  const fail: Fail = (message) => {
    throw new ReplicaSnapshotError(`the snapshot rows are malformed: ${message}`);
  };
  if (!isPlainObject(data) || !isPlainObject(data['rows'])) fail('not { rows: { store, objects, replies } }');
  const rows = (data as { rows: Record<string, unknown> }).rows;
  if (!hasExactKeys(rows, ['store', 'objects', 'replies'])) fail('not { store, objects, replies }');
  for (const [i, t] of listOf(rows, 'store', fail).entries()) {
    const [key, value] = pair(t, `store[${i}]`, fail);
    if (!isName(key) || !isText(value)) fail(`store[${i}] is not [key, value] of strings`);
  }
  checkObjects(listOf(rows, 'objects', fail), fail);
  for (const [i, t] of listOf(rows, 'replies', fail).entries()) {
    if (!Array.isArray(t) || t.length !== 3 || !isName(t[0]) || !isText(t[1]) || !Number.isSafeInteger(t[2]) || t[2] < 1) {
      fail(`replies[${i}] is not [callId, result, index]`);
    }
  }
  return rows as unknown as ReplicaRows;
};
