/**
 * The selected actor's statechart. Layout (elkjs) is slow, so it is cached per
 * definition hash (and set of folded states) and the chart is redrawn only
 * when the selection or a fold changes; a step, or a move of the scrubber,
 * only calls `highlight`.
 *
 * A click on a compound state's header folds it to one box, or unfolds it;
 * the folds are kept per machine definition for as long as the page lives,
 * so every actor of that machine shows them.
 */
import { activePaths, type ActorInfo, type MachineDef, type StepRecord } from '../model.js';
import { h, setAttr, setText } from './dom.js';
import { json, leafPaths, shortId, stateText } from './format.js';
import { type ChartControls, ChartView } from './chart-view.js';
import ElkApi from 'elkjs/lib/elk-api.js';
import type { drawStatechart, ElkEngine, layoutStatechart } from './statechart.js';

type Layout = Awaited<ReturnType<typeof layoutStatechart>>;
type Drawn = ReturnType<typeof drawStatechart>;

/**
 * The statechart code and elkjs are most of the page's bytes: loaded after the
 * first render, in their own chunk, so the tree and the log show at once.
 */
let statecharts: Promise<typeof import('./statechart.js')> | undefined;
const loadStatecharts = () => {
  statecharts ??= import('./statechart.js');
  return statecharts;
};

/**
 * One elkjs engine for the page, running in a Web Worker (the host serves
 * elk-worker.js): a layout of a large machine never blocks the page.
 */
let engine: ElkEngine | undefined;
const elkEngine = (): ElkEngine => {
  engine ??= new (ElkApi as unknown as new (opts: { workerUrl: string }) => ElkEngine)({ workerUrl: './elk-worker.js' });
  return engine;
};

export interface ChartHead extends ChartControls {
  readonly name: HTMLElement;
  readonly machine: HTMLElement;
  readonly host: HTMLElement;
  readonly status: HTMLElement;
  readonly state: HTMLElement;
  readonly context: HTMLElement;
}

export class ChartPanel {
  readonly #root: HTMLElement;
  readonly #head: ChartHead;
  /** Scale, panning and expansion of the chart area. */
  readonly view: ChartView;
  /** Layouts by definition hash and folded states (`layoutKey`). */
  readonly #layouts = new Map<string, Promise<Layout>>();
  /** Folded states per definition hash. */
  readonly #folds = new Map<string, Set<string>>();
  #def: MachineDef | undefined;
  #aid: string | undefined;
  /** The definition drawn (or being laid out) for `#aid`. */
  #hash: string | undefined;
  #drawn: Drawn | undefined;
  #paths: readonly string[] = [];
  /** The step highlighted now, and the transitions marked as taken to reach it. */
  #shown: StepRecord | undefined;
  #taken: SVGGElement[] = [];
  /** The active leaf last scrolled into view. */
  #revealed: string | undefined;

  /** `root` is the chart area inside `panel`, the section that expands. */
  constructor(root: HTMLElement, panel: HTMLElement, head: ChartHead) {
    this.#root = root;
    this.#head = head;
    this.view = new ChartView(root, panel, head);
    root.addEventListener('click', (e) => {
      const fold = (e.target as Element).closest?.('[data-fold]');
      const path = fold?.getAttribute('data-fold');
      if (path != null) this.toggleFold(path);
    });
  }

  /** Folds state `path` of the machine shown, or unfolds it. */
  toggleFold(path: string): void {
    const def = this.#def;
    const aid = this.#aid;
    if (!def || aid === undefined) return;
    const folds = this.#folds.get(def.hash) ?? new Set<string>();
    if (!folds.delete(path)) folds.add(path);
    this.#folds.set(def.hash, folds);
    void this.#draw(aid, def);
  }

