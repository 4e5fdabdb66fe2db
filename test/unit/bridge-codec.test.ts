/** protocols/bridge/codec.ts: Relay and BridgeControl layouts, hostile bytes, bridge refs. */
import test from 'ava';
import fc from 'fast-check';
import {
  type Control,
  decodeControl,
  decodeRelay,
  encodeControl,
  encodeRelay,
  formatBridgeRef,
  MAX_RELAY_CHUNK_BYTES,
  Op,
  parseBridgeRef,
} from '../../protocols/bridge/codec.js';
import { BridgeMalformedError } from '../../protocols/bridge/errors.js';
import { BRIDGE_NONCE_BYTES } from '../../protocols/session/messages.js';
import { VAT_ID_CHARS, type VatId } from '../../protocols/session/vat-id.js';
import { vatIdOf } from '../helpers/hop-link.js';

const peer = 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst' as VatId;
const nonce = Uint8Array.from({ length: BRIDGE_NONCE_BYTES }, (_, i) => 255 - i);

const malformed = (t: import('ava').ExecutionContext, f: () => unknown, what: string) => {
  const err = t.throws(f, { instanceOf: BridgeMalformedError }, what);
  t.is(err?.name, 'BridgeMalformedError', what);
  t.is(err?.code, 'bridge-malformed', what);
  t.true(err?.message.startsWith('BridgeMalformedError: '), what);
};

// --- round trips ---

test('every control op round-trips', (t) => {
  const controls: Control[] = [
    { op: Op.Provide, req: 1, peer, nonce },
    { op: Op.Accept, req: 0xffffffff, peer, nonce },
    { op: Op.Ready, req: 7, route: 0xfffffffe },
    { op: Op.Refused, req: 3, code: 'bridge-limit', message: 'BridgeLimitError: 16 rendezvous waiting already' },
    { op: Op.Refused, req: 3, code: 'x', message: '' },
    { op: Op.End, route: 2, code: 'relay-ended', message: 'fermé — 閉じた 🔒' },
  ];
  for (const c of controls) t.deepEqual(decodeControl(encodeControl(c)), c, `op ${c.op}`);
  const p = encodeControl(controls[0]!);
  t.is(p.length, 5 + VAT_ID_CHARS + BRIDGE_NONCE_BYTES, 'Provide has its fixed length');
  t.is(encodeControl(controls[2]!).length, 9, 'Ready has its fixed length');
});

test('a decoded control reads its own bytes: a view into a larger buffer decodes the same', (t) => {
  const inner = encodeControl({ op: Op.Ready, req: 5, route: 9 });
  const big = new Uint8Array(inner.length + 10);
  big.set(inner, 3);
  t.deepEqual(decodeControl(big.subarray(3, 3 + inner.length)), { op: Op.Ready, req: 5, route: 9 });
  const relay = encodeRelay(77, new Uint8Array([1, 2, 3]));
  const wide = new Uint8Array(relay.length + 8);
  wide.set(relay, 4);
  const d = decodeRelay(wide.subarray(4, 4 + relay.length));
  t.is(d.route, 77);
  t.deepEqual([...d.bytes], [1, 2, 3]);
});

test('a Provide nonce is a copy: changing the payload afterwards does not change it', (t) => {
  const p = encodeControl({ op: Op.Provide, req: 1, peer, nonce });
  const c = decodeControl(p);
  p.fill(0);
  t.deepEqual('nonce' in c ? [...c.nonce] : [], [...nonce]);
});

test('Relay round-trips at 1 byte and at the chunk bound', (t) => {
  for (const n of [1, 2, 1000, MAX_RELAY_CHUNK_BYTES]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31) & 0xff);
    const d = decodeRelay(encodeRelay(0x80000001, bytes));
    t.is(d.route, 0x80000001);
    t.deepEqual(d.bytes, bytes, `${n} bytes`);
  }
});

