/**
 * One entry point for Kafka on every runtime: {@linkcode kafkaTransport} picks the
 * transport that works where it runs, with the same options everywhere.
 *
 * - Node: `confluent` (librdkafka, through `@confluentinc/kafka-javascript`) when that
 *   package can be imported, else `platformatic`.
 * - Deno and Bun: `platformatic` (`@platformatic/kafka`, pure JavaScript); librdkafka's
 *   addon loads on Node only.
 *
 * `use` overrides the choice. Client-specific settings go under `confluent` (librdkafka
 * properties) and `platformatic` (`@platformatic/kafka` producer options); each applies
 * only when its transport is the one in use.
 *
 * @example
 * ```ts ignore
 * import { createSink } from "shedsink";
 * import { kafkaTransport } from "shedsink/kafka";
 *
 * const sink = createSink({
 *   transport: kafkaTransport({ brokers: "127.0.0.1:39092", topic: "query-insights" }),
 * });
 * sink.emit({ table: "users", latencyMs: 1.2 });
 * await sink.close({ timeoutMs: 5000 });
 * ```
 *
 * @module
 */

import * as v from "valibot";
import type { Batch, SendReport, Transport, TransportContext, TransportSpec, TransportState } from "../core/contract.ts";
import { InvalidOptionError, TransportError } from "../core/errors.ts";
import { runtimeName } from "../runtime.ts";
import { isSecretOption, parseOptions, REDACTED, rejectOwned } from "../validate.ts";
import { Confluent } from "./confluent/adapter.ts";
import { importPackage as importConfluent, LIBRDKAFKA_CONFIG, type LibrdkafkaValue, PACKAGE as CONFLUENT_PACKAGE } from "./confluent/binding.ts";
import { checkPropertyNames, isSecurityProperty } from "./confluent/security.ts";
import { BROKERS_EXPECTED, KAFKA_OPTION_ENTRIES, type KafkaOptions, OPTIONS_EXPECTED, PREFERRED_FLUSHER, withConfig } from "./kafka/options.ts";
import { Platformatic } from "./platformatic/adapter.ts";
import { importPackage as importPlatformatic, installed as platformaticInstalled, PRODUCER_CONFIG } from "./platformatic/binding.ts";
import { SECURITY_KEYS } from "./platformatic/security.ts";
import { transportModule } from "../worker/locate.ts";

export type { Compression, KafkaOptions } from "./kafka/options.ts";
export type { KafkaFailure, KafkaFailureCode } from "./kafka/failures.ts";
export { KAFKA_FAILURE_CODES } from "./kafka/failures.ts";
export type { KafkaLogger, KafkaSasl, KafkaSecurityOptions, KafkaTls, OAuthBearerToken } from "./kafka/security.ts";

/**
 * The Kafka transports {@linkcode kafkaTransport} can pick.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type KafkaClient, kafkaTransport } from "./kafka.ts";
 *
 * const use: KafkaClient = "platformatic";
 * assert.equal(kafkaTransport({ brokers: "127.0.0.1:39092", topic: "query-insights", use }).name, "platformatic");
 * ```
 */
export type KafkaClient = "confluent" | "platformatic";

/**
 * Options of {@linkcode kafkaTransport}: the same on every runtime.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kafkaTransport, type KafkaTransportOptions } from "./kafka.ts";
 *
 * const options: KafkaTransportOptions = {
 *   brokers: "127.0.0.1:39092",
 *   topic: "query-insights",
 *   compression: "zstd",
 *   confluent: { "socket.timeout.ms": 10_000 },
 *   platformatic: { requestTimeout: 10_000 },
 * };
 * assert.equal(kafkaTransport(options).state(), "connecting");
 * ```
 */
export interface KafkaTransportOptions extends KafkaOptions {
  /**
   * The transport to use instead of the runtime's default (see the module docs). Its
   * package must be installed, and `confluent` runs on Node only.
   * @default the runtime's: confluent on Node when its package imports, else platformatic
   */
  use?: KafkaClient;
  /**
   * librdkafka properties, applied when `confluent` is used (its `config` option).
   * @default {}
   */
  confluent?: Readonly<Record<string, LibrdkafkaValue>>;
  /**
   * `@platformatic/kafka` producer options, applied when `platformatic` is used (its `config` option).
   * @default {}
   */
  platformatic?: Readonly<Record<string, unknown>>;
}

const OptionsSchema = v.strictObject(
  {
    ...KAFKA_OPTION_ENTRIES,
    use: v.optional(v.picklist(["confluent", "platformatic"], '"confluent" or "platformatic"')),
    confluent: v.optional(LIBRDKAFKA_CONFIG.schema),
    platformatic: v.optional(PRODUCER_CONFIG.schema),
  },
  OPTIONS_EXPECTED,
);

/**
 * Creates the Kafka transport for the running runtime (see the module docs). Validates
 * the options at once, for every transport they could go to, throwing
 * `InvalidOptionError`; connects only when the sink starts it.
 *
 * On Node without `use`, whether `@confluentinc/kafka-javascript` can be imported is
 * found out when the sink starts the transport; until then its `name` is `"kafka"`. With
 * `flusher: "worker"` the worker uses `platformatic`, and the sink's
 * `stats().transport.name` says so once the worker has started.
 *
 * @example
 * ```ts ignore
 * import { createSink } from "shedsink";
 * import { kafkaTransport } from "shedsink/kafka";
 *
 * const sink = createSink({
 *   transport: kafkaTransport({ brokers: "127.0.0.1:39092", topic: "query-insights", platformatic: { requestTimeout: 10_000 } }),
 * });
 * sink.emit({ table: "users", latencyMs: 1.2 });
 * await sink.close({ timeoutMs: 5000 });
 * ```
 */
