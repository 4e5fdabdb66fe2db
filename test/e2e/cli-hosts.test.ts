/**
 * Two real `tribe host` processes on loopback: a sturdy ref printed by one is
 * enlivened by the other through the CLI, calls go across, and killing the
 * remote host turns later calls into a one-line SessionLostError.
 */
import test from 'ava';
import { example, fixture, tempHome } from '../helpers/host.js';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { preferredCiphers } from '../../runtime/crypto-node.js';

test('CLI: tribe ref on one host, tribe connect and tribe call on another', async (t) => {
  const homeA = tempHome(t);
  const homeB = tempHome(t);
  // --session-grace 0: A's sessions end with their connection, so a killed peer fails calls at once
  // (by default they wait up to 30 s for it to come back: test/e2e/resume-hosts.test.ts).
  const [a, b] = await Promise.all([startHostProcess(t, homeA, ['--session-grace', '0']), startHostProcess(t, homeB)]);
  t.regex(b.listen ?? '', /^127\.0\.0\.1:\d+$/, 'loopback by default');

  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--durable', '--home', homeB])).code, 0);
  const refOut = await tribe(['ref', 'counter', '--home', homeB]);
  t.is(refOut.code, 0, refOut.stderr);
  const ref = refOut.stdout.trim();
  t.is(ref, `tribe://${b.id}@${b.listen}/${ref.split('/').pop()}`);

  const connected = await tribe(['connect', ref, '--as', 'bcounter', '--home', homeA]);
  t.is(connected.code, 0, connected.stderr);
  t.regex(connected.stdout, new RegExp(`connected to Counter on host ${b.id.slice(0, 8)}; published here as bcounter`));

  t.is((await tribe(['call', 'bcounter', 'increment', '--home', homeA])).stdout.trim(), '1');
  t.is((await tribe(['call', 'bcounter', 'increment', '5', '--home', homeA])).stdout.trim(), '6');
  // A ref works in place of a name; the count lives on B.
  t.is((await tribe(['call', ref, 'read', '--home', homeA])).stdout.trim(), '6');
  t.is((await tribe(['call', 'counter', 'read', '--home', homeB])).stdout.trim(), '6');

  const ps = JSON.parse((await tribe(['ps', '--json', '--home', homeA])).stdout);
  t.is(ps.sessions.length, 1);
  t.is(ps.sessions[0].peer, b.id);
  t.true(ps.sessions[0].framesOut > 0);
  const psText = (await tribe(['ps', '--home', homeA])).stdout;
  t.regex(psText, new RegExp(`${b.id.slice(0, 8)}\\s+127\\.0\\.0\\.1:\\d+\\s+initiator\\s+${preferredCiphers()[0]}\\s+(established|degraded|healthy)\\s+127\\.0\\.0\\.1:\\d+ good`));

  // Revoked: a new enliven fails with one line and a non-zero exit.
  t.is((await tribe(['revoke', ref, '--home', homeB])).stdout.trim(), 'revoked');
  const again = await tribe(['connect', ref, '--home', homeA]);
  t.is(again.code, 1);
  t.regex(again.stderr, /^tribe: SturdyRefError: unknown or revoked sturdy ref\n$/);

  // Kill B: the name A holds (a durable vat's root) now fails at once with a named error.
  b.proc.kill('SIGKILL');
  await b.exited;
  const lost = await tribe(['call', 'bcounter', 'read', '--home', homeA]);
  t.is(lost.code, 1);
  t.regex(lost.stderr, /^tribe: DurableUnreachableError: durable object r:\S+ of \S+\/counter cannot be reached now \(a later call tries again\): /);
  // A itself lives on.
  t.is((await tribe(['ps', '--home', homeA])).code, 0);
  t.truthy(a.id);
  // B comes back (same home, same port): the name A holds reaches the counter again, count kept.
  await startHostProcess(t, homeB);
  t.is((await tribe(['call', 'bcounter', 'read', '--home', homeA])).stdout.trim(), '6');
});

test('CLI: bad refs and bad listen options are one-line errors', async (t) => {
  const home = tempHome(t);
  const bad = await tribe(['host', '--listen', 'nowhere', '--home', home]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^tribe: UsageError: --listen wants ADDR:PORT/);
  const both = await tribe(['host', '--port', '1', '--no-listen', '--home', home]);
  t.is(both.code, 2);
  await startHostProcess(t, home);
  const notRef = await tribe(['connect', 'http://example.com', '--home', home]);
  t.is(notRef.code, 1);
  t.regex(notRef.stderr, /^tribe: SturdyRefError: not a sturdy ref/);
  const noName = await tribe(['ref', 'nobody', '--home', home]);
  t.is(noName.code, 1);
  t.regex(noName.stderr, /^tribe: NameNotFoundError: /);
});

test('human output names hosts by the first 8 characters of their VatId everywhere; --json has the full ids', async (t) => {
  const homeA = tempHome(t);
  const homeB = tempHome(t);
  const [a, b] = await Promise.all([startHostProcess(t, homeA, ['--no-viz']), startHostProcess(t, homeB, ['--no-viz'])]);
  const short = (id: string) => id.slice(0, 8);
  // The banner: the short id, then the full one on its own line (where the helper took it from).
  t.true(a.output.includes(`tribe host ${short(a.id)}`), a.output.join('\n'));
  t.true(a.output.includes(`  id      ${a.id}`));
  t.regex(a.id, /^[a-z2-7]{52}$/);

  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--home', homeB])).code, 0);
  const ref = (await tribe(['ref', 'counter', '--home', homeB])).stdout.trim();
  const connected = await tribe(['connect', ref, '--as', 'bcounter', '--home', homeA]);
  t.is(connected.stdout, `connected to Counter on host ${short(b.id)}; published here as bcounter\n`);
  // A vat on A with its own channel to the counter on B: a remote peer in ps.
  t.is((await tribe(['spawn', fixture('party.ts'), '--name', 'party', '--home', homeA])).code, 0);
  t.is((await tribe(['call', 'party', 'lookupAndCall', '"bcounter"', '"increment"', '--home', homeA])).stdout.trim(), '1');

  const text = (await tribe(['ps', '--home', homeA])).stdout;
  t.regex(text, new RegExp(`^host ${short(a.id)}  pid \\d+  home `));
  t.regex(text, new RegExp(`\\nparty +running +no +${short(b.id)}/counter +`));
  t.regex(text, new RegExp(`\\n${short(b.id)} +127\\.0\\.0\\.1:\\d+ +initiator `));
  for (const id of [a.id, b.id]) t.false(text.includes(id.slice(0, 9)), `no more than 8 characters of ${id} in:\n${text}`);
  const json = JSON.parse((await tribe(['ps', '--json', '--home', homeA])).stdout);
  t.is(json.id, a.id);
  t.is(json.sessions[0].peer, b.id);
  t.deepEqual(json.vats.find((v: { name: string }) => v.name === 'party').peers, [`${b.id}/counter`]);

  // The host's own lines about sessions use the same short ids.
  t.is((await tribe(['stop', '--home', homeB])).code, 0);
  t.is(await b.exited, 0);
  t.is((await tribe(['stop', '--home', homeA])).code, 0);
  t.is(await a.exited, 0);
  const sessionLines = a.output.filter((l) => l.startsWith('session with '));
  t.true(sessionLines.length >= 2, a.output.join('\n'));
  for (const l of sessionLines) t.regex(l, new RegExp(`^session with ${short(b.id)} (up|ended)[ :]`));
});
