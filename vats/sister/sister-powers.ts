/**
 * What a host grants its Sister (vats/sister/sister.ts), and what the Sister
 * tells others: the whole of its authority, in one place. The host side is
 * runtime/tribe/sister-powers.ts; this file holds only types, so the Sister's
 * module imports nothing but @endo/far at run time.
 */

/** A sister as others see it: the fields of its signed record that matter for reaching it. */
export interface SisterView {
  readonly vatId: string;
  readonly slot: number;
  /** Its machine's id in the tribe: sisters of one machine share a registry and a spawner. */
  readonly machine: string;
  /** `host:port` it listens on. */
  readonly address: string;
  /** Its bridge ref, '' when it is no bridge. */
  readonly bridgeRef: string;
  readonly pid: number;
  readonly startedAt: number;
  readonly coreSize: number;
  /** Its identity key (base32) from its signed record: what its saga turns are verified against. */
  readonly key: string;
}

/** A saga's outcome as the Sister sees it (runtime/tribe/sister-sync.ts runs it). */
export interface PushOutcome {
  readonly state: 'synced' | 'committed';
  readonly entries: number;
  readonly applied: number;
  /** The receiver's root after the saga. */
  readonly root: string;
}

export type BootstrapReport =
  | { readonly type: 'discovered'; readonly sisters: number }
  | {
      readonly type: 'status';
      readonly alive: number;
      readonly expected: number;
      readonly connected: number;
      readonly spawner: boolean;
      /** Whether every connected sister's system spaces have this host's roots. */
      readonly synced: boolean;
      /** The Sister's table of sisters, for `tribe ps`. */
      readonly table: TribeSisterStatus;
    }
  | { readonly type: 'spawn.failed'; readonly detail: string };

export interface SisterSighting {
  /** The live sisters of this machine (the registry), this one included. */
  readonly local: readonly SisterView[];
  /** Sisters heard of otherwise: announcements, other machines' sisters that joined. */
  readonly heard: readonly SisterView[];
  /** Core slots of this machine whose lock a live process holds (a sister, one starting, or a `--solo` host): not to be spawned. */
  readonly occupied: readonly number[];
}

export interface SisterPowers {
  /** This sister's own view. */
  self(): SisterView;
  sisters(): SisterSighting;
  /** Starts a sister host process for `slot` of this machine's core; settles once it is in the registry ('up') or another host took the slot ('taken'); SpawnFailedError otherwise. */
  spawn(slot: number): Promise<'up' | 'taken'>;
  /** The Sister of sister `vatId` at `address`, through the tribe's session with it. */
  connect(vatId: string, address: string): Promise<unknown>;
  /** Spawn no more; end the sisters spawned here that are still starting (the tribe is stopping). */
  quiesce(): void;
  /** Sister `vatId`'s process is gone or was replaced: the session with the old process ends now. */
  restarted(vatId: string): void;
  /** Paths through `bridges` for the session with `vatId` (its listen address `address`): see docs/architecture.md "Sisters". */
  widen(vatId: string, bridges: readonly string[], address: string): number;
  /** To the host's bootstrap machine; answers its state after the event. */
  report(event: BootstrapReport): string;
  /** How many vats this host runs (pings tell it; placement picks the least loaded sister). */
  load(): number;
  /** Whether this host publishes `name`. */
  hasName(name: string): boolean;
  /** A sturdy ref to what this host publishes as `name` (the same one every time), or undefined when it publishes nothing by that name. */
  nameRef(name: string): string | undefined;
  /** Spawns a vat on this host (placement: `tribe spawn --on`). */
  spawnVat(opts: unknown): Promise<unknown>;
  /** Settles once the processes of these sisters of this machine are gone (bounded; stragglers are killed). */
  awaitGone(sisters: readonly SisterView[]): Promise<void>;
  /** The tribe's secret (bytes) and the sisters this one knows: what a joining host is given. */
  admit(): { readonly secret: readonly number[]; readonly sisters: readonly SisterView[] };
  /** Stops this host. */
  stopHost(): void;
  /** Refreshes this host's own entries in the system spaces (its record, its names); answers each system space's root. */
  syncRoots(): Record<string, string>;
  /** Pushes `space` to sister `view` by a saga; rejects with the saga's named error. */
  push(view: SisterView, space: string): Promise<PushOutcome>;
}

export interface TribeSisterStatus {
  readonly phase: string;
  readonly rounds: number;
  readonly spawner: boolean;
  readonly quiet: boolean;
  readonly spawning: readonly number[];
  readonly sisters: readonly (SisterView & {
    readonly local: boolean;
    readonly state: 'connecting' | 'connected' | 'unreachable';
    readonly rttMs?: number;
    readonly vats?: number;
    readonly phase?: string;
    readonly lastError?: string;
    /** Whether its system spaces had this host's roots at the last ping. */
    readonly inSync?: boolean;
    /** Why the last push of a space to it failed, until one succeeds. */
    readonly syncError?: string;
  })[];
}
