/**
 * The page's model of the tribe: hosts, machine definitions, actors, each
 * actor's latest step, session health, and a bounded history of steps that
 * the scrubber walks. `Hello` resets it, `Update` batches extend it, and
 * `changes` says what the views must redraw at the next frame.
 */
import type { ActorInfo, CallRecord, Hello, HostInfo, MachineDef, StepRecord, Update } from '../model.js';
import { CallStats } from './messages.js';
import { Ring } from './ring.js';

/** How many steps the page keeps for time travel: ~20 minutes of a busy host, a few MB of memory. */
export const HISTORY_CAPACITY = 20_000;

export type HealthRecord = Extract<Update, { k: 'health' }>;

/** A relay's "records dropped" notice, kept in the history where it happened so the log can show it. */
export interface GapEntry {
  readonly k: 'gap';
  readonly host: string;
  readonly dropped: number;
  readonly t: number;
}
/** Steps, relays' gaps, and calls between actors with their answers (messages.ts), in time order. */
export type Entry = StepRecord | GapEntry | CallRecord;

/** What changed since the views last drew. */
export interface Changes {
  /** Hosts added or their connection changed. */
  hosts: boolean;
  /** Actors registered or stepped. */
  readonly actors: Set<string>;
  /** Definitions received. */
  defs: boolean;
  /** Entries appended to the history. */
  appended: number;
  /** Entries prepended (older history loaded). */
  prepended: number;
  readonly health: Set<string>;
  /** Call records and vat call numbers received. */
  calls: number;
}

const noChanges = (): Changes => ({
  hosts: false,
  actors: new Set(),
  defs: false,
  appended: 0,
  prepended: 0,
  health: new Set(),
  calls: 0,
});

/** Sorted by time; equal times keep their order. */
const byTime = <E extends { readonly t: number }>(entries: readonly E[]): E[] =>
  entries
    .map((e, i) => [e, i] as const)
    .sort((a, b) => a[0].t - b[0].t || a[1] - b[1])
    .map(([e]) => e);

const recordKey = (s: StepRecord) => `${s.host}\n${s.seq}`;
const pairKey = (host: string, group: string, peer: string) => `${host}\n${group}\n${peer}`;

export class VizModel {
  self = '';
  /** This host first, then the others as they appear. */
  readonly hosts = new Map<string, HostInfo>();
  readonly defs = new Map<string, MachineDef>();
  readonly actors = new Map<string, ActorInfo>();
  /** Each actor's newest step. */
  readonly latest = new Map<string, StepRecord>();
  /** Each actor's newest known context (steps carry it only when it changed). */
  readonly context = new Map<string, unknown>();
  readonly health = new Map<string, HealthRecord>();
  readonly history: Ring<Entry>;
  /**
   * Counts the times entries already held moved (a relayed step older than the
   * newest held went in before it): views that cache rows by index redraw them.
   */
  rewrites = 0;
  /** The lowest (absolute) index the latest rewrite changed: entries before it kept their place. */
  movedFrom = 0;
  /** Records dropped by relays since the hello. */
  dropped = 0;
  /** Steps received since the hello (the header's rate). */
  received = 0;
  /** Calls (not answers) received since the hello (the header's rate). */
  callsReceived = 0;
  changes: Changes = noChanges();
  /** Calls in and out per endpoint, references held, calls not traced (messages.ts). */
  readonly calls = new CallStats();
  /** `<host>/<vat name>` → the aid of that vat's lifecycle machine: the lane its calls start and end on. */
  readonly vatLanes = new Map<string, string>();
  /** Each actor's newest step older than the history held: its state before the first entry. */
  readonly #baseline = new Map<string, StepRecord>();
  /** (host, group, peer) → aid: how a remote event finds its counterpart's lane. */
  readonly #pairs = new Map<string, string>();

  constructor(capacity = HISTORY_CAPACITY) {
    this.history = new Ring<Entry>(capacity);
  }

