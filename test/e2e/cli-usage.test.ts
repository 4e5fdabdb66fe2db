/**
 * How `tribe` answers a command line that is wrong, or asks for help: word for
 * word what a user sees, and the exit code (2 for usage errors).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHostProcess, tribe } from '../helpers/cli.js';
import { example, fixture, repoRoot, tempHome } from '../helpers/host.js';

const usageCases: Array<[string[], string]> = [
  [['spawn', 'x.ts', '--bogus'], "Unknown option '--bogus' for tribe spawn; its options are --name, --params, --durable, --grant, --time-budget, --heap-mb, --check, --replicas, --on, --home, --help"],
  [['spawn', 'x.ts', '--nmae', 'x'], "Unknown option '--nmae' for tribe spawn; did you mean --name?"],
  [['ps', '-x'], "Unknown option '-x' for tribe ps; its options are --json, --home, --help"],
  [['spawn', 'x.ts', '--name'], '--name needs a value: tribe spawn --name NAME'],
  [['spawn', 'x.ts', '--replicas', '4'], '--replicas is 3, 5 or 7 (an odd number: a majority decides), not 4'],
  [['spawn', 'x.ts', '--replicas', 'three'], '--replicas must be a positive integer, got "three"'],
  // node's parseArgs calls this one "ambiguous" over three lines; it is a missing value too.
  [['spawn', 'x.ts', '--name', '--durable'], '--name needs a value: tribe spawn --name NAME'],
  [['call', 'x', 'm', '--home'], '--home needs a value: tribe call --home DIR'],
  [['ps', '--json=yes'], '--json takes no value; give it alone: tribe ps --json'],
  [['ref', 'a', 'b'], 'tribe ref takes NAME only, got an extra argument "b": tribe ref NAME'],
  [['ps', 'all'], 'tribe ps takes no arguments, got "all": tribe ps [options]'],
  [['stop', 'now'], 'tribe stop takes no arguments, got "now": tribe stop [options]'],
  [['spawn'], 'tribe spawn needs MODULE.ts|js: tribe spawn MODULE.ts|js [options]'],
  [['call', 'counter'], 'tribe call needs METHOD: tribe call NAME|REF METHOD [JSON-ARG|@NAME...]'],
  [['connect'], 'tribe connect needs REF: tribe connect REF [options]'],
  [['sapwn', 'x.ts'], 'unknown command "sapwn"; did you mean "spawn"? (see tribe --help)'],
  [['frobnicate'], 'unknown command "frobnicate" (see tribe --help)'],
  [['help', 'frobnicate'], 'unknown command "frobnicate" (see tribe --help)'],
  [['--version', 'now'], '--version takes no arguments, got "now"'],
  [['sync', 'now'], 'tribe sync takes no arguments, got "now": tribe sync [options]'],
  [['space', 'frob', 's'], 'tribe space: unknown action "frob" (ls, get, put, rm, import, root)'],
  [['space', 'put', 's', 'k'], 'tribe space put takes SPACE KEY VALUE, got 1 argument(s) after SPACE'],
  [['space', 'ls'], 'tribe space needs SPACE: tribe space ACTION SPACE [KEY [VALUE] | FILE] [options]'],
];

test('usage mistakes: one line `tribe: UsageError: …` saying what was wrong, exit code 2', async (t) => {
  for (const [args, expected] of usageCases) {
    const r = await tribe(args);
    t.is(r.stderr, `tribe: UsageError: ${expected}\n`, args.join(' '));
    t.is(r.code, 2, args.join(' '));
    t.is(r.stdout, '', args.join(' '));
  }
});

test('tribe <command> --help shows that command, and tribe --version the package version', async (t) => {
  const call = await tribe(['call', '--help']);
  t.is(call.code, 0);
  t.is(
    call.stdout,
    [
      'Usage: tribe call NAME|REF METHOD [JSON-ARG|@NAME...]',
      '',
      'E(lookup(NAME)).METHOD(...args) and print the result as JSON.',
      '',
      'Options:',
      "  --home DIR  the host's home (default: $TRIBE_HOME or ~/.tribe)",
      '  -h, --help  show this help',
      '',
      `Each argument is JSON: a string needs its double quotes ('"Ada"'). @NAME (or @tribe://…) passes the`,
      'reference published as NAME instead: the actor gets it straight from its owner. A result of',
      'undefined prints nothing; references print as [Alleged: Name], bigints as 123n.',
      '',
    ].join('\n'),
  );
  // Help wins even where the rest of the line is wrong or incomplete, and `tribe help X` is the same.
  const spawn = await tribe(['spawn', '--bogus', '-h']);
  t.is(spawn.code, 0);
  t.regex(spawn.stdout, /^Usage: tribe spawn MODULE\.ts\|js \[options\]\n\nLoad an actor module into a new vat/);
  t.regex(spawn.stdout, /\n {2}--grant clock\|random +let actor code use Date\.now\(\)\/new Date\(\) \(clock\) or Math\.random\(\) \(random\); repeatable\n/);
  t.false(spawn.stdout.includes('tribe host'), 'only the command asked about');
  t.is((await tribe(['help', 'spawn'])).stdout, spawn.stdout);
  // Every command has its own help.
  for (const command of ['host', 'viz', 'ref', 'connect', 'revoke', 'spawn', 'call', 'ps', 'kill', 'stop', 'sync', 'space']) {
    const r = await tribe([command, '--help']);
    t.is(r.code, 0, command);
    t.true(r.stdout.startsWith(`Usage: tribe ${command}`), `${command}: ${r.stdout}`);
  }
  // The whole list is still there without a command.
  t.regex((await tribe(['--help'])).stdout, /tribe host.*tribe stop/s);

  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const v = await tribe(['--version']);
  t.is(v.code, 0);
  t.is(v.stdout, `${version}\n`);
});

test('against a host: unknown methods list the real ones, undefined prints nothing, a second stop is fine', async (t) => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home);
  t.is((await tribe(['spawn', example('counter.ts'), '--name', 'counter', '--home', home])).code, 0);
  t.is((await tribe(['spawn', fixture('party.ts'), '--name', 'party', '--home', home])).code, 0);

  const typo = await tribe(['call', 'counter', 'incremnt', '--home', home]);
  t.is(typo.stderr, 'tribe: TypeError: counter has no method "incremnt"; did you mean "increment"? Its methods: increment, read, reset\n');
  t.is(typo.code, 1);
  const unknown = await tribe(['call', 'counter', 'explode', '--home', home]);
  t.is(unknown.stderr, 'tribe: TypeError: counter has no method "explode"; its methods: increment, read, reset\n');
  // callMethod exists and itself calls a missing "callMethod" on a string: that error is not about party.
  const deeper = await tribe(['call', 'party', 'callMethod', '"a string"', '"callMethod"', '--home', home]);
  t.regex(deeper.stderr, /^tribe: TypeError: target has no method "callMethod"/);
  t.is(deeper.code, 1);

  // dropAll() returns undefined: nothing on stdout, exit 0.
  const none = await tribe(['call', 'party', 'dropAll', '--home', home]);
  t.is(none.code, 0, none.stderr);
  t.is(none.stdout, '');
  t.is(none.stderr, '');

  const first = await tribe(['stop', '--home', home]);
  t.is(first.code, 0);
  t.is(first.stdout, `host in ${home} stopped\n`);
  t.is(await host.exited, 0);
  const second = await tribe(['stop', '--home', home]);
  t.is(second.code, 0, second.stderr);
  t.is(second.stdout, `no host was running in ${home}; nothing to stop\n`);
  t.is(second.stderr, '');
});
