// The structure DESIGN.md describes, checked on the import graph the TypeScript compiler
// reads from the sources (import and export declarations, dynamic imports, require).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import ts from "typescript";

const ROOT = new URL("../../", import.meta.url);

/** Every .ts file under `dir` (a path from the repository root), as root-relative paths. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(new URL(dir, ROOT))) {
    const path = `${dir}/${name}`;
    if (statSync(new URL(path, ROOT)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** The module specifiers a file imports, as the compiler reads them. */
function importsOf(path: string): string[] {
  const text = readFileSync(new URL(path, ROOT), "utf8");
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** `specifier` seen from `from`, as a root-relative path; null when it is not relative. */
function resolve(from: string, specifier: string): string | null {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return null;
  return new URL(specifier, new URL(from, ROOT)).pathname.slice(ROOT.pathname.length);
}

/** The import graph of src/: each file's relative imports, resolved. */
function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of sources("src")) {
    edges.set(file, importsOf(file).map((s) => resolve(file, s)).filter((p): p is string => p !== null));
  }
  return edges;
}

test("src/core imports nothing outside src/core: no package, no node: module, no file elsewhere", () => {
  const core = sources("src/core");
  assert.ok(core.length >= 8, `src/core holds the core (${core.join(", ")})`);
  const outside: string[] = [];
  for (const file of core) {
    for (const specifier of importsOf(file)) {
      const target = resolve(file, specifier);
      if (target === null || !target.startsWith("src/core/")) outside.push(`${file} imports ${specifier}`);
    }
  }
  assert.deepEqual(outside, []);
});

test("src/ has no import cycle", () => {
  const edges = graph();
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of edges.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

test("every relative import in src/ names a file that exists, with its .ts extension", () => {
  const edges = graph();
  const missing: string[] = [];
  for (const [file, targets] of edges) {
    for (const target of targets) if (!edges.has(target)) missing.push(`${file} -> ${target}`);
  }
  assert.deepEqual(missing, []);
});

test("no file under src/ is longer than 450 lines", () => {
  const long = sources("src")
    .map((file) => [file, readFileSync(new URL(file, ROOT), "utf8").split("\n").length] as const)
    .filter(([, lines]) => lines > 450)
    .map(([file, lines]) => `${file}: ${lines}`);
  assert.deepEqual(long, []);
});
