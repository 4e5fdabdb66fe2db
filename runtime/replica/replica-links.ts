/**
 * How a sister's replicas reach each other's: the replica endpoint of each
 * sister (exported at a ref derived from the tribe's secret), enlivened once
 * and again after a failure; Raft messages sent one way as JSON text; and the
 * state transfer of a vat service to a replica behind the leader's compacted
 * log, by a sync saga.
 *
 * Failure semantics: sends never throw and never wait: a message that cannot
 * go (no session, a rejected call) is dropped — Raft resends — and the
 * endpoint it went to is forgotten, so the next message reaches it afresh. A
 * transfer that fails is said on the host's output; the leader asks again.
 */
import { E } from '@endo/far';
import { describeError, reviveError } from '../../capabilities/errors.js';
import { sisterSwiss } from '../../protocols/bootstrap/record.js';
import type { RaftMessage } from '../../protocols/raft/types.js';
import type { SpaceStore } from '../../protocols/saga/spaces.js';
import { shortVatId } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../crypto-node.js';
import type { Host } from '../host-api.js';
import { ServiceUnavailableError } from './errors.js';
import type { ServiceState } from './service-state.js';

export interface ReplicaPeer {
  readonly vatId: string;
  readonly address: string;
  readonly machine: string;
  readonly vats: number;
  /** Its identity key (base32): a saga to it is verified against it. */
  readonly key: string;
  /** Whether its Sister answered the last ping: new services pick connected sisters only. */
  readonly connected: boolean;
}

/** How a leader sends a lagging replica its state: the sister's sync (sister-sync.ts) — a space, pushed by a saga. */
export interface SnapshotTransport {
  readonly spaces: SpaceStore;
  push(peer: { vatId: string; address: string; key: string }, space: string): Promise<unknown>;
}

export interface ReplicaLinks {
  /** The swiss number sister `vatId` exports its replica endpoint at. */
  swissOf(vatId: string): string;
  /** The replica endpoint of sister `vatId` (this host's own, for itself). */
  endpointOf(vatId: string): Promise<any>;
  /** Forget `vatId`'s endpoint: the next call enlivens it again. */
  forget(vatId: string): void;
  /** A Raft message of `group` to `to`, one way. */
  send(group: string, to: string, message: RaftMessage): void;
}

export const makeReplicaLinks = (opts: {
  readonly host: Host;
  readonly secret: Uint8Array;
  peers(): readonly ReplicaPeer[];
  readonly print: (line: string) => void;
  readonly sync: SnapshotTransport;
  /** This host's own endpoint. */
  local(): unknown;
  /** The rows of vat service `group` here (undefined for the naming service, whose snapshot goes inline). */
  stateOf(group: string): ServiceState | undefined;
}): ReplicaLinks => {
  const { host, secret, print } = opts;
  const swissOf = (vatId: string) => sisterSwiss(nodeCrypto, secret, `${vatId}/replica`);
  const endpoints = new Map<string, Promise<any>>();
  const endpointOf = (vatId: string): Promise<any> => {
    if (vatId === host.id) return Promise.resolve(opts.local());
    const known = endpoints.get(vatId);
    if (known) return known;
    const peer = opts.peers().find((p) => p.vatId === vatId);
    if (!peer) return Promise.reject(new ServiceUnavailableError(`sister ${shortVatId(vatId)} is not connected`));
    const p = host.enliven(`tribe://${vatId}@${peer.address}/${swissOf(vatId)}`);
    endpoints.set(vatId, p);
    p.catch(() => endpoints.get(vatId) === p && endpoints.delete(vatId));
    return p;
  };
  const forgetIf = (vatId: string, p: Promise<any>) => {
    if (endpoints.get(vatId) === p) endpoints.delete(vatId);
  };
  const deliver = (group: string, to: string, text: string) => {
    const p = endpointOf(to);
    return p.then((ref) => E(ref).deliver(group, host.id, text)).catch(() => forgetIf(to, p));
  };

  /** The space a snapshot of `group` travels in: one per transfer, so nothing of an earlier one mixes in. */
  const transferSpace = (group: string, index: number) => {
    const hash = nodeCrypto.sha256(new TextEncoder().encode(group));
    const tag = Array.from(hash.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join('');
    return `svc.${tag}.${index}.${Date.now().toString(36)}`;
  };
  const transfers = new Set<string>();
  /**
   * A follower needs entries the leader compacted away: the leader writes its
   * rows into a fresh space, pushes it to the follower by a saga (signed turns,
   * temp space, one commit), then sends the snapshot naming that space. The
   * rows are this host's as applied now (an index ≥ the snapshot's): applying
   * write-sets is absolute and idempotent, so the entries after the snapshot
   * that the follower applies again change nothing.
   */
  const transfer = async (group: string, to: string, message: Extract<RaftMessage, { type: 'snapshot.request' }>) => {
    const state = opts.stateOf(group);
    const peer = opts.peers().find((p) => p.vatId === to);
    const id = `${group} ${to}`;
    if (!state || !peer || transfers.has(id)) return;
    transfers.add(id);
    try {
      const space = transferSpace(group, message.snapshot.index);
      const entries = state.toSpace(opts.sync.spaces, space, host.id);
      print(`service ${group}: sending replica ${shortVatId(to)} its state by a saga (space ${space}, ${entries} rows, snapshot at ${message.snapshot.index})`);
      await opts.sync.push(peer, space);
      await deliver(group, to, JSON.stringify({ ...message, snapshot: { ...message.snapshot, data: { space } } }));
    } catch (err) {
      print(`service ${group}: the state transfer to ${shortVatId(to)} failed: ${describeError(reviveError(err))}`);
    } finally {
      transfers.delete(id);
    }
  };

  return {
    swissOf,
    endpointOf,
    forget: (vatId) => endpoints.delete(vatId),
    send(group, to, message) {
      // A vat service's rows travel by a saga; the naming service's few rows go inline.
      if (message.type === 'snapshot.request' && opts.stateOf(group)) return void transfer(group, to, message);
      void deliver(group, to, JSON.stringify(message));
    },
  };
};
