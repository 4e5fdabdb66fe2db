/**
 * The time-travel controls: the scrubber over the history held (its value is
 * an absolute history index), the button back to live, where the scrubber
 * stands, and a button that loads older steps from the host's store.
 */
import { setAttr, setText } from './dom.js';
import { clock } from './format.js';
import type { VizModel } from './state.js';

export interface TimelineElements {
  readonly scrubber: HTMLInputElement;
  readonly live: HTMLButtonElement;
  readonly position: HTMLElement;
  readonly older: HTMLButtonElement;
}

export interface TimelineActions {
  readonly scrub: (index: number) => void;
  readonly live: () => void;
  readonly loadOlder: () => void;
}

/** The "load older" button: ready, waiting for the store, or the store had nothing older. */
export type OlderState = 'ready' | 'loading' | 'exhausted';

const OLDER_TEXT: Record<OlderState, string> = { ready: 'Load older', loading: 'Loading…', exhausted: 'No older steps' };

export class Timeline {
  readonly #el: TimelineElements;
  #older: OlderState = 'ready';
  #full = false;

  constructor(el: TimelineElements, actions: TimelineActions) {
    this.#el = el;
    el.scrubber.addEventListener('input', () => actions.scrub(el.scrubber.valueAsNumber));
    el.live.addEventListener('click', () => actions.live());
    el.older.addEventListener('click', () => actions.loadOlder());
  }

  /** Range and position; `current` is undefined in live mode (the scrubber then rests at the newest entry). */
  render(model: VizModel, current: number | undefined): void {
    const { history } = model;
    const { scrubber, live, position } = this.#el;
    const last = Math.max(history.start, history.end - 1);
    setAttr(scrubber, 'min', String(history.start));
    setAttr(scrubber, 'max', String(last));
    const at = current ?? last;
    if (scrubber.valueAsNumber !== at) scrubber.value = String(at);
    scrubber.disabled = history.size === 0;
    live.setAttribute('aria-pressed', String(current === undefined));
    const entry = history.at(at);
    const n = history.size === 0 ? 0 : at - history.start + 1;
    setText(position, history.size === 0 ? 'no history' : `${n} / ${history.size} · ${entry ? clock(entry.t) : '–'}`);
    this.#full = history.full;
    this.#drawOlder();
  }

  set older(state: OlderState) {
    this.#older = state;
    this.#drawOlder();
  }

  #drawOlder(): void {
    const { older } = this.#el;
    older.disabled = this.#full || this.#older !== 'ready';
    setText(older, this.#full ? 'History full' : OLDER_TEXT[this.#older]);
  }
}
