/**
 * A chat room. Members are passed in *by reference*: `join(name, member)` takes
 * any object with `receive(from, text)`, in whatever vat it lives, and the room
 * calls it with E(). Joining returns a poster facet bound to the member's name, so
 * nobody can post as someone else.
 */
import { E, Far } from '@endo/far';

interface Member {
  receive(from: string, text: string): void;
}

export const make = () => {
  const members = new Map<string, Member>();
  const history: Array<{ from: string; text: string }> = [];
  /** Resolves once every member has the message; a broken member does not stop the rest. */
  const deliver = async (from: string, text: string) => {
    history.push({ from, text });
    if (history.length > 100) history.shift();
    await Promise.allSettled([...members.values()].map((m) => E(m).receive(from, text)));
  };
  return Far('ChatRoom', {
    join(name: string, member: Member) {
      if (typeof name !== 'string' || name === '') throw new TypeError('join(name, member): name must be a string');
      if (members.has(name)) throw new Error(`"${name}" is already in the room`);
      members.set(name, member);
      void deliver('room', `${name} joined`);
      return Far('Poster', {
        post: (text: string) => deliver(name, String(text)),
        leave: () => {
          members.delete(name);
          return deliver('room', `${name} left`);
        },
      });
    },
    /** Posting from the CLI, as "cli". */
    async post(text: string) {
      await deliver('cli', String(text));
      return history.length;
    },
    members: () => [...members.keys()],
    history: () => history.slice(),
  });
};
