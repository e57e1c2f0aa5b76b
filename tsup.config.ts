// Builds dist/ (ESM, CJS and d.ts) for every export. The entry points come from
// deno.json's "exports", so the npm and JSR packages cannot drift apart;
// tests/unit/exports.test.ts checks package.json against the same list. The worker's entry
// (worker mode) is built on its own too, as dist/worker/entry.{js,cjs}: src/worker/locate.ts
// finds it from the host's code, which sits in dist/mod.{js,cjs} or a chunk at the root of
// dist/ (scripts/check-dist.sh runs worker mode from the packed package).
import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const exportsMap: Record<string, string> = JSON.parse(readFileSync("deno.json", "utf8")).exports;

const entry = Object.fromEntries(
  [...Object.values(exportsMap), "./src/worker/entry.ts"].map((source) => [source.replace(/^\.\//, "").replace(/^src\//, "").replace(/\.ts$/, ""), source]),
);

export default defineConfig({
  entry,
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "es2022",
  platform: "neutral",
  // import.meta.url in the CommonJS build (the file's URL), which worker mode needs.
  shims: true,
  external: ["@confluentinc/kafka-javascript", "@platformatic/kafka", "@opentelemetry/api", "@opentelemetry/otlp-transformer", "@opentelemetry/sdk-trace", "@opentelemetry/sdk-logs", "valibot", "pino", "pino-abstract-transport"],
});
