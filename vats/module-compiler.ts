/**
 * Turns actor module files into precompiled module sources, once, in the host.
 *
 * Analysing ESM for a Compartment (@endo/module-source, built on Babel) costs a
 * vat worker ~0.4-0.5 s just to load the analyser, and TypeScript stripping
 * (esbuild) another child process per worker. So vats do neither: their loader
 * asks the host, which compiles each file once per version and answers with the
 * plain-data record SES accepts as a precompiled module source
 * (`__syncModuleProgram__` and the export maps).
 */
import type { ModuleSource as ModuleSourceClass } from '@endo/module-source';
import { ModuleNotAllowedError, ModuleNotFoundError, ModuleSyntaxError } from './errors.js';

export interface ModuleReader {
  /**
   * The URL of the real file a module URL names (trying .ts for .js, and bare
   * extensions; symlinks resolved), or undefined.
   */
  resolve(url: string): string | undefined;
  /** JavaScript text of the file (TypeScript already stripped); throws ModuleSyntaxError. */
  read(url: string): string;
  /** Changes whenever the file changes (size and mtime), so edits are picked up on the next spawn. */
  stamp(url: string): string;
}

/** What SES takes as a precompiled module source; plain data, so it crosses CapTP and threads. */
export interface PrecompiledSource {
  readonly imports: readonly string[];
  readonly exports: readonly string[];
  readonly reexports: readonly string[];
  readonly __syncModuleProgram__: string;
  readonly __liveExportMap__: unknown;
  readonly __reexportMap__: unknown;
  readonly __fixedExportMap__: unknown;
  readonly __needsImport__: boolean;
  readonly __needsImportMeta__: boolean;
}

export interface CompiledModule {
  /** The file the requested URL resolved to (e.g. './util.js' → util.ts). */
  readonly url: string;
  readonly source: PrecompiledSource;
}

/** Compiled modules kept per host; actor code is small, and edits change the stamp anyway. */
export const MAX_CACHED_MODULES = 500;

const toData = (ms: ModuleSourceClass): PrecompiledSource => {
  const m = ms as unknown as PrecompiledSource;
  // A JSON round trip drops the prototype and any non-data, leaving a plain record.
  return JSON.parse(
    JSON.stringify({
      imports: m.imports,
      exports: m.exports,
      reexports: m.reexports,
      __syncModuleProgram__: m.__syncModuleProgram__,
      __liveExportMap__: m.__liveExportMap__,
      __reexportMap__: m.__reexportMap__,
      __fixedExportMap__: m.__fixedExportMap__,
      __needsImport__: m.__needsImport__,
      __needsImportMeta__: m.__needsImportMeta__,
    }),
  ) as PrecompiledSource;
};

export const makeModuleCompiler = (reader: ModuleReader) => {
  const cache = new Map<string, CompiledModule>();
  // Loading the analyser costs ~0.4 s, so a host pays it on its first spawn, not at start-up.
  let moduleSourceClass: Promise<typeof ModuleSourceClass> | undefined;
  const loadModuleSource = () => (moduleSourceClass ??= import('@endo/module-source').then((m) => m.ModuleSource));
  /** `within`: a directory URL the real file must lie under (the vat's module directory). */
  return async (requested: string, within?: string): Promise<CompiledModule> => {
    const ModuleSource = await loadModuleSource();
    const url = reader.resolve(requested);
    if (!url) throw new ModuleNotFoundError(`cannot find module ${new URL(requested).pathname}`);
    if (within !== undefined && !url.startsWith(within)) {
      throw new ModuleNotAllowedError(
        `${new URL(requested).pathname} is really ${new URL(url).pathname}, outside ${new URL(within).pathname}`,
      );
    }
    const key = `${url}\n${reader.stamp(url)}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const text = reader.read(url);
    let source: PrecompiledSource;
    try {
      source = toData(new ModuleSource(text, url));
    } catch (err) {
      throw new ModuleSyntaxError(`${new URL(url).pathname}: ${(err as Error).message}`, { cause: err });
    }
    const compiled = harden({ url, source });
    if (cache.size >= MAX_CACHED_MODULES) cache.delete(cache.keys().next().value!);
    cache.set(key, compiled);
    return compiled;
  };
};
