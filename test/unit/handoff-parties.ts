/**
 * Three-party handoff fixtures: parties with a gift table each (makeHandoffs on a
 * simulated clock), joined pairwise by CapTP connections over an in-memory wire.
 * Each direction of a wire delivers on a later microtask, as JSON (the form a
 * real link carries), and can be held, released or tampered with.
 *
 * Every party's bootstrap object offers its gift gate (provideFor, acceptFrom,
 * bound to the peer that asks) and a few test methods: `own()` gives the
 * party's own object, `keep(x)` stores a reference, `record(i)` logs a number,
 * `whichIs(x)` names which reference it holds `x` is.
 */
import { E, Far } from '@endo/far';
import { type CapTPMessage, type Connection, makeConnection } from '../../capabilities/connection.js';
import { HandoffUnreachableError } from '../../capabilities/errors.js';
import { NONCE_BYTES } from '../../capabilities/gift-notes.js';
import { type HandoffLimits, type Handoffs, type Link, makeHandoffs, type Reached } from '../../capabilities/handoff.js';
import { base32 } from '../../protocols/session/vat-id.js';
import { makeSimClock, type SimClock } from './session-fixtures.js';

export const HOST = 'h'.repeat(52);
export const TRACE_LIMIT = 10_000;

export type Tamper = (msg: Record<string, unknown>) => Record<string, unknown> | undefined;

/** One direction of a wire: delivers on a later microtask unless held; `tamper` may rewrite or drop. */
export interface Direction {
  hold(): void;
  release(): void;
  tamper: Tamper | undefined;
  /** Everything sent this way, as it went on the wire (after tampering). */
  readonly sent: Record<string, unknown>[];
}

const makeDirection = (to: () => Connection): Direction & { send(msg: CapTPMessage): void } => {
  let held = false;
  const queue: string[] = [];
  const d = {
    tamper: undefined as Tamper | undefined,
    sent: [] as Record<string, unknown>[],
    send(msg: CapTPMessage) {
      const json = JSON.stringify(msg);
      if (held) queue.push(json);
      else queueMicrotask(() => d.arrive(json));
    },
    arrive(json: string) {
      let msg: Record<string, unknown> | undefined = JSON.parse(json);
      if (d.tamper) msg = d.tamper(msg!);
      if (msg === undefined) return;
      d.sent.push(msg);
      to().dispatch(msg);
    },
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const json of queue.splice(0)) queueMicrotask(() => d.arrive(json));
    },
  };
  return d;
};

export interface Party {
  readonly name: string;
  readonly id: string;
  readonly clock: SimClock;
  readonly handoffs: Handoffs;
  /** This party's own object (its label is the party's name). */
  readonly own: object;
  /** What `keep` stored, and what `record` logged (numbers, and 'kept' for each keep), in arrival order. */
  readonly kept: any[];
  readonly log: Array<number | string>;
  /** References the test names for `whichIs`. */
  readonly known: Map<string, unknown>;
  /** How this party's claims ended, as `take` reported them to `reach`'s caller. */
  readonly settled: Array<[string, string | undefined]>;
  /** Links to the other parties, by name. */
  readonly links: Map<string, Link>;
  /** `reach` for this party's claims; the default finds the existing link to the owner. */
  reach: (owner: string) => Promise<Reached>;
  /** The bootstrap object of the party named `name`, over this party's link to it. */
  boot(name: string): Promise<any>;
  conn(name: string): Connection;
}

export const makeParty = (name: string, limits?: Partial<HandoffLimits>): Party => {
  const id = `${HOST}/${name}`;
  const clock = makeSimClock();
  const kept: any[] = [];
  const log: Array<number | string> = [];
  const known = new Map<string, unknown>();
  const links = new Map<string, Link>();
  const settled: Array<[string, string | undefined]> = [];
  let nonces = 0;
  const party: Party = {
    name,
    id,
    clock,
    own: Far(`Own ${name}`, { label: () => name, ping: (x: number) => x }),
    kept,
    log,
    known,
    settled,
    links,
    reach: async (owner) => {
      const link = [...links.values()].find((l) => l.id === owner);
      if (!link) throw new HandoffUnreachableError(`${name} has no link to ${owner}`);
      return { link, settled: (outcome, why) => void settled.push([outcome, why]) };
    },
    handoffs: makeHandoffs({
      self: id,
      // Distinct and well formed; the parties' nonces differ by their first byte.
      nonce: () => {
        const bytes = new Uint8Array(NONCE_BYTES);
        bytes[0] = name.charCodeAt(0);
        new DataView(bytes.buffer).setUint32(4, ++nonces);
        return base32(bytes);
      },
      clock,
      ...(limits ? { limits } : {}),
      reach: (owner) => party.reach(owner),
    }),
    boot: (peer) => links.get(peer)!.boot(),
    conn: (peer) => links.get(peer)!.conn,
  };
  return party;
};

