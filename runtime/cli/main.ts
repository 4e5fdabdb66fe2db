#!/usr/bin/env node
/**
 * `tribe` — the command line. Every command but `host` is a CapTP client of a
 * running host's control socket. Errors print one line, `tribe: <Name>: <text>`,
 * and exit non-zero (2 for usage errors, 1 for everything else).
 */
import '@endo/init';
import { parseArgs } from 'node:util';
import { E } from '@endo/far';
import { describeError, reviveError } from '../../capabilities/errors.js';
import { connectControl } from '../control.js';
import { UsageError } from '../errors.js';
import { homePaths, resolveHome } from '../home.js';
import { quietMarshalLogging } from '../quiet-console.js';
import { shortVatId } from '../../protocols/session/vat-id.js';
import { formatPs, formatResult } from './format.js';

const HELP = `tribe — capability-secure actor runtime

Usage:
  tribe host   [--home DIR] [--listen ADDR:PORT | --port N | --no-listen]
               [--advertise HOST[:PORT]] [--viz PORT | --no-viz]
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
               [--grant clock|random]... [--time-budget MS] [--heap-mb N]
                 load an actor module into a new vat; its root is published as NAME
  tribe call   NAME|REF METHOD [JSON-ARG...]
                 E(lookup(NAME)).METHOD(...args) and print the result
  tribe ps     [--json]      vats with their state, sessions with other hosts, names
  tribe kill   NAME          stop a vat and forget it (its durable store is kept)
  tribe restart NAME         stop a vat and start it again with the same module, params,
                             grants, limits and durable store
  tribe logs   [NAME] [-f] [-n N]
                 what vats wrote with powers.log (all vats, or NAME's), kept in
                 the home (newest 4 MiB); -f follows new lines until Ctrl-C;
                 works while the host runs and after it stopped
  tribe stop                 stop the host gracefully

Common options:
  --home DIR   the host's home (default: $TRIBE_HOME or ~/.tribe)
  -h, --help   this text
`;

