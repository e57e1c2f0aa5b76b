// Builds dist/ (ESM, CJS and d.ts) for every export. The entry points come from
// deno.json's "exports", so the npm and JSR packages cannot drift apart;
// tests/unit/exports.test.ts checks package.json against the same list.
import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const exportsMap: Record<string, string> = JSON.parse(readFileSync("deno.json", "utf8")).exports;

const entry = Object.fromEntries(
  Object.values(exportsMap).map((source) => [source.replace(/^\.\//, "").replace(/^src\//, "").replace(/\.ts$/, ""), source]),
);

export default defineConfig({
  entry,
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "es2022",
  platform: "neutral",
  external: ["@confluentinc/kafka-javascript", "@platformatic/kafka", "@opentelemetry/api", "valibot"],
});
