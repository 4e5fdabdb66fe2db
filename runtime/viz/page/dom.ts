/**
 * The page's only way to build DOM. Every string that reaches the document
 * goes through `textContent` or `setAttribute`: records from other hosts are
 * untrusted, so nothing here parses markup.
 */

type Attrs = Readonly<Record<string, string | number | boolean | undefined>>;

const SVG_NS = 'http://www.w3.org/2000/svg';

const setAttrs = (el: Element, attrs: Attrs | undefined) => {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
};

/** An HTML element with attributes and text or element children. */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: readonly (Node | string)[]
): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const c of children) el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
};

/** An SVG element; `text` becomes its text content. */
export const svg = <K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  text?: string,
): SVGElementTagNameMap[K] => {
  const el = document.createElementNS(SVG_NS, tag) as SVGElementTagNameMap[K];
  setAttrs(el, attrs);
  if (text !== undefined) el.textContent = text;
  return el;
};

/** Sets an attribute only when it changes: rows are updated many times a second, most of them unchanged. */
export const setAttr = (el: Element, name: string, value: string) => {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
};

export const setText = (el: Node, value: string) => {
  if (el.textContent !== value) el.textContent = value;
};

/** The element with `id`, which index.html must provide. */
export const byId = <T extends Element = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el as unknown as T;
};
