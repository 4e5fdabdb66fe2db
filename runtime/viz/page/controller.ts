/**
 * The page's controller: it owns the model, the mode (live or history), the
 * scrubber's position and the selection, and redraws the views at most once
 * per animation frame. Updates are applied to the model when they arrive; the
 * views catch up at the next frame with only what changed.
 *
 * In history mode the model keeps recording, but the tree, statechart,
 * sequence and log show the world as of the scrubber; going live catches
 * them up in one frame.
 */
import type { Hello, Update } from '../model.js';
import type { ChartPanel } from './chart.js';
import type { EventLog } from './log.js';
import type { HealthView } from './health.js';
import type { ActorCallsView } from './messages.js';
import type { SequenceView } from './sequence.js';
import { type Changes, VizModel } from './state.js';
import { fetchOlder } from './stream.js';
import type { OlderState, Timeline } from './timeline.js';
import type { ActorTree } from './tree.js';

/** Measurement hooks the benchmark reads from `window.tribeViz`. */
export interface VizMetrics {
  /** Navigation start to the first hello drawn. */
  firstRenderMs: number;
  /** Update records applied. */
  applied: number;
  /** Arrival of a batch to the frame that shows it having been painted (the slowest batch of that frame). */
  lastApplyMs: number;
  /** The last APPLY_TIMES of those, one per batch. */
  applyTimes: number[];
}

const APPLY_TIMES = 1000;
/**
 * Live and busy, the sequence diagram and the event log redraw at most this
 * often. At a thousand calls a second each batch replaces every row they
 * show, and redrawing them per frame cost more than the tree, the chart and
 * the rest together; nobody reads rows that change 25 times a second. A quiet
 * page (fewer than BUSY_ENTRIES new entries since they were drawn) redraws
 * them at the next frame, so a call shows within 250 ms of being made.
 */
export const LIVE_REDRAW_MS = 150;
/** New entries that replace the whole sequence window (sequence.ts WINDOW): past it the page is busy. */
const BUSY_ENTRIES = 60;
/** Steps asked of the store per "load older". */
const OLDER_BATCH = 2000;

export interface Views {
  readonly tree: ActorTree;
  readonly chart: ChartPanel;
  readonly sequence: SequenceView;
  readonly log: EventLog;
  readonly health: HealthView;
  /** The selected vat's calls, rates, errors and references held. */
  readonly calls: ActorCallsView;
  readonly timeline: Timeline;
  readonly header: (model: VizModel) => void;
}

/** Runs `fn` after the next paint: a message posted from a frame callback is handled once that frame is on screen. */
const afterPaint = (fn: () => void) => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    fn();
  };
  channel.port2.postMessage(null);
};

export class App {
  readonly model = new VizModel();
  readonly metrics: VizMetrics = { firstRenderMs: Number.NaN, applied: 0, lastApplyMs: 0, applyTimes: [] };
  readonly #views: Views;
  #mode: 'live' | 'history' = 'live';
  /** The scrubber's history index, in history mode. */
  #cursor = 0;
  #selected: string | undefined;
  #focusOnly = false;
  #frame = 0;
  /** The scrubber moved, the mode or the selection changed: redraw the views at the cursor, not just what changed. */
  #moved = false;
  #arrivals: number[] = [];
  /** When the per-actor call numbers were last drawn (performance.now()). */
  #callsDrawn = 0;
  /** When the sequence and the log were last drawn live (performance.now()), and whether a redraw waits. */
  #liveDrawn = Number.NEGATIVE_INFINITY;
  #liveOwed = false;
  /** Entries appended since the sequence and the log were last drawn live. */
  #sinceLive = 0;
  #liveTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped per hello, so an answer from before a reconnect is dropped. */
  #generation = 0;

  constructor(views: Views) {
    this.#views = views;
  }

  get mode(): 'live' | 'history' {
    return this.#mode;
  }

