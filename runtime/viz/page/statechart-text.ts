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
export const TITLE = 22;
export const PAD = 10;
export const DOT = 10;
/** Room before a foldable state's key for its ▾ / ▸ mark. */
export const FOLD_MARK = 14;
/** Longest label drawn: guards with parameters get long, and a label wider than its neighbours spreads a whole layer. */
export const MAX_CHARS = 48;
export const MAX_CAPTION = 40;

export const clip = (text: string, max = MAX_CHARS): string =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** An edge's label: "event [guard]". */
export const transitionText = (t: { readonly event: string; readonly guard?: string | undefined }): string =>
  clip(t.guard ? `${t.event} [${t.guard}]` : t.event);

/**
 * 'raise' entries are XState's scheduling of `after` transitions, which the
 * diagram already shows as edges. `hidden` counts the states a fold hides.
 */
export const captionOf = (n: StateNodeDef, hidden = 0): string | undefined => {
  const entry = n.entry.filter((name) => name !== 'raise');
  const parts = [
    ...(hidden > 0 ? [`${hidden} state${hidden === 1 ? '' : 's'} folded`] : []),
    ...(entry.length ? [`entry / ${entry.join(', ')}`] : []),
    ...(n.invoke.length ? [`invoke / ${n.invoke.join(', ')}`] : []),
  ];
  return parts.length ? clip(parts.join(' · '), MAX_CAPTION) : undefined;
};

/** A transition listed inside its state: "event [guard]", and "→ target" for a target the chart does not have. */
export const insideText = (t: { readonly event: string; readonly guard?: string | undefined; readonly targets: readonly string[] }) =>
  t.targets.length ? clip(`${t.guard ? `${t.event} [${t.guard}]` : t.event} → ${t.targets.join(', ')}`) : transitionText(t);
