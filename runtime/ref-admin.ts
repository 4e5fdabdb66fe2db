/**
 * The owner's view of the sturdy refs a host minted (`tribe refs`): listed by id
 * (a prefix of the stored hash, never the swiss number) and revoked by that id.
 * Revoking here is what `tribe revoke <REF>` does: later enlivens fail with
 * SturdyRefError, live references already given out stay.
 */
import { SturdyRefError } from '../capabilities/errors.js';
import { UsageError } from './errors.js';
import { REF_ID_CHARS, type HostStore, type StoredSturdyRef } from './store.js';

const ID_PATTERN = new RegExp(`^[0-9a-f]{${REF_ID_CHARS},64}$`);

export const makeRefAdmin = (refs: HostStore['sturdyRefs']) => ({
  /** Every ref minted, oldest first, revoked ones included. */
  list: (): StoredSturdyRef[] => refs.list(),
  /** Revokes the one ref whose id starts with `id`; SturdyRefError for none, several, or one revoked already. */
  revoke(id: string): StoredSturdyRef {
    const prefix = String(id).toLowerCase();
    if (!ID_PATTERN.test(prefix)) {
      throw new UsageError(`a ref id is ${REF_ID_CHARS} or more hex characters, as tribe refs lists it; got ${JSON.stringify(id)}`);
    }
    const found = refs.find(prefix);
    if (found.length === 0) throw new SturdyRefError(`no sturdy ref of this host has the id ${prefix} (see tribe refs)`);
    if (found.length > 1) throw new SturdyRefError(`the id ${prefix} names ${found.length} sturdy refs; give more of their hash`);
    const { swissHash, ...ref } = found[0]!;
    if (!refs.revoke(swissHash)) throw new SturdyRefError(`the sturdy ref ${ref.id} (to ${ref.name}) is already revoked`);
    return refs.find(swissHash).map(({ swissHash: _, ...r }) => r)[0]!;
  },
});