test('a long reason message is cut to fit, and still decodes', (t) => {
  const long = 'é'.repeat(2000);
  const c = decodeControl(encodeControl({ op: Op.End, route: 4, code: 'relay-ended', message: long }));
  t.true('message' in c && c.message.length > 0 && long.startsWith(c.message));
  const code = 'a'.repeat(200);
  const r = decodeControl(encodeControl({ op: Op.Refused, req: 1, code, message: 'm' }));
  t.is('code' in r ? r.code : '', 'a'.repeat(64), 'the code is cut to 64 bytes');
});

// --- hostile inputs ---

const provide = () => encodeControl({ op: Op.Provide, req: 1, peer, nonce });
const withByte = (p: Uint8Array, at: number, v: number) => {
  const q = new Uint8Array(p);
  q[at] = v;
  return q;
};
const reason = (op: number, code: Uint8Array, message: Uint8Array, n = code.length) => {
  const out = new Uint8Array(6 + code.length + message.length);
  out[0] = op;
  new DataView(out.buffer).setUint32(1, 1);
  out[5] = n;
  out.set(code, 6);
  out.set(message, 6 + code.length);
  return out;
};
const ascii = (s: string) => new TextEncoder().encode(s);

test('controls of the wrong length are malformed', (t) => {
  for (let n = 0; n < 5; n++) malformed(t, () => decodeControl(new Uint8Array(n).fill(1)), `${n} bytes`);
  const p = provide();
  malformed(t, () => decodeControl(p.subarray(0, p.length - 1)), 'Provide one byte short');
  malformed(t, () => decodeControl(Uint8Array.from([...p, 0])), 'Provide one byte long');
  const a = withByte(p, 0, Op.Accept);
  malformed(t, () => decodeControl(a.subarray(0, 40)), 'Accept short');
  const ready = encodeControl({ op: Op.Ready, req: 1, route: 2 });
  malformed(t, () => decodeControl(ready.subarray(0, 8)), 'Ready of 8');
  malformed(t, () => decodeControl(Uint8Array.from([...ready, 0])), 'Ready of 10');
  malformed(t, () => decodeControl(ready.subarray(0, 5)), 'Ready of 5');
  // Refused/End with a reason length past the end, or no reason at all.
  const end = encodeControl({ op: Op.End, route: 1, code: 'relay-ended', message: '' });
  malformed(t, () => decodeControl(end.subarray(0, 5)), 'End without a reason byte');
  malformed(t, () => decodeControl(end.subarray(0, end.length - 1)), 'End with its code cut');
  malformed(t, () => decodeControl(reason(Op.Refused, ascii('x'), new Uint8Array(513))), 'Refused with a 513-byte message');
  t.notThrows(() => decodeControl(reason(Op.Refused, ascii('x'), ascii('m'.repeat(512)))), 'a 512-byte message is fine');
});

test('unknown ops are malformed', (t) => {
  for (const op of [0, 6, 7, 30, 128, 255]) {
    malformed(t, () => decodeControl(withByte(provide(), 0, op)), `op ${op}`);
    malformed(t, () => decodeControl(Uint8Array.of(op, 0, 0, 0, 1, 0, 0, 0, 1)), `op ${op}, 9 bytes`);
  }
});

test('request and route ids of 0 are malformed', (t) => {
  malformed(t, () => decodeControl(encodeControl({ op: Op.Provide, req: 0, peer, nonce })), 'Provide req 0');
  malformed(t, () => decodeControl(encodeControl({ op: Op.Accept, req: 0, peer, nonce })), 'Accept req 0');
  malformed(t, () => decodeControl(encodeControl({ op: Op.Ready, req: 0, route: 1 })), 'Ready req 0');
  malformed(t, () => decodeControl(encodeControl({ op: Op.Ready, req: 1, route: 0 })), 'Ready route 0');
  malformed(t, () => decodeControl(encodeControl({ op: Op.Refused, req: 0, code: 'x', message: '' })), 'Refused req 0');
  malformed(t, () => decodeControl(encodeControl({ op: Op.End, route: 0, code: 'x', message: '' })), 'End route 0');
  malformed(t, () => decodeRelay(encodeRelay(0, new Uint8Array([1]))), 'Relay route 0');
});

