/** What `tribe ps` (and `host.ps().tribe`) shows of a sister's tribe. */
import type { TribeSisterStatus } from '../../vats/sister/sister-powers.js';

export interface TribeStatus {
  /** The tribe's id (from its secret). */
  readonly tribe: string;
  readonly slot: number;
  readonly machine: string;
  readonly coreSize: number;
  /** The bootstrap machine's state: identity … ready, degraded, failed, stopped. */
  readonly state: string;
  /** Why it is degraded or failed. */
  readonly reason?: string;
  readonly spawner: boolean;
  /** Live sisters of this machine's core, and sessions with the others that answer. */
  readonly alive: number;
  readonly connected: number;
  readonly expected: number;
  /** The other sisters, as this host's Sister sees them. */
  readonly sisters?: TribeSisterStatus['sisters'];
  /** Rounds of supervision the Sister has done. */
  readonly rounds?: number;
  readonly discovery?: { readonly port: number | null; readonly sent: number; readonly heard: number; readonly dropped: Record<string, number> };
  /** Registry records removed since the start, by reason (dead, forged, malformed, other-tribe). */
  readonly registryRemoved: Record<string, number>;
  /** Sync sagas in flight on this host (`tribe sync --status` has the full picture). */
  readonly sync?: {
    readonly inFlight: readonly { readonly peer: string; readonly space: string; readonly role: string; readonly state: string; readonly entries: number; readonly total?: number; readonly bytes: number }[];
  };
}
