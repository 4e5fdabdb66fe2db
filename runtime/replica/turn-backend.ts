/**
 * The store backend of a replicated vat's worker (VatSpec.replicated): reads
 * go to the host's SQLite file as any durable vat's do; a turn's commit does
 * not write. It posts the turn's write-set — store writes, durable object rows
 * and the replies the turn gave — to the host, and blocks the worker
 * (Atomics.wait) until the host has committed it through the service's log on
 * a majority of replicas and applied it to this file. So vat-main's turn
 * discipline holds unchanged: nothing the turn produced leaves before its
 * writes are durable — here, durable on a majority.
 *
 * Failure semantics: when the host answers "failed" (it lost the leadership,
 * or stopped), or does not answer within REPLICATE_WAIT_MS, `commit` throws
 * ReplicationFailedError and vat-main ends the worker: the turn's messages are
 * never sent, its callers' calls reject, and the callers' fronts retry with
 * the same call ids at the next leader.
 */
import type { StoreBackend } from '../../vats/store.js';
import { REPLICATE_COMMITTED, REPLICATE_FAILED, REPLICATE_PENDING } from '../../vats/supervisor.js';
import { ReplicationFailedError } from './errors.js';
import type { WriteSet } from './write-set.js';

/** How long a turn waits for its write-set to commit: past a leader's lease (it steps down and fails the wait first) with room for a slow disk. */
export const REPLICATE_WAIT_MS = 30_000;


export const makeReplicatedBackend = (local: StoreBackend, post: (msg: { k: 'replicate'; ws: WriteSet; flag: SharedArrayBuffer }) => void): StoreBackend => ({
  get: (key) => local.get(key),
  keys: (prefix) => local.keys(prefix),
  object: (id) => local.object(id),
  kinds: () => local.kinds(),
  idsOf: (kind, limit) => local.idsOf(kind, limit),
  commit(writes, objects, replies) {
    const ws: WriteSet = {
      writes: [...writes].map(([k, v]) => [k, v ?? null]),
      objects: [...(objects ?? new Map())].map(([id, row]) => [id, { kind: row.kind, state: row.state }]),
      replies: [...(replies ?? new Map())],
    };
    const flag = new SharedArrayBuffer(4);
    const word = new Int32Array(flag);
    post({ k: 'replicate', ws, flag });
    const waited = Atomics.wait(word, 0, REPLICATE_PENDING, REPLICATE_WAIT_MS);
    const outcome = Atomics.load(word, 0);
    if (outcome === REPLICATE_COMMITTED) return;
    throw new ReplicationFailedError(
      outcome === REPLICATE_FAILED
        ? 'the turn could not commit through its service log (this replica is no longer the leader, or its host is stopping)'
        : `the turn's write-set was not committed within ${REPLICATE_WAIT_MS} ms (${waited})`,
    );
  },
});
