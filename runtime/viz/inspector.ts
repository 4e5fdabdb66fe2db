/**
 * The host's inspector: XState's own `inspect` stream of every registered
 * machine, turned into the visualizer's records (model.ts), batched, kept as
 * recent history, and handed to whoever watches — the page server, the store,
 * and peer hosts that relay it to their own page.
 *
 * Registration is the only thing a machine needs: `inspector.tap(tag)` gives
 * the `inspect` function to pass to `createActor`; the tag places the actor in
 * the tree. Definitions are read from the machines themselves (machine-def.ts),
 * so the page draws any machine without knowing it.
 */
import type { InspectionEvent } from 'xstate';
import { VizRelayError } from '../errors.js';
import { checkUpdates, MAX_BATCH } from './check.js';
import { machineDef } from './machine-def.js';
import { makeCallLog } from './messages.js';
import type { ActorInfo, ActorTag, Hello, HostInfo, MachineDef, SessionHealth, StepRecord, Update } from './model.js';
import { redact, redactText } from './redact.js';
import { DEFAULT_PEER_LIMITS, type Inspector, type InspectorOptions, type PeerLimits, type Tap, type TapOptions, type WatchOptions } from './inspector-api.js';

export {
  DEFAULT_PEER_LIMITS,
  type Inspector,
  type InspectorOptions,
  type PeerLimits,
  type Tap,
  type TapOptions,
  type WatchOptions,
} from './inspector-api.js';

/** Health rows of sessions that ended stay this long, marked 'ended'. */
const ENDED_HEALTH_MS = 5 * 60_000;
const HEALTH_EVERY_MS = 1000;
/** The tree group of session path machines: their steps refresh the health rows at once. */
const SESSIONS = 'sessions';
/** One relay push carries at most this many records, and stops adding once past this many bytes of JSON. */
const RELAY_BATCH = 1000;
const RELAY_BATCH_BYTES = 256 * 1024;
/**
 * Steps a watcher takes from one peer per second; beyond, they are dropped and
 * counted in a 'gap' record. A relay keeps one push of at most 1,000 in
 * flight, so only a very busy peer, or a flooding one, gets there.
 */
export const MAX_RELAY_RATE = 20_000;
/**
 * Records queued for one peer at most. Steps past 2 × MAX_BATCH are dropped
 * and health rows coalesce, so only a flood of new actors or definitions
 * reaches this while the peer takes nothing.
 */
export const MAX_RELAY_QUEUE = 4 * MAX_BATCH;

interface ActorState {
  info: ActorInfo;
  latest: StepRecord | undefined;
  contextText: string | undefined;
  /** Its machine ended, or it is `gone` (counted against `endedLimit` either way). */
  ended: boolean;
}
interface TapRecord {
  tag: ActorTag;
  aids: string[];
}

