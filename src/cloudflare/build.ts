/**
 * Bundling a Worker that uses `shedsink/cloudflare` for workerd, with esbuild (the
 * bundler workerd's own tooling uses): {@linkcode workerdPlugin} and
 * {@linkcode workerdBuildOptions}. workerd loads no package at run time, so the Kafka
 * client is bundled into the Worker, and three things it does on Node are shimmed
 * without touching `node_modules`:
 *
 * - **Node's built-in modules** (`buffer`, `stream`, `node:net`, …) stay imports of
 *   `node:` modules, which workerd provides under `nodejs_compat`; those that CommonJS
 *   code `require()`s (avsc) become a module that re-exports the `node:` import, so no
 *   `require` function is needed at run time.
 * - **`createRequire(import.meta.url)`** (`@platformatic/kafka` calls it at module
 *   load, for optional packages: `@node-rs/crc32`, protobufjs) gets a `require` that
 *   finds nothing, so the client falls back to its WebAssembly code, as it does on Node
 *   without them.
 * - **The WebAssembly module** (`@platformatic/wasm-utils`: CRC32C, lz4, snappy) is read
 *   with `node:fs` on Node; its `bundled` entry, which carries the same module inline
 *   and compiles it while the Worker's global scope is evaluated (workerd allows that
 *   there, not in handlers), is used instead.
 *
 * @example
 * ```ts ignore
 * import * as esbuild from "esbuild";
 * import { workerdBuildOptions } from "shedsink/cloudflare/build";
 *
 * await esbuild.build({ ...workerdBuildOptions(), entryPoints: ["src/worker.ts"], outfile: "dist/worker.js" });
 * ```
 *
 * @module
 */

import { builtinModules } from "node:module";

/** The part of esbuild's plugin API the plugin uses (typed here so that esbuild is not a dependency). */
export interface PluginBuild {
  /** Registers a resolve callback. */
  onResolve(
    options: { filter: RegExp; namespace?: string },
    callback: (args: { path: string; kind: string; importer: string; resolveDir: string }) =>
      | { path?: string; external?: boolean; namespace?: string }
      | undefined
      | Promise<{ path?: string; external?: boolean; namespace?: string } | undefined>,
  ): void;
  /** Registers a load callback. */
  onLoad(
    options: { filter: RegExp; namespace?: string },
    callback: (args: { path: string }) => { contents: string; loader: "js" } | undefined,
  ): void;
  /** Resolves a path as esbuild would. */
  resolve(path: string, options: { kind: string; resolveDir: string; importer?: string }): Promise<{ path: string; errors: ReadonlyArray<unknown> }>;
}

/** An esbuild plugin. */
export interface Plugin {
  /** The plugin's name. */
  readonly name: string;
  /** Registers the plugin's callbacks. */
  setup(build: PluginBuild): void;
}

const BUILTINS: ReadonlySet<string> = new Set(builtinModules.filter((m) => !m.startsWith("_")));
const REQUIRED = "shedsink-node-require";
const MODULE_SHIM = "shedsink-node-module";

/** A `node:module` whose `createRequire` finds nothing: optional packages are absent in a Worker. */
const MODULE_SHIM_SOURCE = `
export function createRequire() {
  return function require(id) {
    const error = new Error("Cannot find module '" + id + "' (not bundled into this Worker)");
    error.code = "MODULE_NOT_FOUND";
    throw error;
  };
}
export const builtinModules = [];
export default { createRequire, builtinModules };
`;

/**
 * The esbuild plugin: see the module docs for what it does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerdPlugin } from "./build.ts";
 *
 * assert.equal(workerdPlugin().name, "shedsink-workerd");
 * ```
 */
export function workerdPlugin(): Plugin {
  return {
    name: "shedsink-workerd",
    setup(build) {
      build.onResolve({ filter: /^@platformatic\/wasm-utils$/ }, async (args) => {
        const found = await build.resolve("@platformatic/wasm-utils/bundled", { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer });
        return found.errors.length === 0 ? { path: found.path } : undefined;
      });
      build.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
        const bare = args.path.replace(/^node:/, "");
        if (!BUILTINS.has(bare)) return undefined;
        if (bare === "module") return { path: "module", namespace: MODULE_SHIM };
        if (args.kind === "require-call") return { path: bare, namespace: REQUIRED };
        return { path: `node:${bare}`, external: true };
      });
      build.onLoad({ filter: /.*/, namespace: REQUIRED }, (args) => ({
        contents: `export * from "node:${args.path}";\nimport m from "node:${args.path}";\nexport default m;\n`,
        loader: "js",
      }));
      build.onLoad({ filter: /.*/, namespace: MODULE_SHIM }, () => ({ contents: MODULE_SHIM_SOURCE, loader: "js" }));
    },
  };
}

/** esbuild options for a Worker: see {@linkcode workerdBuildOptions}. */
export interface WorkerdBuildOptions {
  /** Bundle every import (workerd loads no package at run time). */
  readonly bundle: true;
  /** ES modules, as workerd's modules are. */
  readonly format: "esm";
  /** Neither Node nor the browser: the package conditions say which code to take. */
  readonly platform: "neutral";
  /** The syntax to emit. */
  readonly target: string;
  /** Package export conditions, workerd's first. */
  readonly conditions: string[];
  /** package.json fields to take a package's entry from. */
  readonly mainFields: string[];
  /** Modules workerd provides (`cloudflare:*`). */
  readonly external: string[];
  /** {@linkcode workerdPlugin}. */
  readonly plugins: Plugin[];
}

/**
 * esbuild options that bundle a Worker using `shedsink/cloudflare` for workerd: ES
 * module output, `workerd`/`worker`/`browser` package conditions, `cloudflare:` modules
 * left to workerd, and {@linkcode workerdPlugin}. Add `entryPoints` and `outfile`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerdBuildOptions } from "./build.ts";
 *
 * const options = workerdBuildOptions();
 * assert.equal(options.format, "esm");
 * assert.deepEqual(options.external, ["cloudflare:*"]);
 * ```
 */
export function workerdBuildOptions(): WorkerdBuildOptions {
  return {
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser", "import"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*"],
    plugins: [workerdPlugin()],
  };
}
