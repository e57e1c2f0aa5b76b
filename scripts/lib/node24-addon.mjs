// Preloaded with `node --import ./scripts/lib/node24-addon.mjs` on Node >= 22.15
// (scripts/test-unit.sh and scripts/test.sh do this for their Node 24 runs).
//
// @confluentinc/kafka-javascript is a NAN addon: one build serves one Node ABI.
// node_modules/ holds the build for the machine's Node 20; scripts/setup.sh keeps a
// second copy, rebuilt for Node 24, in .cache/node24-addon/node_modules/. This hook
// resolves the package's specifier (import and require alike) as if it were written
// in a file inside .cache/node24-addon/, so Node 24 finds that copy; the copy's own
// dependencies (bindings, ...) still resolve from the project's node_modules/ further
// up the tree. Nothing in src/ knows about this.
import { createRequire, registerHooks } from "node:module";
import { pathToFileURL } from "node:url";

const PKG = "@confluentinc/kafka-javascript";
const base = new URL("../../.cache/node24-addon/resolve-from-here.js", import.meta.url);
const requireFromCopy = createRequire(base);

let inside = false; // requireFromCopy.resolve() itself runs through this hook

registerHooks({
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
