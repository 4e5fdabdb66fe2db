/**
 * What each `tribe` command accepts, one record per command: its help text is
 * drawn from the record, and parsing against it turns every mistake (an unknown
 * option, a missing value, a missing or extra argument) into a one-line
 * UsageError that says what was wrong and what the command takes.
 */
import { parseArgs } from 'node:util';
import { closest } from '../did-you-mean.js';
import { UsageError } from '../errors.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's placeholder in help and errors (string options). */
  readonly value?: string;
  readonly help: string;
}

export interface CommandSpec {
  readonly summary: string;
  /** Required positional arguments, in order, as help names them. */
  readonly args: readonly string[];
  /** Optional positional arguments after the required ones (`[JSON-ARG...]`); none if absent. */
  readonly rest?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Paragraphs after the options. */
  readonly notes?: string;
}

const COMMON: Readonly<Record<string, OptionSpec>> = {
  home: { type: 'string', value: 'DIR', help: "the host's home (default: $TRIBE_HOME or ~/.tribe)" },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

const limits = {
  'time-budget': { type: 'string', value: 'MS', help: 'how long a turn may run before the vat is stopped (default 5000)' },
  'heap-mb': { type: 'string', value: 'N', help: "the vat's memory budget in MiB (default 256)" },
} as const;

export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  init: {
    summary: 'write a TypeScript project for actors into DIR (default: here): package.json, tsconfig.json, an example actor, its test and a README; overwrites nothing',
    args: [],
    rest: 'DIR',
    options: {},
  },
  host: {
    summary: 'start a vat host in the foreground (Ctrl-C or `tribe stop` stops it)',
    args: [],
    options: {
      listen: { type: 'string', value: 'ADDR:PORT', help: 'listen for other hosts here (default: 127.0.0.1, the port used last)' },
      port: { type: 'string', value: 'N', help: 'listen on 127.0.0.1:N' },
      'no-listen': { type: 'boolean', help: 'do not listen for other hosts' },
      advertise: { type: 'string', value: 'HOST[:PORT]', help: 'the address written into sturdy refs' },
      viz: { type: 'string', value: 'PORT', help: 'serve the visualizer on this port (0: a free one)' },
      'no-viz': { type: 'boolean', help: 'serve no visualizer' },
      'session-grace': {
        type: 'string',
        value: 'MS',
        help: 'how long a session with another host whose connections dropped keeps its references and calls while it reconnects (default 30000; 0: none)',
      },
      bridge: { type: 'boolean', help: "relay paths between other hosts: they run sessions through this host (its ref is in `tribe ps`)" },
      bridges: {
        type: 'string',
        value: 'REF,…',
        help: 'bridges for this host\'s sessions, tribe://<VatId>@<host>:<port> each (from a bridge\'s `tribe ps`); up to three paths per session run through them',
      },
      'core-size': {
        type: 'string',
        value: 'N|auto',
        help: 'sisters this machine keeps alive: this host spawns sibling hosts up to N (default: what the home kept, else 3; auto: one per CPU)',
      },
      join: { type: 'string', value: 'REF', help: "join the tribe of the sister behind REF (`tribe ref sister` there) as a member, from any machine" },
      discovery: { type: 'string', value: 'ADDR[:PORT]', help: 'announce this sister and hear others on this address (default 127.0.0.1:47470, 16 ports)' },
      'no-discovery': { type: 'boolean', help: 'no UDP announcements (the registry in the home still finds sisters)' },
      solo: { type: 'boolean', help: 'a single host: no sisters, no Sister actor, one host per home' },
      slot: { type: 'string', value: 'K', help: "take only slot K of the tribe home (how a spawner starts sisters)" },
      ...limits,
      examples: { type: 'boolean', help: 'load the example actors (counter, chat, alice, bob, directory, pipeline)' },
    },
  },
  viz: { summary: "print the visualizer's URL", args: [], options: {} },
  ref: {
    summary: 'print a new sturdy ref tribe://<VatId>@<host>:<port>/<swiss> to the actor published as NAME',
    args: ['NAME'],
    options: {},
  },
  connect: {
    summary: 'enliven a sturdy ref (of any host); with --as, publish it here as NAME',
    args: ['REF'],
    options: { as: { type: 'string', value: 'NAME', help: 'publish the reference on this host as NAME' } },
  },
  revoke: { summary: 'make later enlivens of REF (a ref made here, or its ID from tribe refs) fail', args: ['REF|ID'], options: {} },
  refs: {
    summary: 'list the sturdy refs made here: id, name, created, revoked (ids are a prefix of the stored hash, never the ref itself); `tribe refs revoke ID` revokes one',
    args: [],
    rest: 'revoke ID',
    options: { json: { type: 'boolean', help: 'print JSON' } },
  },
  restart: {
    summary: 'stop a vat (running or crashed) and start it again with the module, params, grants, limits and store it was spawned with',
    args: ['NAME'],
    options: {},
  },
  upgrade: {
    summary:
      "replace a vat's code with MODULE, keeping its durable store; calls in flight into the old code reject with VatUpgradedError, and if the new code fails to start the vat rolls back to its old code and store (UpgradeFailedError)",
    args: ['NAME', 'MODULE.ts|js'],
    options: {
      params: { type: 'string', value: 'JSON', help: 'new params for make(powers, params) (default: the ones it was spawned with)' },
    },
  },
  logs: {
    summary: "print the vats' log lines kept in the home (all vats, or NAME's); -f follows new lines until Ctrl-C",
    args: [],
    rest: 'NAME',
    options: {
      follow: { type: 'boolean', short: 'f', help: 'keep printing new lines (across rotations) until interrupted' },
      lines: { type: 'string', short: 'n', value: 'N', help: 'only the last N lines' },
    },
  },
  spawn: {
    summary: 'load an actor module into a new vat; its root is published as NAME',
    args: ['MODULE.ts|js'],
    options: {
      name: { type: 'string', value: 'NAME', help: 'the vat and its published name (default: from the file name)' },
      params: { type: 'string', value: 'JSON', help: 'passed to make(powers, params)' },
      durable: { type: 'boolean', help: 'give the vat powers.store, kept across restarts' },
      grant: {
        type: 'string',
        multiple: true,
        value: 'clock|random',
        help: 'let actor code use Date.now()/new Date() (clock) or Math.random() (random); repeatable',
      },
      ...limits,
      check: { type: 'boolean', help: "typecheck the module first with the project's tsc and tsconfig (TypeCheckError lists the errors; nothing is spawned)" },
      replicas: {
        type: 'string',
        value: 'N',
        help: 'on a tribe: a replicated service on N sisters (3, 5 or 7; 3 is a triple service): durable, its state in a Raft log, each call applied once, it survives the loss of any minority of them',
      },
      on: { type: 'string', value: 'SISTER', help: "on a tribe: run it on this sister (its slot, or a VatId prefix from `tribe ps`); default: this machine's sister with the fewest vats" },
    },
  },
  call: {
    summary: 'E(lookup(NAME)).METHOD(...args) and print the result as JSON',
    args: ['NAME|REF', 'METHOD'],
    rest: 'JSON-ARG|@NAME...',
    options: {},
    notes:
      "Each argument is JSON: a string needs its double quotes ('\"Ada\"'). @NAME (or @tribe://…) passes the\n" +
      'reference published as NAME instead: the actor gets it straight from its owner. A result of\n' +
      'undefined prints nothing; references print as [Alleged: Name], bigints as 123n.',
  },
  ps: { summary: 'vats with their state, sessions with other hosts, names', args: [], options: { json: { type: 'boolean', help: 'print JSON' } } },
  kill: { summary: 'stop a vat and forget it (its durable store is kept)', args: ['NAME'], options: {} },
  sync: {
    summary: 'sync keyed spaces with the sisters now: a saga each way with every connected sister (default: the tribe\'s registry and names)',
    args: [],
    options: {
      space: { type: 'string', value: 'NAME', help: 'sync this space (one of yours, or names / registry)' },
      with: { type: 'string', value: 'SLOT|VATID', help: 'only with this sister: a slot of this machine or a VatId prefix (4+ characters)' },
      status: { type: 'boolean', help: 'print the sagas in flight, the last saga with each sister and the spaces here; sync nothing' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    notes: 'Progress of sagas in flight goes to stderr once a second; the outcome of each saga to stdout. A space is converged when every side prints the same root.',
  },
  space: {
    summary: 'read and write a keyed space of this sister: ls, get KEY, put KEY VALUE, rm KEY, import FILE (JSON lines {"key":…,"value":…}), root',
    args: ['ACTION', 'SPACE'],
    rest: 'KEY [VALUE] | FILE',
    options: {
      prefix: { type: 'string', value: 'P', help: 'ls: only keys starting with P' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    notes: 'names and registry are the tribe\'s own spaces: readable, not writable. Writes stay on this sister until a sync (`tribe sync --space SPACE`).',
  },
  stop: {
    summary: 'stop the host and every sister of its tribe gracefully (a host that is not running is not an error)',
    args: [],
    options: { 'only-this': { type: 'boolean', help: 'stop only this host; its tribe respawns it unless it is a member beyond the core' } },
  },
};

const optionsOf = (spec: CommandSpec) => ({ ...spec.options, ...COMMON });

const synopsis = (command: string, spec: CommandSpec): string =>
  [`tribe ${command}`, ...spec.args, ...(spec.rest ? [`[${spec.rest}]`] : []), ...(Object.keys(spec.options).length ? ['[options]'] : [])].join(' ');

/** The text of `tribe <command> --help`. */
export const commandHelp = (command: string): string => {
  const spec = COMMANDS[command]!;
  const rows = Object.entries(optionsOf(spec)).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`,
    o.help,
  ]);
  const width = Math.max(...rows.map(([flag]) => flag!.length)) + 2;
  return [
    `Usage: ${synopsis(command, spec)}`,
    '',
    `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`,
    '',
    'Options:',
    ...rows.map(([flag, help]) => `  ${flag!.padEnd(width)}${help}`),
    ...(spec.notes ? ['', spec.notes] : []),
    '',
  ].join('\n');
};

export interface Parsed {
  readonly values: Record<string, any>;
  readonly positionals: string[];
}

/** The one-line UsageError for what node's parseArgs refused. */
const parseError = (command: string, spec: CommandSpec, err: { code?: string; message: string }): UsageError => {
  const options = optionsOf(spec);
  const flags = Object.keys(options).map((o) => `--${o}`);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = /Unknown option '([^']*)'/.exec(err.message)?.[1] ?? '?';
    const near = given.startsWith('--') ? closest(given, flags) : undefined;
    return new UsageError(
      `Unknown option '${given}' for tribe ${command}; ` +
        (near ? `did you mean ${near}?` : `its options are ${flags.join(', ')}`),
    );
  }
  const flag = /Option '-?-?([^' ]+)/.exec(err.message)?.[1];
  const option = flag === undefined ? undefined : (options[flag] ?? Object.entries(options).find(([, o]) => o.short === flag)?.[1]);
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    const name = Object.keys(options).find((k) => options[k] === option)!;
    return option.type === 'boolean'
      ? new UsageError(`--${name} takes no value; give it alone: tribe ${command} --${name}`)
      : new UsageError(`--${name} needs a value: tribe ${command} --${name} ${option.value ?? 'VALUE'}`);
  }
  return new UsageError(err.message.split('\n')[0]!);
};

/** Parses `argv` (the words after the command) against the command's record. */
export const parseCommand = (command: string, argv: string[]): Parsed => {
  const spec = COMMANDS[command]!;
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options: optionsOf(spec) as any, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    throw parseError(command, spec, err as { code?: string; message: string });
  }
  const { positionals } = parsed;
  const usage = synopsis(command, spec);
  if (positionals.length < spec.args.length) {
    throw new UsageError(`tribe ${command} needs ${spec.args.slice(positionals.length).join(' ')}: ${usage}`);
  }
  if (!spec.rest && positionals.length > spec.args.length) {
    const extra = JSON.stringify(positionals[spec.args.length]);
    throw new UsageError(
      spec.args.length === 0
        ? `tribe ${command} takes no arguments, got ${extra}: ${usage}`
        : `tribe ${command} takes ${spec.args.join(' ')} only, got an extra argument ${extra}: ${usage}`,
    );
  }
  return parsed;
};

/** The UsageError for a command that does not exist, with the nearest one if it is a near miss. */
export const unknownCommand = (command: string): UsageError => {
  const near = closest(command, Object.keys(COMMANDS));
  return new UsageError(`unknown command "${command}"${near ? `; did you mean "${near}"?` : ''} (see tribe --help)`);
};
