/**
 * Real links between hosts for tests: Linux network namespaces that the test makes
 * itself, joined by veth pairs that the test can take down and bring up again
 * (`ip link set DEV down`), with `tribe host` processes running inside them. A cut
 * here is the kernel's: TCP sees no reset and no FIN, packets go nowhere, a re-dial
 * finds no route, just as when a cable is pulled — unlike test/helpers/fault-proxy.ts,
 * which can only close sockets or hold bytes back in user space.
 *
 * Topology: one veth pair per pair of hosts that should have a path (a point-to-point
 * link with its own /30), never a shared switch. So a cut takes down exactly one path
 * and nothing else, and the address a host dials names the link it goes over; no
 * forwarding or packet filters are needed. A host that must be reached at one address
 * over several links (a bridge: its ref names one address) gets an address of its own
 * on its loopback (`Topology.address`), and each link's far end a route to it over
 * that link (`Link.route`) — so each path still has its own wire. Five hosts (a client, a service and
 * three bridges) with client-bridge and bridge-service paths are six links, a full mesh
 * of five ten: `ip link add` is cheap. (A central "switch" namespace with one veth per
 * host and routing would model a host's uplink failing instead, where every path of that
 * host goes down at once; cutting one path there needs routes or filters per path.)
 *
 * Names: each namespace is `tribe-<pid>-<start>-<n>-<label>` — the worker's pid and its
 * start time (in clock ticks since boot, /proc/<pid>/stat), a topology counter and a
 * label — so they are unique per run and say whose they are. Devices live only inside
 * the namespaces (`to-<label of the other end>`), never in the root namespace, so no
 * device name can collide with another run's or the machine's. Addresses are
 * 10.231.X.(4k+1) and .(4k+2)/30 for the k-th link of a topology, X varying per topology;
 * they exist only inside the namespaces, so even an equal X in two runs cannot collide.
 *
 * Clean-up: `makeTopology` deletes its namespaces in the test's teardown (after a failed
 * test too; ava runs teardowns last registered first, so hosts started later are killed
 * before their namespace goes), in the worker's `exit` handler, and — for a worker that
 * is killed outright — from a small watcher process that deletes them when the worker's
 * pipe to it closes. Namespaces of this helper whose worker is gone (a machine that
 * crashed mid-run) are deleted by `reapStaleNamespaces`, which `makeTopology` runs first.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ExecutionContext } from 'ava';
import { PROCESS_MS, within } from './bounded.js';
import { cliPath, tribe, type RunningHost } from './cli.js';
import { killGroup, spawnTracked } from './processes.js';
import { killTribe } from './tribe.js';

/** Each `ip` command is a few ms; a bound only turns a wedged one into a failure with a name. */
export const IP_COMMAND_MS = 10_000;
/** Links per topology: each takes a /30 of one 10.231.X.0/24. */
export const MAX_LINKS = 64;
/** Own addresses (Topology.address) per topology: each is one of 10.232.X.1-254. */
export const MAX_OWN_ADDRESSES = 254;
/** A label becomes part of a device name (`to-<label>`), which Linux caps at 15 bytes. */
const LABEL = /^[a-z][a-z0-9]{0,11}$/;
const PREFIX = 'tribe-';
/** What this helper names a namespace: pid, start ticks, topology counter, label. */
const OURS = /^tribe-(\d+)-(\d+)-\d+-[a-z][a-z0-9]*$/;

export class NetnsError extends Error {
  override name = 'NetnsError';
}

/** A process's start time in clock ticks since boot, or undefined if it is gone (or a zombie). */
const startTicks = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: [0] state, ..., [19] starttime (field 22 of stat(5)).
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
};

