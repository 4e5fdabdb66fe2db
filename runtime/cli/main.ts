#!/usr/bin/env node
/**
 * `tribe` — the command line. Every command but `host` and `init` is a CapTP
 * client of a running host's control socket. Errors print one line,
 * `tribe: <Name>: <text>` (TypeCheckError adds tsc's diagnostics below it), and
 * exit non-zero (2 for usage errors, 1 for everything else).
 */
import '@endo/init';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { E } from '@endo/far';
import { describeError, reviveError } from '../../capabilities/errors.js';
import { type connectControl, connectTribeControl } from '../control.js';
import { UsageError } from '../errors.js';
import { resolveHome } from '../home.js';
import { quietMarshalLogging } from '../quiet-console.js';
import { shortVatId } from '../../protocols/session/vat-id.js';
import { parseBridgeRef } from '../../protocols/bridge/codec.js';
import { NAME_PATTERN } from '../../capabilities/names.js';
import { isSturdyRefText } from '../../capabilities/sturdy-ref.js';
import { COMMANDS, commandHelp, parseCommand, type Parsed, unknownCommand } from './commands.js';
import { formatPs, formatResult } from './format.js';

const HELP = `tribe — capability-secure actor runtime

Usage:
  tribe init   [DIR]         write a TypeScript project for actors into DIR (default: the
                             current directory): package.json, tsconfig.json, an example
                             actor (counter.ts), its test and a README; overwrites nothing
  tribe host   [--home DIR] [--listen ADDR:PORT | --port N | --no-listen]
               [--advertise HOST[:PORT]] [--viz PORT | --no-viz] [--session-grace MS]
               [--bridge] [--bridges REF,…]
               [--time-budget MS] [--heap-mb N] [--examples]
                 start a vat host in the foreground (Ctrl-C stops it); it listens
                 for other hosts on loopback by default and serves the
                 visualizer on 127.0.0.1 (the port it used last, else a free one)
  tribe viz                  print the visualizer's URL
  tribe ref    NAME          print a new sturdy ref tribe://<VatId>@<host>:<port>/<swiss>
                             to the actor published as NAME
  tribe connect <REF> [--as NAME]
                 enliven a sturdy ref (of any host); with --as, publish it here as NAME
  tribe revoke <REF|ID>      later enlivens of this ref (made here) fail
  tribe refs   [--json]      the sturdy refs made here: id, name, created, revoked
                             (ids are a prefix of the stored hash, never the ref itself)
  tribe refs revoke ID       revoke the ref listed under ID
  tribe spawn  <module.ts|js> [--name NAME] [--params JSON] [--durable]
               [--grant clock|random]... [--time-budget MS] [--heap-mb N] [--check]
                 load an actor module into a new vat; its root is published as NAME.
                 --check: typecheck it first with the project's tsc and tsconfig
                 (TypeCheckError lists the errors; nothing is spawned)
  tribe call   NAME|REF METHOD [JSON-ARG...]
                 E(lookup(NAME)).METHOD(...args) and print the result
  tribe ps     [--json]      vats with their state, sessions with other hosts, names
  tribe sync   [--space NAME] [--with SLOT|VATID] [--status]
                 sync keyed spaces with the sisters now (a saga each way); --status:
                 sagas in flight, the last saga with each sister, the spaces here
  tribe space  ls|get|put|rm|import|root SPACE [KEY [VALUE] | FILE]
                 read and write a keyed space of this sister (names and registry
                 are the tribe's own: read-only)
  tribe kill   NAME          stop a vat and forget it (its durable store is kept)
  tribe restart NAME         stop a vat and start it again with the same module, params,
                             grants, limits and durable store
  tribe upgrade NAME <module.ts|js> [--params JSON]
                 replace a vat's code, keeping its durable store; a new module
                 that fails to start is rolled back (the old code runs again)
  tribe logs   [NAME] [-f] [-n N]
                 what vats wrote with powers.log (all vats, or NAME's), kept in
                 the home (newest 4 MiB); -f follows new lines until Ctrl-C;
                 works while the host runs and after it stopped
  tribe stop                 stop the host gracefully

Common options:
  --home DIR   the host's home (default: $TRIBE_HOME or ~/.tribe)
  -h, --help   this text; \`tribe <command> --help\` for one command
  --version    print the version
`;

