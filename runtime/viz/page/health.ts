/**
 * Session health, one table per host (this host's first): each session's
 * state, round trip, traffic and age. Rows are kept by (host, peer) and
 * updated in place, so a refresh every second does not flicker.
 */
import type { SessionHealth } from '../model.js';
import { h, setAttr, setText } from './dom.js';
import { asText, bytes, count, duration, shortId } from './format.js';
import type { VizModel } from './state.js';

interface Table {
  readonly el: HTMLElement;
  readonly caption: HTMLElement;
  readonly body: HTMLTableSectionElement;
  readonly rows: Map<string, HTMLTableRowElement>;
}

/** A session state's colour class: the words our machines use for up, on the way, and down. */
export const stateTone = (state: string): 'ok' | 'warn' | 'bad' | 'idle' => {
  const s = state.toLowerCase();
  if (/clos|fail|error|abort|lost|dead|down|refus/.test(s)) return 'bad';
  if (/establish|open|ready|connected|up|alive|running|watching|healthy/.test(s)) return 'ok';
  if (/handshak|connect|start|pending|retry|await|opening|reconnect|degraded|critical|resuming/.test(s)) return 'warn';
  return 'idle';
};

const CELLS = ['peer', 'state', 'paths', 'rtt', 'frames', 'bytes', 'channels', 'up'] as const;

/** A path's grade as a tone: good is up, attaching and degraded on the way, repairing down. */
const gradeTone = (grade: string): 'ok' | 'warn' | 'bad' => (grade === 'good' ? 'ok' : grade === 'repairing' ? 'bad' : 'warn');

export class HealthView {
  readonly #root: HTMLElement;
  readonly #tables = new Map<string, Table>();

  constructor(root: HTMLElement) {
    this.#root = root;
  }

  clear(): void {
    this.#root.replaceChildren();
    this.#tables.clear();
  }

  /** Tables of `hosts` (all known hosts when omitted) from the model's latest health records. */
  render(model: VizModel, hosts: Iterable<string> = model.health.keys()): void {
    for (const host of hosts) {
      const record = model.health.get(host);
      if (!record) continue;
      const table = this.#table(model, host);
      setAttr(table.el, 'data-connected', String(model.hosts.get(host)?.connected ?? true));
      const seen = new Set<string>();
      for (const s of record.sessions) {
        const peer = asText(s.peer);
        seen.add(peer);
        this.#fill(table.rows.get(peer) ?? this.#addRow(table, host, peer), s);
      }
      for (const [peer, row] of table.rows) {
        if (seen.has(peer)) continue;
        row.remove();
        table.rows.delete(peer);
      }
      const n = record.sessions.length;
      setText(table.caption, n === 0 ? 'no sessions' : `${n} session${n === 1 ? '' : 's'}`);
    }
    if (this.#root.childElementCount === 0) this.#root.append(h('p', { class: 'empty' }, 'No health reports yet.'));
  }

  #table(model: VizModel, host: string): Table {
    const known = this.#tables.get(host);
    if (known) return known;
    this.#root.querySelector(':scope > .empty')?.remove();
    const self = host === model.self;
    const caption = h('span', { class: 'count' });
    const head = h('tr', {}, ...['Peer', 'State', 'Paths', 'RTT ms', 'Frames ↓/↑', 'Bytes ↓/↑', 'Ch', 'Up'].map((t) => h('th', {}, t)));
    const body = h('tbody');
    const el = h(
      'section',
      // Not data-host: that names the tree's host nodes (and this table's rows).
      { class: 'health-host', 'data-health-host': host },
      h(
        'div',
        { class: 'health-head', title: host },
        h('span', { class: 'host-id' }, shortId(host)),
        h('span', { class: 'badge' }, self ? 'this host' : 'peer host'),
        caption,
      ),
      h('table', {}, h('thead', {}, head), body),
    );
    const table: Table = { el, caption, body, rows: new Map() };
    this.#tables.set(host, table);
    if (self) this.#root.prepend(el);
    else this.#root.append(el);
    return table;
  }

  #addRow(table: Table, host: string, peer: string): HTMLTableRowElement {
    const row = h('tr', { 'data-peer': peer, 'data-host': host }, ...CELLS.map((c) => h('td', { class: c })));
    row.cells[0]!.textContent = shortId(peer);
    table.body.append(row);
    table.rows.set(peer, row);
    return row;
  }

  #fill(row: HTMLTableRowElement, s: SessionHealth): void {
    const [, state, pathsCell, rtt, frames, bytesCell, channels, up] = [...row.cells];
    const st = asText(s.state);
    const paths = s.paths ?? [];
    // One direct path and no bridges is how most sessions run: 'critical' (one live path) would alarm for nothing.
    const lone = paths.length <= 1 && !paths.some((p) => asText(p.address).startsWith('via '));
    const triple = s.triple === undefined ? undefined : asText(s.triple);
    const shown = st === 'established' && triple && !(lone && triple === 'critical') ? triple : st;
    setAttr(row, 'data-state', st);
    setAttr(row, 'data-triple', triple ?? '');
    setAttr(row, 'data-tone', stateTone(shown));
    row.title = [
      asText(s.peer),
      `${asText(s.role)} · ${asText(s.address)} · ${asText(s.cipher)}`,
      `frames in ${s.framesIn}, out ${s.framesOut}; bytes in ${bytes(s.bytesIn)}, out ${bytes(s.bytesOut)}`,
    ].join('\n');
    setText(state!, shown);
    this.#paths(pathsCell!, s);
    setText(rtt!, s.rttMs === null || s.rttMs === undefined ? '–' : s.rttMs < 10 ? s.rttMs.toFixed(1) : String(Math.round(s.rttMs)));
    setText(frames!, `${count(s.framesIn)}/${count(s.framesOut)}`);
    setText(bytesCell!, `${bytes(s.bytesIn, true)}/${bytes(s.bytesOut, true)}`);
    setText(channels!, String(s.channels));
    setText(up!, duration(s.upMs));
  }

  /** One line per path: where it goes (the direct address, or `via <bridge>`), its grade, RTT and frames. */
  #paths(cell: HTMLElement, s: SessionHealth): void {
    const paths = s.paths ?? [];
    const key = JSON.stringify(paths.map((p) => [p.address, p.grade, p.rttMs === null ? null : Math.round(p.rttMs), p.framesIn, p.framesOut]));
    if (cell.dataset['key'] === key) return;
    cell.dataset['key'] = key;
    cell.replaceChildren(
      ...paths.map((p) =>
        h(
          'div',
          {
            class: 'path',
            'data-grade': asText(p.grade),
            'data-tone': gradeTone(asText(p.grade)),
            title: `${asText(p.address)}: ${asText(p.grade)}; frames in ${p.framesIn}, out ${p.framesOut}`,
          },
          // The direct path by its role, bridged ones by their bridge: the address is in the tooltip.
          `${asText(p.address).startsWith('via ') ? asText(p.address) : 'direct'} ${asText(p.grade)}${p.rttMs === null ? '' : ` ${p.rttMs < 10 ? p.rttMs.toFixed(1) : Math.round(p.rttMs)}ms`}`,
        ),
      ),
    );
  }
}