const runIp = (args: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: IP_COMMAND_MS }, (err, stdout, stderr) => {
      if (err) reject(new NetnsError(`NetnsError: ip ${args.join(' ')}: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve(String(stdout));
    });
  });

/** `ip netns delete`, synchronously and quietly (teardowns, exit handlers): a namespace gone already is fine. */
const deleteNow = (name: string): void => {
  try {
    execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore', timeout: IP_COMMAND_MS });
  } catch {
    // Gone already, or never made.
  }
};

const listNamespaces = (): string[] => {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: IP_COMMAND_MS });
  // Each line is a name, optionally followed by " (id: N)".
  return out.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n !== '');
};

/**
 * Why namespace tests cannot run here, or undefined if they can: needs root, the `ip`
 * tool and the right to make a namespace (a container without CAP_SYS_ADMIN has the
 * first two). Synchronous, so a test file can decide what to register up front.
 */
export const netnsUnavailable = (): string | undefined => {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `not root (uid ${process.getuid?.()}): ip netns needs root`;
  const probe = `${PREFIX}${process.pid}-${startTicks(process.pid)}-probe-p`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: ['ignore', 'ignore', 'pipe'], timeout: IP_COMMAND_MS });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === 'ENOENT') return 'the ip tool (iproute2) is not installed';
    return `ip netns add failed: ${String(e.stderr ?? (err as Error).message).trim()}`;
  }
  deleteNow(probe);
  return undefined;
};

/**
 * Deletes this helper's namespaces whose worker process is gone (by pid and start
 * time, so a reused pid does not keep them): what a killed machine or a watcher that
 * could not run left behind. Others' namespaces, and live runs', are left alone.
 * Answers the names deleted.
 */
export const reapStaleNamespaces = (): string[] => {
  const reaped: string[] = [];
  for (const name of listNamespaces()) {
    const m = OURS.exec(name);
    if (!m || startTicks(Number(m[1])) === m[2]) continue;
    deleteNow(name);
    reaped.push(name);
  }
  return reaped;
};

/** A namespace of a topology. */
export interface Namespace {
  /** The full name, for `ip netns exec NAME` / `ip -n NAME`. */
  readonly name: string;
  readonly label: string;
  /** Runs `ip -n NAME <args>` (inside this namespace); rejects with NetnsError and ip's stderr. */
  ip(args: string[]): Promise<string>;
  /** The command prefix that runs a program inside this namespace. */
  readonly exec: readonly string[];
}

/** One end of a link: its device inside its namespace, and the address on it. */
export interface LinkEnd {
  readonly ns: Namespace;
  readonly dev: string;
  readonly address: string;
}

/** A veth pair between two namespaces: one path's wire. */
export interface Link {
  readonly a: LinkEnd;
  readonly b: LinkEnd;
  /**
   * Takes the link down (`ip link set DEV down`): at both ends by default, the cable
   * pulled — each side finds no route to the other at once (a dial fails with
   * ENETUNREACH). Given one end's namespace, only that end: its own dials fail at once,
   * while the other end keeps its route and sends into a link without carrier, where
   * packets (a re-dial's SYN too) vanish until the link is back.
   */
  down(only?: Namespace): Promise<void>;
  /**
   * Brings both ends up again, and puts back the routes `route` added: the kernel
   * flushes every route through a device that goes down, and does not restore them.
   */
  up(): Promise<void>;
  /**
   * Routes `address` (another namespace's own address, Topology.address) from `from`,
   * an end of this link, over this link to its other end: `ip route replace
   * ADDRESS/32 via <other end> dev <from's device>`. Kept across down and up.
   */
  route(from: Namespace, address: string): Promise<void>;
  /** Whether the link is down now (at either end, as this helper last set it). */
  readonly isDown: boolean;
}

export interface Topology {
  /** The run-unique part of every name here. */
  readonly id: string;
  /** A new namespace with its loopback up; `label` is [a-z][a-z0-9]{0,11} and unique in the topology. */
  namespace(label: string): Promise<Namespace>;
  /** A new veth pair between `a` and `b` (each in one namespace, up, with its /30 address). */
  link(a: Namespace, b: Namespace): Promise<Link>;
  /**
   * A new address of `ns`'s own, on its loopback (so on no link, and never down):
   * for a host that several links must reach at one address — a bridge, whose ref
   * names one. Others reach it through a link by `Link.route`; with forwarding off
   * (a new namespace's default) it is reachable only from the link's other end,
   * so a cut of one link still takes down exactly that path.
   */
  address(ns: Namespace): Promise<string>;
  /** Deletes every namespace (their devices, and so the links, go with them). Idempotent. */
  destroy(): void;
}

let topologies = 0;
const live = new Set<string>();
let exitHandler = false;

/**
 * A watcher that deletes `names` once the worker is gone however it ended (SIGKILL
 * too): it reads names from its stdin until the pipe closes, then deletes each.
 * Detached (no terminal signal reaches it) and unreferenced (it never keeps the worker
 * alive); ending its stdin after a normal clean-up lets it exit, its deletes no-ops.
 */
const startWatcher = () => {
  const script = 'while read -r n; do set -- "$@" "$n"; done; for n; do ip netns delete "$n" 2>/dev/null; done; exit 0';
  const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  const stdin = child.stdin!;
  (stdin as unknown as { unref(): void }).unref();
  stdin.on('error', () => {});
  return { add: (name: string) => stdin.write(`${name}\n`), end: () => stdin.end() };
};

/** A fresh topology whose namespaces are deleted at the test's teardown, or however the worker ends. */
export const makeTopology = (t: ExecutionContext): Topology => {
  if (!exitHandler) {
    exitHandler = true;
    process.on('exit', () => {
      for (const name of live) deleteNow(name);
    });
  }
  reapStaleNamespaces();
  const n = topologies++;
  const id = `${process.pid}-${startTicks(process.pid)}-${n}`;
  // Only for telling runs apart in a capture: addresses never leave their namespaces.
  const subnet = `10.231.${(process.pid + n) % 256}`;
  const ownSubnet = `10.232.${(process.pid + n) % 256}`;
  const watcher = startWatcher();
  const mine: Namespace[] = [];
  let links = 0;
  let owns = 0;
  let destroyed = false;

  const namespace = async (label: string): Promise<Namespace> => {
    if (!LABEL.test(label)) throw new NetnsError(`NetnsError: label ${JSON.stringify(label)} is not [a-z][a-z0-9]{0,11}`);
    if (mine.some((ns) => ns.label === label)) throw new NetnsError(`NetnsError: label ${label} is taken in this topology`);
    if (destroyed) throw new NetnsError('NetnsError: the topology was destroyed');
    const name = `${PREFIX}${id}-${label}`;
    // Listed before it exists: a worker killed during `ip netns add` leaves nothing either.
    live.add(name);
    watcher.add(name);
    await runIp(['netns', 'add', name]);
    const ns: Namespace = {
      name,
      label,
      ip: (args) => runIp(['-n', name, ...args]),
      exec: ['ip', 'netns', 'exec', name],
    };
    mine.push(ns);
    await ns.ip(['link', 'set', 'lo', 'up']);
    return ns;
  };

  const link = async (a: Namespace, b: Namespace): Promise<Link> => {
    if (links >= MAX_LINKS) throw new NetnsError(`NetnsError: more than ${MAX_LINKS} links in one topology`);
    if (a === b) throw new NetnsError('NetnsError: a link needs two namespaces');
    const k = links++;
    const end = (ns: Namespace, other: Namespace, host: number): LinkEnd => ({ ns, dev: `to-${other.label}`, address: `${subnet}.${4 * k + host}` });
    const ea = end(a, b, 1);
    const eb = end(b, a, 2);
    // Made inside a, its peer put straight into b: the pair never exists in the root namespace.
    await a.ip(['link', 'add', ea.dev, 'type', 'veth', 'peer', 'name', eb.dev, 'netns', b.name]);
    for (const e of [ea, eb]) {
      await e.ns.ip(['addr', 'add', `${e.address}/30`, 'dev', e.dev]);
      await e.ns.ip(['link', 'set', e.dev, 'up']);
    }
    let isDown = false;
    const routes: { from: LinkEnd; via: LinkEnd; address: string }[] = [];
    const addRoute = (r: (typeof routes)[number]) => r.from.ns.ip(['route', 'replace', `${r.address}/32`, 'via', r.via.address, 'dev', r.from.dev]);
    return {
      a: ea,
      b: eb,
      async down(only) {
        if (only !== undefined && only !== a && only !== b) throw new NetnsError(`NetnsError: ${only.name} is not an end of this link`);
        isDown = true;
        for (const e of [ea, eb]) if (only === undefined || e.ns === only) await e.ns.ip(['link', 'set', e.dev, 'down']);
      },
      async up() {
        for (const e of [ea, eb]) await e.ns.ip(['link', 'set', e.dev, 'up']);
        for (const r of routes) await addRoute(r);
        isDown = false;
      },
      async route(from, address) {
        if (from !== a && from !== b) throw new NetnsError(`NetnsError: ${from.name} is not an end of this link`);
        const r = from === a ? { from: ea, via: eb, address } : { from: eb, via: ea, address };
        routes.push(r);
        if (!isDown) await addRoute(r);
      },
      get isDown() {
        return isDown;
      },
    };
  };

  const address = async (ns: Namespace): Promise<string> => {
    if (owns >= MAX_OWN_ADDRESSES) throw new NetnsError(`NetnsError: more than ${MAX_OWN_ADDRESSES} own addresses in one topology`);
    if (!mine.includes(ns)) throw new NetnsError(`NetnsError: ${ns.name} is not a namespace of this topology`);
    const own = `${ownSubnet}.${++owns}`;
    await ns.ip(['addr', 'add', `${own}/32`, 'dev', 'lo']);
    return own;
  };

  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of mine) {
      deleteNow(ns.name);
      live.delete(ns.name);
    }
    // Names listed whose `ip netns add` never finished.
    for (const name of [...live]) {
      if (!name.startsWith(`${PREFIX}${id}-`)) continue;
      deleteNow(name);
      live.delete(name);
    }
    watcher.end();
  };
  t.teardown(destroy);
  return { id, namespace, link, address, destroy };
};

