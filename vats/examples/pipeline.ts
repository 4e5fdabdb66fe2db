/**
 * Promise pipelining. `demo()` looks up this vat's own `Directory` through the
 * host's names and walks directory → folder → file → read in one pipelined chain:
 * every call is sent before any answer comes back. Spawned twice (as the
 * examples and the tests do), one vat's chain runs against the other vat.
 */
import { E, Far } from '@endo/far';

interface Powers {
  names: { lookup(name: string): Promise<unknown> };
}

const makeFile = (path: string) => Far('File', { read: () => `contents of ${path}` });
const makeFolder = (path: string) => Far('Folder', { file: (name: string) => makeFile(`${path}/${name}`) });
export const makeDirectory = () => Far('Directory', { folder: (name: string) => makeFolder(`/${name}`) });

export const make = (powers: Powers, params: { target?: string } | null) => {
  const directory = makeDirectory();
  return Far('Pipeline', {
    folder: (name: string) => directory.folder(name),
    /** E(E(E(target).folder('docs')).file('readme')).read(), all sent at once. */
    async demo(targetName?: string) {
      const target = targetName ?? params?.target;
      const root: any = target ? powers.names.lookup(target) : directory;
      return E(E(E(root).folder('docs')).file('readme')).read();
    },
  });
};
