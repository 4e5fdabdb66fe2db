/**
 * A peer host's relayed records, checked before they reach the store or the
 * page: the right shape, bounded sizes, and only records about the peer
 * itself (it cannot speak for this host or a third one). Anything else is a
 * VizRelayError and the relay from that peer ends. Contexts are redacted
 * again: a peer's idea of what is secret is not ours to trust.
 */
import { VizRelayError } from '../errors.js';
import type { ActorInfo, MachineDef, PathHealth, SessionHealth, StateNodeDef, TransitionDef, Update } from './model.js';
import { readCall, readVatCalls } from './messages.js';
import { redact, redactText } from './redact.js';

export const MAX_BATCH = 5000;
const MAX_TEXT = 200;
const MAX_DEF_NODES = 400;
const MAX_DEF_TRANSITIONS = 2000;
const MAX_DEF_DEPTH = 12;
const MAX_VALUE_DEPTH = 12;
const MAX_LIST = 64;
/** A host's run name (ours: a time in base 36, 8 characters); it prefixes every actor id of the run. */
const MAX_RUN = 32;

const fail = (what: string): never => {
  throw new VizRelayError(`malformed relay record: ${what}`);
};
/** A short, safe description of any value for an error message (String() can throw on hostile objects). */
const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.slice(0, 60)) : typeof v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown, what: string, max = MAX_TEXT): string =>
  typeof v === 'string' && v.length <= max ? v : fail(`${what} must be a string of at most ${max} characters`);
const optText = (v: unknown, what: string): string | undefined => (v === undefined ? undefined : text(v, what));
const num = (v: unknown, what: string): number =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(`${what} must be a finite number ≥ 0`);
const texts = (v: unknown, what: string): string[] => {
  if (!Array.isArray(v) || v.length > MAX_LIST) fail(`${what} must be a list of at most ${MAX_LIST}`);
  return (v as unknown[]).map((s) => redactText(text(s, what)));
};

/** A state value: a string, or an object of state values (bounded depth and width). */
const stateValue = (v: unknown, depth = 0): unknown => {
  if (typeof v === 'string') return redactText(text(v, 'state value'));
  if (!isObject(v) || depth > MAX_VALUE_DEPTH) return fail('state value');
  const keys = Object.keys(v);
  if (keys.length > MAX_LIST) fail('state value is too wide');
  return Object.fromEntries(keys.map((k) => [redactText(text(k, 'state key')), stateValue(v[k], depth + 1)]));
};

const STATE_TYPES = new Set(['atomic', 'compound', 'parallel', 'final', 'history']);
const STATUSES = new Set(['active', 'done', 'error', 'stopped']);

const checkDef = (v: unknown): MachineDef => {
  if (!isObject(v)) return fail('def');
  let nodes = 0;
  let transitions = 0;
  const transition = (t: unknown): TransitionDef => {
    if (!isObject(t)) return fail('transition');
    if (++transitions > MAX_DEF_TRANSITIONS) fail('too many transitions');
    const guard = optText(t['guard'], 'guard');
    return {
      event: text(t['event'], 'transition event'),
      targets: texts(t['targets'], 'targets'),
      ...(guard !== undefined ? { guard: redactText(guard) } : {}),
      actions: texts(t['actions'], 'actions'),
    };
  };
  const node = (n: unknown, depth: number): StateNodeDef => {
    if (!isObject(n) || depth > MAX_DEF_DEPTH) return fail('state node');
    if (++nodes > MAX_DEF_NODES) fail('too many state nodes');
    const type = text(n['type'], 'state type');
    if (!STATE_TYPES.has(type)) fail(`unknown state type ${JSON.stringify(type)}`);
    if (!Array.isArray(n['children']) || !Array.isArray(n['transitions'])) fail('state node lists');
    const initial = optText(n['initial'], 'initial');
    // Paths are redacted like the targets that name them, so the two still match.
    return {
      path: redactText(text(n['path'], 'path')),
      key: redactText(text(n['key'], 'key')),
      type: type as StateNodeDef['type'],
      ...(initial !== undefined ? { initial: redactText(initial) } : {}),
      children: (n['children'] as unknown[]).map((c) => node(c, depth + 1)),
      transitions: (n['transitions'] as unknown[]).map(transition),
      entry: texts(n['entry'], 'entry'),
      invoke: texts(n['invoke'], 'invoke'),
      tags: texts(n['tags'], 'tags'),
    };
  };
  return { hash: text(v['hash'], 'def hash', 40), id: text(v['id'], 'def id'), root: node(v['root'], 0) };
};

const health = (s: unknown): SessionHealth => {
  if (!isObject(s)) return fail('session health');
  const rtt = s['rttMs'];
  return {
    peer: text(s['peer'], 'peer'),
    address: text(s['address'], 'address'),
    role: text(s['role'], 'role'),
    state: text(s['state'], 'state'),
    cipher: text(s['cipher'], 'cipher'),
    rttMs: rtt === null ? null : num(rtt, 'rttMs'),
    framesIn: num(s['framesIn'], 'framesIn'),
    framesOut: num(s['framesOut'], 'framesOut'),
    bytesIn: num(s['bytesIn'], 'bytesIn'),
    bytesOut: num(s['bytesOut'], 'bytesOut'),
    channels: num(s['channels'], 'channels'),
    upMs: num(s['upMs'], 'upMs'),
    ...(s['triple'] !== undefined ? { triple: text(s['triple'], 'triple') } : {}),
    ...(s['paths'] !== undefined ? { paths: pathsOf(s['paths']) } : {}),
  };
};

