/**
 * Checks a message from the network before the node looks at it. Everything
 * here comes from outside: the runtime authenticates the sender (`from`), but
 * a member may still be buggy or hostile, so every field is checked for type
 * and range. A message that fails gives the reason it is dropped (counted in
 * `RaftNode.dropped()`); the node never throws on one.
 */
import type { NodeId, RaftLimits, RaftMessage } from './types.js';

/** The JSON of the smallest entry (`{"index":1,"term":1,"command":{"type":"noop"}}`) is 46 bytes: more entries than maxAppendBytes / 32 in one append cannot come from an honest leader. */
const MIN_ENTRY_BYTES = 32;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCommand = (c: unknown): boolean => isObject(c) && (c.type === 'noop' || (c.type === 'data' && 'data' in c));

/** Entries that follow `prevIndex` one by one, with terms that never go down, from prevTerm up to the message's term. */
const entriesReason = (m: Record<string, unknown>, limits: RaftLimits): string | undefined => {
  const entries = m.entries;
  if (!Array.isArray(entries)) return 'malformed';
  if (entries.length > 1 && entries.length > limits.maxAppendBytes / MIN_ENTRY_BYTES) return 'too.many.entries';
  let term = m.prevTerm as number;
  let index = m.prevIndex as number;
  for (const e of entries as unknown[]) {
    if (!isObject(e) || !isCount(e.index) || !isCount(e.term) || !isCommand(e.command)) return 'bad.entry';
    if (e.index !== index + 1) return 'bad.entry.index';
    if (e.term < term || e.term > (m.term as number) || e.term < 1) return 'bad.entry.term';
    term = e.term;
    index = e.index;
  }
  return undefined;
};

const shapeReason = (from: NodeId, m: Record<string, unknown>, limits: RaftLimits): string | undefined => {
  if (!isCount(m.term)) return 'bad.term';
  switch (m.type) {
    case 'vote.request':
      if (m.candidate !== from) return 'sender.mismatch';
      if (m.term < 1 || !isCount(m.lastIndex) || !isCount(m.lastTerm)) return 'bad.index';
      if (m.lastTerm >= m.term || (m.lastIndex === 0) !== (m.lastTerm === 0)) return 'bad.index';
      return undefined;
    case 'vote.reply':
      return typeof m.granted === 'boolean' ? undefined : 'malformed';
    case 'append.request':
      if (m.leader !== from) return 'sender.mismatch';
      if (m.term < 1 || !isCount(m.prevIndex) || !isCount(m.prevTerm) || !isCount(m.leaderCommit)) return 'bad.index';
      if (m.prevTerm > m.term || (m.prevIndex === 0) !== (m.prevTerm === 0)) return 'bad.index';
      return entriesReason(m, limits);
    case 'append.reply':
      if (typeof m.success !== 'boolean') return 'malformed';
      return isCount(m.index) ? undefined : 'bad.index';
    case 'snapshot.request': {
      if (m.leader !== from) return 'sender.mismatch';
      const s = m.snapshot;
      if (m.term < 1 || !isObject(s) || !('data' in s)) return 'malformed';
      if (!isCount(s.index) || !isCount(s.term) || s.index < 1 || s.term < 1 || s.term > m.term) return 'bad.index';
      return undefined;
    }
    case 'snapshot.reply':
      return isCount(m.index) ? undefined : 'bad.index';
    default:
      return 'unknown.type';
  }
};

/** Why `message` from `from` must be dropped, or undefined when it is well formed and from another member. */
export const dropReason = (self: NodeId, members: ReadonlySet<NodeId>, from: unknown, message: unknown, limits: RaftLimits): string | undefined => {
  if (typeof from !== 'string' || !members.has(from) || from === self) return 'not.member';
  if (!isObject(message) || typeof message.type !== 'string') return 'malformed';
  return shapeReason(from, message, limits);
};

/** The message once checked, for the type checker. */
export const asChecked = (message: unknown): RaftMessage => message as RaftMessage;
