/**
 * Reads actor module files for the vat loader: resolves extensions the way a
 * TypeScript author expects ('./util.js' finds util.ts) and strips TypeScript
 * with esbuild, so `.ts` actor modules need no build step.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transformSync } from 'esbuild';
import { ModuleNotFoundError, ModuleSyntaxError } from '../vats/errors.js';
import type { ModuleReader } from '../vats/module-compiler.js';

/** Larger sources are almost surely not actor code; refuse rather than parse megabytes. */
export const MAX_MODULE_BYTES = 4 * 1024 * 1024;

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

const candidates = (path: string): string[] => {
  if (/\.(m?js)$/.test(path)) return [path, path.replace(/\.(m?)js$/, '.$1ts')];
  if (/\.(m?ts)$/.test(path)) return [path];
  return [path, `${path}.ts`, `${path}.js`, `${path}/index.ts`, `${path}/index.js`];
};

export const makeModuleReader = (): ModuleReader => ({
  resolve(url) {
    if (!url.startsWith('file:')) return undefined;
    let path: string;
    try {
      path = fileURLToPath(url); // throws on an encoded '/' such as '..%2f'
    } catch {
      return undefined;
    }
    const found = candidates(path).find(isFile);
    // The real path: a symlink must not carry an import outside the module's directory.
    return found ? pathToFileURL(realpathSync(found)).href : undefined;
  },
  stamp(url) {
    try {
      const st = statSync(fileURLToPath(url));
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  },
  read(url) {
    const path = fileURLToPath(url);
    let text: string;
    try {
      if (statSync(path).size > MAX_MODULE_BYTES) {
        throw new ModuleSyntaxError(`${path} is larger than ${MAX_MODULE_BYTES} bytes`);
      }
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (err instanceof ModuleSyntaxError) throw err;
      throw new ModuleNotFoundError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (!/\.m?ts$/.test(path)) return text;
    try {
      return transformSync(text, { loader: 'ts', format: 'esm', target: 'es2022', sourcefile: path }).code;
    } catch (err) {
      const first = (err as { errors?: Array<{ text: string; location?: { line: number; column: number } }> }).errors?.[0];
      const where = first?.location ? `:${first.location.line}:${first.location.column}` : '';
      throw new ModuleSyntaxError(`${path}${where}: ${first?.text ?? (err as Error).message}`, { cause: err });
    }
  },
});
