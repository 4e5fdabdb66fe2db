/**
 * What the visualizer shows, as plain data: the contract between the
 * inspector (which turns XState inspection events into these records), the
 * relay between hosts, the store's history, the HTTP server and the page.
 *
 * Everything here is JSON data, already redacted: no function, no byte array,
 * no secret. The page trusts none of it beyond its shape (a peer host's
 * records arrive through `checkUpdates`), and renders every string as text.
 */

import type { TracedCall } from '../../vats/call-trace.js';

/** A state node of a machine definition, keyed by its path from the root ('' for the root). */
export interface StateNodeDef {
  /** Dot-joined keys from the root: '' (root), 'alive', 'alive.phase.running'. */
  readonly path: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Path of the initial child (compound states). */
  readonly initial?: string;
  readonly children: readonly StateNodeDef[];
  readonly transitions: readonly TransitionDef[];
  /** Names of entry actions and invoked actors, for the diagram's captions. */
  readonly entry: readonly string[];
  readonly invoke: readonly string[];
  readonly tags: readonly string[];
}

export interface TransitionDef {
  /** Event type; 'after <delay>' for delayed transitions, 'always' for eventless ones. */
  readonly event: string;
  /** Target state paths; empty for a transition that stays (actions only). */
  readonly targets: readonly string[];
  readonly guard?: string;
  readonly actions: readonly string[];
}

export interface MachineDef {
  /** Content hash of the definition: actors of one machine share it. */
  readonly hash: string;
  /** The machine's own id ('vat', 'path', …). */
  readonly id: string;
  readonly root: StateNodeDef;
}

/**
 * Where an actor sits in the tree under its host: a group ('vats', 'sessions',
 * 'services', …) and a name within it. Registration gives it (see
 * `Inspector.tap`); a machine needs nothing else to appear.
 */
export interface ActorTag {
  readonly group: string;
  readonly name: string;
  /**
   * The host its counterpart runs on (a session path's peer): events marked
   * `remote` are drawn as arriving from the counterpart's lane.
   */
  readonly peer?: string;
}

export interface ActorInfo {
  /**
   * Unique on its host across restarts: `<host>/<run>.<n>`, where `run` names
   * the host's run (HostInfo.run) and `n` counts from 1 in each run.
   */
  readonly aid: string;
  readonly host: string;
  readonly def: string;
  readonly tag: ActorTag;
  /** The actor that spawned or invoked it, if any. */
  readonly parent?: string;
  /**
   * Set by the host that shows it, never relayed: the actor's host restarted
   * (a new run appeared) or the session that relayed it ended, so it may no
   * longer exist. Its last known state stays; a relay that brings the actor
   * again (the same run, back over a new session) clears it.
   */
  readonly gone?: boolean;
}

export type ActorStatus = 'active' | 'done' | 'error' | 'stopped';

/** One step of one actor: the event it took and the state it reached. */
export interface StepRecord {
  readonly k: 'step';
  /** Per-host sequence number, from 1. */
  readonly seq: number;
  /** Milliseconds since the epoch, on the host the actor runs on. */
  readonly t: number;
  readonly host: string;
  readonly aid: string;
  /** Event type; '(start)' for an actor's first snapshot. */
  readonly event: string;
  /** A short caption of the event (e.g. the frame's name), when its registration gives one. */
  readonly label?: string;
  /** The actor that sent it, when XState knows. */
  readonly source?: string;
  /** The event came from the actor's counterpart on `tag.peer`. */
  readonly remote?: boolean;
  /** XState state value after the step. */
  readonly value: unknown;
  readonly status: ActorStatus;
  /** Redacted context, only when it changed since the actor's previous step. */
  readonly context?: unknown;
}

export interface HostInfo {
  readonly k: 'host';
  readonly host: string;
  /** The host serving the page. */
  readonly self: boolean;
  /** Its records still arrive (false once the session that relayed them ended). */
  readonly connected: boolean;
  readonly listen?: string;
  /** This run of the host (a new one each start): the `<run>` of its actors' ids. */
  readonly run?: string;
}

