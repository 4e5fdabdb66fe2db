/** Text output of the CLI. */
import { passStyleOf } from '@endo/marshal';
import { shortVatId } from '../../protocols/session/vat-id.js';
import type { HostStatus } from '../host.js';

/** A vat's peer: a local vat's name, or `<VatId>/<endpoint>` on another host, shown with the short host id. */
const peerName = (peer: string): string => {
  const slash = peer.indexOf('/');
  return slash < 0 ? peer : `${shortVatId(peer.slice(0, slash))}${peer.slice(slash)}`;
};

/** Results as JSON; references print as their alleged interface, bigints as `123n`. */
export const formatResult = (value: unknown): string => {
  const toPlain = (v: unknown): unknown => {
    switch (passStyleOf(v as any)) {
      case 'remotable':
        return `[${String(v).replace(/^\[object /, '').replace(/\]$/, '')}]`;
      case 'promise':
        return '[Promise]';
      case 'bigint':
        return `${String(v)}n`;
      case 'undefined':
        return null;
      case 'copyArray':
        return (v as unknown[]).map(toPlain);
      case 'copyRecord':
        return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, toPlain(x)]));
      case 'error':
        return `[${(v as Error).name}: ${(v as Error).message}]`;
      default:
        return v;
    }
  };
  if (value === undefined) return 'undefined';
  return JSON.stringify(toPlain(value), null, typeof value === 'object' && value !== null ? 2 : undefined) ?? 'undefined';
};

const table = (rows: string[][]): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
};

/**
 * A session's state for people: the triple session's (docs/protocol.md 14.4), but a session on its
 * one direct path and no bridges reads `established` — 'critical' (one live path) would alarm for
 * how most sessions run. `--json` keeps the exact state.
 */
const stateWord = (x: HostStatus['sessions'][number]): string =>
  x.state === 'critical' && x.paths.length <= 1 && !x.paths.some((p) => p.address.startsWith('via ')) && !(x.bridges ?? []).length
    ? 'established'
    : x.state;

/** The tribe: this sister's bootstrap state, then every sister with its state, load and round trip. */
const formatTribe = (s: HostStatus): string[] => {
  const t = s.tribe!;
  const head = `tribe ${t.tribe.slice(0, 8)}  slot ${t.slot} of core ${t.coreSize}${t.spawner ? ' (spawner)' : ''}  ${t.state}${t.reason ? ` (${t.reason})` : ''}`;
  const rows = [
    ['SISTER', 'SLOT', 'MACHINE', 'STATE', 'BOOTSTRAP', 'SYNC', 'VATS', 'RTT', 'ADDRESS', 'PID'],
    [shortVatId(s.id), String(t.slot), t.machine.slice(0, 6), 'this host', t.state, '-', String(s.vats.length), '-', s.listen ?? '-', String(s.pid)],
    ...(t.sisters ?? [])
      .slice()
      .sort((a, b) => (a.machine === b.machine ? a.slot - b.slot : a.machine < b.machine ? -1 : 1))
      .map((x) => [
        shortVatId(x.vatId),
        String(x.slot),
        x.machine.slice(0, 6),
        x.lastError && x.state !== 'connected' ? `${x.state} (${x.lastError.split(':')[0]})` : x.state,
        x.phase ?? '-',
        x.syncError ? 'failing' : x.inSync === undefined ? '-' : x.inSync ? 'in sync' : 'differs',
        x.vats === undefined ? '-' : String(x.vats),
        x.rttMs === undefined ? '-' : `${x.rttMs}ms`,
        x.address,
        String(x.pid),
      ]),
  ];
  const sagas = (t.sync?.inFlight ?? []).map(
    (g) => `  saga ${g.role === 'initiator' ? '→' : '←'} ${shortVatId(g.peer)} ${g.space}: ${g.state}, ${g.entries}${g.total ? ` of ≤ ${g.total}` : ''} entries`,
  );
  return [head, table(rows), ...(sagas.length ? ['sync sagas in flight:', ...sagas] : [])];
};

