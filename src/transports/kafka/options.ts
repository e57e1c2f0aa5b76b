/**
 * The options every Kafka transport takes, with one schema and one meaning for all of
 * them, so that `kafkaTransport()` passes the same options whichever client it picks;
 * how a client's own `config` joins them (validated, with the keys the transport owns
 * refused); and the one context a transport runs in when it is sent to before the sink
 * started it.
 *
 * @module
 */

import * as v from "valibot";
import type { TransportContext } from "../../core/contract.ts";
import { systemScheduler } from "../../runtime.ts";
import { parseOptions, rejectOwned } from "../../validate.ts";
import type { KafkaFailure } from "./failures.ts";
import { type KafkaLogger, type KafkaSecurityOptions, type ResolvedSecurity, resolveSecurity, SECURITY_OPTION_ENTRIES } from "./security.ts";

/**
 * Compression codecs of record batches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Compression } from "./options.ts";
 *
 * const codecs: Compression[] = ["none", "gzip", "snappy", "lz4", "zstd"];
 * assert.equal(codecs.length, 5);
 * ```
 */
export type Compression = "none" | "gzip" | "snappy" | "lz4" | "zstd";

/**
 * Options shared by the Kafka transports, with one meaning on every client: where to
 * write, and how to connect (`tls`, `sasl`: see {@linkcode KafkaSecurityOptions}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type KafkaOptions, resolveKafkaOptions } from "./options.ts";
 *
 * const options: KafkaOptions = { brokers: "kafka-1:9092, kafka-2:9092", topic: "query-insights" };
 * assert.deepEqual(resolveKafkaOptions(options), {
 *   brokers: ["kafka-1:9092", "kafka-2:9092"],
 *   topic: "query-insights",
 *   clientId: "shedsink",
 *   compression: "lz4",
 *   security: { tls: null, sasl: null },
 *   onError: null,
 *   logger: null,
 * });
 * ```
 */
export interface KafkaOptions extends KafkaSecurityOptions {
  /** Bootstrap brokers: `"host:port"`, a comma-separated list, or an array. Required. */
  brokers: string | ReadonlyArray<string>;
  /** The topic every record is written to. Required. */
  topic: string;
  /**
   * The client id the broker sees.
   * @default "shedsink"
   */
  clientId?: string;
  /**
   * Compression of record batches.
   * @default "lz4"
   */
  compression?: Compression;
}

/** What the `brokers` option expects, for error messages. */
export const BROKERS_EXPECTED = 'a broker address ("host:port"), a comma-separated list of them, or a non-empty array of them';

/** What an options object as a whole must be, for error messages. */
export const OPTIONS_EXPECTED = "an options object with brokers and topic";

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
/** `host`, `host:port`, `[ipv6]` or `[ipv6]:port` (the port defaults to 9092). */
const BROKER = /^(?:[^\s,:[\]]+|\[[0-9a-fA-F:.]+\])(?::([0-9]{1,5}))?$/;

const validBroker = (b: string): boolean => {
  const match = BROKER.exec(b);
  if (match === null) return false;
  return match[1] === undefined || (Number(match[1]) >= 1 && Number(match[1]) <= 65535);
};

/** The valibot entries of {@linkcode KafkaOptions}, to spread into a transport's `strictObject`. */
export const KAFKA_OPTION_ENTRIES = {
  brokers: v.union(
    [
      v.pipe(v.string(), v.check((s) => s.split(",").every((b) => validBroker(b.trim())), "")),
      v.pipe(v.array(v.pipe(v.string(), v.check(validBroker, ""))), v.minLength(1)),
    ],
    BROKERS_EXPECTED,
  ),
  topic: v.pipe(
    v.string("a topic name"),
    v.regex(TOPIC_NAME, "a topic name: 1 to 249 characters from a-z A-Z 0-9 . _ -"),
    v.check((s) => s !== "." && s !== "..", 'a topic name other than "." and ".."'),
  ),
  clientId: v.optional(v.pipe(v.string("a non-empty string without spaces"), v.regex(/^\S+$/, "a non-empty string without spaces"))),
  compression: v.optional(v.picklist(["none", "gzip", "snappy", "lz4", "zstd"], '"none", "gzip", "snappy", "lz4" or "zstd"')),
  ...SECURITY_OPTION_ENTRIES,
};