/** A session's paths: at most MAX_PATHS_SHOWN (four live, three repairing, and room). */
const MAX_PATHS_SHOWN = 8;
const pathsOf = (v: unknown): PathHealth[] => {
  if (!Array.isArray(v) || v.length > MAX_PATHS_SHOWN) return fail(`paths must be a list of at most ${MAX_PATHS_SHOWN}`);
  return v.map((p: unknown) => {
    if (!isObject(p)) return fail('path');
    const rtt = p['rttMs'];
    return {
      address: text(p['address'], 'path address'),
      grade: text(p['grade'], 'path grade', 16),
      rttMs: rtt === null ? null : num(rtt, 'path rttMs'),
      framesIn: num(p['framesIn'], 'path framesIn'),
      framesOut: num(p['framesOut'], 'path framesOut'),
    };
  });
};

/**
 * The records of a batch from `peer`, rebuilt field by field (nothing unknown
 * passes through). Host fields must name the peer; actor ids must be its own.
 */
export const checkUpdates = (peer: string, batch: unknown): Update[] => {
  if (!Array.isArray(batch)) return fail('a batch must be a list');
  if (batch.length > MAX_BATCH) fail(`a batch holds at most ${MAX_BATCH} records`);
  const own = (host: unknown) => {
    if (host !== peer) fail(`a peer relays only its own records (got host ${show(host)})`);
    return peer;
  };
  const ownAid = (aid: unknown, what: string) => {
    const a = text(aid, what);
    if (!a.startsWith(`${peer}/`)) fail(`${what} ${JSON.stringify(a.slice(0, 60))} is not the peer's`);
    return a;
  };
  return batch.map((u: unknown): Update => {
    if (!isObject(u)) return fail('record');
    switch (u['k']) {
      case 'host': {
        const listen = optText(u['listen'], 'listen');
        const run = u['run'] === undefined ? undefined : text(u['run'], 'run', MAX_RUN);
        return { k: 'host', host: own(u['host']), self: false, connected: true, ...(listen ? { listen } : {}), ...(run !== undefined ? { run } : {}) };
      }
      case 'def':
        return { k: 'def', def: checkDef(u['def']) };
      case 'actor': {
        const a = u['actor'];
        if (!isObject(a) || !isObject(a['tag'])) return fail('actor');
        const tag = a['tag'];
        const peerOf = optText(tag['peer'], 'tag.peer');
        const parent = a['parent'] === undefined ? undefined : ownAid(a['parent'], 'parent');
        const actor: ActorInfo = {
          aid: ownAid(a['aid'], 'aid'),
          host: own(a['host']),
          def: text(a['def'], 'def', 40),
          tag: {
            group: redactText(text(tag['group'], 'tag.group')),
            name: redactText(text(tag['name'], 'tag.name')),
            ...(peerOf !== undefined ? { peer: peerOf } : {}),
          },
          ...(parent !== undefined ? { parent } : {}),
        };
        return { k: 'actor', actor };
      }
      case 'step': {
        const status = text(u['status'], 'status');
        if (!STATUSES.has(status)) fail(`unknown status ${JSON.stringify(status)}`);
        const label = optText(u['label'], 'label');
        const source = u['source'] === undefined ? undefined : ownAid(u['source'], 'source');
        if (u['remote'] !== undefined && typeof u['remote'] !== 'boolean') fail('remote');
        return {
          k: 'step',
          seq: num(u['seq'], 'seq'),
          t: num(u['t'], 't'),
          host: own(u['host']),
          aid: ownAid(u['aid'], 'aid'),
          event: redactText(text(u['event'], 'event')),
          ...(label !== undefined ? { label: redactText(label) } : {}),
          ...(source !== undefined ? { source } : {}),
          ...(u['remote'] === true ? { remote: true } : {}),
          value: stateValue(u['value']),
          status: status as StepRecordStatus,
          ...(u['context'] !== undefined ? { context: redact(u['context']) } : {}),
        };
      }
      case 'health': {
        if (!Array.isArray(u['sessions']) || u['sessions'].length > 1024) fail('sessions');
        return { k: 'health', host: own(u['host']), t: num(u['t'], 't'), sessions: (u['sessions'] as unknown[]).map(health) };
      }
      case 'gap':
        return { k: 'gap', host: own(u['host']), dropped: num(u['dropped'], 'dropped') };
      // Calls between actors: one end must be the peer's own vat (messages.ts).
      case 'call':
        return readCall(own(u['host']), u, fail);
      case 'vat-calls':
        return readVatCalls(own(u['host']), u, fail);
      default:
        return fail(`unknown kind ${show(u['k'])}`);
    }
  });
};

type StepRecordStatus = Extract<Update, { k: 'step' }>['status'];
