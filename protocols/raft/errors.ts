/**
 * Errors of a Raft node (protocols/raft/README.md). Each message starts with
 * its class name, so `reviveError` restores it by name after it crossed a vat
 * or a host. Only `propose` raises them; a malformed or foreign message is
 * never an error — it is dropped and counted (`RaftNode.dropped()`).
 */
import type { NodeId } from './types.js';

export class RaftError extends Error {
  override name = 'RaftError';
  constructor(message: string, options?: ErrorOptions) {
    const name = new.target.name;
    super(message.startsWith(`${name}: `) ? message : `${name}: ${message}`, options);
  }
}

/** This node is not the leader; `leader` is the one it knows for its term, if any (retry there). Nothing was appended. */
export class NotLeaderError extends RaftError {
  override name = 'NotLeaderError';
  readonly leader: NodeId | undefined;
  constructor(message: string, leader?: NodeId, options?: ErrorOptions) {
    super(message, options);
    this.leader = leader;
  }
}

/** The proposal was appended, then this node stopped being leader before it knew the entry committed. The entry may still commit under another leader. */
export class LeadershipLostError extends RaftError {
  override name = 'LeadershipLostError';
}

/** `stop()` was called: nothing pending settles any more. */
export class RaftStoppedError extends RaftError {
  override name = 'RaftStoppedError';
}

/** `limits.maxPendingProposals` proposals already wait to commit: back off and retry. Nothing was appended. */
export class RaftBusyError extends RaftError {
  override name = 'RaftBusyError';
}
