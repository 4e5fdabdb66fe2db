/**
 * Simulated clients of a replicated service. Each has one op outstanding at a
 * time, sends it over the simulated network (so requests and replies are lost,
 * delayed and duplicated like Raft's own messages) to the node it believes
 * leads, and:
 * - on `not-leader` follows the hint (or tries another node when there is none);
 * - on `lost` (LeadershipLostError), `busy`, or no reply within `timeoutMs`,
 *   retries the SAME {client, seq} elsewhere: the service deduplicates;
 * - on `ok` records the answer and, after a think time, starts the next op.
 * Every op goes into the history at its invocation; one still unanswered when
 * the run ends, or abandoned by a client restart, stays pending (it may or may
 * not have taken effect).
 */
import type { NodeId } from '../../protocols/raft/types.js';
import type { SimClock } from './clock.js';
import type { Operation } from './linearizability.js';
import type { SimNetwork } from './network.js';
import type { Random } from './random.js';
import type { ClientCommand, ServiceInput, ServiceKind } from './services.js';

export type ClientRequest = { readonly type: 'client.request'; readonly command: ClientCommand };
export type ClientReply = {
  readonly type: 'client.reply';
  readonly seq: number;
  readonly outcome: 'ok' | 'not-leader' | 'lost' | 'busy' | 'error';
  readonly result?: unknown;
  readonly leader?: NodeId;
};

export interface ClientStats {
  ops: number;
  ok: number;
  retries: number;
  timeouts: number;
  redirects: number;
  errors: number;
  abandoned: number;
  /** Answers of LeadershipLostError: a leader lost its majority (or stepped down) holding the op. */
  lost: number;
  busy: number;
}

export interface ClientOptions {
  readonly id: string;
  readonly kind: ServiceKind;
  readonly nodes: readonly NodeId[];
  readonly clock: SimClock;
  readonly network: SimNetwork;
  readonly random: Random;
  /** A strictly increasing logical time for the history (sim time alone has ties). */
  readonly tick: () => number;
  readonly history: Operation<ServiceInput, unknown>[];
  readonly stats: ClientStats;
  readonly timeoutMs: number;
  readonly thinkMs: readonly [number, number];
  readonly log?: (line: string) => void;
}

export interface SimClient {
  readonly start: () => void;
  /** Starts no new op; the outstanding one keeps retrying. */
  readonly stopIssuing: () => void;
  /** Stops everything; an unanswered op stays pending. */
  readonly stop: () => void;
  /** True when no op is outstanding. */
  readonly idle: () => boolean;
  /**
   * The client restarts: its outstanding op stays unanswered forever (pending in the history — it may still commit
   * later, or never), and it goes on with the next seq (its seq counter survives, as a session's would).
   */
  readonly abandon: () => void;
}

type Pending = { command: ClientCommand; record: { -readonly [K in keyof Operation<ServiceInput, unknown>]: Operation<ServiceInput, unknown>[K] } };

/** How long to wait before retrying when the cluster said "no leader here, and I know none". */
const NO_LEADER_BACKOFF_MS = 30;

export const makeClient = (o: ClientOptions): SimClient => {
  let seq = 0;
  let target = o.random.pick(o.nodes);
  let current: Pending | undefined;
  let timer: ReturnType<SimClock['after']> | undefined;
  let issuing = true;
  let stopped = false;
  let lastSeen: unknown = null;

  const pickOp = (): ServiceInput => {
    const r = o.random.next();
    if (o.kind === 'counter') return r < 0.6 ? { type: 'increment' } : { type: 'read' };
    const fresh = Number(o.id.replace(/\D/g, '')) * 100_000 + seq;
    if (r < 0.4) return { type: 'write', value: fresh };
    if (r < 0.75) return { type: 'read' };
    return { type: 'cas', from: lastSeen as number | null, to: fresh };
  };
  const send = (): void => {
    if (!current || stopped) return;
    if (timer) o.clock.cancel(timer);
    const request: ClientRequest = { type: 'client.request', command: current.command };
    o.network.send(o.id, target, request);
    timer = o.clock.after(o.timeoutMs, onTimeout, o.id);
  };
  const otherNode = (): NodeId => {
    const others = o.nodes.filter((n) => n !== target);
    return others.length > 0 ? o.random.pick(others) : target;
  };
  const retry = (delay: number, next: NodeId): void => {
    o.stats.retries++;
    target = next;
    if (timer) o.clock.cancel(timer);
    timer = o.clock.after(delay, send, o.id);
  };
  const onTimeout = (): void => {
    o.stats.timeouts++;
    o.log?.(`${o.clock.now()} ${o.id} timeout seq ${current?.command.seq} at ${target}`);
    retry(0, otherNode());
  };
  const issue = (): void => {
    if (!issuing || stopped || current) return;
    seq++;
    const op = pickOp();
    const record = { id: o.history.length, client: o.id, input: op, invoke: o.tick() };
    o.history.push(record);
    current = { command: { client: o.id, seq, op }, record };
    o.stats.ops++;
    o.log?.(`${o.clock.now()} ${o.id} invoke #${record.id} seq ${seq} ${JSON.stringify(op)} → ${target}`);
    send();
  };
  const onReply = (from: string, message: unknown): void => {
    const reply = message as ClientReply;
    if (reply.type !== 'client.reply' || !current || reply.seq !== current.command.seq) return;
    switch (reply.outcome) {
      case 'ok': {
        if (timer) o.clock.cancel(timer);
        current.record.respond = o.tick();
        current.record.output = reply.result;
        const op = current.command.op;
        if (op.type === 'read') lastSeen = reply.result;
        else if (op.type === 'write') lastSeen = op.value;
        else if (op.type === 'cas' && reply.result === true) lastSeen = op.to;
        o.log?.(`${o.clock.now()} ${o.id} ok #${current.record.id} from ${from}: ${JSON.stringify(reply.result)}`);
        o.stats.ok++;
        current = undefined;
        timer = o.clock.after(o.random.int(o.thinkMs[0], o.thinkMs[1]), issue, o.id);
        return;
      }
      case 'not-leader':
        o.stats.redirects++;
        if (reply.leader !== undefined && reply.leader !== from) retry(1, reply.leader);
        else retry(NO_LEADER_BACKOFF_MS, otherNode());
        return;
      case 'error':
        o.stats.errors++;
        o.log?.(`${o.clock.now()} ${o.id} error from ${from}: ${JSON.stringify(reply.result)}`);
        retry(NO_LEADER_BACKOFF_MS, otherNode());
        return;
      default:
        // lost or busy: the op may still commit; ask again, elsewhere.
        o.stats[reply.outcome]++;
        retry(NO_LEADER_BACKOFF_MS, otherNode());
    }
  };
  return {
    start: () => {
      o.network.attach(o.id, onReply);
      issue();
    },
    stopIssuing: () => {
      issuing = false;
    },
    stop: () => {
      stopped = true;
      o.clock.cancelOwner(o.id);
    },
    idle: () => current === undefined,
    abandon: () => {
      if (!current || stopped) return;
      o.stats.abandoned++;
      o.log?.(`${o.clock.now()} ${o.id} abandons #${current.record.id} seq ${current.command.seq}`);
      current = undefined;
      o.clock.cancelOwner(o.id);
      timer = o.clock.after(o.random.int(o.thinkMs[0], o.thinkMs[1]), issue, o.id);
    },
  };
};
