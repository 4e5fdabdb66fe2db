/**
 * Heartbeats and grades of one path, pure. Each path gets a Beat every
 * `heartbeatMs`; the peer answers each with an Echo on the same path. From the
 * echoes: the smoothed RTT (RFC 6298's α = 1/8), the share of the last
 * `lossWindowBeats` beats left unanswered, and when the path last carried
 * anything at all. The grade:
 *
 *   attaching  no Echo yet: the path is not validated, nothing but Beats goes on it
 *   good       validated, answering, not much slower than the best path
 *   degraded   losing beats, quiet for two heartbeats, or much slower than the best path
 *   dead       nothing received for `pathDeadMs` (from when it was attached): detach it
 *
 * Validation (QUIC's path challenge, here an Echo of one of our Beats) proves
 * that the peer hears us on this path and knows our epoch before we put data
 * on it, so a new path — the replacement a bridge provides — is used only once
 * it works both ways.
 */
import type { TripleLimits } from './limits.js';

export type PathGrade = 'attaching' | 'good' | 'degraded' | 'dead';

interface Beat {
  readonly id: number;
  readonly at: number;
  echoed: boolean;
}

/** Suspicions of a path this close together count as one run: its hold doubles. */
export const SUSPECT_MEMORY_MS = 30_000;
/** A path that keeps losing frames is passed over for at most this long at a time, then tried again. */
export const SUSPECT_MAX_HOLD_MS = 16_000;

export class PathHealth {
  readonly attachedAt: number;
  lastHeardAt: number;
  /** Smoothed RTT in ms; undefined before the first echo. */
  srtt: number | undefined;
  /** The peer answered one of our beats on this path. */
  validated = false;
  /** The peer's epoch was seen on this path: its data is accepted from here on. */
  heardEpoch = false;
  /**
   * Since when a frame sent on this path timed out unacknowledged (standby
   * mode): the path is passed over for sending until it echoes a Beat sent
   * `suspectHoldMs` after that, so one stall costs one retransmit timeout, not
   * one per frame. The hold doubles with each suspicion within
   * SUSPECT_MEMORY_MS of the last (a path that keeps losing frames stays
   * passed over), from one heartbeat up to SUSPECT_MAX_HOLD_MS.
   */
  suspectSince: number | undefined;
  suspectHoldMs = 0;
  #suspicions = 0;
  #lastSuspectAt = -Infinity;

  /** A frame sent on this path timed out: pass it over for a while (see `suspectSince`). */
  suspect(now: number, heartbeatMs: number): void {
    if (this.suspectSince !== undefined) return;
    this.#suspicions = now - this.#lastSuspectAt > SUSPECT_MEMORY_MS ? 1 : this.#suspicions + 1;
    this.#lastSuspectAt = now;
    this.suspectSince = now;
    this.suspectHoldMs = Math.min(SUSPECT_MAX_HOLD_MS, heartbeatMs * 2 ** (this.#suspicions - 1) - heartbeatMs);
  }
  beatsSent = 0;
  echoes = 0;
  framesIn = 0;
  framesOut = 0;
  #beats: Beat[] = [];
  #nextId = 1;

  constructor(now: number) {
    this.attachedAt = now;
    this.lastHeardAt = now;
  }

  /** A new Beat's id, remembered with its time. */
  beat(now: number, keep: number): number {
    const id = this.#nextId++;
    this.#beats.push({ id, at: now, echoed: false });
    if (this.#beats.length > keep) this.#beats.shift();
    this.beatsSent++;
    return id;
  }

  /** An Echo: true when it answers a beat we remember and had not been answered (a replay or forgery answers nothing). */
  echo(id: number, now: number): boolean {
    const b = this.#beats.find((x) => x.id === id);
    if (!b || b.echoed) return false;
    b.echoed = true;
    this.echoes++;
    const sample = Math.max(0, now - b.at);
    // Up slowly (one late echo is not a slow path), down quickly (a path that is fast again is used again
    // within a few heartbeats: at 1/8 one spike kept a path 'degraded' for ten seconds or more).
    this.srtt = this.srtt === undefined ? sample : this.srtt + (sample - this.srtt) / (sample < this.srtt ? 2 : 8);
    this.validated = true;
    if (this.suspectSince !== undefined && b.at >= this.suspectSince + this.suspectHoldMs) this.suspectSince = undefined;
    return true;
  }

  heard(now: number): void {
    this.lastHeardAt = now;
    this.framesIn++;
  }

  /** Unanswered share of the remembered beats old enough to have been answered. */
  loss(now: number, limits: TripleLimits): number {
    const answerBy = Math.max(limits.heartbeatMs, 2 * (this.srtt ?? 0));
    let due = 0;
    let lost = 0;
    for (const b of this.#beats) {
      if (now - b.at < answerBy) continue;
      due++;
      if (!b.echoed) lost++;
    }
    return due === 0 ? 0 : lost / due;
  }

  grade(now: number, limits: TripleLimits, bestSrtt: number | undefined): PathGrade {
    if (now - this.lastHeardAt >= limits.pathDeadMs) return 'dead';
    if (!this.validated) return 'attaching';
    if (now - this.lastHeardAt >= 2 * limits.heartbeatMs) return 'degraded';
    if (this.loss(now, limits) * 100 >= limits.degradedLossPercent) return 'degraded';
    if (bestSrtt !== undefined && this.srtt !== undefined && this.srtt > limits.degradedRttFactor * bestSrtt + 20) return 'degraded';
    return 'good';
  }
}
