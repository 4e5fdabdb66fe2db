/**
 * The Sister: the system actor of every host of a tribe. It runs in a vat like
 * any actor, and holds its authority only as the powers its host grants it in
 * `start(powers)` (vats/sister/sister-powers.ts): reading this machine's
 * registry, spawning sister processes, connecting to sisters, widening their
 * sessions through bridges, reporting to the host's bootstrap machine, and
 * stopping its own host. What it can do is what that object can do.
 *
 * Each round (ROUND_MS) it:
 *   1. reads the sisters of its machine (the registry: live, signed records) and
 *      those heard of otherwise (announcements, other machines' sisters);
 *   2. if it is this machine's spawner — the live sister with the lowest slot —
 *      spawns a sister for every empty slot of the core (0 … coreSize−1);
 *   3. pings every other sister it knows (a heartbeat over the tribe's
 *      sessions; an answer also tells what that sister knows, so a member
 *      joined from another machine becomes known to all);
 *   4. asks its host to give each sister session paths through the other
 *      sisters as bridges;
 *   5. pushes its system spaces (registry, names) by a sync saga to each
 *      sister whose roots, as its last ping answered, differ from its own
 *      (both sides do, so a pair converges within a round or two);
 *   6. reports the tribe's health to the host's bootstrap machine.
 *
 * Failure semantics: nothing a sister answers, or fails to answer, ends this
 * loop; a sister that does not answer within PING_TIMEOUT_MS is `unreachable`
 * until it answers again. A spawn that fails is reported (`spawn.failed`) and
 * tried again next round.
 */
import { E, Far } from '@endo/far';
import type { Timer } from '../powers.js';
import { SisterNotFoundError, UsageError, VatExistsError } from './errors.js';
import type { SisterPowers, SisterView, TribeSisterStatus } from './sister-powers.js';

/** How often the Sister looks at its tribe: the bound on noticing a dead local sister. */
export const ROUND_MS = 500;
/** A sister that has not answered a ping in this long is unreachable. */
export const PING_TIMEOUT_MS = 2_000;

interface Known {
  view: SisterView;
  /** Where it was learned: the registry of this machine, or from a sister / an announcement. */
  local: boolean;
  ref?: Promise<any>;
  state: 'connecting' | 'connected' | 'unreachable';
  lastAnswer: number;
  rttMs?: number;
  vats?: number;
  phase?: string;
  pinging: boolean;
  lastError?: string;
  /** Its system spaces' roots, as its last ping answered. */
  roots?: Record<string, string>;
  /** Spaces being pushed to it now, and when a failed push may be tried again. */
  pushing: Set<string>;
  retryAt: Map<string, number>;
  syncError?: string;
}

/** A failed push to a sister waits this long before the next, doubling up to SYNC_RETRY_MAX_MS. */
export const SYNC_RETRY_MS = 1_000;
export const SYNC_RETRY_MAX_MS = 30_000;

interface VatPowers {
  readonly timer: Timer;
  readonly log: (...args: unknown[]) => void;
}

