/**
 * Worker mode: where the worker's code is, from source and from the npm build alike.
 *
 * - From source (`.ts` files on Node 22+, Deno and Bun, or from JSR) every module keeps
 *   its own URL: the worker's entry is `entry.ts` beside `host.ts`, and a transport's
 *   module is the file that exports its factory.
 * - From the npm build (`dist/`, by tsup) code is bundled: the host's code sits in
 *   `dist/mod.js`, `dist/mod.cjs` or a chunk beside them (chunks are written at the
 *   root of `dist/`), the worker's entry is built on its own as `dist/worker/entry.js`
 *   and `.cjs`, and a transport's code may sit in a chunk whose export names are not
 *   its own. So a transport names its public subpath (`shedsink/memory`), which the
 *   worker imports by the package's self-reference. The CommonJS build has
 *   `import.meta.url` through tsup's shims (the file's URL, ending in `.cjs`).
 *
 * `scripts/check-dist.sh` runs worker mode from the packed package, as ES modules and
 * through `require()`.
 *
 * @module
 */

/** The package's name on npm, which its built code uses to import itself. */
const PACKAGE = "shedsink";

/**
 * The URL of the worker's entry, given the `import.meta.url` of the module that starts
 * it (`host.ts`, or the built file that holds its code).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerEntry } from "./locate.ts";
 *
 * assert.equal(workerEntry("file:///app/src/worker/host.ts").href, "file:///app/src/worker/entry.ts");
 * assert.equal(workerEntry("file:///app/node_modules/shedsink/dist/chunk-X.js").href, "file:///app/node_modules/shedsink/dist/worker/entry.js");
 * assert.equal(workerEntry("file:///app/node_modules/shedsink/dist/mod.cjs").href, "file:///app/node_modules/shedsink/dist/worker/entry.cjs");
 * ```
 */
export function workerEntry(from: string): URL {
  if (isSource(from)) return new URL("./entry.ts", from);
  return new URL(from.endsWith(".cjs") ? "./worker/entry.cjs" : "./worker/entry.js", from);
}

/**
 * The module a worker imports to make a transport: `from` itself (the `import.meta.url`
 * of the module that exports the factory) when running from source, the package's
 * public `subpath` (such as `"memory"`) when running from the npm build.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transportModule } from "./locate.ts";
 *
 * assert.equal(transportModule("file:///app/src/transports/memory.ts", "memory"), "file:///app/src/transports/memory.ts");
 * assert.equal(transportModule("file:///app/node_modules/shedsink/dist/chunk-X.js", "memory"), "shedsink/memory");
 * ```
 */
export function transportModule(from: string, subpath: string): string {
  return isSource(from) ? from : `${PACKAGE}/${subpath}`;
}

/** Whether `url` is a TypeScript source file (not the npm build). */
function isSource(url: string): boolean {
  return /\.[cm]?ts$/.test(new URL(url).pathname);
}

/**
 * Whether the sink's modules are files on this machine (an npm install, or source), so
 * that a worker can be started from them without anything fetched: the default flusher
 * mode picks a worker only then (loaded from a registry over https, such as JSR, a sink
 * runs its flusher on the application's thread unless told otherwise).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { localModules } from "./locate.ts";
 *
 * assert.equal(localModules("file:///app/node_modules/shedsink/dist/mod.js"), true);
 * assert.equal(localModules("https://jsr.io/@shedsink/shedsink/1.0.0/src/worker/locate.ts"), false);
 * ```
 */
export function localModules(from: string = import.meta.url): boolean {
  return from.startsWith("file:");
}
