/**
 * Shape checks for CapTP messages that arrive from another host. A vat trusts
 * its own host's messages; a remote peer may be hostile, so every message is
 * checked here before it reaches a vat, and a malformed one aborts the whole
 * session (capabilities/session-mux.ts). The checks follow what @endo/captp
 * 4.5.1 reads from each message type (its `handler` table in captp.js).
 */
import type { CapTPMessage } from '@endo/captp';

/** Ids and slots CapTP makes are short ("q-12", "o+3"); anything long is hostile. */
const MAX_ID_CHARS = 64;
/** Slots per capdata: bounded so one message cannot make a vat allocate without limit. */
export const MAX_SLOTS = 10_000;

const isId = (v: unknown): boolean =>
  (typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_CHARS) || (typeof v === 'number' && Number.isSafeInteger(v));

const isCapData = (v: unknown): boolean => {
  if (typeof v !== 'object' || v === null) return false;
  const { body, slots } = v as { body?: unknown; slots?: unknown };
  return (
    typeof body === 'string' &&
    Array.isArray(slots) &&
    slots.length <= MAX_SLOTS &&
    slots.every((s) => typeof s === 'string' && s.length <= MAX_ID_CHARS)
  );
};

const optionalEpoch = (m: Record<string, unknown>) => m['epoch'] === undefined || m['epoch'] === null || typeof m['epoch'] === 'number';

const checks: Record<string, (m: Record<string, unknown>) => boolean> = {
  CTP_BOOTSTRAP: (m) => isId(m['questionID']),
  // `trap` is CapTP's synchronous Trap extension, which Tribe does not offer.
  CTP_CALL: (m) => isId(m['questionID']) && isId(m['target']) && isCapData(m['method']) && !m['trap'],
  CTP_RETURN: (m) => isId(m['answerID']) && (isCapData(m['result']) !== isCapData(m['exception'])),
  CTP_RESOLVE: (m) => isId(m['promiseID']) && (isCapData(m['res']) !== isCapData(m['rej'])),
  CTP_DROP: (m) =>
    isId(m['slotID']) &&
    (m['decRefs'] === undefined || (typeof m['decRefs'] === 'number' && Number.isSafeInteger(m['decRefs']) && m['decRefs'] >= 0)),
  CTP_DISCONNECT: () => true,
};

/** The CapTP message types a remote peer may send. */
export const REMOTE_CAPTP_TYPES = Object.keys(checks);

/** A reason the message is malformed, or undefined when it is a well-formed CapTP message. */
export const checkRemoteCapTP = (m: unknown): string | undefined => {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'not an object';
  const msg = m as Record<string, unknown>;
  const type = msg['type'];
  if (typeof type !== 'string') return 'no type';
  const check = checks[type];
  if (!check) return `type ${JSON.stringify(type.slice(0, 40))} is not allowed from a remote host`;
  if (!optionalEpoch(msg)) return `${type} with a bad epoch`;
  return check(msg) ? undefined : `malformed ${type}`;
};

export type { CapTPMessage };