test('a peer that is not a VatId is malformed', (t) => {
  const p = provide();
  malformed(t, () => decodeControl(withByte(p, 5, 'A'.charCodeAt(0))), 'uppercase');
  malformed(t, () => decodeControl(withByte(p, 5, '1'.charCodeAt(0))), 'digit 1 (not base32)');
  malformed(t, () => decodeControl(withByte(p, 5 + 51, 0)), 'a NUL');
  malformed(t, () => decodeControl(withByte(p, 10, 0xe9)), 'a high byte');
  malformed(t, () => decodeControl(withByte(p, 10, '@'.charCodeAt(0))), '@');
});

test('reason codes must be 1–64 bytes of [a-z0-9-]; messages must be UTF-8', (t) => {
  for (const op of [Op.Refused, Op.End]) {
    malformed(t, () => decodeControl(reason(op, ascii(''), ascii('m'))), `${op}: empty code`);
    malformed(t, () => decodeControl(reason(op, ascii('Relay-ended'), ascii('m'))), `${op}: uppercase`);
    malformed(t, () => decodeControl(reason(op, ascii('relay ended'), ascii('m'))), `${op}: a space`);
    malformed(t, () => decodeControl(reason(op, ascii('relay_ended'), ascii('m'))), `${op}: underscore`);
    malformed(t, () => decodeControl(reason(op, Uint8Array.of(0xc3, 0xa9), ascii('m'))), `${op}: non-ASCII code`);
    malformed(t, () => decodeControl(reason(op, ascii('a'.repeat(65)), ascii('m'))), `${op}: 65-byte code`);
    t.notThrows(() => decodeControl(reason(op, ascii('a'.repeat(64)), ascii('m'))), `${op}: a 64-byte code is fine`);
    malformed(t, () => decodeControl(reason(op, ascii('x'), Uint8Array.of(0xff))), `${op}: 0xff message`);
    malformed(t, () => decodeControl(reason(op, ascii('x'), Uint8Array.of(0xc3))), `${op}: a cut sequence`);
    malformed(t, () => decodeControl(reason(op, ascii('x'), Uint8Array.of(0xed, 0xa0, 0x80))), `${op}: an encoded surrogate`);
    malformed(t, () => decodeControl(reason(op, ascii('x'), Uint8Array.of(0xc0, 0x80))), `${op}: an overlong NUL`);
  }
});

test('Relay frames shorter than 5 bytes or over 4 + 64 KiB are malformed', (t) => {
  for (let n = 0; n < 5; n++) malformed(t, () => decodeRelay(new Uint8Array(n).fill(1)), `${n} bytes`);
  malformed(t, () => decodeRelay(encodeRelay(1, new Uint8Array(MAX_RELAY_CHUNK_BYTES + 1))), 'one byte over');
  t.notThrows(() => decodeRelay(encodeRelay(1, new Uint8Array(MAX_RELAY_CHUNK_BYTES))));
});

// --- properties ---

const onlyMalformed = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (err) {
    return err instanceof BridgeMalformedError && (err as Error).message.startsWith('BridgeMalformedError: ');
  }
};

test('property: decoders throw nothing but BridgeMalformedError on any bytes', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), (b) => onlyMalformed(() => decodeControl(b)) && onlyMalformed(() => decodeRelay(b))),
    { numRuns: 3000, seed: 0x5eed },
  );
  // Bytes shaped like a real frame (a known op, a mostly non-zero id, a mostly valid code and its length) reach the deeper checks.
  const validCode = fc.array(fc.constantFrom(...'abz09-'), { minLength: 1, maxLength: 70 }).map((cs) => ascii(cs.join('')));
  const shaped = fc
    .tuple(
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 3 }),
      fc.oneof(validCode, fc.uint8Array({ maxLength: 70 })),
      fc.option(fc.integer({ min: 0, max: 255 }), { freq: 3 }),
      fc.uint8Array({ maxLength: 600 }),
    )
    .map(([op, id, code, n, rest]) => Uint8Array.from([op, 0, 0, 0, id, n ?? code.length, ...code, ...rest]));
  fc.assert(
    fc.property(shaped, (b) => onlyMalformed(() => decodeControl(b))),
    { numRuns: 3000, seed: 0xb41d },
  );
  t.pass();
});

