/**
 * Sturdy refs: a capability as text, `tribe://<VatId>@<host>:<port>/<swiss>`.
 *
 * The VatId says *who* must answer (the session checks the peer's key hashes to
 * it, so a wrong address cannot impersonate); host:port say where to look; the
 * swiss number is the secret that selects what is exported. Whoever holds the
 * text holds the authority, as in E and OCapN.
 */
import { SturdyRefError } from './errors.js';

export interface SturdyRef {
  readonly vatId: string;
  readonly host: string;
  readonly port: number;
  readonly swiss: string;
}

/** 20 random bytes: 160 bits, comfortably above the 128-bit floor for unguessable names. */
export const SWISS_BYTES = 20;
/** base32 of SWISS_BYTES: 32 characters of [a-z2-7]. */
export const SWISS_PATTERN = /^[a-z2-7]{32}$/;
const VAT_ID_PATTERN = /^[a-z2-7]{52}$/;
/** Host names and IPv4 literals, or a bracketed IPv6 literal. */
const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])$/;
/** Refs are short; a longer input is refused before any parsing. */
export const MAX_REF_CHARS = 400;

export const isSturdyRefText = (text: unknown): text is string => typeof text === 'string' && text.startsWith('tribe://');

export const formatSturdyRef = (ref: SturdyRef): string => {
  const host = ref.host.includes(':') && !ref.host.startsWith('[') ? `[${ref.host}]` : ref.host;
  return `tribe://${ref.vatId}@${host}:${ref.port}/${ref.swiss}`;
};

export const parseSturdyRef = (text: unknown): SturdyRef => {
  if (typeof text !== 'string' || text.length > MAX_REF_CHARS) {
    throw new SturdyRefError('a sturdy ref is a string tribe://<VatId>@<host>:<port>/<swiss>');
  }
  const m = /^tribe:\/\/([^@/]+)@(.+):(\d{1,5})\/([^/]+)$/.exec(text);
  if (!m) throw new SturdyRefError(`not a sturdy ref (expected tribe://<VatId>@<host>:<port>/<swiss>): ${JSON.stringify(text.slice(0, 80))}`);
  const [, vatId, host, portText, swiss] = m as unknown as [string, string, string, string, string];
  if (!VAT_ID_PATTERN.test(vatId)) throw new SturdyRefError('sturdy ref: the VatId must be 52 characters of [a-z2-7]');
  if (!HOST_PATTERN.test(host)) throw new SturdyRefError(`sturdy ref: bad host ${JSON.stringify(host.slice(0, 80))}`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new SturdyRefError(`sturdy ref: port ${port} is outside 1–65535`);
  if (!SWISS_PATTERN.test(swiss)) throw new SturdyRefError('sturdy ref: the swiss number must be 32 characters of [a-z2-7]');
  return { vatId, host: host.startsWith('[') ? host.slice(1, -1) : host, port, swiss };
};
