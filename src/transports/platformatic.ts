/**
 * A Kafka transport for Deno, Bun and Node ≥ 22, built on `@platformatic/kafka`, a
 * maintained pure-JavaScript Kafka client: idempotent producer, `acks=all`, compression,
 * TLS and SASL through its options. See docs/transports.md for why this client.
 *
 * The package is an optional peer dependency, loaded with a dynamic `import()` when the
 * sink starts the transport, so `shedsink` itself installs and runs without it.
 *
 * ## How a batch is sent
 *
 * The transport picks each record's partition itself: a keyed record goes where Kafka's
 * Java client would put it (murmur2 of the key, the same as `@platformatic/kafka`'s
 * compatibility partitioner), the unkeyed records of one batch all go to one partition,
 * the next batch to the next one. Each partition's records are produced in one call of
 * the client's `send()`, which the broker appends entirely or not at all, so every record
 * has a known outcome:
 *
 * - the call succeeds: `delivered`.
 * - the broker refuses the records themselves (`MESSAGE_TOO_LARGE`,
 *   `RECORD_LIST_TOO_LARGE`, `INVALID_RECORD`, …): the group is halved and each half sent
 *   again, until only the records refused on their own are `rejected`.
 * - the broker or the client refuses for good (unknown topic, authorization, a codec the
 *   runtime lacks, …): `rejected`.
 * - the send's signal aborts (the sink is closing): `aborted` for records on the wire
 *   (`retry` for those not sent yet), and the client is closed so that nothing it held is
 *   delivered later.
 *
 * Everything retriable (broken connections, request timeouts, leader changes, a broker
 * that restarts) the client retries itself, without limit, with the idempotent
 * producer's sequence numbers: the broker drops the duplicates such retries could
 * create. There is no local delivery timeout, for the reason the confluent transport
 * gives (a record that timed out on the wire may be in the topic, so it can be neither
 * `expired` nor sent again): `maxAgeMs` is enforced by the sink's flusher for records not
 * yet handed to the client. Before handing a batch over, the transport makes sure it has
 * the topic's metadata and a producer id, waiting at most a second or two; when it cannot
 * (broker down, hung or unreachable), `send` rejects with a retriable
 * {@linkcode TransportError} and nothing of the batch has left the process.
 *
 * Sends to one partition take turns: the client numbers an idempotent producer's records
 * per partition when `send()` is called, and two sends to one partition under way at once
 * could reach a new leader out of order. And the transport remembers every broker the
 * cluster's metadata has named, so that losing the bootstrap brokers does not lose the
 * cluster (the client alone would ask only them once it has cleared its metadata).
 *
 * The transport stands on the Kafka skeleton shared with the confluent transport
 * (`src/transports/kafka/`: health, outcomes, options, partitions); what only
 * `@platformatic/kafka` knows is in `src/transports/platformatic/`.
 *
 * @example
 * ```ts ignore
 * import { createSink } from "shedsink";
 * import { platformaticTransport } from "shedsink/platformatic";
 *
 * const sink = createSink({
 *   transport: platformaticTransport({ brokers: "127.0.0.1:39092", topic: "query-insights" }),
 * });
 * sink.emit({ table: "users", latencyMs: 1.2 });
 * await sink.close({ timeoutMs: 5000 });
 * ```
 *
 * @module
 */

import type { Transport, TransportSpec } from "../core/contract.ts";
import type { KafkaFailure } from "./kafka/failures.ts";
import { type KafkaOptions, PREFERRED_FLUSHER } from "./kafka/options.ts";
import { runtimeName } from "../runtime.ts";
import { platformaticWith } from "./platformatic/adapter.ts";
import { importPackage, installed } from "./platformatic/binding.ts";
import { transportModule } from "../worker/locate.ts";

export type { Compression, KafkaOptions } from "./kafka/options.ts";
export type { KafkaFailure, KafkaFailureCode } from "./kafka/failures.ts";
export { KAFKA_FAILURE_CODES } from "./kafka/failures.ts";
export type { KafkaLogger, KafkaSasl, KafkaSecurityOptions, KafkaTls, OAuthBearerToken } from "./kafka/security.ts";

/**
 * Options of {@linkcode platformaticTransport}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { platformaticTransport, type PlatformaticTransportOptions } from "./platformatic.ts";
 *
 * const options: PlatformaticTransportOptions = {
 *   brokers: "kafka-1:9092,kafka-2:9092",
 *   topic: "query-insights",
 *   config: { requestTimeout: 10_000, sasl: { mechanism: "SCRAM-SHA-512", username: "u", password: "p" } },
 * };
 * assert.equal(platformaticTransport(options).topic, "query-insights");
 * ```
 */
export interface PlatformaticTransportOptions extends KafkaOptions {
  /**
   * Extra `@platformatic/kafka` producer options, passed through as given: an escape
   * hatch for TLS (`tls`), SASL (`sasl`), timeouts (`connectTimeout`, `requestTimeout`,
   * `timeout`), `autocreateTopics`, `metadataMaxAge`, `retryDelay`. The options this
   * transport sets for its guarantees (brokers, client id, idempotence, acks, retries,
   * compression, serializers, transactions) cannot be set here. `zstd` compression needs
   * a runtime whose `node:zlib` has it.
   * @default {}
   */
  config?: Readonly<Record<string, unknown>>;
}

/**
 * The transport and what it tells about itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { platformaticTransport } from "./platformatic.ts";
 *
 * const transport = platformaticTransport({ brokers: "127.0.0.1:39092", topic: "query-insights" });
 * assert.deepEqual([transport.name, transport.topic, transport.state()], ["platformatic", "query-insights", "connecting"]);
 * ```
 */
export interface PlatformaticTransport extends Transport {
  /** The topic records are written to. */
  readonly topic: string;
  /** Why the transport is `down`, while it is (`null` otherwise): see {@linkcode KafkaFailure}. */
  failure(): KafkaFailure | null;
}

/**
 * Creates a Kafka transport on `@platformatic/kafka`. Validates its options at once
 * (throwing `InvalidOptionError`); connects only when the sink starts it, and never
 * throws for a broker that is down: sends then fail retriably until it is reachable.
 *
 * @example
 * ```ts ignore
 * import { createSink } from "shedsink";
 * import { platformaticTransport } from "shedsink/platformatic";
 *
 * const sink = createSink({
 *   transport: platformaticTransport({ brokers: "127.0.0.1:39092", topic: "query-insights", config: { requestTimeout: 10_000 } }),
 * });
 * sink.emit({ table: "users", latencyMs: 1.2 });
 * await sink.close({ timeoutMs: 5000 });
 * ```
 */
export function platformaticTransport(options: PlatformaticTransportOptions): PlatformaticTransport {
  const transport = platformaticWith(importPackage, options);
  // In a worker (flusher: "worker"): made there from the same options.
  const toWorker = (): TransportSpec => ({ module: transportModule(import.meta.url, "platformatic"), factory: "platformaticTransport", options });
  Object.defineProperty(transport, "preferredFlusher", { value: installed() ? PREFERRED_FLUSHER[runtimeName()] : "thread" });
  return Object.defineProperty(transport, "toWorker", { value: toWorker });
}