export interface SessionHealth {
  readonly peer: string;
  readonly address: string;
  readonly role: string;
  readonly state: string;
  readonly cipher: string;
  readonly rttMs: number | null;
  readonly framesIn: number;
  readonly framesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly channels: number;
  readonly upMs: number;
  /** The triple session's state ('healthy', 'critical', 'resuming', …; docs/protocol.md 14.4); absent from older hosts. */
  readonly triple?: string;
  /** Its paths: the direct one ('host:port') and those through bridges ('via <bridge>'). */
  readonly paths?: readonly PathHealth[];
}

/** One path of a session, as its health row shows it. */
export interface PathHealth {
  readonly address: string;
  /** 'attaching', 'good', 'degraded'; 'repairing' for a bridge whose path is being made again. */
  readonly grade: string;
  readonly rttMs: number | null;
  readonly framesIn: number;
  readonly framesOut: number;
}

/**
 * An E() call between actors, or its answer (runtime/viz/messages.ts): traced
 * by the calling vat, or by the vat a host called. Never an argument, a
 * result or an error's message: method, endpoints, outcome, latency.
 */
export interface CallRecord extends TracedCall {
  readonly k: 'call';
  /** The host whose vat traced it. */
  readonly host: string;
  /** The vat that traced it (the caller, or the callee of a host's call). */
  readonly vat: string;
}

/** A vat's tracing numbers, at most once a second while tracing: calls not traced, references held per peer. */
export interface VatCallsRecord {
  readonly k: 'vat-calls';
  readonly host: string;
  readonly vat: string;
  readonly t: number;
  /** Calls not traced since the previous record (over the per-vat rate). */
  readonly dropped: number;
  /** References held, per peer endpoint (absent: unchanged). */
  readonly refs?: readonly { readonly peer: string; readonly imports: number; readonly exports: number }[];
}

export type Update =
  | HostInfo
  | CallRecord
  | VatCallsRecord
  | { readonly k: 'def'; readonly def: MachineDef }
  | { readonly k: 'actor'; readonly actor: ActorInfo }
  | StepRecord
  | { readonly k: 'health'; readonly host: string; readonly t: number; readonly sessions: readonly SessionHealth[] }
  /** Records a relay had to drop because its reader fell behind. */
  | { readonly k: 'gap'; readonly host: string; readonly dropped: number };

/** What the page gets first on its stream: everything it needs to draw the present, and recent history. */
export interface Hello {
  readonly k: 'hello';
  readonly self: string;
  readonly hosts: readonly HostInfo[];
  readonly defs: readonly MachineDef[];
  readonly actors: readonly ActorInfo[];
  /** Each actor's latest step. */
  readonly latest: readonly StepRecord[];
  /** The most recent steps of all hosts, oldest first (the scrubber's range until it loads more). */
  readonly history: readonly StepRecord[];
  readonly health: readonly Extract<Update, { k: 'health' }>[];
  /** Recent calls and answers of all hosts, oldest first. */
  readonly calls?: readonly CallRecord[];
  /** Each vat's latest references held. */
  readonly vatCalls?: readonly VatCallsRecord[];
}

/** Active state paths of a state value: 'closed' → ['', 'closed']; {alive: {phase: 'running'}} → ['', 'alive', 'alive.phase', 'alive.phase.running']. */
export const activePaths = (value: unknown): string[] => {
  const out = [''];
  const walk = (v: unknown, prefix: string) => {
    if (typeof v === 'string') out.push(prefix ? `${prefix}.${v}` : v);
    else if (v && typeof v === 'object') {
      for (const [key, child] of Object.entries(v as Record<string, unknown>)) {
        const path = prefix ? `${prefix}.${key}` : key;
        out.push(path);
        walk(child, path);
      }
    }
  };
  walk(value, '');
  return out;
};
