// The one place the e2e and fault suites get a Kafka transport from, so that the tests
// themselves hold no client-specific call and run unchanged on every runtime that has a
// Kafka transport. On Node it is confluentTransport() (librdkafka); Deno and Bun get
// theirs here too.
//
// The options are client-neutral; each runtime maps them onto its client's settings.

import type { Transport } from "../../mod.ts";
import { FLUSHER } from "./sinks.ts";

export interface KafkaTestTransportOptions {
  /** Bootstrap address, e.g. BOOTSTRAP or PROXIED_BOOTSTRAP from ./kafka.ts. */
  brokers: string;
  topic: string;
  /**
   * Whether the client may have the broker create a missing topic (the broker allows
   * it). False: a missing topic is reported as an error, soon (about a second).
   * @default true
   */
  autoCreateTopics?: boolean;
  /**
   * How long the client waits for the broker to answer a request before it gives up on
   * the connection and retries on a new one. Lower it for tests where a connection
   * loses bytes (the proxy's blackhole) and must be replaced soon after.
   */
  requestTimeoutMs?: number;
}

interface RuntimeGlobals {
  Deno?: unknown;
  Bun?: unknown;
}

/** The runtime's Kafka transport for a test. */
export async function kafkaTransportForTests(options: KafkaTestTransportOptions): Promise<Transport> {
  const g = globalThis as RuntimeGlobals;
  if (g.Deno !== undefined || g.Bun !== undefined || FLUSHER === "worker") {
    // Deno and Bun: @platformatic/kafka (pure JavaScript; the librdkafka addon loads on Node only).
    // Worker mode, everywhere: platformatic too (librdkafka cannot run in a worker).
    const { platformaticTransport } = await import("../../src/transports/platformatic.ts");
    const config: Record<string, unknown> = {};
    if (options.autoCreateTopics === false) config.autocreateTopics = false;
    if (options.requestTimeoutMs !== undefined) config.requestTimeout = options.requestTimeoutMs;
    return platformaticTransport({ brokers: options.brokers, topic: options.topic, config });
  }
  const { confluentTransport } = await import("../../src/transports/confluent.ts");
  const config: Record<string, string | number | boolean> = {};
  if (options.autoCreateTopics === false) {
    config["allow.auto.create.topics"] = false;
    // librdkafka waits this long before it believes a topic is missing (default 30 s)
    config["topic.metadata.propagation.max.ms"] = 1000;
  }
  if (options.requestTimeoutMs !== undefined) {
    config["socket.timeout.ms"] = options.requestTimeoutMs;
    config["request.timeout.ms"] = options.requestTimeoutMs;
  }
  return confluentTransport({ brokers: options.brokers, topic: options.topic, config });
}
