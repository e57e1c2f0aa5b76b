// The flusher mode the e2e and fault suites run in: SHEDSINK_FLUSHER=worker runs their
// sinks with flusher: "worker" (the transport from ./transports.ts then is platformatic,
// made in the worker), anything else or unset the default, "thread".
import process from "node:process";
import { createSink, type Sink, type SinkOptions } from "../../mod.ts";

/** "worker" when SHEDSINK_FLUSHER=worker, else "thread". */
export const FLUSHER: "thread" | "worker" = process.env.SHEDSINK_FLUSHER === "worker" ? "worker" : "thread";

/** createSink, in the suites' flusher mode. */
export function createTestSink<T>(options: SinkOptions<T>): Sink<T> {
  return createSink<T>({ flusher: FLUSHER, ...options });
}