test('property: every valid control round-trips', (t) => {
  const id = fc.integer({ min: 1, max: 0xffffffff });
  const base32 = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz234567');
  const vatId = fc.array(base32, { minLength: 52, maxLength: 52 }).map((cs) => cs.join('') as VatId);
  const code = fc.array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), { minLength: 1, maxLength: 64 }).map((cs) => cs.join(''));
  // Up to 128 UTF-16 units keeps a message within 512 bytes, so it is not cut.
  const message = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => new TextEncoder().encode(s).length <= 512);
  const control: fc.Arbitrary<Control> = fc.oneof(
    fc.record({ op: fc.constantFrom(Op.Provide, Op.Accept), req: id, peer: vatId, nonce: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
    fc.record({ op: fc.constant(Op.Ready), req: id, route: id }),
    fc.record({ op: fc.constant(Op.Refused), req: id, code, message }),
    fc.record({ op: fc.constant(Op.End), route: id, code, message }),
  );
  fc.assert(
    fc.property(control, (c) => {
      t.deepEqual(decodeControl(encodeControl(c)), c);
    }),
    { numRuns: 1000, seed: 42 },
  );
});

// --- bridge refs ---

const id = vatIdOf('q');

test('parseBridgeRef accepts host:port and [v6]:port; formatBridgeRef gives the text back', (t) => {
  const cases: Array<[string, string]> = [
    [`tribe://${id}@127.0.0.1:7000`, '127.0.0.1:7000'],
    [`tribe://${id}@bridge.example.org:1`, 'bridge.example.org:1'],
    [`tribe://${id}@localhost:65535`, 'localhost:65535'],
    [`tribe://${id}@[::1]:443`, '[::1]:443'],
    [`tribe://${id}@[2001:db8::7]:9000`, '[2001:db8::7]:9000'],
  ];
  for (const [text, address] of cases) {
    const ref = parseBridgeRef(text);
    t.deepEqual(ref, { vatId: id, address }, text);
    t.is(formatBridgeRef(ref!), text, 'format round trip');
    t.deepEqual(parseBridgeRef(formatBridgeRef(ref!)), ref);
  }
});

test('parseBridgeRef refuses ports 0 and 65536, junk, and anything over 256 characters', (t) => {
  const bad: unknown[] = [
    `tribe://${id}@h:0`,
    `tribe://${id}@h:65536`,
    `tribe://${id}@h:99999`,
    `tribe://${id}@h:123456`,
    `tribe://${id}@h`,
    `tribe://${id}@h:`,
    `tribe://${id}@:80`,
    `tribe://${id}@h:-1`,
    `tribe://${id}@h:80/path`,
    `tribe://${id}@h:80 `,
    ` tribe://${id}@h:80`,
    `tribe://${id}@h:80\n`,
    `tribe://${id}@h:80#swiss`,
    `tribe://${id}@user@h:80`,
    `tribe://${id}@[::1:80`,
    `tribe://${id}@[zz::1]:80`,
    `tribe://${id.toUpperCase()}@h:80`,
    `tribe://${id.slice(1)}@h:80`,
    `tribe://${id}a@h:80`,
    `tribe://${'1'.repeat(52)}@h:80`,
    `http://${id}@h:80`,
    `tribe:${id}@h:80`,
    `${id}@h:80`,
    'tribe://',
    '',
    42,
    null,
    undefined,
    { vatId: id, address: 'h:80' },
  ];
  for (const text of bad) t.is(parseBridgeRef(text), undefined, JSON.stringify(text));
  const head = `tribe://${id}@`;
  const at = (n: number) => `${head}${'h'.repeat(n - head.length - 5)}:7000`;
  t.is(at(256).length, 256);
  t.truthy(parseBridgeRef(at(256)), '256 characters is the bound');
  t.is(parseBridgeRef(at(257)), undefined, '257 characters is over it');
});
