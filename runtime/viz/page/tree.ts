/**
 * The actor tree: hosts → groups → actors. Rows are made once and kept in a
 * map by aid, so a step touches only its own row's attributes: with hundreds
 * of actors stepping, the tree is never rebuilt.
 */
import type { ActorInfo, HostInfo, StepRecord } from '../model.js';
import { h, setAttr, setText } from './dom.js';
import { leafPaths, shortId, stateText } from './format.js';
import type { VizModel } from './state.js';

/**
 * Where finished machines go (a failed dial, a stopped vat, a closed session)
 * and, live, the actors of a peer that are gone: one folded group at the end of
 * each host, so the groups above hold what runs now. A row keeps its own group
 * in `data-group`; the group element it sits in says 'ended'.
 */
export const ENDED_GROUP = 'ended';
/** Groups the runtime knows come first, in this order; any other group follows alphabetically; 'ended' is last. */
const GROUP_ORDER = ['vats', 'sessions', 'services'];
const groupRank = (g: string) => {
  if (g === ENDED_GROUP) return Number.MAX_SAFE_INTEGER;
  const i = GROUP_ORDER.indexOf(g);
  return i < 0 ? GROUP_ORDER.length : i;
};
const groupBefore = (a: string, b: string) => groupRank(a) - groupRank(b) || (a < b ? -1 : a > b ? 1 : 0);

interface Row {
  readonly el: HTMLElement;
  readonly state: HTMLElement;
  readonly nameEl: HTMLElement;
  /**
   * The group it sits in: its actor's tag group, or 'ended'. A tag can change
   * (a session path learns its peer) and a machine can end; the row follows.
   */
  group: string;
  /** Its actor's own group (`data-group`). */
  tagGroup: string;
  name: string;
  search: string;
  /** The step it shows (host/seq), to skip unchanged rows. */
  shown: string;
}

interface GroupNode {
  readonly el: HTMLDetailsElement;
  readonly list: HTMLElement;
  readonly count: HTMLElement;
  /** The rows' names in DOM order (sorted): where a new row goes, found without reading the DOM. */
  readonly names: string[];
}

interface HostNode {
  readonly el: HTMLElement;
  readonly badge: HTMLElement;
  readonly count: HTMLElement;
  readonly groups: Map<string, GroupNode>;
  actors: number;
}

/** The index of the first name greater than `name` (the insertion point that keeps equal names in arrival order). */
const insertionPoint = (names: readonly string[], name: string): number => {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (names[mid]! > name) hi = mid;
    else lo = mid + 1;
  }
  return lo;
};

export class ActorTree {
  readonly #root: HTMLElement;
  readonly #rows = new Map<string, Row>();
  readonly #hosts = new Map<string, HostNode>();
  #selected: string | undefined;
  #filter = '';

