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
import { InvalidOptionError } from "../errors.ts";
import { type Batch, type SendReport, type Transport, type TransportContext, TransportError, type TransportState } from "../transport.ts";
import { type Compression, confluentTransport, type LibrdkafkaValue } from "./confluent.ts";
import { platformaticTransport } from "./platformatic.ts";

export type { Compression } from "./confluent.ts";

/** The Kafka transports {@linkcode kafkaTransport} can pick. */
export type KafkaClient = "confluent" | "platformatic";

/** Options of {@linkcode kafkaTransport}: the same on every runtime. */
export interface KafkaTransportOptions {
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
  /**
   * The transport to use instead of the runtime's default (see the module docs). Its
   * package must be installed, and `confluent` runs on Node only.
   */
  use?: KafkaClient;
  /** librdkafka properties, applied when `confluent` is used (its `config` option). */
  confluent?: Readonly<Record<string, LibrdkafkaValue>>;
  /** `@platformatic/kafka` producer options, applied when `platformatic` is used (its `config` option). */
  platformatic?: Readonly<Record<string, unknown>>;
}

const OptionsSchema = v.looseObject(
  {
    use: v.optional(v.picklist(["confluent", "platformatic"], '"confluent" or "platformatic"')),
  },
  "an options object with brokers and topic",
);

/** Imported only to find out whether it can be (a variable: bundlers leave it alone). */
const CONFLUENT_PACKAGE = "@confluentinc/kafka-javascript";

const KNOWN = new Set(["brokers", "topic", "clientId", "compression", "use", "confluent", "platformatic"]);

interface RuntimeGlobals {
  Deno?: unknown;
  Bun?: unknown;
  process?: { versions?: { node?: unknown } };
}

/** The runtime this code runs on, as far as the choice of transport goes. */
export function runtimeName(): "node" | "deno" | "bun" | "other" {
  const g = globalThis as RuntimeGlobals;
  if (g.Deno !== undefined) return "deno";
  if (g.Bun !== undefined) return "bun";
  if (typeof g.process?.versions?.node === "string") return "node";
  return "other";
}

/**
 * Creates the Kafka transport for the running runtime (see the module docs). Validates
 * the options at once, for every transport they could go to, throwing
 * {@linkcode InvalidOptionError}; connects only when the sink starts it.
 *
 * On Node without `use`, whether `@confluentinc/kafka-javascript` can be imported is
 * found out when the sink starts the transport; until then its `name` is `"kafka"`.
 */
export function kafkaTransport(options: KafkaTransportOptions): Transport {
  const result = v.safeParse(OptionsSchema, options);
  if (!result.success) {
    const issue = result.issues[0];
    const path = v.getDotPath(issue) ?? "options";
    throw new InvalidOptionError("INVALID_OPTION", path, issue.path === undefined ? options : issue.input, issue.message);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw new InvalidOptionError("INVALID_OPTION", key, (options as unknown as Record<string, unknown>)[key], "no such option (check its spelling)");
    }
  }
  const common = { brokers: options.brokers, topic: options.topic, clientId: options.clientId, compression: options.compression };
  const make = {
    confluent: () => renamed("confluent", () => confluentTransport({ ...defined(common), ...(options.confluent === undefined ? {} : { config: options.confluent }) })),
    platformatic: () =>
      renamed("platformatic", () => platformaticTransport({ ...defined(common), ...(options.platformatic === undefined ? {} : { config: options.platformatic }) })),
  };
  // Both are built (and so validated) whatever is picked: the same options work everywhere.
  const confluent = make.confluent();
  const platformatic = make.platformatic();
  if (options.use === "confluent") return confluent;
  if (options.use === "platformatic") return platformatic;
  if (runtimeName() !== "node") return platformatic;
  return new Auto(confluent, platformatic);
}

/** `brokers`, `topic`, and the optional options that were given. */
function defined<T extends Record<string, unknown>>(o: T): { brokers: KafkaTransportOptions["brokers"]; topic: string } & Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(o)) if (value !== undefined) out[k] = value;
  return out as { brokers: KafkaTransportOptions["brokers"]; topic: string } & Partial<T>;
}

/** Runs `build`, renaming a `config.x` option in its error to `<client>.x`. */
function renamed<T>(client: KafkaClient, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof InvalidOptionError && (error.option === "config" || error.option.startsWith("config."))) {
      throw new InvalidOptionError("INVALID_OPTION", client + error.option.slice("config".length), error.value, error.expected, { cause: error });
    }
    throw error;
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