export const make = (vatPowers: VatPowers) => {
  const { timer, log } = vatPowers;
  let powers: SisterPowers | undefined;
  let self: SisterView | undefined;
  const known = new Map<string, Known>();
  const spawning = new Set<number>();
  /** Sisters of other machines that said they left, by the start time of the run that left: gossip of that run is ignored. */
  const left = new Map<string, number>();
  let quiet = false;
  let rounds = 0;
  let phase = 'starting';
  let spawner = false;
  /** This host's vats, as of the last round: what pings answer (placement asks afresh). */
  let vats = 0;
  /** This host's system spaces' roots, as of the last round: what pings answer. */
  let roots: Record<string, string> = {};
  const failedPushes = new Map<string, number>();

  /** What `within` answers when `ms` passed first: no answer (a string, say a sturdy ref, could be one) can be it. */
  const TIMED_OUT: unique symbol = Symbol('timed out');
  const within = <T,>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> =>
    Promise.race([p, timer.delay(ms).then((): typeof TIMED_OUT => TIMED_OUT)]);

  /** Calls `call` on each of these sisters at once, each bounded by PING_TIMEOUT_MS; failures are theirs. */
  const tellAll = (refs: readonly Promise<any>[], call: (sister: any) => Promise<unknown>) =>
    Promise.all(refs.map((r) => within(Promise.resolve(r).then(call), PING_TIMEOUT_MS).catch(() => {})));

  const learn = (view: SisterView, local: boolean, direct = false) => {
    if (!self || view.vatId === self.vatId) return;
    const gone = left.get(view.vatId);
    if (gone !== undefined) {
      // Others may still name a sister that left: only the sister itself (or a newer run of it) brings it back.
      if (!direct && view.startedAt <= gone) return;
      left.delete(view.vatId);
    }
    const had = known.get(view.vatId);
    if (had) {
      // A newer record of the same sister (restarted: new pid, maybe a new address).
      if (view.startedAt > had.view.startedAt) {
        // Restarted: its old session holds nothing of the new process. Ended now rather than
        // when the old session's re-dial meets the new epoch, so the new one is reached at once.
        delete had.ref;
        had.state = 'connecting';
        had.lastAnswer = 0;
        if (powers) void E(powers).restarted(view.vatId);
        had.view = view;
      } else if (local && !had.local) had.view = view;
      had.local ||= local;
      return;
    }
    known.set(view.vatId, { view, local, state: 'connecting', lastAnswer: 0, pinging: false, pushing: new Set(), retryAt: new Map() });
  };

  const ping = async (k: Known) => {
    if (!powers || !self || k.pinging) return;
    k.pinging = true;
    const started = timer.now();
    let timedOut = false;
    try {
      if (!k.ref) {
        k.ref = E(powers).connect(k.view.vatId, k.view.address);
        k.ref.catch(() => {});
      }
      const answer = await within(
        (async () => E(await k.ref).ping(self)) () as Promise<{ self: SisterView; known: SisterView[]; vats: number; phase: string; roots?: Record<string, string> }>,
        PING_TIMEOUT_MS,
      );
      if (answer === TIMED_OUT) {
        timedOut = true;
        throw new Error(`no answer within ${PING_TIMEOUT_MS} ms`);
      }
      k.state = 'connected';
      k.lastAnswer = timer.now();
      k.rttMs = k.lastAnswer - started;
      k.vats = answer.vats;
      k.phase = answer.phase;
      if (answer.roots && typeof answer.roots === 'object') k.roots = answer.roots;
      delete k.lastError;
      for (const v of answer.known) if (v.machine !== self.machine) learn(v, false);
    } catch (err) {
      k.state = k.lastAnswer === 0 && k.state === 'connecting' && timer.now() - started < PING_TIMEOUT_MS ? 'connecting' : 'unreachable';
      k.lastError = String((err as Error)?.message ?? err).slice(0, 200);
      // A reference that could not be had (no session, not exported yet), or whose ping was
      // rejected (its session ended: lost past the grace period, or aborted), is asked for afresh
      // next round — a presence of an ended session rejects every call for good. One that only
      // did not answer in time stays, with its session (which may yet resume).
      if (k.ref) {
        const ref = k.ref;
        const failed = !timedOut || (await within(ref.then(() => false, () => true), 0)) === true;
        if (failed && k.ref === ref) delete k.ref;
      }
    } finally {
      k.pinging = false;
    }
  };

  const status = (): TribeSisterStatus => ({
    phase,
    rounds,
    spawner,
    quiet,
    spawning: [...spawning],
    sisters: [...known.values()].map((k) => ({
      ...k.view,
      local: k.local,
      state: k.state,
      ...(k.rttMs !== undefined ? { rttMs: k.rttMs } : {}),
      ...(k.vats !== undefined ? { vats: k.vats } : {}),
      ...(k.phase !== undefined ? { phase: k.phase } : {}),
      ...(k.lastError ? { lastError: k.lastError } : {}),
      ...(k.roots ? { inSync: inSync(k) } : {}),
      ...(k.syncError ? { syncError: k.syncError } : {}),
    })),
  });

  const inSync = (k: Known) => k.roots !== undefined && Object.keys(roots).every((s) => k.roots![s] === roots[s]);

  /** Pushes `space` to `k` unless a push is running or a failed one is waiting out its backoff. */
  const pushTo = (p: SisterPowers, k: Known, space: string) => {
    const id = `${k.view.vatId} ${space}`;
    if (k.pushing.has(space) || timer.now() < (k.retryAt.get(space) ?? 0)) return;
    k.pushing.add(space);
    E(p)
      .push(k.view, space)
      .then(
        () => {
          failedPushes.delete(id);
          k.retryAt.delete(space);
          delete k.syncError;
        },
        (err: unknown) => {
          const n = (failedPushes.get(id) ?? 0) + 1;
          failedPushes.set(id, n);
          k.retryAt.set(space, timer.now() + Math.min(SYNC_RETRY_MS * 2 ** (n - 1), SYNC_RETRY_MAX_MS));
          k.syncError = String((err as Error)?.message ?? err).slice(0, 200);
          if (n === 1) log(`sync of ${space} to ${k.view.vatId.slice(0, 8)} failed: ${k.syncError}`);
        },
      )
      .finally(() => k.pushing.delete(space));
  };

  /** Asks every connected sister at once; the first that publishes `name` answers with a sturdy ref to it. */
  const resolve = async (name: string): Promise<string | undefined> => {
    const asked = [...known.values()]
      .filter((k) => k.state === 'connected' && k.ref)
      .map((k) =>
        within(Promise.resolve(k.ref).then((r) => E(r).nameRef(name)), PING_TIMEOUT_MS).then(
          (text) => (typeof text === 'string' ? text : Promise.reject(new Error('not there'))),
          () => Promise.reject(new Error('no answer')),
        ),
      );
    if (asked.length === 0) return undefined;
    return Promise.any(asked).catch(() => undefined);
  };

  const round = async () => {
    if (!powers || !self) return;
    const p = powers;
    roots = await E(p).syncRoots();
    const seen = await E(p).sisters();
    // Local sisters are exactly the registry's live records: one that left it is dead.
    for (const [id, k] of known) {
      if (!k.local || seen.local.some((v) => v.vatId === id)) continue;
      // Its process is gone (its record left the registry): so is whatever its session held.
      known.delete(id);
      void E(p).restarted(id);
    }
    for (const v of seen.local) learn(v, true);
    for (const v of seen.heard) learn(v, false);

    const liveSlots = [self.slot, ...seen.local.filter((v) => v.vatId !== self!.vatId).map((v) => v.slot)];
    spawner = Math.min(...liveSlots) === self.slot;
    if (spawner && !quiet) {
      for (let slot = 0; slot < self.coreSize; slot++) {
        if (liveSlots.includes(slot) || spawning.has(slot) || seen.occupied.includes(slot)) continue;
        spawning.add(slot);
        log(`spawning a sister for slot ${slot}`);
        E(p)
          .spawn(slot)
          .then(
            (how) => log(`slot ${slot}: ${how === 'up' ? 'sister up' : 'taken by another host'}`),
            (err: unknown) => {
              log(`slot ${slot}: ${String((err as Error)?.message ?? err)}`);
              return E(p).report({ type: 'spawn.failed', detail: String((err as Error)?.message ?? err) });
            },
          )
          .finally(() => spawning.delete(slot));
      }
    }

    // Pings run on (each sister one at a time); a round waits for them at most ROUND_MS, so a
    // dead sister's unanswered ping never delays noticing and replacing it.
    await within(Promise.all([...known.values()].map(ping)), ROUND_MS);
    const others = [...known.values()];
    for (const k of others) {
      if (k.state !== 'connected') continue;
      const bridges = others.filter((o) => o !== k && o.state === 'connected' && o.view.bridgeRef).map((o) => o.view.bridgeRef);
      if (bridges.length > 0) void E(p).widen(k.view.vatId, bridges, k.view.address);
    }
    // Spaces converge by pushes both ways: each side pushes what differs from what the other answered.
    for (const k of others) {
      if (k.state !== 'connected' || !k.roots || quiet) continue;
      for (const space of Object.keys(roots)) if (k.roots[space] !== roots[space]) pushTo(p, k, space);
    }
    const alive = liveSlots.filter((s) => s < self!.coreSize).length;
    vats = await E(p).load();
    // The host's bootstrap machine answers its state; the table is what `tribe ps` shows.
    phase = await E(p).report({
      type: 'status',
      alive,
      expected: others.length,
      connected: others.filter((k) => k.state === 'connected').length,
      spawner,
      synced: others.every((k) => k.state !== 'connected' || inSync(k)),
      table: harden(status()),
    });
  };

  const loop = async () => {
    if (!powers) return;
    phase = await E(powers).report({ type: 'discovered', sisters: known.size });
    for (;;) {
      if (quiet && phase === 'stopped') return;
      try {
        await round();
        rounds += 1;
      } catch (err) {
        log(`round failed: ${String((err as Error)?.message ?? err)}`);
      }
      await timer.delay(ROUND_MS);
    }
  };

  return Far('Sister', {
    /** From the host, once: the powers this Sister holds. */
    async start(granted: SisterPowers) {
      if (powers) throw new Error('the Sister is started already');
      powers = granted;
      self = await E(granted).self();
      void loop();
      return true;
    },
    /** A sister's heartbeat: it says who it is, and hears who this one knows. */
    async ping(from: SisterView) {
      if (from && typeof from.vatId === 'string' && self && from.machine !== self.machine) learn(from, false, true);
      const views = [...known.values()].filter((k) => k.state === 'connected').map((k) => k.view);
      return harden({ self, known: self ? [self, ...views] : views, vats, phase, roots });
    },
    /** A sister of another machine leaves (stopped, and nobody there starts it again): it is not expected any more. */
    leave(vatId: string, startedAt: number) {
      if (typeof vatId !== 'string' || typeof startedAt !== 'number') return false;
      const k = known.get(vatId);
      if (k?.local) return false; // this machine's sisters come and go by the registry
      known.delete(vatId);
      left.set(vatId, startedAt);
      return true;
    },
    /**
     * This host stops on its own (not with its tribe): when no sister of its
     * machine will start it again — it is the only one alive there, or beyond
     * the core — it tells every sister it knows that it leaves.
     */
    async departing() {
      if (!powers || !self || quiet) return false;
      const me = self;
      const mine = (await E(powers).sisters()).local.filter((v) => v.vatId !== me.vatId);
      if (mine.length > 0 && me.slot < me.coreSize) return false;
      await tellAll([...known.values()].filter((k) => k.ref).map((k) => k.ref!), (s) => E(s).leave(me.vatId, me.startedAt));
      return true;
    },
    status: () => harden(status()),
    /** Stops spawning and pinging: the first step of a tribe's stop. */
    quiesce() {
      quiet = true;
      if (powers) void E(powers).quiesce();
      return true;
    },
    /** Stops this sister's host (and only it). */
    stop() {
      quiet = true;
      if (powers) void E(powers).stopHost();
      return true;
    },
    /**
     * Stops every sister this one knows (its own host is its caller's to stop):
     * all are told to quiesce first, so no spawner restarts one that is stopping.
     */
    async stopTribe() {
      quiet = true;
      if (powers) await E(powers).quiesce();
      // Every sister known now, reached afresh if this one holds no reference to it. Taken before
      // they stop: a round meanwhile forgets a local sister whose record left the registry.
      const stopping = [...known.values()];
      const refs = stopping.map((k) => {
        if (!k.ref && powers) {
          k.ref = E(powers).connect(k.view.vatId, k.view.address);
          k.ref.catch(() => {});
        }
        return k.ref!;
      });
      await tellAll(refs, (s) => E(s).quiesce());
      await tellAll(refs, (s) => E(s).stop());
      const stopped = stopping.map((k) => k.view);
      if (powers) await E(powers).awaitGone(stopped);
      return harden(stopped.map((v) => v.vatId));
    },
    /** Admits a host to the tribe (`tribe host --join <this Sister's ref>`): the tribe's secret and the sisters known. */
    admit() {
      if (!powers) throw new Error('the Sister is not started');
      return E(powers).admit();
    },
    /** Places a vat on this sister (another sister's `place`). */
    spawnVat(opts: unknown) {
      if (!powers) throw new Error('the Sister is not started');
      return E(powers).spawnVat(opts);
    },
    /** A sturdy ref to what this sister publishes as `name`, or undefined (another sister's `resolve`). */
    nameRef(name: string) {
      if (!powers) return undefined;
      return E(powers).nameRef(name);
    },
    /**
     * Pushes `space` to sister `vatId` now (`tribe sync`: the other direction of
     * a sync asked for on that sister). Answers the saga's outcome.
     */
    async pushTo(vatId: string, space: string) {
      if (!powers) throw new Error('the Sister is not started');
      const k = known.get(vatId);
      if (!k) throw new SisterNotFoundError(`no sister ${String(vatId).slice(0, 8)} is known here`);
      return E(powers).push(k.view, space);
    },
    /** A sturdy ref for `name` from the first sister that publishes it, or undefined. */
    resolve: (name: string) => resolve(name),
    /**
     * Spawns a vat on a sister of this machine: `on` (a slot number or a VatId
     * prefix of 4 or more characters), else the one with the fewest vats (this
     * one on a tie). Module files are read where the vat runs, so only this
     * machine's sisters can be chosen. Answers the vat's name and the sister's VatId.
     */
    async place(opts: { name?: string }, on?: string) {
      if (!powers || !self) throw new Error('the Sister is not started');
      const me = self;
      const mine = { vatId: me.vatId, slot: me.slot, vats: await E(powers).load(), known: undefined as Known | undefined };
      const candidate = (k: Known) => ({ vatId: k.view.vatId, slot: k.view.slot, vats: k.vats ?? 0, known: k as Known | undefined });
      const here = [mine, ...[...known.values()].filter((k) => k.state === 'connected' && k.view.machine === me.machine).map(candidate)];
      let target = mine;
      if (on !== undefined && on !== '') {
        const all = [mine, ...[...known.values()].map(candidate)];
        const matches = /^\d+$/.test(on) ? here.filter((c) => c.slot === Number(on)) : on.length >= 4 ? all.filter((c) => c.vatId.startsWith(on)) : [];
        if (matches.length !== 1) {
          const list = here.map((c) => `${c.slot} (${c.vatId.slice(0, 8)})`).join(', ');
          throw new SisterNotFoundError(`${matches.length > 1 ? `${JSON.stringify(on)} names more than one sister` : `no sister ${JSON.stringify(on)} in this tribe`}; this machine's sisters: ${list}`);
        }
        const chosen = matches[0]!;
        if (chosen.known && chosen.known.view.machine !== me.machine) {
          throw new UsageError(`sister ${on} runs on another machine; a vat's module is read where the vat runs: spawn there (tribe spawn --home <its home>)`);
        }
        if (chosen.known && chosen.known.state !== 'connected') throw new SisterNotFoundError(`sister ${on} is ${chosen.known.state} now`);
        target = here.find((c) => c.vatId === chosen.vatId) ?? mine;
      } else {
        for (const c of here) if (c.vats < target.vats || (c.vats === target.vats && target !== mine && c.slot < target.slot)) target = c;
      }
      // A name is the tribe's: one published on another sister is taken.
      if (typeof opts?.name === 'string' && ((await E(powers).hasName(opts.name)) || (await resolve(opts.name)) !== undefined)) {
        throw new VatExistsError(`the name "${opts.name}" is already published in this tribe (tribe call ${opts.name} … reaches it)`);
      }
      const placed = (target.known ? await E(await target.known.ref).spawnVat(opts) : await E(powers).spawnVat(opts)) as { name: string };
      if (target.known) target.known.vats = (target.known.vats ?? 0) + 1;
      return harden({ name: placed.name, on: target.vatId, slot: target.slot });
    },
  });
};