export function kafkaTransport(options: KafkaTransportOptions): Transport {
  parseOptions(OptionsSchema, options, { whole: { brokers: BROKERS_EXPECTED }, deep: ["tls"] });
  const use = options.use ?? (runtimeName() === "node" ? null : "platformatic");
  // Both sections are validated whatever is picked: the same options work everywhere.
  checkPropertyNames(options.confluent ?? {}, "confluent");
  rejectOwned(options.confluent ?? {}, LIBRDKAFKA_CONFIG.owned, "confluent");
  // Security set in one client's section only would leave the other client without it.
  if (use !== "confluent") clientOnlySecurity(options.confluent, "confluent", isSecurityProperty);
  if (use !== "platformatic") clientOnlySecurity(options.platformatic, "platformatic", (key) => SECURITY_KEYS.has(key));
  const confluent = use === "platformatic" ? null : new Confluent(withConfig(options, options.confluent, LIBRDKAFKA_CONFIG, "confluent"), importConfluent);
  const platformatic = new Platformatic(withConfig(options, options.platformatic, PRODUCER_CONFIG, "platformatic"), importPlatformatic);
  // In a worker (flusher: "worker") the transport is platformatic, made there from these options.
  const toWorker = (): TransportSpec => {
    if (use === "confluent") {
      throw new InvalidOptionError("INVALID_OPTION", "transport.use", "confluent", '"platformatic" or none with flusher: "worker" (librdkafka\'s addon aborts the process in a worker thread: confluent-kafka-javascript#258)');
    }
    return { module: transportModule(import.meta.url, "kafka"), factory: "kafkaTransport", options: { ...options, use: "platformatic" } };
  };
  const chosen = confluent === null ? platformatic : use === "confluent" ? confluent : new Auto(confluent, platformatic);
  Object.defineProperty(chosen, "preferredFlusher", { value: use !== "confluent" && platformaticInstalled() ? PREFERRED_FLUSHER[runtimeName()] : "thread" });
  return Object.defineProperty(chosen, "toWorker", { value: toWorker });
}

/** Refuses a security setting in one client's section (`name`): it belongs in `tls`/`sasl`, which every client gets. */
function clientOnlySecurity(section: Readonly<Record<string, unknown>> | undefined, name: string, isSecurity: (key: string) => boolean): void {
  for (const key of Object.keys(section ?? {})) {
    if (!isSecurity(key) || (key === "security.protocol" && String(section![key]).toLowerCase() === "plaintext")) continue;
    const path = `${name}.${key}`;
    throw new InvalidOptionError("INVALID_OPTION", path, isSecretOption(path) || typeof section![key] === "object" ? REDACTED : section![key], `no value here: use the tls/sasl options, which every client gets (with ${name} alone, the other client would connect without it)`);
  }
}

/**
 * Node without `use`: confluent if its package imports, platformatic otherwise, decided
 * when the sink starts the transport (or at the first send).
 */
class Auto implements Transport {
  readonly #confluent: Transport;
  readonly #platformatic: Transport;
  #chosen: Transport | null = null;
  #choosing: Promise<Transport> | null = null;
  #closed = false;

  constructor(confluent: Transport, platformatic: Transport) {
    this.#confluent = confluent;
    this.#platformatic = platformatic;
  }

  get name(): string {
    return this.#chosen?.name ?? "kafka";
  }

  start(context: TransportContext): void {
    void this.#choose().then((t) => {
      if (!this.#closed) t.start?.(context);
    });
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    if (this.#closed) throw new TransportError("TRANSPORT_CLOSED", "kafka transport is closed", { retriable: false });
    const transport = await this.#choose();
    return transport.send(batch, signal);
  }

  state(): TransportState {
    if (this.#chosen !== null) return this.#chosen.state();
    return this.#closed ? "closed" : "connecting";
  }

  failure(): { readonly code: string; readonly message: string } | null {
    return this.#chosen?.failure?.() ?? null;
  }

  log(level: "info" | "warn" | "error", message: string): boolean {
    return this.#platformatic.log?.(level, message) ?? false;
  }

  /** Worker mode: the worker runs platformatic, so this object is its twin from now on. */
  remote(post: (message: unknown) => void, side: "host" | "worker"): (message: unknown) => void {
    this.#chosen = this.#platformatic;
    this.#choosing = Promise.resolve(this.#platformatic);
    return this.#platformatic.remote!(post, side);
  }

  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    const chosen = this.#chosen;
    if (chosen !== null) await chosen.close(timeoutMs);
  }

  #choose(): Promise<Transport> {
    if (this.#choosing === null) {
      this.#choosing = import(CONFLUENT_PACKAGE).then(
        () => this.#confluent,
        () => this.#platformatic,
      ).then((t) => {
        this.#chosen = t;
        // Closed while choosing: the chosen one is closed too (it has not started).
        if (this.#closed) void t.close(0);
        return t;
      });
    }
    return this.#choosing;
  }
}
