/**
 * Address hints (runtime/sessions/hints.ts): what counts as a hint, the bounded
 * address book behind hintsFor, and the filling of gifts' hints on CapTP
 * messages that leave a host — as a pure function, and where the gateway runs
 * it on a vat's outgoing channel.
 */
import '@endo/init';
import test from 'ava';
import type { MessagePort } from 'node:worker_threads';
import type { CapTPMessage } from '../../capabilities/captp-schema.js';
import type { VatId } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { makeGateway, type HostSession } from '../../runtime/sessions/gateway.js';
import { fillGiftHints, isHint, MAX_HINT_CHARS, MAX_KNOWN_ADDRESSES, makeAddressBook } from '../../runtime/sessions/hints.js';
import { within, LOCAL_MS } from '../helpers/bounded.js';

const id = (c: string) => c.repeat(52) as VatId;
const SELF = id('s');
const PEER = id('p');
const THIRD = id('t');

const known: Record<string, string[]> = { [SELF]: ['10.0.0.1:7420'], [THIRD]: ['third.example:7421'], [PEER]: ['10.0.0.2:7420'] };
const hintsFor = (owner: VatId) => known[owner] ?? [];

const call = (gifts?: unknown): CapTPMessage =>
  ({
    type: 'CTP_CALL',
    epoch: 0,
    questionID: 'q-1',
    target: 'o-1',
    method: { body: '[]', slots: ['o+1', 'o+2', 'o+3'] },
    ...(gifts === undefined ? {} : { gifts }),
  }) as CapTPMessage;

test('a hint is host:port or [v6]:port, at most MAX_HINT_CHARS, with a real port', (t) => {
  for (const good of ['127.0.0.1:7420', 'example.org:1', '[::1]:65535', '[fe80::1]:80', 'a-b.c:443', `${'h'.repeat(MAX_HINT_CHARS - 5)}:7420`]) {
    t.true(isHint(good), good);
  }
  for (const bad of [
    undefined,
    42,
    '',
    '127.0.0.1',
    '127.0.0.1:0',
    '127.0.0.1:65536',
    ':7420',
    '::1:7420',
    '[::1]',
    'a b:1',
    'evil/path:1',
    'user@host:1',
    '-x:1',
    'host:1\n',
    `${'h'.repeat(MAX_HINT_CHARS - 4)}:7420`,
  ]) {
    t.false(isHint(bad), String(bad));
  }
});

test('the address book keeps the last address per peer, MAX_KNOWN_ADDRESSES of them, the oldest out first', (t) => {
  t.is(MAX_KNOWN_ADDRESSES, 1024);
  const book = makeAddressBook(3);
  book.remember(id('a'), 'a:1', 'dialed');
  book.remember(id('b'), 'b:1', 'dialed');
  book.remember(id('c'), 'c:1', 'ref');
  // A ref's address does not replace a dialed one; a newer dial does, and makes it the newest.
  book.remember(id('a'), 'elsewhere:1', 'ref');
  t.is(book.get(id('a')), 'a:1');
  book.remember(id('a'), 'a:2', 'dialed');
  t.is(book.get(id('a')), 'a:2');
  book.remember(id('d'), 'd:1', 'dialed');
  t.is(book.size, 3);
  t.is(book.get(id('b')), undefined, 'the oldest went');
  t.deepEqual([id('a'), id('c'), id('d')].map((p) => book.get(p)), ['a:2', 'c:1', 'd:1']);
});

test('fillGiftHints: gifts of this host and of third hosts get hints; gifts of the peer, with hints, or unknown do not', (t) => {
  const gifts = Object.freeze([
    Object.freeze({ slot: 'o+1', owner: `${SELF}/@host`, nonce: 'n1' }),
    Object.freeze({ slot: 'o+2', owner: `${THIRD}/carol`, nonce: 'n2' }),
    Object.freeze({ slot: 'o+3', owner: `${PEER}/bob`, nonce: 'n3' }),
    Object.freeze({ slot: 'o+4', owner: `${THIRD}/carol`, nonce: 'n4', hints: ['given:1'] }),
    Object.freeze({ slot: 'o+5', owner: `${id('u')}/x`, nonce: 'n5' }),
  ]);
  const msg = Object.freeze(call(gifts));
  const out = fillGiftHints(msg, PEER, hintsFor) as unknown as { gifts: Array<{ hints?: string[] }> };
  t.not(out, msg as unknown, 'a copy: the message may be hardened');
  t.deepEqual(
    out.gifts.map((g) => g.hints),
    [['10.0.0.1:7420'], ['third.example:7421'], undefined, ['given:1'], undefined],
  );
  t.is(out.gifts[2] as unknown, gifts[2] as unknown, 'untouched gifts are passed on as they are');
  t.deepEqual({ ...out, gifts: undefined }, { ...msg, gifts: undefined }, 'the rest of the message is unchanged');
});

test('fillGiftHints returns the message itself when there is nothing to fill, and leaves malformed gifts alone', (t) => {
  const plain = call();
  t.is(fillGiftHints(plain, PEER, () => t.fail('no lookup without gifts') as never), plain);
  const peersOnly = call([{ slot: 'o+1', owner: `${PEER}/bob`, nonce: 'n' }]);
  t.is(fillGiftHints(peersOnly, PEER, hintsFor), peersOnly);
  for (const gifts of ['nope', 7, null, { owner: `${THIRD}/c` }]) {
    const m = call(gifts);
    t.is(fillGiftHints(m, PEER, hintsFor), m, JSON.stringify(gifts));
  }
  const malformed = call([null, 'x', { owner: 42 }, { owner: THIRD }, { owner: `${THIRD}x/c` }, { owner: `${THIRD.slice(1)}//c` }, { owner: `/${THIRD}` }]);
  t.is(fillGiftHints(malformed, PEER, hintsFor), malformed);
});

test("the gateway fills hints on what a vat sends to another host, and passes other messages as they are", async (t) => {
  const sent: CapTPMessage[] = [];
  let arrived: () => void = () => {};
  const session = {
    peer: PEER,
    confirmed: new Set<string>(),
    hostConns: new Map(),
    mux: {
      has: () => false,
      open: () => (m: CapTPMessage) => {
        sent.push(m);
        if (sent.length === 2) arrived();
      },
    },
  } as unknown as HostSession;
  let vatPort: MessagePort | undefined;
  const gateway = makeGateway({
    crypto: nodeCrypto,
    supervisor: { attachRemotePeer: (_vat: string, _peer: string, port: unknown) => (vatPort = port as MessagePort) } as never,
    names: {} as never,
    refs: {} as never,
    maxHostTickets: 1,
    traceLimit: 0,
    advertised: () => '127.0.0.1:1',
    watch: () => {},
    hintsFor,
  });
  gateway.wireVatChannel(session, 'alice', 'bob');
  t.truthy(vatPort, 'the vat got its port');
  const done = new Promise<void>((resolve) => (arrived = resolve));
  vatPort!.postMessage(call([{ slot: 'o+1', owner: `${THIRD}/carol`, nonce: 'n' }]));
  vatPort!.postMessage(call());
  await within(done, LOCAL_MS, 'two messages through the channel');
  vatPort!.close();
  t.deepEqual((sent[0] as unknown as { gifts: unknown }).gifts, [{ slot: 'o+1', owner: `${THIRD}/carol`, nonce: 'n', hints: ['third.example:7421'] }]);
  t.false('gifts' in sent[1]!);
});
