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
 * The spec of `transport` for a worker, and the hooks of its options (see
 * {@linkcode HOOKS}) that stay on the application's thread. Throws `InvalidOptionError` when the runtime has
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
 * assert.equal(workerSpec(memoryTransport()).spec.factory, "memoryTransport");
 * const fake = { name: "mine", send: async () => undefined, state: () => "up" as const, close: async () => {} };
 * assert.throws(() => workerSpec(fake), InvalidOptionError);
 * ```
 */
export function workerSpec(transport: Transport): WorkerPlan {
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
  const found: string[] = [];
  functionsIn(spec.options, "", found);
  for (const path of found) {
    if (!HOOKS.has(path)) {
      throw new InvalidOptionError("INVALID_OPTION", `transport.${path}`, "a function", `plain data with flusher: "worker" (a function cannot cross to the worker; only ${[...HOOKS].join(", ")} are called across it)`);
    }
  }
  if (found.length === 0) return { spec, hooks: new Map() };
  const hooks = new Map(found.map((path) => [path, valueAt(spec.options, path) as Hook]));
  return { spec: { ...spec, options: withoutPaths(spec.options, found), hooks: found }, hooks };
}

/** A function option the worker calls on the application's thread. */
export type Hook = (...args: unknown[]) => unknown;

/** How a sink's transport runs in a worker: its spec (plain data), and the hooks kept here. */
export interface WorkerPlan {
  readonly spec: TransportSpec;
  readonly hooks: ReadonlyMap<string, Hook>;
}

/**
 * The function options the worker calls on the application's thread: the hooks (their
 * results unused) and the OAUTHBEARER token provider (its result sent back).
 */
export const HOOKS: ReadonlySet<string> = new Set(["onError", "logger", "sasl.token"]);

/** A copy of `options` without the values at `paths` (dotted). */
function withoutPaths(options: unknown, paths: ReadonlyArray<string>): unknown {
  const copy = { ...(options as Record<string, unknown>) };
  for (const path of paths) {
    const keys = path.split(".");
    let at: Record<string, unknown> = copy;
    for (const key of keys.slice(0, -1)) at = at[key] = { ...(at[key] as Record<string, unknown>) };
    delete at[keys[keys.length - 1]!];
  }
  return copy;
}

/** The value at a dotted `path` of `options`. */
export function valueAt(options: unknown, path: string): unknown {
  let at = options;
  for (const key of path.split(".")) at = typeof at === "object" && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

/** `options` with `make(path)` set at each of `paths` (copied where it changes). */
export function withValues(options: unknown, paths: ReadonlyArray<string>, make: (path: string) => unknown): unknown {
  const copy = { ...(options as Record<string, unknown>) };
  for (const path of paths) {
    const keys = path.split(".");
    let at: Record<string, unknown> = copy;
    for (const key of keys.slice(0, -1)) at = at[key] = { ...(at[key] as Record<string, unknown>) };
    at[keys[keys.length - 1]!] = make(path);
  }
  return copy;
}

/** The paths of the functions in `value` (a structured clone would refuse them), into `found`. */
function functionsIn(value: unknown, path: string, found: string[], seen: Set<unknown> = new Set()): void {
  if (typeof value === "function") {
    found.push(path === "" ? "options" : path);
    return;
  }
  if (typeof value !== "object" || value === null || seen.has(value) || ArrayBuffer.isView(value)) return;
  seen.add(value);
  for (const [key, inner] of Object.entries(value)) functionsIn(inner, path === "" ? key : `${path}.${key}`, found, seen);
}