  clear(): void {
    this.#aid = undefined;
    this.#def = undefined;
    this.#hash = undefined;
    this.#drawn = undefined;
    this.view.show(undefined);
    this.#root.replaceChildren(h('p', { class: 'empty' }, 'No actor selected.'));
    this.#root.removeAttribute('data-aid');
    for (const el of [this.#head.name, this.#head.machine, this.#head.host, this.#head.status, this.#head.state]) setText(el, '');
  }

  /** Shows `actor` (a no-op when it is already shown with its definition). */
  show(actor: ActorInfo | undefined, def: MachineDef | undefined): void {
    if (!actor) {
      this.clear();
      return;
    }
    if (actor.aid === this.#aid && def?.hash === this.#hash) return;
    this.#aid = actor.aid;
    this.#shown = undefined;
    this.#hash = def?.hash;
    this.#def = def;
    this.#drawn = undefined;
    this.view.show(undefined);
    this.#root.dataset.aid = actor.aid;
    setText(this.#head.name, String(actor.tag.name));
    setText(this.#head.machine, def?.id ?? '?');
    setText(this.#head.host, shortId(actor.host));
    this.#head.host.title = actor.host;
    if (!def) {
      this.#root.replaceChildren(h('p', { class: 'empty' }, 'Waiting for the machine definition…'));
      return;
    }
    this.#root.replaceChildren(h('p', { class: 'empty' }, 'Laying out…'));
    void this.#draw(actor.aid, def);
  }

  /** Marks the state of `step` (the selected actor's, as of the scrubber) and its context. */
  update(step: StepRecord | undefined, context: unknown): void {
    const leaves = step ? leafPaths(step.value) : [];
    setText(this.#head.state, stateText(leaves));
    this.#head.state.title = leaves.join('\n');
    setText(this.#head.status, step ? String(step.status) : 'unknown');
    setAttr(this.#head.status, 'data-status', step ? String(step.status) : 'unknown');
    setText(this.#head.context, context === undefined ? '(no context recorded)' : json(context));
    const before = this.#shown;
    const previous = this.#paths;
    this.#shown = step;
    this.#paths = step ? activePaths(step.value) : [];
    this.#drawn?.highlight(this.#paths);
    this.#markTaken(step, before, previous);
    this.#reveal();
  }

  /**
   * Marks the transitions the step could have taken: its event's, from a state
   * that was active before it. Only when the chart moves forward by the
   * actor's own steps (live, or scrubbing ahead); otherwise nothing is marked.
   */
  #markTaken(step: StepRecord | undefined, before: StepRecord | undefined, previous: readonly string[]): void {
    for (const el of this.#taken) el.classList.remove('taken');
    this.#taken = [];
    if (!this.#drawn || !step || !before || step.host !== before.host || step.seq <= before.seq) return;
    const events = new Set([step.event, step.label].filter((e): e is string => typeof e === 'string'));
    const sources = new Set(previous);
    for (const g of this.#drawn.element.querySelectorAll<SVGGElement>('g.transition')) {
      if (events.has(g.dataset['event'] ?? '') && sources.has(g.dataset['source'] ?? '')) {
        g.classList.add('taken');
        this.#taken.push(g);
      }
    }
  }

  /** Scrolls the deepest active state into view when it changed (a large chart is taller than its panel). */
  #reveal(): void {
    const leaf = this.#paths.at(-1);
    if (!this.#drawn || leaf === this.#revealed) return;
    this.#revealed = leaf;
    const states = this.#drawn.element.querySelectorAll<SVGGElement>('g.state.active');
    states[states.length - 1]?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }

  async #draw(aid: string, def: MachineDef): Promise<void> {
    const folds = new Set(this.#folds.get(def.hash));
    const key = `${def.hash}\n${[...folds].sort().join('\n')}`;
    let layout = this.#layouts.get(key);
    if (!layout) {
      layout = loadStatecharts().then((m) => m.layoutStatechart(def, elkEngine(), folds));
      this.#layouts.set(key, layout);
    }
    let laid: Layout;
    let drawStatechart: typeof import('./statechart.js').drawStatechart;
    try {
      laid = await layout;
      drawStatechart = (await loadStatecharts()).drawStatechart;
    } catch (error) {
      this.#layouts.delete(key);
      if (this.#aid === aid) this.view.show(undefined);
      if (this.#aid === aid) this.#root.replaceChildren(h('p', { class: 'empty error' }, `Layout failed: ${String(error)}`));
      return;
    }
    // The selection, or the folds, may have moved on while elkjs worked.
    if (this.#aid !== aid || this.#hash !== def.hash || key !== `${def.hash}\n${[...(this.#folds.get(def.hash) ?? [])].sort().join('\n')}`) return;
    const drawn = drawStatechart(document, laid, def);
    this.#drawn = drawn;
    this.#root.replaceChildren(drawn.element);
    drawn.highlight(this.#paths);
    this.#taken = [];
    this.view.show(drawn.element);
    this.#revealed = undefined;
    this.#reveal();
  }
}