  constructor(root: HTMLElement, filter: HTMLInputElement, onSelect: (aid: string) => void) {
    this.#root = root;
    root.addEventListener('click', (e) => {
      const row = (e.target as Element).closest<HTMLElement>('[data-aid]');
      if (row?.dataset.aid) onSelect(row.dataset.aid);
    });
    root.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
      const next = this.#neighbour(e.key === 'ArrowDown' ? 1 : -1);
      if (next) {
        e.preventDefault();
        onSelect(next);
      }
    });
    filter.addEventListener('input', () => {
      this.#filter = filter.value.trim().toLowerCase();
      for (const row of this.#rows.values()) this.#applyFilter(row);
      // Groups with no match fold away with their rows.
      for (const host of this.#hosts.values()) {
        for (const g of host.groups.values()) g.el.hidden = this.#filter !== '' && !g.list.querySelector(':scope > :not([hidden])');
      }
    });
  }

  clear(): void {
    this.#root.replaceChildren();
    this.#rows.clear();
    this.#hosts.clear();
    this.#selected = undefined;
  }

  /** Host nodes in the model's order, with their connection state. */
  syncHosts(model: VizModel): void {
    for (const info of model.hosts.values()) this.#hostNode(info);
  }

  /**
   * Rows of `aids` (created if new) showing the step `stepOf` gives; `unknown`
   * is the status of an actor with no step (history before its first one).
   * `present`: the rows show now (live), so an actor marked gone is ended; in
   * history an actor is placed by its step at the cursor alone.
   */
  syncActors(
    model: VizModel,
    aids: Iterable<string>,
    stepOf: (aid: string) => StepRecord | undefined,
    unknown: string,
    present: boolean,
  ): void {
    for (const aid of aids) {
      const actor = model.actors.get(aid);
      if (!actor) continue;
      const step = stepOf(aid);
      const ended = (present && actor.gone === true) || (step !== undefined && step.status !== 'active');
      const place = ended ? ENDED_GROUP : String(actor.tag.group);
      let row = this.#rows.get(aid);
      if (!row) row = this.#addRow(model, actor, place);
      else if (row.group !== place || row.tagGroup !== String(actor.tag.group) || row.name !== String(actor.tag.name)) {
        this.#moveRow(model, row, actor, place);
      }
      setAttr(row.el, 'data-gone', String(present && actor.gone === true));
      const shown = step ? `${step.host}\n${step.seq}` : `-${unknown}`;
      if (row.shown === shown) continue;
      row.shown = shown;
      const leaves = step ? leafPaths(step.value) : [];
      setAttr(row.el, 'data-state', leaves.join(' '));
      setAttr(row.el, 'data-status', step ? String(step.status) : unknown);
      setText(row.state, stateText(leaves));
      row.state.title = leaves.join('\n');
    }
  }

  /** Rows drawn before their machine's definition arrived get its id now. */
  syncMachines(model: VizModel): void {
    for (const [aid, row] of this.#rows) {
      if (row.el.dataset.machine !== '?') continue;
      const def = model.defs.get(model.actors.get(aid)?.def ?? '');
      if (!def) continue;
      row.el.dataset.machine = def.id;
      const chip = row.el.querySelector('.machine');
      if (chip) chip.textContent = def.id;
    }
  }

  select(aid: string | undefined): void {
    if (this.#selected === aid) return;
    const prev = this.#selected ? this.#rows.get(this.#selected) : undefined;
    if (prev) {
      prev.el.setAttribute('aria-selected', 'false');
      prev.el.tabIndex = -1;
    }
    this.#selected = aid;
    const row = aid ? this.#rows.get(aid) : undefined;
    if (row) {
      row.el.setAttribute('aria-selected', 'true');
      row.el.tabIndex = 0;
      row.el.scrollIntoView({ block: 'nearest' });
    }
  }

  /** The first actor in tree order: the default selection. */
  first(): string | undefined {
    return this.#root.querySelector<HTMLElement>('[data-aid]')?.dataset.aid;
  }

  #neighbour(step: 1 | -1): string | undefined {
    const rows = [...this.#root.querySelectorAll<HTMLElement>('[data-aid]:not([hidden])')];
    const i = rows.findIndex((r) => r.dataset.aid === this.#selected);
    return rows[Math.max(0, Math.min(rows.length - 1, i + step))]?.dataset.aid;
  }

  #hostNode(info: HostInfo): HostNode {
    let node = this.#hosts.get(info.host);
    if (!node) {
      const badge = h('span', { class: 'badge' });
      const count = h('span', { class: 'count' });
      const head = h(
        'div',
        { class: 'host-head', title: info.host },
        h('span', { class: 'host-dot' }),
        h('span', { class: 'host-id' }, shortId(info.host)),
        badge,
        count,
      );
      const el = h('section', { class: 'tree-host', role: 'group', 'data-host': info.host }, head);
      node = { el, badge, count, groups: new Map(), actors: 0 };
      this.#hosts.set(info.host, node);
      // This host first, the others in the order they appeared.
      if (info.self) this.#root.prepend(el);
      else this.#root.append(el);
    }
    setAttr(node.el, 'data-self', String(info.self));
    setAttr(node.el, 'data-connected', String(info.connected));
    setText(node.badge, info.self ? 'this host' : info.connected ? (info.listen ?? '') : 'disconnected');
    return node;
  }

  #group(host: HostNode, group: string): GroupNode {
    let g = host.groups.get(group);
    if (g) return g;
    const count = h('span', { class: 'count' });
    const list = h('div', { role: 'group' });
    // The ended group starts folded: what ended is one click away, not in the way.
    const el = h(
      'details',
      { class: 'group', 'data-group': group, open: group !== ENDED_GROUP },
      h('summary', {}, h('span', { class: 'group-name' }, group), count),
      list,
    );
    g = { el, list, count, names: [] };
    const after = [...host.groups.entries()].find(([name]) => groupBefore(group, name) < 0);
    host.el.insertBefore(el, after ? after[1].el : null);
    host.groups.set(group, g);
    return g;
  }

  #hostOf(model: VizModel, actor: ActorInfo): HostNode {
    return this.#hostNode(model.hosts.get(actor.host) ?? { k: 'host', host: actor.host, self: false, connected: true });
  }

  #addRow(model: VizModel, actor: ActorInfo, place: string): Row {
    const hostNode = this.#hostOf(model, actor);
    const machine = model.defs.get(actor.def)?.id ?? '?';
    const name = String(actor.tag.name);
    const state = h('span', { class: 'state' }, '—');
    const nameEl = h('span', { class: 'name' }, name);
    const el = h(
      'div',
      {
        class: 'tree-actor',
        role: 'treeitem',
        tabindex: -1,
        'aria-selected': 'false',
        'data-aid': actor.aid,
        'data-group': String(actor.tag.group),
        'data-name': name,
        'data-machine': machine,
        'data-status': 'active',
        'data-state': '',
        title: actor.aid,
      },
      h('span', { class: 'status' }),
      nameEl,
      h('span', { class: 'machine' }, machine),
      state,
    );
    const row: Row = { el, state, nameEl, group: place, tagGroup: String(actor.tag.group), name, search: '', shown: '' };
    this.#place(hostNode, row, actor, place);
    hostNode.actors += 1;
    setText(hostNode.count, `${hostNode.actors} actor${hostNode.actors === 1 ? '' : 's'}`);
    this.#rows.set(actor.aid, row);
    if (actor.aid === this.#selected) el.setAttribute('aria-selected', 'true');
    return row;
  }

  /** Puts a row in group `place` (its tag's group, or 'ended'), sorted by the name its actor's tag gives. */
  #place(hostNode: HostNode, row: Row, actor: ActorInfo, place: string): void {
    row.group = place;
    row.tagGroup = String(actor.tag.group);
    row.name = String(actor.tag.name);
    row.search = `${row.name} ${row.el.dataset.machine ?? ''} ${actor.aid}`.toLowerCase();
    setAttr(row.el, 'data-group', row.tagGroup);
    setAttr(row.el, 'data-name', row.name);
    setText(row.nameEl, row.name);
    const group = this.#group(hostNode, row.group);
    const at = insertionPoint(group.names, row.name);
    group.list.insertBefore(row.el, group.list.children[at] ?? null);
    group.names.splice(at, 0, row.name);
    setText(group.count, String(group.names.length));
    this.#applyFilter(row);
  }

  /**
   * The actor was retagged (a path that proved its peer moves from
   * 'handshakes' to 'sessions') or it ended: its row leaves its old group,
   * which goes once empty, and takes its place in the new one.
   */
  #moveRow(model: VizModel, row: Row, actor: ActorInfo, place: string): void {
    const hostNode = this.#hostOf(model, actor);
    const old = hostNode.groups.get(row.group);
    if (old) {
      const at = [...old.list.children].indexOf(row.el);
      if (at >= 0) old.names.splice(at, 1);
      setText(old.count, String(old.names.length));
      if (old.names.length === 0) {
        old.el.remove();
        hostNode.groups.delete(row.group);
      }
    }
    row.el.remove();
    this.#place(hostNode, row, actor, place);
  }

  #applyFilter(row: Row): void {
    const hide = this.#filter !== '' && !row.search.includes(this.#filter) && !row.state.title.toLowerCase().includes(this.#filter);
    if (row.el.hidden !== hide) row.el.hidden = hide;
  }
}
