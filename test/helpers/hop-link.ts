/**
 * An in-memory HopLink for bridge tests: what is sent on it is captured (and
 * decoded on demand), its backlog is set by hand, and the test ends its
 * lifetime. `deliver`, when set, also hands each send on (a wire to the other
 * side of the hop).
 */
import { type Control, decodeControl, decodeRelay } from '../../protocols/bridge/codec.js';
import type { HopLink } from '../../protocols/bridge/hop.js';
import { Tag } from '../../protocols/framing/frames.js';
import { makeLifetime } from '../../protocols/lifetime.js';
import type { VatId } from '../../protocols/session/vat-id.js';

/** A VatId made of one repeated base32 letter: its order against others is the letter's. */
export const vatIdOf = (letter: string): VatId => letter.repeat(52) as VatId;

export interface FakeHop {
  readonly link: HopLink;
  /** Every send, in order (payloads copied). */
  readonly sent: Array<{ tag: number; payload: Uint8Array }>;
  backlog: number;
  aborted: Error | undefined;
  deliver: ((tag: number, payload: Uint8Array) => void) | undefined;
  /** The BridgeControl frames sent, decoded. */
  controls(): Control[];
  /** The Relay frames sent, decoded. */
  relays(): Array<{ route: number; bytes: Uint8Array }>;
  /** Forgets what was sent so far. */
  clear(): void;
  close(reason?: Error): void;
}

export const fakeHop = (peer: VatId): FakeHop => {
  const kit = makeLifetime();
  const hop: FakeHop = {
    sent: [],
    backlog: 0,
    aborted: undefined,
    deliver: undefined,
    link: {
      peer,
      send(tag, payload) {
        if (kit.lifetime.isClosed) throw new Error(`fake hop to ${peer.slice(0, 4)}: send after close`);
        hop.sent.push({ tag, payload: new Uint8Array(payload) });
        hop.deliver?.(tag, new Uint8Array(payload));
      },
      backlog: () => hop.backlog,
      abort(reason) {
        hop.aborted = reason;
        kit.close(reason);
      },
      lifetime: kit.lifetime,
    },
    controls: () => hop.sent.filter((s) => s.tag === Tag.BridgeControl).map((s) => decodeControl(s.payload)),
    relays: () =>
      hop.sent
        .filter((s) => s.tag === Tag.Relay)
        .map((s) => {
          const { route, bytes } = decodeRelay(s.payload);
          return { route, bytes: new Uint8Array(bytes) };
        }),
    clear() {
      hop.sent.length = 0;
    },
    close(reason = new Error('the hop session ended')) {
      kit.close(reason);
    },
  };
  return hop;
};
