/**
 * An in-memory network on the simulated clock. Every message is subject to the
 * current faults: lost with probability `loss`, delayed uniformly within
 * [minDelayMs, maxDelayMs] (so messages reorder), duplicated with probability
 * `duplicate` (the copy takes its own delay). Partitions are sets of endpoints:
 * two endpoints in different sets cannot talk; an endpoint in no set (a client)
 * reaches everyone. A partition or crash cuts messages already in flight too:
 * delivery checks the link and both ends' incarnations when the message lands.
 *
 * Deterministic: all randomness comes from the seeded `random`, all time from
 * the clock, so the same seed gives the same log.
 */
import type { SimClock } from './clock.js';
import type { Random } from './random.js';

export interface NetworkFaults {
  readonly loss: number;
  readonly duplicate: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

export const CALM: NetworkFaults = { loss: 0, duplicate: 0, minDelayMs: 1, maxDelayMs: 5 };

export type Handler = (from: string, message: unknown) => void;

export interface SimNetwork {
  /** Attaches a new incarnation of `id`; messages in flight to or from earlier ones are dropped. */
  readonly attach: (id: string, handler: Handler) => void;
  /** Detaches `id` (a crash): nothing reaches it until it is attached again. */
  readonly detach: (id: string) => void;
  readonly send: (from: string, to: string, message: unknown) => void;
  /** Cuts the network into `groups`; endpoints in no group reach every endpoint. */
  readonly partition: (groups: readonly (readonly string[])[]) => void;
  readonly heal: () => void;
  readonly setFaults: (faults: NetworkFaults) => void;
  readonly connected: (a: string, b: string) => boolean;
  readonly stats: () => NetworkStats;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  cut: number;
}

export interface NetworkHooks {
  readonly log?: (line: string) => void;
  readonly describe?: (m: unknown) => string;
  /** Told after each delivery (a fault injector aims faults at interesting moments with it). */
  readonly onDeliver?: (from: string, to: string, message: unknown) => void;
}

export const makeNetwork = (clock: SimClock, random: Random, hooks: NetworkHooks = {}): SimNetwork => {
  const { log, describe, onDeliver } = hooks;
  const handlers = new Map<string, Handler>();
  const incarnation = new Map<string, number>();
  let group = new Map<string, number>();
  let faults = CALM;
  const stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, cut: 0 };
  const connected = (a: string, b: string): boolean => {
    const ga = group.get(a);
    const gb = group.get(b);
    return ga === undefined || gb === undefined || ga === gb;
  };
  const deliverLater = (from: string, to: string, message: unknown, copy: boolean): void => {
    const fromInc = incarnation.get(from) ?? 0;
    const toInc = incarnation.get(to) ?? 0;
    const delay = random.int(faults.minDelayMs, faults.maxDelayMs);
    clock.after(delay, () => {
      const handler = handlers.get(to);
      if (!handler || incarnation.get(to) !== toInc || (incarnation.get(from) ?? 0) !== fromInc || !connected(from, to)) {
        stats.cut++;
        return;
      }
      stats.delivered++;
      log?.(`${clock.now()} ${from}→${to}${copy ? ' (dup)' : ''} ${describe ? describe(message) : JSON.stringify(message)}`);
      handler(from, message);
      onDeliver?.(from, to, message);
    });
  };
  return {
    attach: (id, handler) => {
      incarnation.set(id, (incarnation.get(id) ?? 0) + 1);
      handlers.set(id, handler);
    },
    detach: (id) => {
      incarnation.set(id, (incarnation.get(id) ?? 0) + 1);
      handlers.delete(id);
    },
    send: (from, to, message) => {
      stats.sent++;
      if (random.chance(faults.loss)) {
        stats.lost++;
        return;
      }
      deliverLater(from, to, message, false);
      if (random.chance(faults.duplicate)) {
        stats.duplicated++;
        deliverLater(from, to, message, true);
      }
    },
    partition: (groups) => {
      group = new Map();
      groups.forEach((members, i) => {
        for (const m of members) group.set(m, i);
      });
    },
    heal: () => {
      group = new Map();
    },
    setFaults: (f) => {
      faults = f;
    },
    connected,
    stats: () => ({ ...stats }),
  };
};
