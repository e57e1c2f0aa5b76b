import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const read = (path: string) => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), "utf8"));

test("package.json and deno.json export the same subpaths, and every npm export points at dist/", () => {
  const npm = read("package.json").exports as Record<string, unknown>;
  const jsr = read("deno.json").exports as Record<string, string>;
  const npmPaths = Object.keys(npm).filter((key) => key !== "./package.json").sort();
  assert.deepEqual(npmPaths, Object.keys(jsr).sort());
  for (const [subpath, source] of Object.entries(jsr)) {
    const built = source.replace(/^\.\//, "").replace(/^src\//, "").replace(/\.ts$/, "");
    const entry = npm[subpath] as { import: { types: string; default: string }; require: { types: string; default: string } };
    assert.equal(entry.import.default, `./dist/${built}.js`, subpath);
    assert.equal(entry.import.types, `./dist/${built}.d.ts`, subpath);
    assert.equal(entry.require.default, `./dist/${built}.cjs`, subpath);
    assert.equal(entry.require.types, `./dist/${built}.d.cts`, subpath);
  }
});