/** The version in package.json, read when asked: the package root is three levels above dist/runtime/cli/. */
const version = (): string =>
  (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const parseJson = (text: string, what: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON (${(err as Error).message}): ${text}`);
  }
};

const positiveInt = (text: string | undefined, what: string): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${what} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
};

/** `tribe host`'s tribe options; undefined for `--solo`. */
const tribeOptions = (values: Record<string, any>) => {
  const tribeFlags = ['core-size', 'join', 'discovery', 'no-discovery', 'slot'].filter((f) => values[f] !== undefined);
  if (values.solo) {
    if (tribeFlags.length > 0) throw new UsageError(`--solo runs no tribe: drop --${tribeFlags[0]}`);
    return undefined;
  }
  if (values.discovery !== undefined && values['no-discovery']) throw new UsageError('give at most one of --discovery, --no-discovery');
  let coreSize: number | undefined;
  const core = values['core-size'];
  if (core === 'auto') coreSize = Math.min(availableParallelism(), MAX_CORE);
  else if (core !== undefined) {
    coreSize = positiveInt(core, '--core-size');
    if (coreSize! > MAX_CORE) throw new UsageError(`--core-size is at most ${MAX_CORE}, got ${core}`);
  }
  const slot = values.slot === undefined ? undefined : Number(values.slot);
  if (slot !== undefined && !(Number.isInteger(slot) && slot >= 0 && slot < 64)) throw new UsageError(`--slot wants 0-63, got ${JSON.stringify(values.slot)}`);
  if (values.join !== undefined && !values.join.startsWith('tribe://')) {
    throw new UsageError(`--join wants a sister's sturdy ref tribe://… (\`tribe ref sister\` on a host of that tribe), got ${JSON.stringify(values.join)}`);
  }
  return {
    ...(coreSize !== undefined ? { coreSize } : {}),
    ...(slot !== undefined ? { slot } : {}),
    ...(values.join ? { join: values.join as string } : {}),
    ...(values['no-discovery'] ? { discovery: false as const } : values.discovery ? { discovery: values.discovery as string } : {}),
  };
};

/** The most sisters one machine keeps: each is a process with its own vats. */
const MAX_CORE = 16;

/** Runs one request against the host's control object, then hangs up. */
const withControl = async <T>(home: string | undefined, fn: (control: any) => Promise<T>): Promise<T> => {
  const client = await connectTribeControl(resolveHome(home));
  try {
    return await fn(await client.control);
  } finally {
    client.close();
  }
};

/** `tribe refs revoke ID`, and `tribe revoke ID`. */
const revokeRefId = async (home: string | undefined, id: string, json: boolean): Promise<void> => {
  const { formatRevoked } = await import('./refs-command.js');
  const ref: any = await withControl(home, (c) => E(c).revokeRefId(id));
  process.stdout.write(json ? `${JSON.stringify(ref, null, 2)}\n` : formatRevoked(ref));
};

