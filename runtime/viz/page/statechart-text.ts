/**
 * What the statechart writes and how long it is: the text metrics the layout
 * reserves room for, and every label as one clipped string. Shared by the
 * layout (statechart-layout.ts), which measures these strings by length, and
 * the drawing (statechart-draw.ts), which sets them as textContent.
 */
import type { StateNodeDef } from '../model.js';

/**
 * Text metrics the layout reserves room for. statechart.css sets the same
 * sizes in a monospace face (advance 0.6 em), so the estimates are close.
 */
export const KEY_CHAR = 7.2; // 12 px
export const TEXT_CHAR = 6.6; // 11 px
export const CAPTION_CHAR = 6; // 10 px
export const LINE = 14;
/** A caption's line (10 px text). */
export const CAPTION_LINE = 12;
export const TITLE = 22;
export const PAD = 10;
export const DOT = 10;
/** Room before a foldable state's key for its ▾ / ▸ mark. */
export const FOLD_MARK = 14;
/** Longest one-line text (a transition listed inside its state, a tooltip's label): a wider one spreads its whole state. */
export const MAX_CHARS = 48;
/**
 * Widest line of a transition's label or a state's caption, in characters: a
 * long guard or entry action wraps onto lines of its own rather than widening
 * its layer (or its state) for the whole chart.
 */
export const WRAP = 28;
/** Most lines one label or caption takes; the last ends in … when there was more. */
export const MAX_LINES = 3;

export const clip = (text: string, max = MAX_CHARS): string =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** An edge's label: "event [guard]". */
export const transitionText = (t: { readonly event: string; readonly guard?: string | undefined }): string =>
  clip(t.guard ? `${t.event} [${t.guard}]` : t.event);

/**
 * `text` in lines of at most `width` characters, broken after a space, a
 * comma, an opening parenthesis or a dot (dotted event names run long), inside
 * a word only when it is longer than a line; at most `maxLines` of them.
 */
export const wrap = (text: string, width = WRAP, maxLines = MAX_LINES): string[] => {
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(/(?<=[ ,(.])/)) {
    if (line.length + word.trimEnd().length > width && line.trim()) {
      lines.push(line.trimEnd());
      line = '';
    }
    while (word.trimEnd().length > width) {
      lines.push(word.slice(0, width));
      word = word.slice(width);
    }
    line += word;
  }
  if (line.trim()) lines.push(line.trimEnd());
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  const last = kept[maxLines - 1]!;
  kept[maxLines - 1] = `${last.length < width ? last : last.slice(0, width - 1).trimEnd()}…`;
  return kept;
};

/**
 * A label this short stays on one line, guard and all; a longer one puts its
 * guard on a line of its own, which narrows the rows of labels that a machine
 * with many guarded transitions between few states lines up side by side.
 */
const ONE_LINE = 16;

/** An edge's label in lines: "event [guard]" on one when short, else the event's lines then the guard's. */
export const transitionLines = (t: { readonly event: string; readonly guard?: string | undefined }): string[] => {
  const whole = t.guard ? `${t.event} [${t.guard}]` : t.event;
  if (whole.length <= ONE_LINE || (!t.guard && whole.length <= WRAP)) return [whole];
  const lines = [...wrap(t.event), ...(t.guard ? wrap(`[${t.guard}]`) : [])];
  return lines.length <= MAX_LINES ? lines : wrap(lines.join(' '));
};

/**
 * A state's caption in lines: its entry actions and invoked actors. 'raise'
 * entries are XState's scheduling of `after` transitions, which the diagram
 * already shows as edges. `hidden` counts the states a fold hides.
 */
export const captionOf = (n: StateNodeDef, hidden = 0): string[] => {
  const entry = n.entry.filter((name) => name !== 'raise');
  return [
    ...(hidden > 0 ? [`${hidden} state${hidden === 1 ? '' : 's'} folded`] : []),
    ...(entry.length ? wrap(`entry / ${entry.join(', ')}`) : []),
    ...(n.invoke.length ? wrap(`invoke / ${n.invoke.join(', ')}`) : []),
  ];
};

/** A transition listed inside its state: "event [guard]", and "→ target" for a target the chart does not have. */
export const insideText = (t: { readonly event: string; readonly guard?: string | undefined; readonly targets: readonly string[] }) =>
  t.targets.length ? clip(`${t.guard ? `${t.event} [${t.guard}]` : t.event} → ${t.targets.join(', ')}`) : transitionText(t);