  hello(hello: Hello): void {
    this.#generation++;
    const { model } = this;
    const v = this.#views;
    model.reset(hello);
    this.#setMode('live');
    this.#arrivals = [];
    v.tree.clear();
    v.log.clear();
    v.sequence.clear();
    v.health.clear();
    v.tree.syncHosts(model);
    v.tree.syncActors(model, model.actors.keys(), (aid) => model.latest.get(aid), 'active', true);
    v.health.render(model);
    const keep = this.#selected !== undefined && model.actors.has(this.#selected) ? this.#selected : v.tree.first();
    this.#selected = undefined;
    if (keep === undefined) v.chart.clear();
    this.select(keep);
    this.#drawLive(true, true);
    v.timeline.older = 'ready';
    v.timeline.render(model, undefined);
    v.header(model);
    if (Number.isNaN(this.metrics.firstRenderMs)) {
      this.metrics.firstRenderMs = performance.now();
      document.body.dataset.ready = 'true';
    }
  }

  updates(updates: readonly Update[], arrived: number): void {
    this.model.apply(updates);
    this.metrics.applied += updates.length;
    // Bounded: a hidden tab gets no frames, and its batches wait for one.
    if (this.#arrivals.push(arrived) > APPLY_TIMES) this.#arrivals.shift();
    this.#schedule();
  }

  select(aid: string | undefined): void {
    if (aid === this.#selected) return;
    this.#selected = aid;
    const actor = aid === undefined ? undefined : this.model.actors.get(aid);
    this.#views.tree.select(aid);
    this.#views.chart.show(actor, actor ? this.model.defs.get(actor.def) : undefined);
    this.#views.calls.render(this.model, aid);
    this.#drawSelected();
    if (this.#focusOnly) this.#drawSequence();
  }

  scrub(index: number): void {
    const { history } = this.model;
    if (history.size === 0 || !Number.isFinite(index)) return;
    this.#cursor = Math.max(history.start, Math.min(history.end - 1, Math.round(index)));
    this.#setMode('history');
    this.#moved = true;
    this.#schedule();
  }

  live(): void {
    if (this.#mode === 'live') return;
    this.#setMode('live');
    this.#moved = true;
    this.#schedule();
  }

  focusOnly(on: boolean): void {
    this.#focusOnly = on;
    this.#drawSequence();
  }

  async loadOlder(): Promise<void> {
    const { history } = this.model;
    const room = history.capacity - history.size;
    if (room <= 0) return;
    const generation = this.#generation;
    const before = history.at(history.start)?.t ?? Date.now();
    const { timeline } = this.#views;
    timeline.older = 'loading';
    let state: OlderState = 'ready';
    try {
      const older = await fetchOlder(before, Math.min(room, OLDER_BATCH));
      if (generation !== this.#generation) return;
      if (this.model.prepend(older) === 0) state = 'exhausted';
    } catch (error) {
      console.warn('tribe viz: could not load older history', error);
    } finally {
      if (generation === this.#generation) timeline.older = state;
      this.#schedule();
    }
  }

  #setMode(mode: 'live' | 'history'): void {
    this.#mode = mode;
    document.body.dataset.mode = mode;
    const el = document.getElementById('mode');
    if (el) el.textContent = mode;
  }

  #schedule(): void {
    if (this.#frame === 0) this.#frame = requestAnimationFrame(() => this.#render());
  }

  #render(): void {
    this.#frame = 0;
    const { model } = this;
    const v = this.#views;
    const changes = model.takeChanges();
    if (changes.hosts) v.tree.syncHosts(model);
    if (changes.defs) this.#defsArrived();
    if (changes.health.size > 0 || changes.hosts) v.health.render(model, changes.hosts ? undefined : changes.health);
    if (this.#mode === 'live') this.#renderLive(changes);
    else this.#renderHistory();
    // The per-actor numbers: on news, and each second for the rates (health rows bring a frame that often).
    const now = performance.now();
    if (changes.calls > 0 || now - this.#callsDrawn >= 1000) {
      this.#callsDrawn = now;
      v.calls.render(model, this.#selected);
    }
    this.#moved = false;
    v.timeline.render(model, this.#mode === 'history' ? this.#cursor : undefined);
    v.header(model);
    this.#measure();
  }

  #renderLive(changes: Changes): void {
    const { model } = this;
    const v = this.#views;
    // Catching up from history mode redraws every row; otherwise only the actors that changed.
    const aids = this.#moved ? model.actors.keys() : changes.actors;
    v.tree.syncActors(model, aids, (aid) => model.latest.get(aid), 'active', true);
    if (this.#selected === undefined) this.select(v.tree.first());
    else if (this.#moved || changes.actors.has(this.#selected)) this.#drawSelected();
    const due = this.#moved || changes.appended > 0 || changes.actors.size > 0;
    this.#sinceLive += changes.appended;
    if (this.#moved) this.#drawLive(true, true);
    else if (due || this.#liveOwed) this.#drawLiveSoon();
  }

  /** The sequence and the log, live: now if they were last drawn LIVE_REDRAW_MS ago, else once that time is up. */
  #drawLiveSoon(): void {
    const wait = this.#liveDrawn + LIVE_REDRAW_MS - performance.now();
    if (wait <= 0 || this.#sinceLive < BUSY_ENTRIES) {
      this.#drawLive(true);
      return;
    }
    this.#liveOwed = true;
    this.#liveTimer ??= setTimeout(() => {
      this.#liveTimer = undefined;
      this.#schedule();
    }, wait);
  }

  #renderHistory(): void {
    const { model } = this;
    const { history } = model;
    // The history may have moved past the cursor while new steps were recorded.
    if (this.#cursor < history.start) {
      this.#cursor = history.start;
      this.#moved = true;
    }
    if (!this.#moved) return;
    const snapshot = model.snapshotAt(this.#cursor);
    this.#views.tree.syncActors(model, model.actors.keys(), (aid) => snapshot.get(aid), 'unknown', false);
    this.#drawSelected();
    this.#drawSequence();
    this.#views.log.renderAt(model, this.#cursor);
  }

  #drawLive(sequence: boolean, toTop = false): void {
    this.#liveDrawn = performance.now();
    this.#liveOwed = false;
    this.#sinceLive = 0;
    if (sequence) this.#drawSequence();
    this.#views.log.renderLive(this.model, toTop);
  }

  #drawSequence(): void {
    const history = this.model.history;
    const focus = this.#focusOnly ? this.#selected : undefined;
    this.#views.sequence.render(this.model, {
      end: this.#mode === 'live' ? history.end : this.#cursor + 1,
      ...(this.#mode === 'history' ? { current: this.#cursor } : {}),
      ...(focus !== undefined ? { focus } : {}),
    });
  }

  /** The statechart's highlight and context for the selected actor, as of the mode. */
  #drawSelected(): void {
    const aid = this.#selected;
    if (aid === undefined) return;
    const { model } = this;
    if (this.#mode === 'live') this.#views.chart.update(model.latest.get(aid), model.context.get(aid));
    else this.#views.chart.update(model.stepAt(aid, this.#cursor), model.contextAt(aid, this.#cursor));
  }

  #defsArrived(): void {
    this.#views.tree.syncMachines(this.model);
    const actor = this.#selected === undefined ? undefined : this.model.actors.get(this.#selected);
    if (actor) {
      this.#views.chart.show(actor, this.model.defs.get(actor.def));
      this.#drawSelected();
    }
  }

  #measure(): void {
    const arrivals = this.#arrivals;
    if (arrivals.length === 0) return;
    this.#arrivals = [];
    afterPaint(() => {
      const now = performance.now();
      const m = this.metrics;
      for (const t of arrivals) m.applyTimes.push(now - t);
      if (m.applyTimes.length > APPLY_TIMES) m.applyTimes.splice(0, m.applyTimes.length - APPLY_TIMES);
      m.lastApplyMs = now - Math.min(...arrivals);
    });
  }
}
