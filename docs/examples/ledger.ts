/**
 * Durable objects: a ledger whose accounts are instances of a durable kind.
 * Each account keeps its balance in the store and its identity across restarts:
 * a reference to an account held anywhere reaches it again after the ledger's
 * vat or host restarts. Spawn it with --durable.
 */
import { Far } from '@endo/far';
import type { Powers } from 'tribe-runtime';

export const make = (powers: Powers) => {
  const { store } = powers;
  if (!store) throw new Error('ledger needs a store: spawn it with --durable');

  // Defined again on every start, under the same name: the code may change, the objects stay.
  const makeAccount = store.defineKind('Account', (owner: string) => ({ owner, balance: 0 }), {
    deposit({ state }, amount: number) {
      if (!Number.isInteger(amount) || amount < 1) throw new RangeError(`deposit: a positive integer, got ${amount}`);
      state.balance += amount;
      return state.balance;
    },
    balance: ({ state }) => state.balance,
    owner: ({ state }) => state.owner,
  });

  return Far('Ledger', {
    /**
     * The account of `owner`, made on first use, kept in the store and published as `owner`: the
     * name of a durable object is published again by the host whenever this vat starts.
     */
    async open(owner: string) {
      const key = `account:${owner}`;
      const existing = store.get(key);
      if (existing) return existing;
      const account = makeAccount(owner);
      store.set(key, account);
      await powers.names.publish(owner, account);
      return account;
    },
    owners: () => store.keys('account:').map((k) => k.slice('account:'.length)),
  });
};