export const makeInspector = (opts: InspectorOptions): Inspector => {
  const self = opts.host;
  const now = opts.now ?? Date.now;
  const setTimer = opts.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = opts.clearTimeout ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  const historyLimit = opts.historyLimit ?? 2000;
  const endedLimit = opts.endedLimit ?? 256;
  let endedCount = 0;
  const batchMs = opts.batchMs ?? 40;
  const run = opts.run ?? now().toString(36);

  const hosts = new Map<string, HostInfo>([
    [self, { k: 'host', host: self, self: true, connected: true, ...(opts.listen ? { listen: opts.listen } : {}), run }],
  ]);
  const defs = new Map<string, MachineDef>();
  const defOf = new WeakMap<object, MachineDef>();
  const actors = new Map<string, ActorState>();
  const aidOf = new WeakMap<object, string>();
  const sourceOf = new WeakMap<object, string>();
  /**
   * When each event reached its actor. A step is stamped with it, not with the
   * time its snapshot came out: by then the step's effects (a frame written to
   * the peer, say) may already have caused steps elsewhere, and time order
   * across hosts must keep cause before effect.
   */
  const arrivedAt = new WeakMap<object, number>();
  const history: StepRecord[] = [];
  const peerLimits: PeerLimits = { ...DEFAULT_PEER_LIMITS, ...opts.peerLimits };
  /** What each peer made this host keep, counted against its PeerLimits. */
  const peerActors = new Map<string, number>();
  const peerDefs = new Map<string, number>();
  const addTo = (counts: Map<string, number>, peer: string, by: number) => counts.set(peer, (counts.get(peer) ?? 0) + by);
  const health = new Map<string, Extract<Update, { k: 'health' }>>();
  // Sequence numbers grow across restarts (records of an earlier run keep their place).
  let seq = now() * 1000;
  let nextActor = 1;

  // --- calls between actors (messages.ts) and who looks ---
  const callLog = makeCallLog({ host: self, now });
  /** Watchers that are not `background`: while there are any, vats trace their calls. */
  let lookers = 0;
  const lookListeners = new Set<(looking: boolean) => void>();
  const looked = (by: number) => {
    const before = lookers > 0;
    lookers += by;
    if (before !== lookers > 0) for (const l of lookListeners) l(lookers > 0);
  };

  // --- watchers and batching ---
  /** `skip`: how many records of the next batch the watcher already has (see WatchOptions.fromPresent). */
  type Watcher = { ownOnly: boolean; deliver: (batch: readonly Update[]) => void; skip: number };
  const watchers = new Set<Watcher>();
  let pending: Update[] = [];
  let timer: unknown;
  let closed = false;
  const flush = () => {
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    let own: Update[] | undefined;
    for (const w of watchers) {
      const skip = w.skip;
      w.skip = 0;
      const mine = skip > 0 ? batch.slice(skip) : batch;
      if (mine.length === 0) continue;
      if (!w.ownOnly) w.deliver(mine);
      else {
        if (skip === 0) own ??= batch.filter(isOwn);
        const kept = skip > 0 ? mine.filter(isOwn) : own!;
        if (kept.length > 0) w.deliver(kept);
      }
    }
  };
  const isOwn = (u: Update) => u.k === 'def' || (u.k === 'actor' ? u.actor.host === self : u.host === self);
  const emit = (u: Update) => {
    if (closed || watchers.size === 0) return;
    pending.push(u);
    timer ??= setTimer(flush, batchMs);
  };

  const remember = (step: StepRecord) => {
    history.push(step);
    if (history.length > historyLimit) history.splice(0, history.length - historyLimit);
  };

  /** Forget the oldest ended actors beyond the limit (live ones are never forgotten). */
  const trimActors = () => {
    if (endedCount <= endedLimit) return;
    for (const [aid, a] of actors) {
      if (endedCount <= endedLimit) break;
      if (a.ended) {
        actors.delete(aid);
        endedCount--;
        if (a.info.host !== self) addTo(peerActors, a.info.host, -1);
      }
    }
  };
  /** Marks an actor ended (its machine ended, or it is gone) or not, keeping the count `trimActors` reads. */
  const refreshEnded = (a: ActorState) => {
    const ended = a.info.gone === true || (a.latest !== undefined && a.latest.status !== 'active');
    if (a.ended === ended) return;
    a.ended = ended;
    endedCount += ended ? 1 : -1;
    if (ended) trimActors();
  };

  const addDef = (logic: object): MachineDef => {
    let def = defOf.get(logic);
    if (!def) {
      def = machineDef(logic as { id: string; root: unknown });
      defOf.set(logic, def);
    }
    if (!defs.has(def.hash)) {
      defs.set(def.hash, def);
      emit({ k: 'def', def });
    }
    return def;
  };

  const isMachine = (logic: unknown): logic is { id: string; root: unknown } =>
    typeof logic === 'object' && logic !== null && 'root' in logic && 'id' in logic;

  // --- taps: registration of machines ---
  const tap = (tag: ActorTag, tapOpts: TapOptions = {}): Tap => {
    const record: TapRecord = { tag: cleanTag(tag), aids: [] };
    const onActor = (ref: any) => {
      if (!isMachine(ref.logic)) return; // promise/callback actors: nothing to draw
      const def = addDef(ref.logic);
      const aid = `${self}/${run}.${nextActor++}`;
      aidOf.set(ref, aid);
      const parentAid = ref._parent ? aidOf.get(ref._parent) : undefined;
      const tagHere = parentAid ? { ...record.tag, name: `${record.tag.name} › ${redactText(String(ref.id))}` } : record.tag;
      const info: ActorInfo = { aid, host: self, def: def.hash, tag: tagHere, ...(parentAid ? { parent: parentAid } : {}) };
      actors.set(aid, { info, latest: undefined, contextText: undefined, ended: false });
      record.aids.push(aid);
      emit({ k: 'actor', actor: info });
    };
    const onSnapshot = (ref: object, event: { type: string }, snapshot: any) => {
      const aid = aidOf.get(ref);
      const actor = aid ? actors.get(aid) : undefined;
      if (!aid || !actor) return;
      const status = snapshot?.status === 'done' || snapshot?.status === 'error' || snapshot?.status === 'stopped' ? snapshot.status : 'active';
      if (actor.latest && tapOpts.quiet?.(event) && status === actor.latest.status && sameValue(snapshot?.value, actor.latest.value)) return;
      const context = redact(snapshot?.context);
      const contextText = JSON.stringify(context);
      const changed = contextText !== actor.contextText;
      actor.contextText = contextText;
      const label = event.type === 'xstate.init' ? undefined : (tapOpts.describe?.(event) ?? delayLabel(event.type));
      const source = sourceOf.get(event);
      const step: StepRecord = {
        k: 'step',
        seq: ++seq,
        t: arrivedAt.get(event) ?? now(),
        host: self,
        aid,
        event: event.type === 'xstate.init' ? '(start)' : redactText(event.type),
        ...(label ? { label: redactText(label) } : {}),
        ...(source && source !== aid ? { source } : {}),
        ...(tapOpts.remote?.(event) ? { remote: true } : {}),
        value: snapshot?.value ?? null,
        status,
        ...(changed && context !== undefined ? { context } : {}),
      };
      actor.latest = step;
      if (record.tag.group === SESSIONS) refreshHealth();
      refreshEnded(actor);
      remember(step);
      emit(step);
    };
    const inspect = (ev: InspectionEvent) => {
      // The forwarded stream does not end with the inspector: vats still stop after it closes.
      opts.forward?.(ev);
      if (closed) return;
      try {
        if (ev.type === '@xstate.actor') onActor(ev.actorRef);
        else if (ev.type === '@xstate.event') {
          if (typeof ev.event !== 'object' || !ev.event) return;
          arrivedAt.set(ev.event, now());
          const source = ev.sourceRef ? aidOf.get(ev.sourceRef) : undefined;
          if (source) sourceOf.set(ev.event, source);
        } else if (ev.type === '@xstate.snapshot') onSnapshot(ev.actorRef, ev.event, ev.snapshot);
      } catch {
        // The inspector must never break a machine: a record it cannot make is skipped.
      }
    };
    return {
      inspect,
      retag(next) {
        record.tag = cleanTag(next);
        if (record.tag.group === SESSIONS) refreshHealth();
        for (const aid of record.aids) {
          const a = actors.get(aid);
          if (!a) continue;
          a.info = { ...a.info, tag: a.info.parent ? { ...record.tag, name: `${record.tag.name} › ${a.info.tag.name.split(' › ').pop()}` } : record.tag };
          emit({ k: 'actor', actor: a.info });
        }
      },
    };
  };

  // --- health ---
  let healthSource: (() => readonly Omit<SessionHealth, 'state'>[]) | undefined;
  const endedHealth = new Map<string, { row: SessionHealth; at: number }>();
  let healthTimer: unknown;
  let healthSoon: unknown;
  const measureHealth = () => {
    if (closed || !healthSource) return;
    const t = now();
    const live = healthSource().map((s) => ({ ...s, state: 'established' }));
    const prev = health.get(self)?.sessions ?? [];
    for (const p of prev) {
      if (p.state === 'established' && !live.some((s) => s.peer === p.peer)) endedHealth.set(p.peer, { row: { ...p, state: 'ended', rttMs: null, paths: [] }, at: t });
    }
    for (const s of live) endedHealth.delete(s.peer);
    for (const [peer, e] of endedHealth) if (t - e.at > ENDED_HEALTH_MS) endedHealth.delete(peer);
    const sessions = [...live, ...[...endedHealth.values()].map((e) => e.row)];
    const before = JSON.stringify(prev);
    const record = { k: 'health' as const, host: self, t, sessions };
    health.set(self, record);
    if (JSON.stringify(sessions) !== before) emit(record);
  };
  const pollHealth = () => {
    healthTimer = undefined;
    measureHealth();
    if (watchers.size > 0 && !closed && healthSource) healthTimer = setTimer(pollHealth, HEALTH_EVERY_MS);
  };
  /** A session's machine moved: its health row follows in the same batch, not at the next poll. */
  const refreshHealth = () => {
    if (healthSoon !== undefined || closed || !healthSource || watchers.size === 0) return;
    healthSoon = setTimer(() => {
      healthSoon = undefined;
      measureHealth();
    }, 0);
  };
  const startHealth = () => {
    if (healthTimer === undefined && healthSource && !closed) healthTimer = setTimer(pollHealth, 0);
  };

  // --- what a new watcher gets first ---
  const latestSteps = (own: boolean) =>
    [...actors.values()].filter((a) => a.latest && (!own || a.info.host === self)).map((a) => a.latest!);

  const hello = (): Hello => ({
    k: 'hello',
    self,
    hosts: [...hosts.values()],
    defs: [...defs.values()],
    actors: [...actors.values()].map((a) => a.info),
    latest: latestSteps(false),
    history: [...history],
    health: [...health.values()],
    calls: callLog.recent(),
    vatCalls: callLog.vatStats(),
  });

  /** This host's own present and recent history, as updates (what a peer's relay starts with). */
  const ownSnapshot = (): Update[] => {
    const mine = [...actors.values()].filter((a) => a.info.host === self);
    const used = new Set(mine.map((a) => a.info.def));
    const out: Update[] = [hosts.get(self)!];
    for (const def of defs.values()) if (used.has(def.hash)) out.push({ k: 'def', def });
    for (const a of mine) out.push({ k: 'actor', actor: a.info });
    const recent = history.filter((s) => s.host === self);
    const inRecent = new Set(recent.map((s) => s.aid));
    // Each actor's latest step, for those whose last step is older than the recent window,
    // in seq order like everything a relay sends (the receiver drops what it already has by seq).
    out.push(...latestSteps(true).filter((s) => !inRecent.has(s.aid)).sort((a, b) => a.seq - b.seq));
    out.push(...recent);
    const h = health.get(self);
    if (h) out.push(h);
    return out;
  };

  // --- watching ---
  const watch = (deliver: (batch: readonly Update[]) => void, wopts: WatchOptions = {}): (() => void) => {
    const w: Watcher = { ownOnly: wopts.ownOnly ?? false, deliver, skip: wopts.fromPresent ? pending.length : 0 };
    watchers.add(w);
    startHealth();
    if (!wopts.background) looked(1);
    return () => {
      if (watchers.delete(w) && !wopts.background) looked(-1);
    };
  };

  /**
   * Feeds this host's records to a peer through `push` (one call in flight;
   * while it is, records queue: newer health and actor records replace queued
   * ones, past 2 × MAX_BATCH the oldest steps are dropped and counted in a
   * 'gap' record, and past MAX_RELAY_QUEUE the relay ends with VizRelayError).
   * Ends when `push` fails or `stop` is called.
   */
  const relay = (push: (batch: readonly Update[]) => Promise<unknown>, onEnd?: (err: unknown) => void) => {
    let queue: Update[] = ownSnapshot();
    let dropped = 0;
    let inFlight = false;
    let ended = false;
    const pump = () => {
      if (ended || inFlight || (queue.length === 0 && dropped === 0)) return;
      // Batches stay far below a frame's size limit (a history snapshot can be megabytes).
      let bytes = 0;
      let n = 0;
      while (n < queue.length && n < RELAY_BATCH && bytes < RELAY_BATCH_BYTES) bytes += JSON.stringify(queue[n++]).length;
      const batch = queue.slice(0, n);
      queue = queue.slice(n);
      if (dropped > 0) {
        batch.push({ k: 'gap', host: self, dropped });
        dropped = 0;
      }
      inFlight = true;
      push(batch).then(
        () => {
          inFlight = false;
          pump();
        },
        (err) => stop(err),
      );
    };
    const unwatch = watch(
      (batch) => {
        for (const u of batch) {
          // A newer health, host or actor record replaces a queued one in its place:
          // a peer that reads slowly gets the latest, not every second's health row.
          const key = coalesceKey(u);
          const at = key === undefined ? -1 : queue.findIndex((q) => coalesceKey(q) === key);
          if (at >= 0) queue[at] = u;
          else queue.push(u);
        }
        if (queue.length > MAX_BATCH * 2) {
          // Keep definitions, actors and health; drop the oldest steps and calls.
          const excess = queue.length - MAX_BATCH * 2;
          let cut = 0;
          queue = queue.filter((u) => {
            if ((u.k !== 'step' && u.k !== 'call') || cut >= excess) return true;
            cut++;
            return false;
          });
          dropped += cut;
        }
        // Only new actors and definitions are left to grow it: a peer that takes none for this long loses its relay.
        if (queue.length > MAX_RELAY_QUEUE) return stop(new VizRelayError(`the peer took no records while ${queue.length} waited`));
        pump();
      },
      { ownOnly: true, fromPresent: true },
    );
    const stop = (err?: unknown) => {
      if (ended) return;
      ended = true;
      unwatch();
      queue = [];
      onEnd?.(err);
    };
    pump();
    return { stop };
  };

  /** Records relayed by `peer` (checked: see check.ts). Throws VizRelayError on a malformed batch. */
  /** Records each peer relayed in the current one-second window. */
  const relayed = new Map<string, { window: number; count: number }>();
  /**
   * The newest step seq taken from each peer. A relay sends its steps in seq
   * order, and a new relay (the session came back) starts with recent history
   * the page already has: anything at or below this mark is a repeat. Kept
   * across relays (one number per peer); a peer's seqs keep growing across its
   * restarts (they start from its clock).
   */
  const newestSeq = new Map<string, number>();
  const ingest = (peer: string, batch: unknown): void => {
    const checked = checkUpdates(peer, batch);
    if (closed) return;
    const window = Math.floor(now() / 1000);
    const seen = relayed.get(peer);
    const count = (seen?.window === window ? seen.count : 0) + checked.length;
    relayed.set(peer, { window, count });
    // Over the rate, steps are dropped and counted (the page says so); the tree stays whole.
    const updates = count > MAX_RELAY_RATE ? overRate(peer, checked) : checked;
    // Bounds first, for the whole batch: a batch past them is refused whole, like a malformed one.
    const newActors = new Set(updates.flatMap((u) => (u.k === 'actor' && !actors.has(u.actor.aid) ? [u.actor.aid] : [])));
    const newDefs = new Set(updates.flatMap((u) => (u.k === 'def' && !defs.has(u.def.hash) ? [u.def.hash] : [])));
    if ((peerActors.get(peer) ?? 0) + newActors.size > peerLimits.actors) {
      throw new VizRelayError(`the peer sent more than ${peerLimits.actors} actors`);
    }
    if ((peerDefs.get(peer) ?? 0) + newDefs.size > peerLimits.defs) {
      throw new VizRelayError(`the peer sent more than ${peerLimits.defs} machine definitions`);
    }
    const known = hosts.get(peer);
    if (!known?.connected) setHost({ ...known, k: 'host', host: peer, self: false, connected: true });
    for (const u of updates) {
      switch (u.k) {
        case 'host':
          setHost(u);
          // A new run of the peer (it restarted): the actors of its earlier runs are gone.
          if (u.run !== undefined && u.run !== known?.run) for (const a of peerActorStates(peer)) if (!ofRun(a, peer, u.run)) markGone(a);
          continue;
        case 'def':
          if (defs.has(u.def.hash)) continue;
          addTo(peerDefs, peer, 1);
          defs.set(u.def.hash, u.def);
          break;
        case 'actor': {
          // Relayed again (the session came back): no longer gone, unless an earlier run's.
          const run = hosts.get(peer)?.run;
          const info = run === undefined || u.actor.aid.startsWith(`${peer}/${run}.`) ? u.actor : { ...u.actor, gone: true };
          const old = actors.get(info.aid);
          if (old) {
            old.info = info;
            refreshEnded(old);
          } else {
            addTo(peerActors, peer, 1);
            const a: ActorState = { info, latest: undefined, contextText: undefined, ended: false };
            actors.set(info.aid, a);
            refreshEnded(a);
          }
          emit({ k: 'actor', actor: info });
          continue;
        }
        case 'step': {
          if (u.seq <= (newestSeq.get(peer) ?? Number.NEGATIVE_INFINITY)) continue;
          newestSeq.set(peer, u.seq);
          const a = actors.get(u.aid);
          if (a) {
            a.latest = u;
            refreshEnded(a);
          }
          remember(u);
          break;
        }
        case 'health':
          health.set(peer, u);
          break;
        case 'gap':
          break;
        case 'call':
        case 'vat-calls':
          callLog.remember(u);
          break;
      }
      emit(u);
    }
  };
  const setHost = (info: HostInfo) => {
    hosts.set(info.host, info);
    emit(info);
  };

  const peerActorStates = (peer: string) => [...actors.values()].filter((a) => a.info.host === peer);
  const ofRun = (a: ActorState, peer: string, run: string) => a.info.aid.startsWith(`${peer}/${run}.`);
  /** A peer's actor that may no longer exist: its last known state stays, marked gone. */
  const markGone = (a: ActorState) => {
    if (a.info.gone) return;
    a.info = { ...a.info, gone: true };
    emit({ k: 'actor', actor: a.info });
    refreshEnded(a);
  };

  /** The relay from `peer` ended (its session closed): its actors stay, with their last known state, marked gone. */
  const peerGone = (peer: string) => {
    relayed.delete(peer);
    const h = hosts.get(peer);
    if (h?.connected) setHost({ ...h, connected: false });
    for (const a of peerActorStates(peer)) markGone(a);
  };

  return {
    host: self,
    tap,
    watch,
    relay,
    ingest,
    peerGone,
    hello,
    vatCalls(vat, report) {
      if (closed) return;
      for (const u of callLog.fromVat(vat, report)) {
        callLog.remember(u);
        emit(u);
      }
    },
    onLooking(listener) {
      lookListeners.add(listener);
      if (lookers > 0) listener(true);
      return () => void lookListeners.delete(listener);
    },
    setHealthSource(source: () => readonly Omit<SessionHealth, 'state'>[]) {
      healthSource = source;
      if (watchers.size > 0) startHealth();
    },
    close() {
      closed = true;
      if (lookers > 0) for (const l of lookListeners) l(false);
      lookers = 0;
      lookListeners.clear();
      for (const t of [timer, healthTimer, healthSoon]) if (t !== undefined) clearTimer(t);
      timer = healthTimer = healthSoon = undefined;
      watchers.clear();
    },
  };
};

/** A batch past the relay rate: everything but its steps, and a 'gap' record counting them. */
const overRate = (peer: string, updates: readonly Update[]): Update[] => {
  const kept = updates.filter((u) => u.k !== 'step' && u.k !== 'call');
  const dropped = updates.length - kept.length;
  return dropped > 0 ? [...kept, { k: 'gap', host: peer, dropped }] : kept;
};

/** Records of which only the newest matters while queued for a peer. */
const coalesceKey = (u: Update): string | undefined =>
  u.k === 'health' || u.k === 'host' ? u.k : u.k === 'actor' ? `actor ${u.actor.aid}` : undefined;

/** 'xstate.after.keepaliveInterval.path.established' → 'after keepaliveInterval'. */
const delayLabel = (type: string): string | undefined =>
  type.startsWith('xstate.after.') ? `after ${type.split('.')[2]}` : undefined;

const sameValue = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);


const cleanTag = (tag: ActorTag): ActorTag => ({
  group: redactText(String(tag.group)),
  name: redactText(String(tag.name)),
  ...(tag.peer !== undefined ? { peer: String(tag.peer) } : {}),
});

