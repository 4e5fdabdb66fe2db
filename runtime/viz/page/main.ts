/**
 * The visualizer page's entry: finds the elements of index.html, builds the
 * views around them, and connects to this host's `/api/stream`.
 */
import { App, type VizMetrics } from './controller.js';
import { ChartPanel } from './chart.js';
import type { ChartView } from './chart-view.js';
import { byId, setAttr, setText } from './dom.js';
import { count, shortId } from './format.js';
import { HealthView } from './health.js';
import { EventLog } from './log.js';
import { ActorCallsView } from './messages.js';
import { SequenceView } from './sequence.js';
import type { VizModel } from './state.js';
import { openStream } from './stream.js';
import { Timeline } from './timeline.js';
import { ActorTree } from './tree.js';

declare global {
  interface Window {
    tribeViz: VizMetrics;
  }
}

/** Steps per second, counted over the header's refresh period. */
const makeHeader = () => {
  const self = byId('self');
  const stats = byId('stats');
  let lastSize = 0;
  let lastCalls = 0;
  let lastT = performance.now();
  let rate = 0;
  let callRate = 0;
  return (model: VizModel) => {
    setText(self, shortId(model.self));
    self.title = model.self;
    const now = performance.now();
    const received = model.received;
    // A hello starts the count again.
    if (received < lastSize) lastSize = received;
    if (model.callsReceived < lastCalls) lastCalls = model.callsReceived;
    if (now - lastT >= 1000) {
      rate = ((received - lastSize) * 1000) / (now - lastT);
      callRate = ((model.callsReceived - lastCalls) * 1000) / (now - lastT);
      lastSize = received;
      lastCalls = model.callsReceived;
      lastT = now;
    }
    const hosts = model.hosts.size;
    const parts = [
      `${hosts} host${hosts === 1 ? '' : 's'}`,
      `${count(model.actors.size)} actors`,
      `${count(model.history.size)} steps held`,
      `${rate < 10 ? rate.toFixed(1) : Math.round(rate)} steps/s`,
      `${callRate < 10 ? callRate.toFixed(1) : Math.round(callRate)} calls/s`,
    ];
    if (model.dropped > 0) parts.push(`⚠ ${count(model.dropped)} dropped`);
    // Calls vats did not trace (over their per-second bound), as a rate over the last seconds.
    const untraced = model.calls.droppedRate(Date.now());
    if (untraced > 0) parts.push(`⚠ ${untraced < 10 ? untraced.toFixed(1) : Math.round(untraced)} calls/s not traced`);
    setText(stats, parts.join('  ·  '));
    setAttr(stats, 'data-dropped', String(model.dropped > 0));
  };
};

/** Keys that are typed into a field, or that carry a modifier, are the field's or the browser's. */
const typing = (e: KeyboardEvent) =>
  e.ctrlKey || e.metaKey || e.altKey || (e.target instanceof HTMLElement && (e.target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)));

/**
 * The page's keys: F expands the chart panel and back, Escape leaves it (or
 * goes back to live), + / − / 0 zoom the chart (0: 1:1).
 */
const onKey = (e: KeyboardEvent, app: App, view: ChartView) => {
  if (e.key === 'Escape') {
    if (view.expanded) view.setExpanded(false);
    else if (app.mode === 'history') app.live();
    return;
  }
  if (typing(e)) return;
  const act: Record<string, () => void> = {
    f: () => view.setExpanded(!view.expanded),
    '+': () => view.zoomStep(1),
    '=': () => view.zoomStep(1),
    '-': () => view.zoomStep(-1),
    '0': () => view.zoomTo(1),
  };
  const run = act[e.key.toLowerCase()];
  if (!run) return;
  e.preventDefault();
  run();
};

const start = () => {
  const chart = new ChartPanel(byId('chart'), byId('chart-panel'), {
    name: byId('chart-name'),
    machine: byId('chart-machine'),
    host: byId('chart-host'),
    status: byId('chart-status'),
    state: byId('chart-state'),
    context: byId('chart-context'),
    zoom: byId<HTMLButtonElement>('chart-zoom'),
    expand: byId<HTMLButtonElement>('chart-expand'),
  });
  const app: App = new App({
    tree: new ActorTree(byId('tree'), byId<HTMLInputElement>('filter'), (aid) => app.select(aid)),
    chart,
    sequence: new SequenceView(
      byId<SVGSVGElement>('sequence'),
      byId('sequence-scroll'),
      (index) => app.scrub(index),
      (aid) => app.select(aid),
    ),
    log: new EventLog(byId('log'), (index) => app.scrub(index)),
    health: new HealthView(byId('health')),
    calls: new ActorCallsView(byId('actor-calls')),
    timeline: new Timeline(
      {
        scrubber: byId<HTMLInputElement>('scrubber'),
        live: byId<HTMLButtonElement>('live'),
        position: byId('position'),
        older: byId<HTMLButtonElement>('older'),
      },
      { scrub: (i) => app.scrub(i), live: () => app.live(), loadOlder: () => void app.loadOlder() },
    ),
    header: makeHeader(),
  });
  window.tribeViz = app.metrics;
  const focus = byId<HTMLInputElement>('seq-focus');
  focus.addEventListener('change', () => app.focusOnly(focus.checked));
  document.addEventListener('keydown', (e) => onKey(e, app, chart.view));

  const conn = byId('conn');
  const connText = byId('conn-text');
  openStream('/api/stream', {
    hello: (hello) => app.hello(hello),
    updates: (updates, arrived) => app.updates(updates, arrived),
    connection: (open) => {
      conn.dataset.state = open ? 'open' : 'closed';
      setText(connText, open ? 'connected' : 'reconnecting…');
    },
  });
};

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
