// The OpenTelemetry exporters in worker mode (flusher: "worker", the memory transport in a
// real worker thread): the same behaviour tests as tests/unit/otel-exporters.test.ts runs
// in thread mode. Run on Node >= 22, Deno and Bun:
//   node --test tests/worker/otel-exporters.test.ts · deno test -A --no-check --no-lock tests/worker/ · bun test ./tests/worker/
import { test } from "node:test";
import { exporterTests } from "../support/otel-exporters.ts";

for (const [name, body] of exporterTests("worker")) test(name, body);