const common = { home: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;
interface Parsed {
  values: Record<string, any>;
  positionals: string[];
}

const parse = (argv: string[], options: OptionSpec): Parsed => {
  try {
    return parseArgs({ args: argv, options: { ...common, ...options }, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
};

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

/** Runs one request against the host's control object, then hangs up. */
const withControl = async <T>(home: string | undefined, fn: (control: any) => Promise<T>): Promise<T> => {
  const dir = resolveHome(home);
  const client = await connectControl(homePaths(dir).socket, dir);
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

const commands: Record<string, (argv: string[]) => Promise<void>> = {
  async host(argv) {
    const { values, positionals } = parse(argv, {
      'time-budget': { type: 'string' },
      'heap-mb': { type: 'string' },
      examples: { type: 'boolean' },
      listen: { type: 'string' },
      port: { type: 'string' },
      'no-listen': { type: 'boolean' },
      advertise: { type: 'string' },
      viz: { type: 'string' },
      'no-viz': { type: 'boolean' },
    });
    if (positionals.length) throw new UsageError(`tribe host takes no positional arguments`);
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
    // Loaded only for `host`: the other commands are thin clients and start faster without it.
    const { runHostCommand } = await import('./host-command.js');
    return runHostCommand({
      ...(values.home ? { home: values.home } : {}),
      limits: { ...(timeBudgetMs ? { timeBudgetMs } : {}), ...(heapMb ? { heapMb } : {}) },
      examples: values.examples ?? false,
      ...(listen !== undefined ? { listen } : {}),
      ...(values.advertise ? { advertise: values.advertise } : {}),
      viz,
    });
  },
  async viz(argv) {
    const { values, positionals } = parse(argv, {});
    if (positionals.length) throw new UsageError('tribe viz takes no positional arguments');
    const status: any = await withControl(values.home, (c) => E(c).ps());
    if (typeof status.viz !== 'string') throw new UsageError('this host serves no visualizer (it was started with --no-viz)');
    process.stdout.write(`${status.viz}\n`);
  },
  async ref(argv) {
    const { values, positionals } = parse(argv, {});
    if (positionals.length !== 1) throw new UsageError('usage: tribe ref NAME');
    const ref = await withControl(values.home, (c) => E(c).ref(positionals[0]!));
    process.stdout.write(`${ref}\n`);
  },
  async connect(argv) {
    const { values, positionals } = parse(argv, { as: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('usage: tribe connect <tribe://…> [--as NAME]');
    const info: any = await withControl(values.home, (c) => E(c).connect(positionals[0]!, values.as ?? null));
    process.stdout.write(
      `connected to ${info.iface} on host ${shortVatId(info.host)}${values.as ? `; published here as ${values.as}` : ''}\n`,
    );
  },
  async revoke(argv) {
    const { values, positionals } = parse(argv, {});
    if (positionals.length !== 1) throw new UsageError('usage: tribe revoke <tribe://…|ID>');
    const target = positionals[0]!;
    if (!target.startsWith('tribe://')) return revokeRefId(values.home, target, false);
    await withControl(values.home, (c) => E(c).revoke(target));
    process.stdout.write('revoked\n');
  },
  async refs(argv) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
    const { formatRefs } = await import('./refs-command.js');
    if (positionals[0] === 'revoke') {
      if (positionals.length !== 2) throw new UsageError('usage: tribe refs revoke ID');
      return revokeRefId(values.home, positionals[1]!, values.json ?? false);
    }
    if (positionals.length) throw new UsageError('usage: tribe refs [--json] | tribe refs revoke ID');
    const refs: any = await withControl(values.home, (c) => E(c).refs());
    process.stdout.write(values.json ? `${JSON.stringify(refs, null, 2)}\n` : formatRefs(refs));
  },
  async spawn(argv) {
    const { values, positionals } = parse(argv, {
      name: { type: 'string' },
      params: { type: 'string' },
      durable: { type: 'boolean' },
      grant: { type: 'string', multiple: true },
      'time-budget': { type: 'string' },
      'heap-mb': { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('usage: tribe spawn <module.ts|js> [--name NAME] [--params JSON]');
    const params = values.params === undefined ? undefined : parseJson(values.params, '--params');
    const timeBudgetMs = positiveInt(values['time-budget'], '--time-budget');
    const heapMb = positiveInt(values['heap-mb'], '--heap-mb');
    const { resolve } = await import('node:path');
    const result: any = await withControl(values.home, (c) =>
      E(c).spawn(
        harden({
          module: resolve(positionals[0]!),
          ...(values.name ? { name: values.name } : {}),
          ...(params !== undefined ? { params } : {}),
          durable: values.durable ?? false,
          grants: values.grant ?? [],
          limits: { ...(timeBudgetMs ? { timeBudgetMs } : {}), ...(heapMb ? { heapMb } : {}) },
        }),
      ),
    );
    process.stdout.write(`spawned ${result.name} (${result.vat?.state ?? 'running'})\n`);
  },
  async call(argv) {
    const { values, positionals } = parse(argv, {});
    const [name, method, ...rest] = positionals;
    if (!name || !method) throw new UsageError('usage: tribe call NAME METHOD [JSON-ARG...]');
    const args = rest.map((a, i) => parseJson(a, `argument ${i + 1}`));
    const result = await withControl(values.home, (c) => E(c).call(name, method, harden(args)));
    process.stdout.write(`${formatResult(result)}\n`);
  },
  async ps(argv) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
    if (positionals.length) throw new UsageError('tribe ps takes no positional arguments');
    const status: any = await withControl(values.home, (c) => E(c).ps());
    process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatPs(status));
  },
  async kill(argv) {
    const { values, positionals } = parse(argv, {});
    if (positionals.length !== 1) throw new UsageError('usage: tribe kill NAME');
    await withControl(values.home, (c) => E(c).kill(positionals[0]!));
    process.stdout.write(`stopped ${positionals[0]}\n`);
  },
  async restart(argv) {
    const { values, positionals } = parse(argv, {});
    if (positionals.length !== 1) throw new UsageError('usage: tribe restart NAME');
    const { formatRestart } = await import('./restart-command.js');
    const result: any = await withControl(values.home, (c) => E(c).restart(positionals[0]!));
    process.stdout.write(formatRestart(result));
  },
  async logs(argv) {
    const { values, positionals } = parse(argv, { follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' } });
    if (positionals.length > 1) throw new UsageError('usage: tribe logs [NAME] [-f] [-n N]');
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
  async stop(argv) {
    const { values, positionals } = parse(argv, {});
    if (positionals.length) throw new UsageError('tribe stop takes no positional arguments');
    const dir = resolveHome(values.home);
    const client = await connectControl(homePaths(dir).socket, dir);
    await E(await client.control).stop();
    // The host closes every control connection at the end of its stop.
    await client.closed;
    process.stdout.write(`host in ${dir} stopped\n`);
  },
};

const main = async (argv: string[]): Promise<void> => {
  quietMarshalLogging();
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const run = commands[command];
  if (!run) throw new UsageError(`unknown command "${command}" (see tribe --help)`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  await run(rest);
};

main(process.argv.slice(2)).then(
  () => {
    if (process.argv[2] !== 'host') process.exit(0);
  },
  (err: unknown) => {
    const e = reviveError(err);
    process.stderr.write(`tribe: ${describeError(e)}\n`);
    process.exit(e.name === 'UsageError' ? 2 : 1);
  },
);
