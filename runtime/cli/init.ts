/**
 * `tribe init [DIR]`: writes a TypeScript project for actor modules (the files are
 * in templates.ts). It never overwrites: if any file it would write is there
 * already, it writes nothing and fails with ProjectExistsError.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ProjectExistsError } from '../errors.js';
import { projectFiles, type TemplateVersions } from './templates.js';

interface OwnPackage {
  version: string;
  dependencies: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** The project depends on the versions this tribe-runtime was built and tested with. */
const templateVersions = (): TemplateVersions => {
  // dist/runtime/cli/init.js → the package root.
  const own = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as OwnPackage;
  return {
    tribeRuntime: own.version,
    endoFar: own.dependencies['@endo/far'] ?? 'latest',
    typescript: own.devDependencies?.['typescript'] ?? 'latest',
    typesNode: own.devDependencies?.['@types/node'] ?? 'latest',
  };
};

/** An npm package name from the directory's name. */
const packageName = (dir: string): string =>
  basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '')
    .slice(0, 214) || 'actors';

export const initProject = (dir: string): { dir: string; files: string[] } => {
  const root = resolve(dir);
  if (existsSync(root) && !statSync(root).isDirectory()) throw new ProjectExistsError(`${root} is a file, not a directory`);
  const files = projectFiles(packageName(root), templateVersions());
  const taken = files.map(([file]) => file).filter((file) => existsSync(join(root, file)));
  if (taken.length > 0) {
    throw new ProjectExistsError(`${root} already has ${taken.join(', ')}; tribe init overwrites nothing (choose another directory)`);
  }
  mkdirSync(root, { recursive: true });
  for (const [file, text] of files) {
    try {
      // 'wx': even a file that appeared since the check above is not overwritten.
      writeFileSync(join(root, file), text, { flag: 'wx' });
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      throw new ProjectExistsError(`${join(root, file)} appeared while tribe init was writing; it was left as it is`, { cause: err });
    }
  }
  return { dir: root, files: files.map(([file]) => file) };
};