/** What party `x` offers peer `y` as its bootstrap object. */
const bootstrapFor = (x: Party, y: Party) => {
  const { provideFor, acceptFrom } = x.handoffs.gate(y.id);
  return Far(`Party ${x.name}`, {
    provideFor,
    acceptFrom,
    own: () => x.own,
    keep: (ref: unknown) => {
      x.kept.push(ref);
      x.log.push('kept');
      return x.kept.length;
    },
    record: (i: number) => void x.log.push(i),
    whichIs: (ref: unknown) => {
      if (ref === x.own) return 'own';
      for (const [label, r] of x.known) if (r === ref) return label;
      return 'unknown';
    },
    /** An object with a method named like a handoff call, to see that the name alone does not let it pass. */
    decoy: () => Far('Decoy', { acceptFrom: () => void x.log.push('decoy') }),
    label: () => `boot ${x.name}`,
  });
};

export interface Wire {
  /** From x to y, and from y to x. */
  readonly xy: Direction;
  readonly yx: Direction;
}

export interface ConnectOptions {
  /** Leave the handoff option off on x's side (its connection strips gifts and oob marks). */
  readonly plainX?: boolean;
  /** What x's connection offers as bootstrap, given the usual object (e.g. a promise of it, to answer late). */
  readonly bootX?: (boot: object) => unknown;
}

/** Joins x and y with a pair of connections; each side's link is registered under the other's name. */
export const connect = (x: Party, y: Party, opts: ConnectOptions = {}): Wire => {
  let cx!: Connection;
  let cy!: Connection;
  const xy = makeDirection(() => cy);
  const yx = makeDirection(() => cx);
  const side = (me: Party, peer: Party, dir: { send(m: CapTPMessage): void }, plain: boolean, wrap = (o: object): unknown => o): Connection => {
    let boot: Promise<any> | undefined;
    const link: Link = {
      id: peer.id,
      get conn() {
        return conn;
      },
      boot: () => (boot ??= conn.getBootstrap()),
    };
    const conn = makeConnection({
      name: `${me.name}->${peer.name}`,
      send: (m) => dir.send(m),
      bootstrap: wrap(bootstrapFor(me, peer)),
      traceLimit: TRACE_LIMIT,
      ...(plain ? {} : { onImport: (val: unknown) => me.handoffs.imported(val, link), handoff: me.handoffs.port(() => link) }),
    });
    me.links.set(peer.name, link);
    return conn;
  };
  cx = side(x, y, xy, opts.plainX ?? false, opts.bootX);
  cy = side(y, x, yx, false);
  return { xy, yx };
};

/** Three parties, each pair joined. */
export const triangle = (limits?: { a?: Partial<HandoffLimits>; b?: Partial<HandoffLimits>; c?: Partial<HandoffLimits> }) => {
  const a = makeParty('a', limits?.a);
  const b = makeParty('b', limits?.b);
  const c = makeParty('c', limits?.c);
  const ab = connect(a, b);
  const bc = connect(b, c);
  const ac = connect(a, c);
  return { a, b, c, ab, bc, ac };
};

/** Everything already queued (microtasks, CapTP's promise chains, the wire) has run, `n` times over. */
export const quiesce = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

/** CTP_CALLs of `method` in a connection's trace, in direction `dir`. */
export const calls = (conn: Connection, method: string, dir: 'in' | 'out') =>
  conn.trace().filter((e) => e.type === 'CTP_CALL' && e.method === method && e.dir === dir).length;

/** Party `holder` fetches the own object of `owner` over their link, and names it `owner` for whichIs. */
export const fetchOwn = async (holder: Party, owner: Party): Promise<any> => {
  const ref = await E(holder.boot(owner.name)).own();
  holder.known.set(owner.name, ref);
  return ref;
};
