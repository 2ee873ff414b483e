/**
 * What differs when ipwarden runs as the single executable (`npm run package`) instead of from
 * its files (dist/, an npm install):
 * - its built-in plugins are inside it, not in a plugins/ directory next to it;
 * - a dynamic import() written in its embedded script has no module loader behind it (Node 20
 *   single executables: ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so files outside it (third-party
 *   plugins, JS rc files) are imported through a loader the entry provides;
 * - ipwarden is started again (the lab's daemons) as the executable alone, not as node + a script.
 * The executable's entry (src/cli/executable-main.ts) registers itself here; everything else asks.
 */

/** A built-in plugin's module, loaded on demand (a daemon loads only the ones its config names). */
export type BundledModule = () => Promise<{ default?: unknown }>;

export interface SingleExecutable {
  /** Built-in plugins by name (the folder names under plugins/). */
  builtinPlugins: Readonly<Record<string, BundledModule>>;
  /** Imports an ES module or CommonJS file by file: URL with Node's own loader. */
  importFile(url: string): Promise<unknown>;
}

let current: SingleExecutable | undefined;

export function registerSingleExecutable(executable: SingleExecutable): void {
  current = executable;
}

/** The single executable this process runs as, or undefined when it runs from files. */
export function singleExecutable(): SingleExecutable | undefined {
  return current;
}

/** Imports a module file outside ipwarden (a third-party plugin, a JS rc file) by its file: URL. */
export function importFile(url: string): Promise<unknown> {
  return current ? current.importFile(url) : import(url);
}
