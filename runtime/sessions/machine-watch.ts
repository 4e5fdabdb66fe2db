/**
 * The visualizer across a session, both ways: a peer's page may watch this
 * host's machines (the gateway's `watch(sink)`: our inspector's records are
 * relayed to `sink.push(batch)` while the session lasts), and a host that
 * serves the page asks each peer for its own (`watchPeer`).
 *
 * Failure semantics: a peer's malformed or oversized batch is refused
 * (VizRelayError, inspector.ts) and that peer's machines stop showing; nothing
 * else about the session changes. A relay stops when its session ends.
 */
import { E, Far } from '@endo/far';
import { describeError, SessionLostError } from '../../capabilities/errors.js';
import { VizRelayError } from '../errors.js';
import type { Inspector } from '../viz/inspector.js';
import type { HostSession } from './gateway.js';
import { shortVatId } from '../../protocols/session/vat-id.js';

export interface MachineWatchOptions {
  readonly inspector: Inspector;
  /** Peers with a session may watch this host's machines. */
  readonly shareMachines: boolean;
  readonly print: (line: string) => void;
  /** True once the host is stopping: failures then are not news. */
  readonly stopping: () => boolean;
}

const short = shortVatId;

export const makeMachineWatch = (opts: MachineWatchOptions) => {
  const { inspector, print } = opts;
  return {
    /** The peer of `session` asked to watch this host's machines (its gateway's `watch`). */
    serve(session: HostSession, sink: unknown): void {
      if (!opts.shareMachines) throw new VizRelayError('this host does not share its machines');
      if (session.lifetime.isClosed) throw new SessionLostError('the session ended');
      session.relay?.stop();
      session.relay = inspector.relay((batch) => E(sink as any).push(harden(batch)));
    },

    /** Asks the peer for its machine records; they stop when the session ends or a batch is malformed. */
    watchPeer(session: HostSession): void {
      let refused = false;
      const sink = Far('MachineSink', {
        push(batch: unknown) {
          if (refused || session.lifetime.isClosed) return;
          try {
            inspector.ingest(session.peer, batch);
          } catch (err) {
            refused = true;
            inspector.peerGone(session.peer);
            print(`machines of ${short(session.peer)} no longer shown: ${describeError(err)}`);
            throw err;
          }
        },
      });
      E(session.mux.gateway())
        .watch(sink)
        .catch((err: unknown) => {
          if (!opts.stopping() && !session.lifetime.isClosed) print(`machines of ${short(session.peer)} not shown: ${describeError(err)}`);
        });
    },
  };
};
