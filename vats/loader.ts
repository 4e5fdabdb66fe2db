/**
 * Loads an actor module into a fresh SES Compartment.
 *
 * The compartment can reach exactly: the frozen intrinsics, `harden`, the
 * `@endo/far` namespace (E, Far), its own relative imports inside the entry
 * module's directory, and any grants; where it reaches for console, timers, the
 * clock or randomness without them it finds shims that throw a teaching error
 * (teaching-globals.ts). Everything else — `node:*`, bare package
 * names, files outside the directory — fails the import with
 * ModuleNotAllowedError. Compiled sources come from a `compile` power (the host
 * compiles, see module-compiler.ts); this file never touches the file system.
 */
import { E, Far } from '@endo/far';
import { passableError } from '../capabilities/errors.js';
import type { Grant } from './link.js';
import type { CompiledModule } from './module-compiler.js';
import { ModuleNotAllowedError, ModuleNotFoundError, ModuleShapeError, ModuleSyntaxError } from './errors.js';
import { installTeachingGlobals } from './teaching-globals.js';

/** Compiles the module a URL names; rejects with a named load error (flattened across CapTP). */
export type CompileModule = (url: string) => Promise<CompiledModule>;

export interface LoadedModule {
  readonly make: (powers: unknown, params: unknown) => unknown;
  readonly url: string;
}

const FAR_NAMESPACE = harden({ E, Far });

/** Globals a grant adds to the compartment; taken from the vat worker's own realm. */
const grantGlobals = (grants: readonly Grant[], realm: { Date: unknown; Math: unknown }) => {
  const globals: Record<string, unknown> = {};
  if (grants.includes('clock')) globals['Date'] = realm.Date;
  if (grants.includes('random')) globals['Math'] = realm.Math;
  return globals;
};

export const loadActorModule = async (opts: {
  readonly entryUrl: string;
  readonly compile: CompileModule;
  readonly grants: readonly Grant[];
  readonly realm: { Date: unknown; Math: unknown };
  readonly name: string;
}): Promise<LoadedModule> => {
  const { compile } = opts;
  let first: CompiledModule;
  try {
    first = await compile(opts.entryUrl);
  } catch (err) {
    const e = unwrapLoadError(err);
    if (e.name === 'ModuleNotFoundError') {
      throw new ModuleNotFoundError(`cannot find actor module ${new URL(opts.entryUrl).pathname}`);
    }
    throw e;
  }
  const entry = first.url;
  // Relative imports may go anywhere under the entry module's directory, no higher.
  const root = new URL('./', entry).href;

  const resolveHook = (spec: string, referrer: string): string => {
    if (spec === '@endo/far') return spec;
    if (spec.startsWith('./') || spec.startsWith('../')) return new URL(spec, referrer).href;
    return `forbidden:${spec}`;
  };
  // SES reports an import failure in its own words around the hook's message and
  // drops the error's class, so the hook's errors carry their name in the text.
  const importHook = async (specifier: string) => {
    try {
      if (!specifier.startsWith(root)) {
        const shown = specifier.replace(/^forbidden:/, '');
        throw new ModuleNotAllowedError(
          `actor modules may import only '@endo/far' and relative files under ${new URL(root).pathname}; not '${shown}'`,
        );
      }
      const { url, source } = specifier === entry ? first : await compile(specifier);
      // A file found by another extension ('./util.js' → util.ts) is aliased to its real URL.
      return url === specifier ? { source } : { source, specifier: url };
    } catch (err) {
      throw passableError(err);
    }
  };

  const compartment = new Compartment({
    __options__: true,
    name: `vat:${opts.name}`,
    globals: grantGlobals(opts.grants, opts.realm),
    modules: { '@endo/far': { namespace: FAR_NAMESPACE } },
    resolveHook,
    importHook,
  } as any);
  installTeachingGlobals(compartment.globalThis, opts.grants);
  let ns: Record<string, unknown>;
  try {
    ({ namespace: ns } = (await compartment.import(entry)) as { namespace: Record<string, unknown> });
  } catch (err) {
    throw unwrapLoadError(err);
  }
  const make = ns['make'];
  if (typeof make !== 'function') {
    throw new ModuleShapeError(
      `${new URL(entry).pathname} does not export a make(powers, params) function (exports: ${Object.keys(ns).join(', ') || 'none'})`,
    );
  }
  return { make: make as LoadedModule['make'], url: entry };
};

const LOAD_ERRORS = { ModuleNotAllowedError, ModuleNotFoundError, ModuleSyntaxError } as const;

/** Recover our error (by name, with its own text) from inside SES's "Failed to load module" wrapper. */
const unwrapLoadError = (err: unknown): Error => {
  const message = err instanceof Error ? err.message : String(err);
  const m = /(ModuleNotAllowedError|ModuleNotFoundError|ModuleSyntaxError): (.*?)\)?$/m.exec(message);
  if (m) return new LOAD_ERRORS[m[1] as keyof typeof LOAD_ERRORS](m[2]!, { cause: err });
  if (err instanceof SyntaxError) return new ModuleSyntaxError(message, { cause: err });
  return err instanceof Error ? err : new ModuleShapeError(message);
};
