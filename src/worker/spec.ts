/**
 * Worker mode, at construction: whether the sink can run its transport in a worker, and
 * the spec that makes it there. Each refusal is an `InvalidOptionError` naming the option.
 *
 * @module
 */

import type { Transport, TransportSpec } from "../core/contract.ts";
import { InvalidOptionError } from "../core/errors.ts";
import { runtimeName } from "../runtime.ts";

interface NodeGlobals {
  process?: { versions?: { node?: string } };
}

/**
 * The spec of `transport` for a worker. Throws `InvalidOptionError` when the runtime has
 * no worker for it (Node before 22), when the transport cannot run in a worker (no
 * `toWorker`, such as `confluentTransport`), or when an option would not cross to it (a
 * function), naming that option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidOptionError, memoryTransport } from "../../mod.ts";
 * import { workerSpec } from "./spec.ts";
 *
 * assert.equal(workerSpec(memoryTransport()).factory, "memoryTransport");
 * const fake = { name: "mine", send: async () => undefined, state: () => "up" as const, close: async () => {} };
 * assert.throws(() => workerSpec(fake), InvalidOptionError);
 * ```
 */
export function workerSpec(transport: Transport): TransportSpec {
  if (runtimeName() === "node") {
    const major = Number((globalThis as NodeGlobals).process?.versions?.node?.split(".")[0]);
    if (major < 22) throw new InvalidOptionError("INVALID_OPTION", "flusher", "worker", `"thread" on Node ${major}: the worker runs the sink's TypeScript modules and @platformatic/kafka, which need Node 22 or later`);
  }
  if (typeof transport.toWorker !== "function") {
    const why = transport.name === "confluent"
      ? "librdkafka's addon aborts the process in a worker thread (confluent-kafka-javascript#258): use kafkaTransport (platformatic in a worker) or flusher: \"thread\""
      : "it describes no way to make it in a worker (toWorker)";
    throw new InvalidOptionError("INVALID_OPTION", "transport", transport.name, `a transport that runs in a worker (memoryTransport, kafkaTransport, platformaticTransport): ${transport.name} does not, as ${why}`);
  }
  const spec = transport.toWorker();
  const path = functionIn(spec.options, "");
  if (path !== null) {
    throw new InvalidOptionError("INVALID_OPTION", `transport.${path}`, "a function", 'plain data with flusher: "worker" (a function cannot cross to the worker)');
  }
  return spec;
}

/** The path of the first function in `value` (a structured clone would refuse it), or null. */
function functionIn(value: unknown, path: string, seen: Set<unknown> = new Set()): string | null {
  if (typeof value === "function") return path === "" ? "options" : path;
  if (typeof value !== "object" || value === null || seen.has(value) || ArrayBuffer.isView(value)) return null;
  seen.add(value);
  for (const [key, inner] of Object.entries(value)) {
    const found = functionIn(inner, path === "" ? key : `${path}.${key}`, seen);
    if (found !== null) return found;
  }
  return null;
}
