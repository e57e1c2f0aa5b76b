// Preloaded with `node --import ./scripts/lib/node-addon.mjs` by every script that runs a
// supported Node (22, 24, 26: scripts/test-unit.sh, scripts/test.sh, scripts/examples.sh,
// scripts/demo.sh, benchmarks/run.sh, scripts/lib/node.sh).
//
// @confluentinc/kafka-javascript is a NAN addon: one build serves one Node ABI, and the
// ABI (process.versions.modules) changes only from one Node major to the next.
// scripts/setup.sh keeps a copy of the package per supported major, built for it, in
// .cache/node<MAJOR>-addon/node_modules/. This hook resolves the package's specifier
// (import and require alike) as if it were written in a file inside the running major's
// folder, so each Node finds its own build; the copy's own dependencies (bindings, nan)
// still resolve from the project's node_modules/ further up the tree. When that folder
// does not exist (another Node), nothing is redirected and node_modules/ is used: its
// build is for the Node that ran npm. Nothing in src/ knows about this.
import { existsSync } from "node:fs";
import * as nodeModule from "node:module";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";

const PKG = "@confluentinc/kafka-javascript";
const major = process.versions.node.split(".")[0];
const base = new URL(`../../.cache/node${major}-addon/resolve-from-here.js`, import.meta.url);
const copy = new URL(`node_modules/${PKG}/package.json`, base);

// module.registerHooks: Node >= 22.15 (every supported Node has it)
if (typeof nodeModule.registerHooks === "function" && existsSync(fileURLToPath(copy))) {
  const requireFromCopy = nodeModule.createRequire(base);
  let inside = false; // requireFromCopy.resolve() itself runs through this hook

  nodeModule.registerHooks({
    resolve(specifier, context, nextResolve) {
      if (inside || (specifier !== PKG && !specifier.startsWith(PKG + "/"))) {
        return nextResolve(specifier, context);
      }
      if (context.conditions?.includes("require")) {
        // require(): the CommonJS resolver ignores a changed parentURL, so resolve here.
        inside = true;
        try {
          const url = pathToFileURL(requireFromCopy.resolve(specifier)).href;
          return { url, format: "commonjs", shortCircuit: true };
        } finally {
          inside = false;
        }
      }
      return nextResolve(specifier, { ...context, parentURL: base.href });
    },
  });
}
