/**
 * The host's part in three-party handoff (capabilities/handoff.ts): its own
 * gift table, and the rendezvous machine (protocols/handoff/handoff.machine.ts)
 * it runs for every gift one of its parties claims — a vat, or the host itself.
 *
 * "Introducing" a recipient to an owner is what a host already does for its
 * vats: it hands two of its vats a channel of their own (supervisor), or wires
 * a channel over a session with the owner's host, dialling that host with the
 * note's hints if there is no session yet (RemoteHosts.reach). The recipient
 * then claims the gift over that channel itself, and reports how it ended.
 *
 * Failure semantics: `introduce` rejects with HandoffUnreachableError when the
 * owner is not running, this host has no networking, no hint reaches the
 * owner's host, or finding it takes longer than `locateMs`; the recipient then
 * keeps the reference as a proxy through its donor.
 */
import { HandoffUnreachableError } from '../capabilities/errors.js';
import { endpointOf, hostOf, NONCE_BYTES } from '../capabilities/gift-notes.js';
import { type HandoffLimits, type Handoffs, type Link, makeHandoffs } from '../capabilities/handoff.js';
import { HOST_ENDPOINT } from '../capabilities/session-mux.js';
import { handoffMachine } from '../protocols/handoff/handoff.machine.js';
import { base32, shortVatId } from '../protocols/session/vat-id.js';
import { createActor, fromPromise } from 'xstate';
import type { LocateInput } from '../protocols/handoff/handoff.machine.js';
import { randomBytes } from 'node:crypto';
import type { Inspector } from './viz/inspector-api.js';

/** How long finding a gift's owner may take: a dial and a handshake to a new host take well under a second here. */
export const LOCATE_MS = 15_000;
/** How long a claim may stay unreported: the owner answers within its claimWaitMs (10 s by default). */
export const CLAIM_REPORT_MS = 30_000;

/** What handoff needs from the vats' side of the host. */
export interface LocalParties {
  isRunning(vat: string): boolean;
  /** Hands vats `a` and `b` a channel of their own, if they have none. */
  connect(a: string, b: string): void;
  /** The host's link to its vat `vat`. */
  link(vat: string): Link | undefined;
}

/** What handoff needs from the host's sessions with other hosts (runtime/sessions/remote-hosts.ts). */
export interface RemoteParties {
  /** A channel between local endpoint `from` and `endpoint` on host `peer`, dialling one of `hints` if needed. */
  reach(peer: string, hints: readonly string[], endpoint: string, from: string): Promise<void>;
  /** The host's own link to `endpoint` on host `peer`, once reached. */
  hostLink(peer: string, endpoint: string): Link | undefined;
}

export interface HostHandoffs {
  /** The host's own gifts and claims: its connections to vats and to other hosts' endpoints use it. */
  readonly table: Handoffs;
  /**
   * Local endpoint `recipient` (a vat name, or '@host') claims a gift `owner`
   * holds from `donor`: runs a rendezvous machine until the recipient has a link
   * to the owner, and resolves with the machine's id for `settled`.
   */
  introduce(recipient: string, owner: string, hints: readonly string[], donor: string): Promise<number>;
  /** The recipient's claim `id` ended; reports from another recipient than the machine's are ignored. */
  settled(recipient: string, id: number, outcome: 'direct' | 'proxied', why?: string): void;
  /** Handoffs running now, and how the finished ones ended, in all and per local recipient (a vat name or '@host'). */
  stats(): HandoffCounts;
  /** Drops the counts of local recipient `recipient` (its vat was forgotten). */
  forget(recipient: string): void;
}

export interface HandoffCounts {
  readonly active: number;
  readonly direct: number;
  readonly proxied: number;
  readonly byRecipient: ReadonlyMap<string, { readonly direct: number; readonly proxied: number }>;
}

export interface HostHandoffsOptions {
  /** Told when a handoff stays a proxy, with why (the host prints it). */
  readonly onProxied?: (recipient: string, owner: string, donor: string, why: string) => void;
  readonly hostId: string;
  readonly inspector: Inspector;
  readonly local: () => LocalParties;
  readonly remote: () => RemoteParties | undefined;
  readonly limits?: Partial<HandoffLimits>;
  readonly locateMs?: number;
  readonly claimMs?: number;
}