/** {@linkcode KafkaOptions} with defaults filled in and brokers as a list. */
export interface ResolvedKafkaOptions {
  readonly brokers: ReadonlyArray<string>;
  readonly topic: string;
  readonly clientId: string;
  readonly compression: Compression;
  /** `tls` and `sasl`, files read. */
  readonly security: ResolvedSecurity;
  readonly onError: ((failure: KafkaFailure) => void) | null;
  readonly logger: KafkaLogger | null;
}

/** Resolved options of a transport on one client: the common ones and the client's own `config`. */
export interface ClientOptions<C> extends ResolvedKafkaOptions {
  readonly config: Readonly<Record<string, C>>;
}

/** What a client adds to the common options: the schema of its `config`, and the keys of it the transport owns. */
export interface ClientConfig<C> {
  /** Validates the client's `config` object. */
  readonly schema: v.GenericSchema<unknown, Readonly<Record<string, C>>>;
  /** Keys `config` may not set, each with why (the transport sets them for its guarantees). */
  readonly owned: ReadonlyMap<string, string>;
  /**
   * Checks `config` against the common options (unknown keys, settings that contradict
   * `tls`/`sasl`, what the client lacks); throws `InvalidOptionError` naming `<name>.<key>`
   * (or the common option).
   */
  readonly check?: (config: Readonly<Record<string, unknown>>, common: ResolvedKafkaOptions, name: string) => void;
}

/** Fills in defaults of options already validated against {@linkcode KAFKA_OPTION_ENTRIES}. */
export function resolveKafkaOptions(options: KafkaOptions): ResolvedKafkaOptions {
  const list = typeof options.brokers === "string" ? options.brokers.split(",") : options.brokers;
  return {
    brokers: list.map((b) => b.trim()),
    topic: options.topic,
    clientId: options.clientId ?? "shedsink",
    compression: options.compression ?? "lz4",
    security: resolveSecurity(options),
    onError: options.onError ?? null,
    logger: options.logger ?? null,
  };
}

/**
 * Joins the client's `config` (already validated against its schema) to the common
 * options: refuses a key the transport owns, naming it `<name>.<key>`, and copies the rest.
 */
export function withConfig<C>(common: KafkaOptions, config: Readonly<Record<string, C>> | undefined, client: ClientConfig<C>, name: string): ClientOptions<C> {
  const given = config ?? {};
  rejectOwned(given, client.owned, name);
  const resolved = resolveKafkaOptions(common);
  client.check?.(given, resolved, name);
  return { ...resolved, config: { ...given } };
}

const schemas = new WeakMap<ClientConfig<unknown>, v.GenericSchema>();

/**
 * Validates the options of a transport on one client (the common ones and `config`) and
 * fills in defaults. Throws `InvalidOptionError` naming the first bad option.
 */
export function resolveClientOptions<C>(client: ClientConfig<C>, options: KafkaOptions & { config?: Readonly<Record<string, C>> }): ClientOptions<C> {
  let schema = schemas.get(client);
  if (schema === undefined) {
    schema = v.strictObject({ ...KAFKA_OPTION_ENTRIES, config: v.optional(client.schema) }, OPTIONS_EXPECTED);
    schemas.set(client, schema);
  }
  parseOptions(schema, options, { whole: { brokers: BROKERS_EXPECTED }, deep: ["tls"] });
  return withConfig(options, options.config, client, "config");
}

/** The context of a transport sent to before the sink started it. */
export const DEFAULT_CONTEXT: TransportContext = { scheduler: systemScheduler, capacityBytes: 5 * 1024 * 1024, maxAgeMs: 120_000 };

/**
 * Where a sink runs a Kafka transport when its `flusher` option is not given, by runtime
 * (see `Transport.preferredFlusher`): chosen from the application-thread, throughput,
 * outage and memory benchmarks of each runtime (README, Performance).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PREFERRED_FLUSHER } from "./options.ts";
 *
 * assert.equal(PREFERRED_FLUSHER.node, "worker");
 * ```
 */
export const PREFERRED_FLUSHER: Readonly<Record<"node" | "deno" | "bun" | "other", "thread" | "worker">> = {
  node: "worker",
  deno: "worker",
  bun: "worker",
  other: "thread",
};
