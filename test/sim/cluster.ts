/**
 * A group of simulated Raft nodes serving one replicated service: each node
 * incarnation gets the shared clock's timers, the network, a seeded random,
 * its durable storage (kept across crashes) and a fresh state machine (rebuilt
 * by the node from its snapshot and the log on restart). Client requests
 * arriving at a node are proposed there and answered over the network.
 *
 * A crash detaches the node from the network (its in-flight messages are
 * dropped), cancels its timers and stops it; what its proposals settle with
 * afterwards is never sent (a crashed node answers nobody).
 */
import type { NodeId, RaftLimits, RaftNode, RaftNodeOptions, RaftStatus, RaftStorage } from '../../protocols/raft/types.js';
import type { ClientReply, ClientRequest } from './clients.js';
import type { SimClock } from './clock.js';
import type { Invariants } from './invariants.js';
import type { SimNetwork } from './network.js';
import type { Random } from './random.js';
import { makeService, type Service, type ServiceKind, type ServiceOptions } from './services.js';

export type MakeNode = (options: RaftNodeOptions) => RaftNode;

/** A way to break the node under test on purpose (mutants that the harness must catch). */
export interface NodeMutation {
  /** Answers a client request without the log, or undefined to propose it as usual. */
  readonly serveLocally?: (node: RaftNode, service: Service, request: ClientRequest) => ClientReply | undefined;
  /** Wraps the durable storage of a node; `crashed()` is called when that node crashes. */
  readonly wrapStorage?: (storage: RaftStorage) => RaftStorage & { crashed?: () => void };
}

export interface ClusterOptions {
  readonly members: readonly NodeId[];
  readonly kind: ServiceKind;
  readonly clock: SimClock;
  readonly network: SimNetwork;
  readonly random: Random;
  readonly makeNode: MakeNode;
  readonly makeStorage: () => RaftStorage;
  readonly limits: Partial<RaftLimits>;
  readonly invariants: Invariants;
  readonly service?: ServiceOptions;
  readonly mutation?: NodeMutation;
  readonly log?: (line: string) => void;
}

interface Member {
  readonly id: NodeId;
  readonly storage: RaftStorage & { crashed?: () => void };
  incarnation: number;
  /** The live incarnation's token: callbacks of an earlier (crashed) one compare unequal and do nothing. */
  token: object | undefined;
  node: RaftNode | undefined;
  service: Service | undefined;
}

export interface Cluster {
  readonly startAll: () => void;
  readonly crash: (id: NodeId) => void;
  readonly restart: (id: NodeId) => void;
  readonly up: () => NodeId[];
  readonly down: () => NodeId[];
  readonly status: (id: NodeId) => RaftStatus | undefined;
  readonly state: (id: NodeId) => unknown;
  /** The up node that thinks it leads in the highest term, if any. */
  readonly leader: () => NodeId | undefined;
  readonly stopAll: () => void;
}

const errorReply = (seq: number, err: unknown): ClientReply | undefined => {
  const name = (err as Error)?.name;
  if (name === 'NotLeaderError') {
    const leader = (err as { leader?: NodeId }).leader;
    return { type: 'client.reply', seq, outcome: 'not-leader', ...(leader === undefined ? {} : { leader }) };
  }
  if (name === 'LeadershipLostError') return { type: 'client.reply', seq, outcome: 'lost' };
  if (name === 'RaftBusyError') return { type: 'client.reply', seq, outcome: 'busy' };
  if (name === 'RaftStoppedError') return undefined;
  return { type: 'client.reply', seq, outcome: 'error', result: String(err) };
};

export const makeCluster = (o: ClusterOptions): Cluster => {
  const members = new Map<NodeId, Member>();
  for (const id of o.members) {
    const raw = o.makeStorage();
    members.set(id, { id, storage: o.mutation?.wrapStorage ? o.mutation.wrapStorage(raw) : raw, incarnation: 0, token: undefined, node: undefined, service: undefined });
  }
  const owner = (m: Member): string => `${m.id}#${m.incarnation}`;

  const serve = (m: Member, node: RaftNode, service: Service, from: string, request: ClientRequest): void => {
    const token = m.token;
    const answer = (reply: ClientReply | undefined): void => {
      if (reply && m.token === token) o.network.send(m.id, from, reply);
    };
    const local = o.mutation?.serveLocally?.(node, service, request);
    if (local) {
      answer(local);
      return;
    }
    const { seq } = request.command;
    node.propose(request.command).then(
      (result) => answer({ type: 'client.reply', seq, outcome: 'ok', result }),
      (err) => answer(errorReply(seq, err)),
    );
  };

  const boot = (m: Member): void => {
    m.incarnation++;
    const service = makeService(o.kind, o.service);
    const inc = o.invariants.incarnation(m.id, m.storage);
    const token = {};
    m.token = token;
    const node = o.makeNode({
      id: m.id,
      members: o.members,
      storage: o.invariants.wrapStorage(inc, m.storage),
      machine: o.invariants.wrapMachine(inc, service.machine),
      send: (to, message) => {
        if (m.token === token) o.network.send(m.id, to, message);
      },
      timers: o.clock.timers(owner(m)),
      random: o.random.fork(owner(m)).next,
      limits: o.limits,
      onStatus: (status) => {
        if (m.token === token) o.invariants.onStatus(inc, status);
      },
    });
    m.node = node;
    m.service = service;
    o.network.attach(m.id, (from, message) => {
      if ((message as ClientRequest).type === 'client.request') serve(m, node, service, from, message as ClientRequest);
      else node.receive(from, message as never);
    });
    node.start();
    o.invariants.started(inc);
    o.log?.(`${o.clock.now()} ${m.id} up (incarnation ${m.incarnation}, term ${m.storage.load().term}, last index ${m.storage.lastIndex()})`);
  };

  const get = (id: NodeId): Member => {
    const m = members.get(id);
    if (!m) throw new RangeError(`no member ${id}`);
    return m;
  };

  return {
    startAll: () => {
      for (const m of members.values()) boot(m);
    },
    crash: (id) => {
      const m = get(id);
      const node = m.node;
      if (!node) return;
      o.network.detach(id);
      o.clock.cancelOwner(owner(m));
      m.node = undefined;
      m.token = undefined;
      m.service = undefined;
      node.stop();
      m.storage.crashed?.();
      o.log?.(`${o.clock.now()} ${id} crashed`);
    },
    restart: (id) => {
      const m = get(id);
      if (!m.node) boot(m);
    },
    up: () => [...members.values()].filter((m) => m.node).map((m) => m.id),
    down: () => [...members.values()].filter((m) => !m.node).map((m) => m.id),
    status: (id) => get(id).node?.status(),
    state: (id) => get(id).service?.state(),
    leader: () => {
      let best: RaftStatus | undefined;
      for (const m of members.values()) {
        const s = m.node?.status();
        if (s?.role === 'leader' && (!best || s.term > best.term)) best = s;
      }
      return best?.id;
    },
    stopAll: () => {
      for (const m of members.values()) {
        const node = m.node;
        if (!node) continue;
        o.network.detach(m.id);
        o.clock.cancelOwner(owner(m));
        m.node = undefined;
        m.token = undefined;
        node.stop();
      }
    },
  };
};
