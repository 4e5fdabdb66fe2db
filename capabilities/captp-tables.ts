/**
 * Import/export tables for @endo/captp, passed as `makeCapTPImportExportTables`.
 *
 * Why our own: with `gcImports`, @endo/captp 4.5.1's default tables forget an
 * export when the peer drops it (CTP_DROP), but CapTP's private value→slot map
 * still remembers the slot. When the same object is sent again it goes out
 * under the old slot without being re-registered, and the peer's next call on
 * it fails with "Unknown export" (the connection then aborts). This happens
 * whenever a peer drops an object and later fetches it again — e.g. a vat that
 * garbage-collects a looked-up reference and looks it up again.
 *
 * The fix here: a dropped export moves to a weak "recently dropped" table.
 * As long as the object is alive, a later mention of its slot finds it there
 * and re-registers it (strongly) as an export. An object that was dropped *and*
 * collected cannot be re-sent (the value→slot map is weak too), so nothing can
 * name its slot again. Imports are weak-valued with a FinalizationRegistry, as
 * in the default tables, so dropped presences are reported to the peer.
 *
 * Two additions serve three-party handoff (handoff.ts, connection.ts):
 * - `takeFresh(slot)` tells the sender whether the peer may lack this export
 *   (first sent, or sent again after the peer dropped it): only then does a
 *   third party's reference need a gift. A dropped export that is sent again
 *   becomes strong again at once, since the peer is about to hold it.
 * - `preset(slot, val)` makes the next import of `slot` be `val` (a presence
 *   claimed directly from its owner) instead of a new proxy through the peer.
 */
import { Remotable } from '@endo/marshal';

type Slot = string;
interface Settler {
  resolveWithPresence(): object;
}
interface TableOptions {
  gcImports: boolean;
  /** Track which exports the peer may lack (`takeFresh`); only connections that give gifts need it. */
  trackFresh?: boolean;
  releaseSlot: (slot: Slot) => void;
  makeRemoteKit: (slot: Slot) => { promise: Promise<unknown>; settler: Settler };
}

const isPromise = (v: unknown): v is Promise<unknown> => Promise.resolve(v) === v;

export type ImportExportTables = ReturnType<typeof makeImportExportTables>;

export const makeImportExportTables = ({ gcImports, releaseSlot, makeRemoteKit, trackFresh = false }: TableOptions) => {
  const exported = new Map<Slot, unknown>();
  /** Exports registered since they were last sent (first export, or revived after the peer dropped them). */
  const fresh = new Set<Slot>();
  /** Imports to use instead of a new proxy: claimed gifts waiting for the message that names them. */
  const presets = new Map<Slot, unknown>();
  /** Imports to wrap once made: durable notes of the message being dispatched (durable-refs.ts). */
  const wraps = new Map<Slot, (direct: unknown) => unknown>();
  const dropped = new Map<Slot, WeakRef<object>>();
  const forgetDropped = new FinalizationRegistry<Slot>((slot) => {
    const ref = dropped.get(slot);
    if (ref && ref.deref() === undefined) dropped.delete(slot);
  });

  // Imports: weak values when gcImports, so a presence nobody holds can be collected.
  const strongImports = new Map<Slot, unknown>();
  const weakImports = new Map<Slot, WeakRef<object>>();
  const importFinalizer = new FinalizationRegistry<Slot>((slot) => {
    const ref = weakImports.get(slot);
    if (ref && ref.deref() === undefined) {
      weakImports.delete(slot);
      // Its registration is spent: without this, every import ever collected left its token here.
      importToken.delete(slot);
      releaseSlot(slot);
    }
  });
  const importToken = new Map<Slot, object>();

  let lastExport = 0;
  let lastPromise = 0;

  const revive = (slot: Slot): unknown => {
    const val = dropped.get(slot)?.deref();
    if (val === undefined) return undefined;
    dropped.delete(slot);
    exported.set(slot, val);
    return val;
  };

  return {
    makeSlotForValue: (val: unknown): Slot => (isPromise(val) ? `p+${++lastPromise}` : `o+${++lastExport}`),
    makeValueForSlot(slot: Slot, iface: string | undefined) {
      // CapTP keeps a settler only for promise slots; a preset is always a presence.
      if (presets.has(slot)) return { val: presets.get(slot), settler: undefined };
      const { promise, settler } = makeRemoteKit(slot);
      if (slot[0] === 'o' || slot[0] === 't') {
        const val = Remotable(iface as any, undefined, settler.resolveWithPresence() as any);
        const wrap = wraps.get(slot);
        return { val: wrap ? wrap(val) : val, settler };
      }
      if (slot[0] === 'p') return { val: promise, settler };
      throw new TypeError(`unknown slot type ${slot}`);
    },
    hasImport: (slot: Slot) =>
      gcImports ? weakImports.get(slot)?.deref() !== undefined : strongImports.has(slot),
    getImport: (slot: Slot) => (gcImports ? weakImports.get(slot)?.deref() : strongImports.get(slot)),
    markAsImported(slot: Slot, val: unknown) {
      if (!gcImports || typeof val !== 'object' || val === null) {
        strongImports.set(slot, val);
        return;
      }
      const old = importToken.get(slot);
      if (old) importFinalizer.unregister(old);
      const token = {};
      importToken.set(slot, token);
      weakImports.set(slot, new WeakRef(val));
      importFinalizer.register(val, slot, token);
    },
    hasExport: (slot: Slot) => exported.has(slot) || dropped.get(slot)?.deref() !== undefined,
    getExport: (slot: Slot) => (exported.has(slot) ? exported.get(slot) : revive(slot)),
    markAsExported(slot: Slot, val: unknown) {
      dropped.delete(slot);
      exported.set(slot, val);
      if (trackFresh) fresh.add(slot);
    },
    /**
     * Called for each export slot of an outbound message: true when the peer may
     * not hold it (registered since last sent, or dropped by the peer and sent
     * again, which also makes it strong again). Consumes the mark.
     */
    takeFresh(slot: Slot): boolean {
      if (fresh.delete(slot)) return true;
      if (exported.has(slot)) return false;
      const val = revive(slot);
      return val !== undefined && trackFresh;
    },
    preset(slot: Slot, val: unknown) {
      presets.set(slot, val);
    },
    clearPreset(slot: Slot) {
      presets.delete(slot);
    },
    /** The next import of `slot` is `wrap(presence)` (a durable note's presence) instead of the presence itself. */
    wrapImport(slot: Slot, wrap: (direct: unknown) => unknown) {
      wraps.set(slot, wrap);
    },
    clearWrap(slot: Slot) {
      wraps.delete(slot);
    },
    deleteExport(slot: Slot) {
      const val = exported.get(slot);
      exported.delete(slot);
      if (typeof val === 'object' && val !== null) {
        dropped.set(slot, new WeakRef(val));
        forgetDropped.register(val, slot);
      }
    },
    /** References held: imports (promises and presences) and exports (the visualizer's per-vat view). */
    counts: () => ({ imports: weakImports.size + strongImports.size, exports: exported.size }),
    /** Weakly held imports with a live finalizer registration (diagnostics and tests: it falls back as imports are collected). */
    get importsTracked(): number {
      return importToken.size;
    },
    didDisconnect() {
      presets.clear();
      wraps.clear();
      fresh.clear();
      for (const token of importToken.values()) importFinalizer.unregister(token);
      importToken.clear();
      weakImports.clear();
      strongImports.clear();
    },
  };
};
