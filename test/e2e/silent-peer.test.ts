/**
 * Keepalive over real TCP (docs/protocol.md §5.4): a peer that completes the
 * handshake and then stops answering, with its socket left open, is declared
 * dead with PathTimeoutError between `deadMs` and `deadMs + idleMs` after the
 * last frame it sent. The session ends, pending calls reject with
 * SessionLostError, and the host goes on serving others.
 */
import '@endo/init';
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E } from '@endo/far';
import { formatSturdyRef } from '../../capabilities/sturdy-ref.js';
import { base32 } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { fixture, withHost } from '../helpers/host.js';
import { mutable, scriptedResponder, scriptedSession, watchedHost } from '../helpers/peers.js';
import { within } from '../helpers/bounded.js';

const idleMs = 250;
const deadMs = 750;
/** Timers on a loaded two-CPU machine fire late, never early; this is the slack allowed above the bound. */
const LATE_MS = 1500;

const short = (id: string) => id.slice(0, 8);

test('a peer that goes silent after the handshake (socket open) is dead within its bound: PathTimeoutError', async (t) => {
  const { host, nextLine } = await watchedHost(t, { pathLimits: { idleMs, deadMs } });
  let mute!: () => void;
  const { path, id } = await scriptedSession(host, {
    stream: (s) => {
      const m = mutable(s);
      mute = m.mute;
      return m;
    },
  });
  // The Signature was the last frame we wrote; from here on nothing we write leaves.
  mute();
  const silentSince = Date.now();
  const peerClosed = path.lifetime.closed;
  await nextLine(new RegExp(`session with ${short(id)} up`));
  t.is(host.ps().sessions.length, 1);

  const ended = await nextLine(new RegExp(`session with ${short(id)} ended`), deadMs + idleMs + LATE_MS + 5000);
  const elapsed = Date.now() - silentSince;
  t.regex(ended, /ended: PathTimeoutError: nothing received from the peer for \d+ ms/);
  t.true(elapsed >= deadMs - 50, `declared dead after ${elapsed} ms, before deadMs = ${deadMs}`);
  t.true(elapsed <= deadMs + idleMs + LATE_MS, `declared dead after ${elapsed} ms, bound ${deadMs + idleMs} ms`);
  // The host pinged before it gave up (the silent peer read them and could not answer).
  t.true(path.stats().framesIn >= 2, `the peer was pinged: ${path.stats().framesIn} frames reached it`);
  // The host closed the socket, sending nothing (no Shutdown): the peer sees EOF.
  const peerReason = await within(peerClosed, 5000, 'the silent peer to see its socket closed');
  t.is(peerReason.name, 'PathLostError');
  t.is(host.ps().sessions.length, 0);
  await within(host.remote!.diagnostics.idle(), 5000, 'the host to hold no socket');

  // Others are still served.
  await host.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const peer = await withHost(t, { spareWorkers: 0 });
  t.is(await E(await peer.enliven(host.makeSturdyRef('bob'))).label(), 'bob');
});

test('a host that dialed a responder which then goes silent: the pending enliven rejects with SessionLostError (PathTimeoutError)', async (t) => {
  const { host, nextLine } = await watchedHost(t, { pathLimits: { idleMs, deadMs } });
  let silentSince = 0;
  const responder = await scriptedResponder(t, (_path, stream) => {
    // Handshake done: the responder never answers the host's gateway bootstrap, nor its Pings.
    stream.mute();
    silentSince = Date.now();
  });
  const ref = formatSturdyRef({ vatId: responder.id, host: '127.0.0.1', port: responder.port, swiss: base32(nodeCrypto.randomBytes(20)) });
  // The host last heard the responder after this (its Response) and before the responder went
  // silent, which it learns of only after the host's own establishment work in this same thread:
  // so the lower bound counts from here, the upper from the silence.
  const dialedAt = Date.now();
  const err = await t.throwsAsync(within(host.enliven(ref), deadMs + idleMs + LATE_MS + 5000, 'the enliven to fail'));
  const elapsed = Date.now() - silentSince;
  const sinceDial = Date.now() - dialedAt;
  t.is(err?.name, 'SessionLostError');
  t.regex(err?.message ?? '', /PathTimeoutError|nothing received from the peer/);
  t.regex(await nextLine(new RegExp(`session with ${short(responder.id)} ended`)), /PathTimeoutError/);
  t.true(sinceDial >= deadMs - 50, `failed ${sinceDial} ms after the dial, before deadMs`);
  t.true(elapsed <= deadMs + idleMs + LATE_MS, `failed ${elapsed} ms after the silence`);
  t.is(responder.connections(), 1);
  t.is(host.ps().sessions.length, 0);
});

test('a real peer host frozen with SIGSTOP (its kernel still holds the socket): calls on it reject within the keepalive bound', async (t) => {
  const homeB = mkdtempSync(join(tmpdir(), 'tribe-test-'));
  t.teardown(() => rmSync(homeB, { recursive: true, force: true }));
  const b = await startHostProcess(t, homeB, ['--no-viz']);
  t.teardown(() => {
    // A stopped process still takes SIGKILL; continue it first so nothing is left frozen.
    b.proc.kill('SIGCONT');
  });
  t.is((await tribe(['spawn', fixture('party.ts'), '--name', 'bob', '--params', '{"label":"bob"}', '--home', homeB])).code, 0);
  const ref = (await tribe(['ref', 'bob', '--home', homeB])).stdout.trim();

  // Grace 0: the session ends with its one path, so the keepalive bound is what is measured here.
  // (With a grace period, a frozen peer looks like a cut link and the call waits for it: test/e2e/resume-hosts.test.ts.)
  const { host: a, nextLine } = await watchedHost(t, { pathLimits: { idleMs, deadMs }, sessionGraceMs: 0 });
  const bob = await a.enliven(ref);
  t.is(await E(bob).label(), 'bob');
  t.is(a.ps().sessions.length, 1);

  b.proc.kill('SIGSTOP');
  const frozenAt = Date.now();
  const pending = E(bob).label();
  const err = await t.throwsAsync(within(pending, deadMs + idleMs + LATE_MS + 5000, 'the call on the frozen host to fail'));
  const elapsed = Date.now() - frozenAt;
  t.is(err?.name, 'SessionLostError');
  t.regex(await nextLine(new RegExp(`session with ${short(b.id)} ended`)), /PathTimeoutError: nothing received from the peer/);
  t.true(elapsed <= deadMs + idleMs + LATE_MS, `the frozen peer was declared dead after ${elapsed} ms, bound ${deadMs + idleMs} ms`);
  // Later calls on the same reference reject at once.
  t.is((await t.throwsAsync(E(bob).label()))?.name, 'SessionLostError');
  t.is(a.ps().sessions.length, 0);

  // Once it runs again, a fresh enliven reaches it over a new session.
  b.proc.kill('SIGCONT');
  t.is(await E(await a.enliven(ref)).label(), 'bob');
});
