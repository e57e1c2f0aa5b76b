/**
 * A Kafka transport for Node, built on `@confluentinc/kafka-javascript` (librdkafka):
 * idempotent producer, `acks=all`, compression, librdkafka's own I/O threads.
 *
 * The package is an optional peer dependency, loaded with a dynamic `import()` when the
 * sink starts the transport, so `shedsink` itself installs and runs without it. Its
 * addon is built on the legacy NAN ABI: it loads on Node only.
 *
 * ## How a batch is sent
 *
 * Every record of a batch is handed to librdkafka's `produce()` with a per-record opaque
 * token; the batch's promise settles once librdkafka has reported every record through
 * its delivery report (`dr_cb`). A report without error is `delivered`. librdkafka
 * itself retries everything retriable (leader changes, broken connections, request
 * timeouts) with the idempotent producer's sequence numbers, so the broker drops the
 * duplicates such retries could create; an error in a delivery report is one librdkafka
 * gave up on:
 *
 * - `MSG_SIZE_TOO_LARGE` / `RECORD_LIST_TOO_LARGE` from the broker fail a whole
 *   librdkafka batch, innocent neighbours included. Those records come back as `retry`
 *   and are then sent in isolated groups (nothing else in librdkafka's queue), halving
 *   the group each time, so that only a record rejected on its own is `rejected`.
 * - records purged from librdkafka's queue before transmission (`ERR__PURGE_QUEUE`, e.g.
 *   after a fatal producer error) and records that failed only because a neighbour was
 *   invalid (`ERR__INVALID_DIFFERENT_RECORD`) are `retry`: they were never written.
 * - `QUEUE_FULL` from `produce()` is `retry` (librdkafka's queue is bounded, see below).
 * - every other error (unknown topic, authorization, invalid record, …) is `rejected`,
 *   with an error that names the topic and librdkafka's error code.
 *
 * ## Bounds
 *
 * librdkafka's queue is bounded by the sink's `capacityBytes`
 * (`queue.buffering.max.kbytes`, rounded up to a KiB; librdkafka counts value bytes
 * only, the sink counts value, key, headers and framing) so the records librdkafka holds
 * never exceed what the sink already counts as in flight.
 *
 * ## State
 *
 * `up` once a broker answered; `down` when librdkafka reports every broker connection
 * down, and when produced records get no delivery report at all for 5 s (a hung broker
 * keeps its connections open: `kafka/health.ts`); `up` again with the next delivery, or when a
 * metadata probe (every second while down and nothing is stalled) is answered. No probe
 * is sent while records wait unanswered: the delivery reports tell, and a metadata
 * request queued on a hung broker is answered the moment it resumes, which is when a
 * fenced broker answers with no broker at all (below).
 *
 * ## A producer left without brokers
 *
 * librdkafka (since 2.10) forgets the brokers a metadata response does not list, and a
 * KRaft broker that was fenced (its controller heard nothing from it for
 * `broker.session.timeout.ms`, for example after a pause that long) lists none until it
 * is unfenced, a few milliseconds later. On a cluster whose brokers were all fenced (a
 * single broker, say), a producer that asked in that window has no broker left, and
 * nothing in librdkafka brings one back: with no local message timeout its records would
 * wait forever. The transport reads librdkafka's statistics (`statistics.interval.ms`,
 * 5 s by default here) while records are stalled; when they list no broker, the
 * producer is destroyed, a new one connects, and the records it held come back as
 * `retry` and are sent again. A record the old producer had sent without an answer may
 * have been written, and then appears twice; every other outcome would lose records.
 * Setting `statistics.interval.ms` to 0 through `config` turns this off.
 *
 * ## Invariant 4: a record counted as dropped is never delivered
 *
 * librdkafka reports every local message timeout as `ERR__MSG_TIMED_OUT`, whether the
 * message never left its queue (status NOT_PERSISTED) or timed out while its produce
 * request was on the wire (POSSIBLY_PERSISTED: the broker may have written it). Only
 * `rd_kafka_message_status()` tells the two apart, and this binding does not expose it.
 * Reporting such a record `expired` could count a record as dropped that is in the
 * topic; resending it could write it twice. So the transport sets
 * `message.timeout.ms=0` (no local timeout): librdkafka keeps retrying, idempotently,
 * until the broker answers. `maxAgeMs` is enforced by the sink's flusher for every record
 * not yet handed to librdkafka (pending and held for retry); the at most
 * `batch.maxInFlight` batches librdkafka holds during an outage are delivered when Kafka
 * returns rather than expired. Setting `message.timeout.ms` (or `delivery.timeout.ms`)
 * through `config` brings the local timeout back: timed-out records are then reported
 * `expired`, and one that timed out on the wire may nevertheless be in the topic.
 *
 * Where it cannot be kept: at `close()`, what librdkafka still holds after the flush
 * deadline is counted `shutdown` by the sink, and the producer is destroyed (this
 * binding has no `purge()`, destroying the client is how queued messages are
 * discarded). Messages never transmitted are gone for good; a produce request already on
 * the wire when the producer is destroyed (for example to a hung broker that resumes
 * later) may still be written by the broker. No client can know that outcome without the
 * broker's answer; it only arises when `close()` gives up on a broker that does not
 * answer within the deadline, and the close report's `inDoubt` counts such records.
 *
 * The transport stands on the Kafka skeleton shared with the platformatic transport
 * (`src/transports/kafka/`: health, outcomes, options); what only librdkafka knows is in
 * `src/transports/confluent/`.
 *
 * @example
 * ```ts ignore
 * import { createSink } from "shedsink";
 * import { confluentTransport } from "shedsink/confluent";
 *
 * const sink = createSink({
 *   transport: confluentTransport({ brokers: "127.0.0.1:39092", topic: "query-insights" }),
 * });
 * sink.emit({ table: "users", latencyMs: 1.2 });
 * await sink.close({ timeoutMs: 5000 });
 * ```
 *
 * @module
 */