export const makeHostHandoffs = (opts: HostHandoffsOptions): HostHandoffs => {
  const { hostId, inspector } = opts;
  const hostFullId = `${hostId}/${HOST_ENDPOINT}`;
  const running = new Map<number, { recipient: string; actor: ReturnType<typeof createActor<typeof handoffMachine>> }>();
  let nextId = 0;
  /** Per local recipient; a vat's entry goes when the vat is forgotten (`forget`). */
  const byRecipient = new Map<string, { direct: number; proxied: number }>();

  const locate = async ({ owner, recipient, hints }: LocateInput): Promise<void> => {
    const ownerHost = hostOf(owner);
    const ep = endpointOf(owner);
    const from = endpointOf(recipient);
    if (ownerHost === hostId) {
      if (ep === HOST_ENDPOINT) {
        if (from === HOST_ENDPOINT) throw new HandoffUnreachableError('the host cannot claim a gift from itself');
        return; // every vat has its connection to the host
      }
      const local = opts.local();
      if (!local.isRunning(ep)) throw new HandoffUnreachableError(`no vat "${ep}" runs on this host`);
      if (from !== HOST_ENDPOINT) local.connect(from, ep);
      return;
    }
    const remote = opts.remote();
    if (!remote) throw new HandoffUnreachableError('this host was started without networking');
    await remote.reach(ownerHost, hints, ep, from);
  };
  const machine = handoffMachine.provide({ actors: { locate: fromPromise<void, LocateInput>(({ input }) => locate(input)) } });

  const introduce = (recipient: string, owner: string, hints: readonly string[], donor: string): Promise<number> => {
    const id = ++nextId;
    const recipientId = recipient === HOST_ENDPOINT ? hostFullId : `${hostId}/${recipient}`;
    return new Promise<number>((resolve, reject) => {
      const tap = inspector.tap({ group: 'handoffs', name: `#${id} ${short(owner)} → ${short(recipientId)}` });
      const actor = createActor(machine, {
        input: {
          recipient: recipientId,
          owner,
          donor,
          hints,
          locateMs: opts.locateMs ?? LOCATE_MS,
          claimMs: opts.claimMs ?? CLAIM_REPORT_MS,
        },
        inspect: tap.inspect,
      });
      running.set(id, { recipient, actor });
      actor.subscribe((snap) => {
        if (snap.value === 'claiming') resolve(id);
        if (snap.status !== 'done') return;
        running.delete(id);
        const mine = byRecipient.get(recipient) ?? { direct: 0, proxied: 0 };
        byRecipient.set(recipient, mine);
        if (snap.value === 'direct') mine.direct += 1;
        else {
          mine.proxied += 1;
          opts.onProxied?.(recipient, owner, donor, snap.context.why ?? 'unknown');
        }
        // After `claiming` this changes nothing: the promise has settled.
        reject(new HandoffUnreachableError(snap.context.why ?? 'the owner was not reached'));
      });
      actor.start();
    });
  };

  const table = makeHandoffs({
    self: hostFullId,
    nonce: () => base32(randomBytes(NONCE_BYTES)),
    clock: {
      setTimeout: (fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return t;
      },
      clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    },
    ...(opts.limits ? { limits: opts.limits } : {}),
    // The host claims for itself over its own links: to its vats, or to another host's endpoints.
    reach: async (owner, hints, donor) => {
      const id = await introduce(HOST_ENDPOINT, owner, hints ?? [], donor);
      const link = hostOf(owner) === hostId ? opts.local().link(endpointOf(owner)) : opts.remote()?.hostLink(hostOf(owner), endpointOf(owner));
      const settled = (outcome: 'direct' | 'proxied', why?: string) => api.settled(HOST_ENDPOINT, id, outcome, why);
      if (!link) {
        settled('proxied', 'no link to the owner');
        throw new HandoffUnreachableError(`no link to ${owner}`);
      }
      return { link, settled };
    },
  });

  const api: HostHandoffs = {
    table,
    introduce,
    settled(recipient, id, outcome, why) {
      const entry = running.get(id);
      if (!entry || entry.recipient !== recipient) return;
      entry.actor.send({ type: 'claim.settled', outcome, ...(why ? { why } : {}) });
    },
    stats() {
      let direct = 0;
      let proxied = 0;
      for (const c of byRecipient.values()) {
        direct += c.direct;
        proxied += c.proxied;
      }
      return { active: running.size, direct, proxied, byRecipient };
    },
    forget(recipient) {
      byRecipient.delete(recipient);
    },
  };
  return api;
};

/** `<VatId>/<endpoint>` with the short host id, for output lines and the visualizer's names. */
export const shortFullId = (fullId: string) => `${shortVatId(hostOf(fullId))}/${endpointOf(fullId)}`;
const short = shortFullId;
