/**
 * The front of a replicated service: what callers hold. One object whose
 * methods are the service's; each call gets a call id (this front's random id
 * and a sequence number) and goes to the replica believed to lead. A replica
 * that does not lead answers where the leader is; a replica that fails (its
 * host died, its session ended, it lost the leadership mid-call, no answer
 * within ATTEMPT_MS) is left for the next; the same call id is sent again
 * until some leader answers it. The leader answers a call id it has applied
 * from its replies table, so the call's effects happen once and its caller
 * gets the one answer.
 *
 * Failure semantics: a call settles with the method's answer (its value, or
 * the error it threw, revived by name), or rejects with
 * ServiceUnavailableError after CALL_DEADLINE_MS without a leader's answer —
 * then it may or may not have been applied (the caller may retry it; a
 * service whose operations are not idempotent should read before retrying).
 */
import { E, Far } from '@endo/far';
import { reviveError } from '../../capabilities/errors.js';
import { shortVatId } from '../../protocols/session/vat-id.js';
import { randomBytes } from 'node:crypto';
import { ServiceUnavailableError } from './errors.js';

/** One attempt at one replica: a live leader answers a turn in milliseconds; a partitioned one never does. */
export const ATTEMPT_MS = 3_000;
/** How long a call seeks a leader: a leader's lease, an election and a vat start, several times over. */
export const CALL_DEADLINE_MS = 30_000;
/** Pause between rounds of replicas that all failed or knew no leader: an election takes a few hundred ms. */
const RETRY_MIN_MS = 25;
const RETRY_MAX_MS = 400;

/** A front's timing, one record (tests shrink it; callers keep the defaults). */
export interface FrontLimits {
  /** One attempt at one replica, then the next is asked. */
  readonly attemptMs: number;
  /** How long a call seeks a leader before ServiceUnavailableError. */
  readonly callDeadlineMs: number;
  /** The first pause between rounds; it doubles up to retryMaxMs. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

export const DEFAULT_FRONT_LIMITS: FrontLimits = harden({ attemptMs: ATTEMPT_MS, callDeadlineMs: CALL_DEADLINE_MS, retryMinMs: RETRY_MIN_MS, retryMaxMs: RETRY_MAX_MS });

/** How a front reaches the service's replicas. */
export interface ServiceRoute {
  members(): readonly string[];
  /** The replica endpoint of a member (replica-host.ts). */
  endpoint(vatId: string): Promise<any>;
  /** Forget a member's endpoint after it failed: the next call reaches it afresh. */
  forget(vatId: string): void;
}

export interface Front {
  /** Settles with the service's object once a leader has told its methods. */
  ready(): Promise<unknown>;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());
/** What `within` answers when `ms` passed first (no answer of a replica can be it). */
export const TIMED_OUT = Symbol('timed out');
/** `p`, or TIMED_OUT once `ms` passed first; the timer never outlives the race. */
export const within = <T,>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<typeof TIMED_OUT>((r) => (timer = setTimeout(() => r(TIMED_OUT), ms)))]).finally(() => clearTimeout(timer));
};

type Answer = { ok?: unknown; error?: { name: string; message: string }; unreplayable?: string; leader?: string | null; methods?: string[] };

export const makeFront = (opts: { name: string; route: ServiceRoute; print?: (line: string) => void; limits?: Partial<FrontLimits> }): Front => {
  const { name, route } = opts;
  const limits: FrontLimits = { ...DEFAULT_FRONT_LIMITS, ...opts.limits };
  const id = randomBytes(10).toString('hex');
  let seq = 0;
  let leader: string | undefined;

  /** Asks replicas, the believed leader first, until one answers finally (not `{ leader }`). */
  const ask = async (what: (ref: any) => Promise<Answer>, label: string): Promise<Answer> => {
    const deadline = Date.now() + limits.callDeadlineMs;
    let pause = limits.retryMinMs;
    let last = 'no replica answered';
    // A round that ends by following a redirect starts the next at once, but not two in a row:
    // replicas that name each other (a stale leader) still pause between rounds.
    let straight = false;
    for (;;) {
      let redirected = false;
      const members = route.members();
      const order = leader && members.includes(leader) ? [leader, ...members.filter((m) => m !== leader)] : [...members];
      for (const m of order) {
        if (Date.now() > deadline) break;
        const p = route.endpoint(m);
        let answer: Answer | typeof TIMED_OUT;
        try {
          answer = await within(p.then((ref) => what(ref)), limits.attemptMs);
        } catch (err) {
          route.forget(m);
          last = `${shortVatId(m)}: ${reviveError(err).message}`;
          if (leader === m) leader = undefined;
          continue;
        }
        if (answer === TIMED_OUT) {
          route.forget(m);
          last = `${shortVatId(m)} did not answer within ${limits.attemptMs} ms`;
          if (leader === m) leader = undefined;
          continue;
        }
        if (typeof answer !== 'object' || answer === null) {
          // Not an answer of a replica endpoint: that replica is no use to this call.
          last = `${shortVatId(m)} answered something that is no answer (${typeof answer})`;
          if (leader === m) leader = undefined;
          continue;
        }
        if ('leader' in answer) {
          last = `${shortVatId(m)} does not lead${answer.leader ? ` (it names ${shortVatId(answer.leader)})` : ' and knows no leader'}`;
          if (answer.leader && answer.leader !== m && members.includes(answer.leader)) {
            leader = answer.leader;
            redirected = true;
            break; // straight to the leader it names
          }
          continue;
        }
        leader = m;
        return answer;
      }
      if (Date.now() > deadline) throw new ServiceUnavailableError(`service ${name}: no leader answered ${label} within ${limits.callDeadlineMs} ms (last: ${last})`);
      straight = redirected && !straight;
      if (straight) continue;
      await delay(pause);
      pause = Math.min(limits.retryMaxMs, pause * 2);
    }
  };

  const call = async (method: string, args: unknown[]): Promise<unknown> => {
    seq += 1;
    const callId = `${id}.${seq}`;
    const answer = await ask((ref) => E(ref).invoke(name, callId, method, harden(args)) as Promise<Answer>, `${method}()`);
    if ('ok' in answer) return answer.ok;
    if (answer.error) {
      const err = new Error(answer.error.message.startsWith(`${answer.error.name}: `) ? answer.error.message : `${answer.error.name}: ${answer.error.message}`);
      err.name = answer.error.name;
      throw err;
    }
    if (answer.unreplayable) throw new ServiceUnavailableError(`service ${name}: ${answer.unreplayable}`);
    return undefined;
  };

  let made: Promise<unknown> | undefined;
  return {
    ready() {
      made ??= (async () => {
        const answer = await ask((ref) => E(ref).methods(name) as Promise<Answer>, 'its methods');
        const methods = answer.methods ?? [];
        return Far(name, Object.fromEntries(methods.map((m) => [m, (...args: unknown[]) => call(m, args)])));
      })();
      return made;
    },
  };
};
