/**
 * A chat member in its own vat. On start it looks the room up by name and joins,
 * passing its own `Member` object *by reference*; the room then calls it with E()
 * for every message, vat to vat.
 *
 *   tribe spawn vats/examples/chat-member.ts --name alice --params '{"room":"chat","name":"alice"}'
 *   tribe call alice say '"hi all"'
 *   tribe call bob inbox
 */
import { E, Far } from '@endo/far';

interface Powers {
  names: { lookup(name: string): Promise<any> };
}

export const make = async (powers: Powers, params: { room?: string; name?: string } | null) => {
  const name = params?.name;
  if (!name) throw new TypeError('params.name is required, e.g. {"room":"chat","name":"alice"}');
  const inbox: string[] = [];
  const member = Far('Member', {
    receive(from: string, text: string) {
      inbox.push(`${from}: ${text}`);
      if (inbox.length > 100) inbox.shift();
    },
  });
  const room = await powers.names.lookup(params?.room ?? 'chat');
  const poster = await E(room).join(name, member);
  return Far('ChatMember', {
    say: (text: string) => E(poster).post(text),
    inbox: () => inbox.slice(),
    leave: () => E(poster).leave(),
  });
};
