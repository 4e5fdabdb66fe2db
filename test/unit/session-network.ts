/**
 * An in-memory network of session tables for deterministic tests: hosts listen
 * under a name, dials return memory streams, and every delivery (and every
 * dial's completion) is a task in a lane. A pair of streams is one lane (its
 * bytes stay in order); a seeded random choice of lane each step interleaves
 * the pairs, so one seed is one replayable schedule.
 */
import type { ByteStream } from '../../protocols/framing/byte-stream.js';
import { type MemoryStream, makeMemoryStreamPair, seededRandom } from '../../protocols/framing/memory-stream.js';
import type { CryptoSuite } from '../../protocols/session/crypto.js';
import type { PathIdentity } from '../../protocols/session/path.js';
import type { SessionLimits } from '../../protocols/session/session-limits.js';
import { type PeerSession, type SessionTable, startSessionTable } from '../../protocols/session/session-table.js';
import { makeSimClock, type SimClock } from './session-fixtures.js';

export interface NetOptions {
  readonly seed?: number;
  /** Extra delivery steps a dial takes before its stream exists (default 0). */
  readonly dialSteps?: (from: string, to: string) => number;
  /** Sees each new pair before anything is written on it: the dialer's end, then the listener's. */
  readonly prepare?: (from: string, to: string, mine: MemoryStream, theirs: MemoryStream) => void;
}

export const makeMemoryNet = (opts: NetOptions = {}) => {
  const random = seededRandom(opts.seed ?? 1);
  const lanes = new Map<string, Array<() => void>>();
  const lane = (name: string) => (fn: () => void) => {
    const tasks = lanes.get(name) ?? [];
    lanes.set(name, tasks);
    tasks.push(fn);
  };
  const accepting = new Map<string, (s: ByteStream) => void>();
  const streams = new Map<string, MemoryStream[]>();
  const own = (name: string, s: MemoryStream) => streams.set(name, [...(streams.get(name) ?? []), s]);
  let pairs = 0;

  const transport = (name: string) => ({
    listen: async (accept: (s: ByteStream) => void) => {
      accepting.set(name, accept);
      return { close: async () => void accepting.delete(name) };
    },
    dial: (address: string) =>
      new Promise<ByteStream>((resolve, reject) => {
        const id = `dial ${++pairs}`;
        const connect = () => {
          const accept = accepting.get(address);
          if (!accept) return reject(new Error(`nobody listens at ${address}`));
          const [mine, theirs] = makeMemoryStreamPair({ schedule: lane(id), seed: pairs, addresses: [address, name] });
          own(name, mine);
          own(address, theirs);
          opts.prepare?.(name, address, mine, theirs);
          accept(theirs);
          resolve(mine);
        };
        let wait = opts.dialSteps?.(name, address) ?? 0;
        const tick = () => (wait-- > 0 ? lane(id)(tick) : connect());
        lane(id)(tick);
      }),
  });

  /** Runs one task from a randomly chosen lane; false when there is none. */
  const runOne = (): boolean => {
    const ready = [...lanes.entries()].filter(([, tasks]) => tasks.length > 0);
    if (ready.length === 0) return false;
    const [, tasks] = ready[Math.floor(random() * ready.length)] as [string, Array<() => void>];
    (tasks.shift() as () => void)();
    return true;
  };

  return {
    random,
    transport,
    streamsOf: (name: string) => streams.get(name) ?? [],
    get pending() {
      return [...lanes.values()].reduce((n, tasks) => n + tasks.length, 0);
    },
    /** One task, then every promise reaction it caused. */
    async step(): Promise<boolean> {
      const ran = runOne();
      await new Promise<void>((r) => setImmediate(r));
      return ran;
    },
    /** Steps until nothing is left to deliver and nothing new was scheduled; returns the steps taken. */
    async settle(limit = 100_000): Promise<number> {
      for (let n = 0; n < limit; n++) {
        if (!(await this.step()) && this.pending === 0) return n;
      }
      throw new Error(`the network did not go quiet within ${limit} steps`);
    },
  };
};

export type MemoryNet = ReturnType<typeof makeMemoryNet>;

export interface TestHost {
  readonly name: string;
  readonly id: PathIdentity;
  readonly clock: SimClock;
  readonly table: SessionTable<PeerSession>;
}

/** A session table listening on `name`, with its own simulated clock. */
export const startTestHost = async (
  net: MemoryNet,
  name: string,
  crypto: CryptoSuite,
  id: PathIdentity,
  limits?: Partial<SessionLimits>,
  /** Runs inside adoption, as the runtime's `attach` would (a test may stop the table right there). */
  onAttach?: (session: PeerSession) => void,
): Promise<TestHost> => {
  const clock = makeSimClock();
  const table = await startSessionTable<PeerSession>({
    identity: id,
    crypto,
    clock,
    transport: net.transport(name),
    ...(limits ? { limits } : {}),
    attach: (s) => {
      onAttach?.(s);
      return s;
    },
  });
  return { name, id, clock, table };
};

/** How a promise ended, readable without awaiting it. */
export const outcome = <T>(p: Promise<T>) => {
  const o: { value?: T; error?: Error; settled: boolean } = { settled: false };
  p.then(
    (value) => Object.assign(o, { value, settled: true }),
    (error: Error) => Object.assign(o, { error, settled: true }),
  );
  return o;
};