export interface StartInOptions {
  /**
   * Run a tribe (no `--solo`; `extra` gives its flags: `--core-size`, `--join`, …). Its
   * spawned sisters run in `ns` too (children of the first host), detached: the
   * teardown stops the tribe and kills any sister left (tribe.ts killTribe).
   */
  readonly tribe?: boolean;
}

/**
 * `tribe host` inside `ns` (`ip netns exec NAME node …/main.js host --home HOME …`),
 * resolved once it prints its ready line. Like startHostProcess (cli.ts): its own
 * process group, killed by the test's teardown or with the worker; the host's control
 * socket is a file in its home, so the CLI and `connect()` reach it from the root
 * namespace while its TCP lives in `ns`.
 */
export const startHostIn = async (t: ExecutionContext, ns: Namespace, home: string, extra: string[] = [], opts: StartInOptions = {}): Promise<RunningHost> => {
  const asTribe = opts.tribe === true;
  const args = ['host', '--home', home, ...(asTribe ? [] : ['--solo']), ...extra];
  if (asTribe) {
    // Registered first, so it runs last (ava runs teardowns in reverse): after the kill of
    // slot 0's group below, whatever it spawned (detached, in ns too) is stopped or killed.
    t.teardown(async () => {
      await tribe(['stop', '--home', home]).catch(() => {});
      await killTribe(home);
    });
  }
  const { child: proc, exit } = spawnTracked(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const what = `tribe host in ${ns.label} (${home})`;
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) killGroup(proc.pid!);
    await within(exit, PROCESS_MS, `${what} to exit after SIGKILL`);
  });
  const output: string[] = [];
  proc.stderr!.on('data', (d) => output.push(String(d)));
  const lines = createInterface({ input: proc.stdout! });
  let id = '';
  let listen: string | undefined;
  // The banner as cli.ts reads it: short id on the first line, the full VatId and the listen address below.
  const ready = (async () => {
    for await (const line of lines) {
      output.push(line);
      const short = /^tribe host (\S+)/.exec(line);
      if (short && !id) id = short[1]!;
      const full = /^ {2}id {6}([a-z2-7]+)$/.exec(line);
      if (full) id = full[1]!;
      const l = /^ {2}listen {2}(\S+:\d+)$/.exec(line);
      if (l) listen = l[1]!;
      if (line.startsWith('ready ')) return;
    }
    throw new NetnsError(`NetnsError: ${what} ended before its ready line`);
  })();
  try {
    await within(ready, PROCESS_MS, `${what} to print its ready line`);
  } catch (err) {
    killGroup(proc.pid!);
    throw new Error(`${(err as Error).message}\n${output.join('\n')}`, { cause: err });
  }
  if (!id) throw new NetnsError(`NetnsError: ${what} printed no id:\n${output.join('\n')}`);
  lines.on('line', (l) => output.push(l));
  const exitCode = exit.then(({ code }) => code);
  return {
    proc,
    id,
    listen,
    viz: undefined,
    output,
    get exited() {
      return within(exitCode, PROCESS_MS, `${what} to exit`);
    },
  };
};