import type { Transport } from "../core/contract.ts";
import type { KafkaFailure } from "./kafka/failures.ts";
import { confluentWith } from "./confluent/adapter.ts";
import { type LibrdkafkaValue, importPackage } from "./confluent/binding.ts";
import type { KafkaOptions } from "./kafka/options.ts";

export type { Compression, KafkaOptions } from "./kafka/options.ts";
export type { KafkaFailure, KafkaFailureCode } from "./kafka/failures.ts";
export { KAFKA_FAILURE_CODES } from "./kafka/failures.ts";
export type { KafkaLogger, KafkaSasl, KafkaSecurityOptions, KafkaTls, OAuthBearerToken } from "./kafka/security.ts";
export type { LibrdkafkaValue } from "./confluent/binding.ts";

/**
 * Options of {@linkcode confluentTransport}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confluentTransport, type ConfluentTransportOptions } from "./confluent.ts";
 *
 * const options: ConfluentTransportOptions = {
 *   brokers: ["kafka-1:9092", "kafka-2:9092"],
 *   topic: "query-insights",
 *   compression: "zstd",
 *   config: { "linger.ms": 20, "security.protocol": "ssl" },
 * };
 * assert.equal(confluentTransport(options).topic, "query-insights");
 * ```
 */
export interface ConfluentTransportOptions extends KafkaOptions {
  /**
   * Extra librdkafka properties (see librdkafka's CONFIGURATION.md), passed through as
   * given: an escape hatch for TLS, SASL, timeouts and tuning. The properties this
   * transport sets for its guarantees (brokers, client id, idempotence, acks,
   * compression, queue bounds, delivery reports) cannot be overridden here; setting
   * `message.timeout.ms` re-enables librdkafka's local timeout, and setting
   * `statistics.interval.ms` to 0 turns off the replacement of a producer left without
   * brokers (see the module docs).
   * @default {}
   */
  config?: Readonly<Record<string, LibrdkafkaValue>>;
}

/**
 * The Kafka transport and what it tells about itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confluentTransport } from "./confluent.ts";
 *
 * const transport = confluentTransport({ brokers: "127.0.0.1:39092", topic: "query-insights" });
 * assert.deepEqual([transport.name, transport.topic, transport.state()], ["confluent", "query-insights", "connecting"]);
 * ```
 */
export interface ConfluentTransport extends Transport {
  /** The topic records are written to. */
  readonly topic: string;
  /** Why the transport is `down`, while it is (`null` otherwise): see {@linkcode KafkaFailure}. */
  failure(): KafkaFailure | null;
}

/**
 * Creates a Kafka transport on `@confluentinc/kafka-javascript`. Validates its options
 * at once (throwing `InvalidOptionError`); connects only when the sink starts it, and
 * never throws for a broker that is down: sends then fail retriably until it is
 * reachable.
 *
 * @example
 * ```ts ignore
 * import { createSink } from "shedsink";
 * import { confluentTransport } from "shedsink/confluent";
 *
 * const sink = createSink({
 *   transport: confluentTransport({ brokers: "127.0.0.1:39092", topic: "query-insights", compression: "zstd" }),
 * });
 * sink.emit({ table: "users", latencyMs: 1.2 });
 * await sink.close({ timeoutMs: 5000 });
 * ```
 */
export function confluentTransport(options: ConfluentTransportOptions): ConfluentTransport {
  return confluentWith(importPackage, options);
}