/** Replicated services this sister is a replica of: its role, the leader, term, commit index and each replica's lag. */
const formatServices = (s: HostStatus): string[] => {
  const rows = [
    ['SERVICE', 'ROLE', 'LEADER', 'TERM', 'COMMIT', 'APPLIED', 'SNAPSHOT', 'REPLICAS (LAG)'],
    ...(s.services ?? []).map((x) => [
      x.name,
      x.serving ? `${x.role} (serving)` : x.role,
      x.leader ? shortVatId(x.leader) : '-',
      String(x.term),
      String(x.commitIndex),
      String(x.lastApplied),
      String(x.snapshotIndex),
      x.replicas.map((r) => `${shortVatId(r)}${r === s.id ? '*' : x.lag?.[r] !== undefined ? ` (${x.lag[r]})` : ''}`).join(' '),
    ]),
  ];
  return [table(rows)];
};

export const formatPs = (s: HostStatus): string => {
  const lines = [`host ${shortVatId(s.id)}  pid ${s.pid}  home ${s.home}`, ''];
  if (s.tribe) lines.push(...formatTribe(s), '');
  if (s.services && s.services.length > 0) lines.push(...formatServices(s), '');
  if (s.vats.length === 0) lines.push('no vats (spawn one with: tribe spawn <module> --name NAME)');
  else {
    lines.push(
      table([
        ['VAT', 'STATE', 'DURABLE', 'PEERS', 'HANDOFFS', 'MODULE', 'DETAIL'],
        ...s.vats.map((v) => [
          v.name,
          v.state,
          v.durable ? 'yes' : 'no',
          v.peers.map(peerName).join(',') || '-',
          // Handed-on references claimed directly, and those left as proxies (the fallback).
          v.proxied > 0 ? `${v.handoffs} (${v.proxied} proxied)` : String(v.handoffs),
          v.module,
          v.detail ?? '',
        ]),
      ]),
    );
  }
  lines.push('', `listen: ${s.listen ?? 'off'}`, `viz:    ${s.viz ?? 'off'}`);
  if (s.bridgeRef) {
    const st = s.bridges?.service;
    lines.push(`bridge: ${s.bridgeRef}${st ? `  (${st.routes} routes, ${st.pending} waiting, ${st.relayedFrames} frames relayed)` : ''}`);
  }
  if (s.bridges && s.bridges.known.length > 0) lines.push(`bridges known: ${s.bridges.known.length}`);
  if (s.sessions.length === 0) lines.push('no sessions with other hosts');
  else {
    lines.push(
      table([
        ['PEER HOST', 'ADDRESS', 'ROLE', 'CIPHER', 'STATE', 'PATHS', 'CHANNELS', 'FRAMES IN/OUT', 'RTT', 'UP'],
        ...s.sessions.map((x) => [
          shortVatId(x.peer),
          x.address,
          x.role,
          x.cipher,
          x.redialAttempts === undefined
            ? stateWord(x)
            : `${x.state} (re-dial ${x.redialAttempts}${x.redialError ? `: ${x.redialError.split(':')[0]}` : ''})`,
          [
            ...x.paths.map((p) => `${p.address} ${p.grade}${p.rttMs === undefined ? '' : ` ${p.rttMs}ms`}`),
            // Bridges with no path now: being repaired.
            ...(x.bridges ?? []).filter((b) => !b.live).map((b) => `via ${b.bridge} repairing${b.lastError ? ` (${b.lastError.split(':')[0]})` : ''}`),
          ].join(', ') || '-',
          String(x.channels),
          `${x.framesIn}/${x.framesOut}`,
          x.rttMs === undefined ? '-' : `${x.rttMs.toFixed(1)}ms`,
          `${Math.round((Date.now() - x.since) / 1000)}s`,
        ]),
      ]),
    );
  }
  lines.push('', `names: ${s.names.map((n) => `${n.name} (${n.owner})`).join(', ') || 'none'}`, '');
  return lines.join('\n');
};
