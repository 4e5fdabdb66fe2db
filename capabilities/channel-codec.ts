/**
 * The payload of a CapTP channel frame between hosts (docs/protocol.md §7.2):
 * UTF-8 JSON text `["<from>","<to>",<message>]`, the CapTP message as a JSON
 * object. The endpoints are written without escapes (vat names and '@…' names
 * need none), so a relaying host finds them by scanning the first bytes and
 * hands the message text on without parsing it; whoever consumes the message
 * (the vat, or the host for its own endpoints) parses and checks it.
 *
 * Why JSON and not msgpack: after SES lockdown, stores into typed arrays take a
 * slow path, and msgpackr's `pack` of a CapTP message costs 10–19 µs here,
 * against 2.5–3 µs for `JSON.stringify` + `TextEncoder` (docs/performance.md).
 * CapTP messages are JSON data anyway: ids, and capdata whose body is itself
 * JSON text.
 *
 * Failure semantics: the split and the parse return a reason string instead of
 * throwing; the mux (or the vat) turns it into ProtocolViolationError and ends
 * the session.
 */
import { Tag } from '../protocols/framing/frames.js';
import { checkRemoteCapTP, type CapTPMessage } from './captp-schema.js';

/** The inner frame tag of each CapTP message kind (docs/protocol.md §7.2). */
export const TAG_OF_TYPE: Readonly<Record<string, number>> = {
  CTP_BOOTSTRAP: Tag.Bootstrap,
  CTP_CALL: Tag.Deliver,
  CTP_RETURN: Tag.Return,
  CTP_RESOLVE: Tag.Resolve,
  CTP_DROP: Tag.GCExport,
  CTP_DISCONNECT: Tag.ChannelClose,
};


const encoder = new TextEncoder();
/** `fatal`: text that is not UTF-8 is malformed, not quietly repaired. */
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Endpoint names are 1–128 chars without quotes, backslashes or control characters: written as they are, never escaped. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const PLAIN_ENDPOINT = /^[^"\\\u0000-\u001f]{1,128}$/;

/** The text before a message on the channel `from`→`to`: `["from","to",`. */
export const channelPrefix = (from: string, to: string): string => {
  if (!PLAIN_ENDPOINT.test(from) || !PLAIN_ENDPOINT.test(to)) throw new RangeError(`endpoint names must be 1–128 plain chars: ${JSON.stringify([from, to])}`);
  return `["${from}","${to}",`;
};

/**
 * A CapTP message as JSON text. CTP_DISCONNECT's `reason` is an Error inside
 * CapTP; it travels as `{name, message}` (JSON would drop an Error's fields).
 */
export const messageText = (msg: CapTPMessage): string => {
  if (msg.type === 'CTP_DISCONNECT') {
    const r = msg['reason'] as { name?: unknown; message?: unknown } | undefined;
    const reason = r && typeof r === 'object' ? { name: String(r.name ?? 'Error'), message: String(r.message ?? '') } : r;
    return JSON.stringify({ ...msg, reason });
  }
  return JSON.stringify(msg);
};

/** The frame payload for a message's text on a channel (`prefix` from channelPrefix). */
export const channelPayload = (prefix: string, text: string): Uint8Array => encoder.encode(`${prefix}${text}]`);

/** The whole payload for one message: for tests, tools and the bench baseline. */
export const encodeChannelFrame = (from: string, to: string, msg: CapTPMessage): Uint8Array => channelPayload(channelPrefix(from, to), messageText(msg));

export interface ChannelText {
  readonly from: string;
  readonly to: string;
  /** The message's JSON text, not parsed yet. */
  readonly text: string;
}

const QUOTE = 0x22;

/**
 * Splits a payload into its endpoints and the message text, checking only the
 * frame around the message: valid UTF-8, `["from","to",` with plain endpoint
 * names, and a closing `]`. The message text is the consumer's to parse.
 */
export const splitChannelPayload = (bytes: Uint8Array): ChannelText | string => {
  let s: string;
  try {
    s = decoder.decode(bytes);
  } catch {
    return 'channel frame is not UTF-8';
  }
  if (s.charCodeAt(0) !== 0x5b || s.charCodeAt(1) !== QUOTE) return 'channel frame is not ["from","to",message]';
  const fromEnd = s.indexOf('"', 2);
  if (fromEnd < 0 || s.charCodeAt(fromEnd + 1) !== 0x2c || s.charCodeAt(fromEnd + 2) !== QUOTE) return 'channel frame is not ["from","to",message]';
  const toEnd = s.indexOf('"', fromEnd + 3);
  if (toEnd < 0 || s.charCodeAt(toEnd + 1) !== 0x2c || s.charCodeAt(s.length - 1) !== 0x5d) return 'channel frame is not ["from","to",message]';
  const from = s.slice(2, fromEnd);
  const to = s.slice(fromEnd + 3, toEnd);
  if (!PLAIN_ENDPOINT.test(from) || !PLAIN_ENDPOINT.test(to)) return 'bad channel endpoint';
  return { from, to, text: s.slice(toEnd + 2, s.length - 1) };
};

/** Parses and checks a message's text from another host: the message, or why it is malformed. */
export const parseMessageText = (text: string): CapTPMessage | string => {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return 'channel message is not JSON';
  }
  return checkRemoteCapTP(m) ?? (m as CapTPMessage);
};

/** The whole payload parsed: for tests, tools and the bench baseline. */
export const decodeChannelFrame = (bytes: Uint8Array): [string, string, CapTPMessage] => {
  const split = splitChannelPayload(bytes);
  if (typeof split === 'string') throw new TypeError(split);
  const m = parseMessageText(split.text);
  if (typeof m === 'string') throw new TypeError(m);
  return [split.from, split.to, m];
};

// --- between a vat and its host ---

/**
 * How a vat hands its host a message for another host: its inner tag as one
 * char, then its JSON text, which the host writes as it is. A message that
 * hands on references (`gifts`) goes as the message itself, since the host adds
 * address hints to its gift notes (runtime/sessions/hints.ts).
 */
export const vatToHostForm = (msg: CapTPMessage): string | CapTPMessage => {
  if ((msg as { gifts?: unknown }).gifts !== undefined) return msg;
  const tag = TAG_OF_TYPE[msg.type];
  if (tag === undefined) return msg;
  return String.fromCharCode(tag) + messageText(msg);
};

/** What a vat gets from its host for a remote channel: tag char ‖ JSON text, parsed and checked here. The message, or why it is malformed. */
export const parseHostText = (raw: unknown): CapTPMessage | string => {
  if (typeof raw !== 'string' || raw.length < 2) return 'not a channel message';
  const m = parseMessageText(raw.slice(1));
  if (typeof m === 'string') return m;
  if (TAG_OF_TYPE[m.type] !== raw.charCodeAt(0)) return `frame tag ${raw.charCodeAt(0)} does not match ${m.type}`;
  return m;
};