/** One runner per command in COMMANDS; each gets its words already checked against the command's record. */
const commands: Record<string, (p: Parsed) => Promise<void>> = {
  async init({ positionals }) {
    if (positionals.length > 1) throw new UsageError(`tribe init takes at most one DIR, got ${positionals.length}: ${positionals.join(' ')}`);
    const { initProject } = await import('./init.js');
    const { dir, files } = initProject(positionals[0] ?? '.');
    const cd = positionals[0];
    process.stdout.write(
      [
        `wrote ${files.join(', ')} in ${dir}`,
        'next:',
        `  ${cd ? `cd ${cd} && ` : ''}npm install && npm test`,
        '  npx tribe host                          (in another terminal)',
        '  npx tribe spawn counter.ts --name counter && npx tribe call counter increment',
        '',
      ].join('\n'),
    );
  },
  async host({ values }) {
    if (values.viz !== undefined && values['no-viz']) throw new UsageError('give at most one of --viz, --no-viz');
    if (values.viz !== undefined && !(/^\d{1,5}$/.test(values.viz) && Number(values.viz) <= 65535)) {
      throw new UsageError(`--viz wants a port number (0 for a free one), got ${JSON.stringify(values.viz)}`);
    }
    const viz: boolean | number = values['no-viz'] ? false : values.viz !== undefined ? Number(values.viz) : true;
    const given = [values.listen, values.port, values['no-listen']].filter((v) => v !== undefined).length;
    if (given > 1) throw new UsageError('give at most one of --listen, --port, --no-listen');
    if (values.port !== undefined && !/^\d{1,5}$/.test(values.port)) throw new UsageError(`--port wants a number, got ${JSON.stringify(values.port)}`);
    const listen: string | false | undefined = values['no-listen'] ? false : (values.listen ?? (values.port !== undefined ? `127.0.0.1:${values.port}` : undefined));
    const timeBudgetMs = positiveInt(values['time-budget'], '--time-budget');
    const heapMb = positiveInt(values['heap-mb'], '--heap-mb');
    const grace = values['session-grace'];
    if (grace !== undefined && !/^\d{1,9}$/.test(grace)) throw new UsageError(`--session-grace wants milliseconds (0 or more), got ${JSON.stringify(grace)}`);
    const bridges = values.bridges === undefined ? undefined : values.bridges.split(',').map((r: string) => r.trim()).filter(Boolean);
    for (const ref of bridges ?? []) {
      if (!parseBridgeRef(ref)) throw new UsageError(`--bridges wants refs tribe://<VatId>@<host>:<port> (a bridge's \`tribe ps\` prints its own), got ${JSON.stringify(ref)}`);
    }
    const tribe = tribeOptions(values);
    // Loaded only for `host`: the other commands are thin clients and start faster without it.
    const { runHostCommand } = await import('./host-command.js');
    return runHostCommand({
      ...(values.home ? { home: values.home } : {}),
      limits: { ...(timeBudgetMs ? { timeBudgetMs } : {}), ...(heapMb ? { heapMb } : {}) },
      examples: values.examples ?? false,
      ...(listen !== undefined ? { listen } : {}),
      ...(values.advertise ? { advertise: values.advertise } : {}),
      ...(grace !== undefined ? { sessionGraceMs: Number(grace) } : {}),
      ...(values.bridge ? { bridge: true } : {}),
      ...(bridges?.length ? { bridges } : {}),
      viz,
      ...(tribe ? { tribe } : {}),
    });
  },
  async viz({ values }) {
    const status: any = await withControl(values.home, (c) => E(c).ps());
    if (typeof status.viz !== 'string') throw new UsageError('this host serves no visualizer (it was started with --no-viz)');
    process.stdout.write(`${status.viz}\n`);
  },
  async ref({ values, positionals }) {
    const ref = await withControl(values.home, (c) => E(c).ref(positionals[0]!));
    process.stdout.write(`${ref}\n`);
  },
  async connect({ values, positionals }) {
    const info: any = await withControl(values.home, (c) => E(c).connect(positionals[0]!, values.as ?? null));
    process.stdout.write(
      `connected to ${info.iface} on host ${shortVatId(info.host)}${values.as ? `; published here as ${values.as}` : ''}\n`,
    );
  },
  async revoke({ values, positionals }) {
    const target = positionals[0]!;
    if (!target.startsWith('tribe://')) return revokeRefId(values.home, target, false);
    await withControl(values.home, (c) => E(c).revoke(target));
    process.stdout.write('revoked\n');
  },
  async refs({ values, positionals }) {
    const { formatRefs } = await import('./refs-command.js');
    if (positionals[0] === 'revoke') {
      if (positionals.length !== 2) throw new UsageError('tribe refs revoke takes one ID (from tribe refs)');
      return revokeRefId(values.home, positionals[1]!, values.json ?? false);
    }
    if (positionals.length) throw new UsageError(`tribe refs takes no argument but "revoke ID", got ${positionals.join(' ')}`);
    const refs: any = await withControl(values.home, (c) => E(c).refs());
    process.stdout.write(values.json ? `${JSON.stringify(refs, null, 2)}\n` : formatRefs(refs));
  },
  async spawn({ values, positionals }) {
    const params = values.params === undefined ? undefined : parseJson(values.params, '--params');
    const timeBudgetMs = positiveInt(values['time-budget'], '--time-budget');
    const heapMb = positiveInt(values['heap-mb'], '--heap-mb');
    const replicas = positiveInt(values.replicas, '--replicas');
    if (replicas !== undefined && ![3, 5, 7].includes(replicas)) throw new UsageError(`--replicas is 3, 5 or 7 (an odd number: a majority decides), not ${replicas}`);
    const { resolve } = await import('node:path');
    if (values.check) await (await import('./check.js')).checkModule(resolve(positionals[0]!));
    const result: any = await withControl(values.home, (c) =>
      E(c).spawn(
        harden({
          module: resolve(positionals[0]!),
          ...(values.name ? { name: values.name } : {}),
          ...(params !== undefined ? { params } : {}),
          durable: (values.durable ?? false) || replicas !== undefined,
          grants: values.grant ?? [],
          limits: { ...(timeBudgetMs ? { timeBudgetMs } : {}), ...(heapMb ? { heapMb } : {}) },
          ...(replicas !== undefined ? { replicas } : {}),
        }),
        values.on,
      ),
    );
    if (replicas !== undefined) {
      process.stdout.write(`spawned ${result.name}: a service replicated on ${replicas} sisters, led by ${shortVatId(String(result.on))}\n`);
      return;
    }
    // On a tribe the vat may run on another sister: say which.
    const where = result.vat ? '' : ` on sister ${shortVatId(String(result.on))}`;
    process.stdout.write(`spawned ${result.name}${where} (${result.vat?.state ?? 'running'})\n`);
  },
  async call({ values, positionals }) {
    const [name, method, ...rest] = positionals as [string, string, ...string[]];
    // `@NAME` (or `@tribe://…`) passes a reference: no JSON text starts with '@'.
    const refs: Record<string, string> = {};
    const args = rest.map((a, i) => {
      if (!a.startsWith('@')) return parseJson(a, `argument ${i + 1}`);
      const ref = a.slice(1);
      if (!isSturdyRefText(ref) && !NAME_PATTERN.test(ref)) {
        throw new UsageError(`argument ${i + 1} (${a}) is not @NAME or @tribe://…: a reference argument names what is published`);
      }
      refs[String(i)] = ref;
      return null;
    });
    const result = await withControl(values.home, (c) => E(c).call(name, method, harden(args), harden(refs)));
    // undefined (a method with no return value) prints nothing: a script reads an empty output.
    if (result !== undefined) process.stdout.write(`${formatResult(result)}\n`);
  },
  async ps({ values }) {
    const status: any = await withControl(values.home, (c) => E(c).ps());
    process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatPs(status));
  },
  async kill({ values, positionals }) {
    await withControl(values.home, (c) => E(c).kill(positionals[0]!));
    process.stdout.write(`stopped ${positionals[0]}\n`);
  },
  async restart({ values, positionals }) {
    const { formatRestart } = await import('./restart-command.js');
    const result: any = await withControl(values.home, (c) => E(c).restart(positionals[0]!));
    process.stdout.write(formatRestart(result));
  },
  async upgrade({ values, positionals }) {
    const params = values.params === undefined ? undefined : parseJson(values.params, '--params');
    const { resolve } = await import('node:path');
    const { formatUpgrade } = await import('./upgrade-command.js');
    const result: any = await withControl(values.home, (c) =>
      E(c).upgrade(positionals[0]!, resolve(positionals[1]!), harden(params !== undefined ? { params } : {})),
    );
    process.stdout.write(formatUpgrade(result));
  },
  async logs({ values, positionals }) {
    if (positionals.length > 1) throw new UsageError(`tribe logs takes at most one NAME, got ${positionals.length}: ${positionals.join(' ')}`);
    const last = values.lines === undefined ? undefined : Number(values.lines);
    if (last !== undefined && !(Number.isInteger(last) && last >= 0)) throw new UsageError(`-n wants a number of lines, got ${JSON.stringify(values.lines)}`);
    const { runLogsCommand } = await import('./logs-command.js');
    await runLogsCommand({
      home: resolveHome(values.home),
      ...(positionals[0] !== undefined ? { vat: positionals[0] } : {}),
      follow: values.follow ?? false,
      ...(last !== undefined ? { last } : {}),
      write: (text) => process.stdout.write(text),
    });
  },
  async sync({ values }) {
    const { formatSyncStatus, runSync } = await import('./sync-command.js');
    if (values.status) {
      const st: any = await withControl(values.home, (c) => E(c).syncStatus());
      process.stdout.write(values.json ? `${JSON.stringify(st, null, 2)}\n` : formatSyncStatus(st));
      return;
    }
    const req = { ...(values.space !== undefined ? { space: values.space } : {}), ...(values.with !== undefined ? { with: values.with } : {}) };
    const report = await withControl(values.home, (c) => runSync(c, req, values.json ?? false));
    if (report.results.some((r) => r.state === 'failed')) process.exitCode = 1;
  },
  async space({ values, positionals }) {
    const { checkSpaceArgs, runSpace } = await import('./sync-command.js');
    const [action, space, ...rest] = positionals;
    checkSpaceArgs(action!, rest);
    await withControl(values.home, (c) => runSpace(c, action!, space!, rest, { ...(values.prefix !== undefined ? { prefix: values.prefix } : {}), json: values.json ?? false }));
  },
  async stop({ values }) {
    const dir = resolveHome(values.home);
    let client: Awaited<ReturnType<typeof connectControl>>;
    try {
      client = await connectTribeControl(dir);
    } catch (err) {
      // Stopping what is already stopped is done: scripts may stop twice, or stop to be sure.
      if ((err as Error).name !== 'HostNotRunningError') throw err;
      process.stdout.write(`no host was running in ${dir}; nothing to stop\n`);
      return;
    }
    const control = await client.control;
    // A sister stops its whole tribe (its sisters first); a solo host, or --only-this, itself.
    const tribe = values['only-this'] ? undefined : ((await E(control).ps()) as { tribe?: unknown }).tribe;
    if (tribe) {
      const stopped = (await E(control).stopTribe()) as string[];
      if (stopped.length > 0) process.stdout.write(`stopping ${stopped.length} sister${stopped.length === 1 ? '' : 's'} and this host…\n`);
    } else await E(control).stop();
    // The host closes every control connection at the end of its stop.
    await client.closed;
    process.stdout.write(`host in ${dir} stopped\n`);
  },
};

const main = async (argv: string[]): Promise<void> => {
  quietMarshalLogging();
  const [command, ...rest] = argv;
  if (command === '--version') {
    if (rest.length) throw new UsageError(`--version takes no arguments, got ${JSON.stringify(rest[0])}`);
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (command === 'help' && rest.length > 0) {
    if (!Object.hasOwn(COMMANDS, rest[0]!)) throw unknownCommand(rest[0]!);
    process.stdout.write(commandHelp(rest[0]!));
    return;
  }
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (!Object.hasOwn(COMMANDS, command)) throw unknownCommand(command);
  // Help wins over everything else on the line, so it works before the rest is right.
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(command));
    return;
  }
  await commands[command]!(parseCommand(command, rest));
};

main(process.argv.slice(2)).then(
  () => {
    if (process.argv[2] !== 'host') process.exit(Number(process.exitCode ?? 0));
  },
  (err: unknown) => {
    const e = reviveError(err);
    process.stderr.write(`tribe: ${describeError(e)}\n`);
    process.exit(e.name === 'UsageError' ? 2 : 1);
  },
);