  reset(hello: Hello): void {
    this.self = hello.self;
    for (const m of [this.hosts, this.defs, this.actors, this.latest, this.context, this.health, this.#baseline, this.#pairs])
      m.clear();
    this.history.clear();
    this.calls.clear();
    this.vatLanes.clear();
    this.dropped = 0;
    this.received = 0;
    this.callsReceived = 0;
    this.hosts.set(hello.self, { k: 'host', host: hello.self, self: true, connected: true });
    for (const h of hello.hosts) this.#host(h);
    for (const d of hello.defs) this.defs.set(d.hash, d);
    for (const a of hello.actors) this.#actor(a);
    const held = new Set<string>();
    // The host's history is in arrival order; relayed steps can arrive after newer ones of its own.
    for (const s of byTime<StepRecord | CallRecord>([...hello.history, ...(hello.calls ?? [])]).slice(-this.history.capacity)) {
      this.#append(s);
      if (s.k === 'call') {
        this.calls.add(s);
        continue;
      }
      held.add(recordKey(s));
      if (s.context !== undefined) this.context.set(s.aid, s.context);
    }
    for (const v of hello.vatCalls ?? []) this.calls.vat(v);
    const newest = hello.history.at(-1)?.t ?? -Infinity;
    for (const s of hello.latest) {
      this.#latest(s);
      if (held.has(recordKey(s))) continue;
      // A latest step missing from the history is older than it, unless it raced ahead of it.
      if (s.t > newest) this.#append(s);
      else this.#baseline.set(s.aid, s);
    }
    for (const h of hello.health) this.health.set(h.host, h);
    this.changes = noChanges();
  }

  apply(updates: readonly Update[]): void {
    const entries: Entry[] = [];
    for (const u of updates) {
      switch (u.k) {
        case 'host':
          this.#host(u);
          break;
        case 'def':
          this.defs.set(u.def.hash, u.def);
          this.changes.defs = true;
          break;
        case 'actor':
          this.#actor(u.actor);
          break;
        case 'step':
          this.#latest(u);
          entries.push(u);
          this.received++;
          break;
        case 'health':
          this.health.set(u.host, u);
          this.changes.health.add(u.host);
          break;
        case 'call':
          entries.push(u);
          this.calls.add(u);
          this.changes.calls++;
          if (u.phase === 'call') this.callsReceived++;
          break;
        case 'vat-calls':
          this.calls.vat(u);
          this.changes.calls++;
          break;
        case 'gap':
          this.dropped += u.dropped;
          entries.push({ k: 'gap', host: u.host, dropped: u.dropped, t: this.history.at(this.history.end - 1)?.t ?? Date.now() });
          break;
      }
    }
    this.#merge(entries);
  }

  /**
   * Adds a batch's entries in time order: the history is ordered by each
   * step's time, not by arrival, so a peer's relayed steps (its half of a
   * handshake, say) take their place among this host's.
   */
  #merge(batch: readonly Entry[]): void {
    if (batch.length === 0) return;
    const incoming = byTime(batch);
    const first = incoming[0]!.t;
    const tail: Entry[] = [];
    for (let e = this.history.at(this.history.end - 1); e && e.t > first; e = this.history.at(this.history.end - 1)) {
      tail.push(this.history.pop()!);
    }
    if (tail.length === 0) {
      for (const e of incoming) this.#append(e);
      return;
    }
    tail.reverse();
    this.rewrites++;
    this.movedFrom = this.history.end;
    let i = 0;
    let j = 0;
    // Ties keep what was held first.
    while (i < tail.length || j < incoming.length) {
      if (j >= incoming.length || (i < tail.length && tail[i]!.t <= incoming[j]!.t)) this.#append(tail[i++]!);
      else this.#append(incoming[j++]!);
    }
  }

  /** Older steps (oldest first) in front of the history, as many as fit; returns how many were taken. */
  prepend(records: readonly StepRecord[]): number {
    const first = this.history.at(this.history.start);
    const taken: StepRecord[] = [];
    for (let i = records.length - 1; i >= 0; i--) {
      const s = records[i]!;
      if (first && s.t > first.t) continue;
      if (!this.history.unshift(s)) break;
      taken.push(s);
    }
    // A baseline step that is now held no longer describes the time before the first entry.
    for (const s of taken) {
      const b = this.#baseline.get(s.aid);
      if (b && recordKey(b) === recordKey(s)) this.#baseline.delete(s.aid);
    }
    this.changes.prepended += taken.length;
    return taken.length;
  }

  takeChanges(): Changes {
    const c = this.changes;
    this.changes = noChanges();
    return c;
  }

  /** Every actor's step as of history entry `index` (inclusive). */
  snapshotAt(index: number): Map<string, StepRecord> {
    const out = new Map<string, StepRecord>();
    const want = this.actors.size;
    for (let i = Math.min(index, this.history.end - 1); i >= this.history.start && out.size < want; i--) {
      const e = this.history.at(i);
      if (e?.k === 'step' && !out.has(e.aid)) out.set(e.aid, e);
    }
    for (const [aid, s] of this.#baseline) if (!out.has(aid)) out.set(aid, s);
    return out;
  }

  /**
   * Where a step is held now: entries move when a late, older step goes in
   * before them, so a view that drew `index` a moment ago finds it again by
   * (host, seq). Falls back to `index` for entries without a seq (gaps).
   */
  indexOf(host: string | undefined, seq: number, index: number): number {
    if (host === undefined || !Number.isFinite(seq)) return index;
    for (let i = this.history.end - 1; i >= this.history.start; i--) {
      const e = this.history.at(i);
      if (e?.k === 'step' && e.seq === seq && e.host === host) return i;
    }
    return index;
  }

  /** One actor's step as of entry `index`. */
  stepAt(aid: string, index: number): StepRecord | undefined {
    for (let i = Math.min(index, this.history.end - 1); i >= this.history.start; i--) {
      const e = this.history.at(i);
      if (e?.k === 'step' && e.aid === aid) return e;
    }
    return this.#baseline.get(aid);
  }

  /** One actor's newest context as of entry `index`. */
  contextAt(aid: string, index: number): unknown {
    for (let i = Math.min(index, this.history.end - 1); i >= this.history.start; i--) {
      const e = this.history.at(i);
      if (e?.k === 'step' && e.aid === aid && e.context !== undefined) return e.context;
    }
    return this.#baseline.get(aid)?.context;
  }

  /** The actor on `actor.tag.peer` that pairs with this one (same group, pointing back): where its remote events come from. */
  counterpart(actor: ActorInfo): string | undefined {
    const peer = actor.tag.peer;
    return peer === undefined ? undefined : this.#pairs.get(pairKey(peer, actor.tag.group, actor.host));
  }

  #host(h: HostInfo): void {
    this.hosts.set(h.host, { ...h, self: h.host === this.self });
    this.changes.hosts = true;
  }

  #actor(a: ActorInfo): void {
    this.actors.set(a.aid, a);
    if (!this.hosts.has(a.host)) this.#host({ k: 'host', host: a.host, self: false, connected: true });
    // The newest registration wins: a reconnect makes a new path that pairs with the peer's new one.
    if (a.tag.peer !== undefined) this.#pairs.set(pairKey(a.host, a.tag.group, a.tag.peer), a.aid);
    // A vat's lifecycle machine is its lane for calls; the newest run of a name wins.
    if (a.tag.group === 'vats' && a.parent === undefined) this.vatLanes.set(`${a.host}/${a.tag.name}`, a.aid);
    this.changes.actors.add(a.aid);
  }

  #latest(s: StepRecord): void {
    const prev = this.latest.get(s.aid);
    if (prev && prev.host === s.host && prev.seq > s.seq) return;
    this.latest.set(s.aid, s);
    if (s.context !== undefined) this.context.set(s.aid, s.context);
    this.changes.actors.add(s.aid);
  }

  #append(e: Entry): void {
    const evicted = this.history.push(e);
    if (evicted?.k === 'step') this.#baseline.set(evicted.aid, evicted);
    this.changes.appended++;
  }
}
