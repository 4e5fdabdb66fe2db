/**
 * Errors of replicated services (runtime/replica/): their storage, their turns, their callers. Each message
 * starts with its class name, so `reviveError` restores it by name after it
 * crossed a vat or a host. Tests match them by `name`.
 *
 * ReplicaWriteSetError is also a Raft entry's *result*: the node hands what
 * `apply` throws to the proposer, and every replica throws the same for the
 * same entry (the check reads nothing but the entry), so it is deterministic.
 */
import { TribeError } from '../../capabilities/errors.js';

export class ReplicaError extends TribeError {}

/** A Raft storage call that would break the log's shape: a gap, an index out of order, a rewrite of compacted entries. The call changed nothing. */
export class RaftStorageError extends ReplicaError {}

/** A `data` command that is not a well-formed write-set (`{ writes, objects, replies }` of the documented tuples). Applying it changed nothing but the applied index. */
export class ReplicaWriteSetError extends ReplicaError {}

/** A snapshot `restore` cannot use: not the rows shape, or a durable marker for a state this replica does not hold (its rows must come by transfer). */
export class ReplicaSnapshotError extends ReplicaError {}

/** The reply of an exactly-once call may have been dropped (the replies table keeps only the newest ones): the call cannot be answered, nor safely run again. */
export class ReplicaReplyExpiredError extends ReplicaError {}

/** A row cannot travel as one entry of a sync space (key or value over the saga's limits, or not well-formed Unicode): the space was left as it was. */
export class ReplicaTransferError extends ReplicaError {}

/** A replicated vat's turn could not commit through its service's log: the vat ends, its callers retry elsewhere. */
export class ReplicationFailedError extends ReplicaError {}
/** No leader of the service answered within the caller's deadline (a majority of its replicas is down or cut off). */
export class ServiceUnavailableError extends ReplicaError {}
/** No replicated service of that name is known here. */
export class ServiceNotFoundError extends ReplicaError {}
