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

import * as v from "valibot";
import { parseOptions, rejectOwned } from "../validate.ts";
import { partitionForKey } from "./partition.ts";
import { BROKERS_EXPECTED, KAFKA_OPTION_ENTRIES, type KafkaOptions, resolveKafkaOptions, type ResolvedKafkaOptions } from "./options.ts";
import { type TimerHandle, unrefTimeout } from "../runtime.ts";
import { StallWatch } from "./stall.ts";
import {
  type Batch,
  type OutRecord,
  type SendReport,
  type Transport,
  type TransportContext,
  TransportError,
  buildReport,
  type TransportState,
} from "../transport.ts";

export type { Compression } from "./options.ts";

/** Options of {@linkcode platformaticTransport}. */
export interface PlatformaticTransportOptions extends KafkaOptions {
  /**
   * Extra `@platformatic/kafka` producer options, passed through as given: an escape
   * hatch for TLS (`tls`), SASL (`sasl`), timeouts (`connectTimeout`, `requestTimeout`,
   * `timeout`), `autocreateTopics`, `metadataMaxAge`, `retryDelay`. The options this
   * transport sets for its guarantees (brokers, client id, idempotence, acks, retries,
   * compression, serializers, transactions) cannot be set here. `zstd` compression needs
   * a runtime whose `node:zlib` has it.
   */
  config?: Readonly<Record<string, unknown>>;
}

/** The transport and what it tells about itself. */
export interface PlatformaticTransport extends Transport {
  /** The topic records are written to. */
  readonly topic: string;
}

/**
 * Creates a Kafka transport on `@platformatic/kafka`. Validates its options at once
 * (throwing {@linkcode InvalidOptionError}); connects only when the sink starts it, and
 * never throws for a broker that is down: sends then fail retriably until it is
 * reachable.
 */
export function platformaticTransport(options: PlatformaticTransportOptions): PlatformaticTransport {
  return new Platformatic(resolveOptions(options));
}

// ------------------------------------------------------------------ options

/** Producer options the transport owns. */
const OWNED = new Map<string, string>([
  ["bootstrapBrokers", "use the brokers option"],
  ["clientId", "use the clientId option"],
  ["compression", "use the compression option"],
  ["idempotent", "always true"],
  ["acks", "always all"],
  ["retries", "retriable errors are always retried, idempotently"],
  ["maxInflights", "one request in flight per connection (idempotence)"],
  ["serializers", "records are bytes already"],
  ["beforeSerialization", "records are bytes already"],
  ["registry", "records are bytes already"],
  ["transactionalId", "transactions are not supported"],
  ["partitioner", "the transport picks partitions"],
  ["producerId", "the idempotent producer gets its own"],
  ["producerEpoch", "the idempotent producer gets its own"],
  ["strict", "not supported"],
]);

const OptionsSchema = v.strictObject(
  {
    ...KAFKA_OPTION_ENTRIES,
    config: v.optional(
      v.custom<Record<string, unknown>>(
        (x) => typeof x === "object" && x !== null && !Array.isArray(x),
        "an object of @platformatic/kafka producer options",
      ),
    ),
  },
  "an options object with brokers and topic",
);

/** Options with defaults filled in. */
export interface ResolvedPlatformaticOptions extends ResolvedKafkaOptions {
  readonly config: Readonly<Record<string, unknown>>;
}

/**
 * Validates {@linkcode PlatformaticTransportOptions} and fills in defaults. Throws
 * {@linkcode InvalidOptionError} naming the first bad option. Exported for tests.
 */
export function resolveOptions(options: PlatformaticTransportOptions): ResolvedPlatformaticOptions {
  parseOptions(OptionsSchema, options, { whole: { brokers: BROKERS_EXPECTED } });
  const config = options.config ?? {};
  rejectOwned(config, OWNED);
  return { ...resolveKafkaOptions(options), config: { ...config } };
}

// ------------------------------------------------------------------ partitions


/**
 * Groups a batch's record indexes by partition: keyed records by their key's hash, the
 * unkeyed ones all in `sticky`. Groups come in order of first appearance; each keeps the
 * batch's order. Exported for tests.
 */
export function groupByPartition(records: ReadonlyArray<OutRecord>, partitions: number, sticky: number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < records.length; i++) {
    const key = records[i]!.key;
    const p = key === null ? sticky % partitions : partitionForKey(key, partitions);
    const group = groups.get(p);
    if (group === undefined) groups.set(p, [i]);
    else group.push(i);
  }
  return groups;
}

// ------------------------------------------------------------------ outcomes

/** What a failed `send()` of the client means for the records in it. */
export type Verdict =
  /** The broker refused the records themselves: split the group, or reject a single record. */
  | "records"
  /** Refused for good whatever the records (topic, authorization, codec, …). */
  | "rejected"
  /** Nothing final: send again later. */
  | "retry";

/** Kafka error ids (the client's `apiId`) that refuse a record batch for its content. */
const RECORD_ERRORS = new Set([
  "MESSAGE_TOO_LARGE",
  "RECORD_LIST_TOO_LARGE",
  "INVALID_RECORD",
  "INVALID_TIMESTAMP",
]);

/** Kafka error ids that no retry fixes, whatever the records. */
const FINAL_ERRORS = new Set([
  "TOPIC_AUTHORIZATION_FAILED",
  "CLUSTER_AUTHORIZATION_FAILED",
  "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "SASL_AUTHENTICATION_FAILED",
  "INVALID_TOPIC_EXCEPTION",
  "INVALID_REQUIRED_ACKS",
  "UNSUPPORTED_FOR_MESSAGE_FORMAT",
  "UNSUPPORTED_COMPRESSION_TYPE",
  "UNSUPPORTED_VERSION",
  "POLICY_VIOLATION",
]);

/** The client's error codes that no retry fixes. */
const FINAL_CODES = new Set([
  "PLT_KFK_AUTHENTICATION",
  "PLT_KFK_USER",
  "PLT_KFK_UNSUPPORTED",
  "PLT_KFK_UNSUPPORTED_API",
  "PLT_KFK_UNSUPPORTED_COMPRESSION",
  "PLT_KFK_UNSUPPORTED_FORMAT",
]);

interface PltError {
  readonly code?: unknown;
  readonly apiId?: unknown;
  readonly closed?: unknown;
  readonly errors?: unknown;
  readonly cause?: unknown;
  readonly message?: unknown;
}

/** Every error in `error`'s tree (aggregated errors and causes), `error` first. */
function leaves(error: unknown, out: PltError[] = [], depth = 0): PltError[] {
  if (typeof error !== "object" || error === null || depth > 8) return out;
  const e = error as PltError;
  out.push(e);
  if (Array.isArray(e.errors)) for (const inner of e.errors) leaves(inner, out, depth + 1);
  if (e.cause !== undefined) leaves(e.cause, out, depth + 1);
  return out;
}

/**
 * Maps an error from the client's `send()` to a {@linkcode Verdict}. The client retries
 * whatever is retriable before it gives up, so a final error is normally one of the
 * first two kinds; anything not known to be final is `retry`. Exported for tests.
 */
export function classifyError(error: unknown): Verdict {
  const all = leaves(error);
  if (all.some((e) => typeof e.apiId === "string" && RECORD_ERRORS.has(e.apiId))) return "records";
  for (const e of all) {
    if (typeof e.apiId === "string" && FINAL_ERRORS.has(e.apiId)) return "rejected";
    // A closed client or connection pool is this transport's own doing (abort, close).
    if (e.closed === true) return "retry";
    if (typeof e.code === "string" && FINAL_CODES.has(e.code)) {
      // "Client closed while retrying" is a UserError too: ours, not final.
      if (typeof e.message === "string" && /closed/i.test(e.message)) return "retry";
      return "rejected";
    }
  }
  return "retry";
}

/** Kafka errors a reader should recognise at once, in words. */
const IN_WORDS: Readonly<Record<string, string>> = {
  MESSAGE_TOO_LARGE: "record batch too large for the topic (max.message.bytes)",
  RECORD_LIST_TOO_LARGE: "record batch too large for the broker",
  UNKNOWN_TOPIC_OR_PARTITION: "unknown topic or partition",
  TOPIC_AUTHORIZATION_FAILED: "not authorized to write to the topic",
};

/**
 * A one-line description of a client error: the Kafka error it holds, if any, else its
 * message and the innermost causes. Exported for tests.
 */
export function describeError(error: unknown): string {
  const all = leaves(error);
  let kafka: PltError & { serverErrorMessage?: unknown } | undefined;
  for (const e of all) if (typeof e.apiId === "string") kafka = e;
  if (kafka !== undefined) {
    const id = kafka.apiId as string;
    const server = typeof kafka.serverErrorMessage === "string" && kafka.serverErrorMessage.length > 0 ? kafka.serverErrorMessage : undefined;
    const text = IN_WORDS[id] ?? server ?? (typeof kafka.message === "string" ? kafka.message : id);
    return `${text} (${id})`;
  }
  const first = all[0];
  const top = typeof first?.message === "string" && first.message.length > 0 ? first.message : String(error);
  const inner: string[] = [];
  for (const e of all.slice(1)) {
    if (Array.isArray(e.errors) || typeof e.message !== "string" || e.message.length === 0) continue;
    if (e.message !== top && !inner.includes(e.message)) inner.push(e.message);
  }
  return inner.length === 0 ? top : `${top}: ${inner.slice(-2).join("; ")}`;
}

// ------------------------------------------------------------------ the client, as used here

// Only the parts of @platformatic/kafka this file uses, typed structurally so that the
// public types never depend on the optional package.
/** A Node `Buffer` (the client wants those, not plain `Uint8Array`s). */
type Bytes = Uint8Array & { readonly __buffer?: never };

/** The global `Buffer` of Node, Deno and Bun, as used here. */
interface BufferStatic {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): Bytes;
  from(text: string, encoding: "utf8"): Bytes;
}

interface PltMessage {
  topic: string;
  partition: number;
  key?: Bytes;
  value: Bytes;
  headers?: Map<Bytes, Bytes>;
  timestamp: bigint;
}

interface PltTopicMetadata {
  readonly partitionsCount: number;
}

interface PltMetadata {
  readonly topics: ReadonlyMap<string, PltTopicMetadata | undefined>;
}

interface PltConnection {
  readonly socket?: { destroy(): void } | null;
}

interface PltProducer {
  send(options: { messages: PltMessage[] }): Promise<unknown>;
  metadata(options: { topics: string[]; autocreateTopics?: boolean; forceUpdate?: boolean; retries?: number }): Promise<PltMetadata>;
  initIdempotentProducer(options: Record<string, never>): Promise<unknown>;
  close(force?: boolean): Promise<void>;
  readonly producerId: bigint | undefined;
  readonly connections?: Iterable<[string, PltConnection]>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

interface PltModule {
  readonly Producer: new (options: Record<string, unknown>) => PltProducer;
}

const PACKAGE = "@platformatic/kafka";

/** How long a send waits for metadata and a producer id before failing retriably. */
const READY_WAIT_MS = 2000;
/** How often the broker is probed while the transport thinks it is down. */
const PROBE_EVERY_MS = 1000;
/** After close() asks the client to close: how long before its sockets are destroyed. */
const CLOSE_GRACE_MS = 1000;
/** Delay before the client's n-th retry of an operation. */
const retryDelay = (_client: unknown, _operation: unknown, attempt: number): number => Math.min(1000, 50 * 2 ** Math.min(attempt, 10));

// Per-record state inside a send.
const PENDING = 0;
const DELIVERED = 1;
const REJECTED = 2;
const RETRY = 3;
const ABORTED = 4;

const DEFAULT_CONTEXT: TransportContext = { capacityBytes: 5 * 1024 * 1024, maxAgeMs: 120_000 };

/** One call of `send`. */
class Job {
  readonly records: ReadonlyArray<OutRecord>;
  readonly outcome: Uint8Array;
  rejectError: unknown = undefined;
  retryError: unknown = undefined;
  constructor(records: ReadonlyArray<OutRecord>) {
    this.records = records;
    this.outcome = new Uint8Array(records.length);
  }
}

/** One client instance and the sends under way on it. */
class Client {
  readonly producer: PltProducer;
  /** Closed (by abort or close): nothing it still holds may count as delivered. */
  dead = false;
  /** Calls of `send()` under way. */
  active = 0;
  /** Wakes the sends waiting on this client when it dies. */
  readonly onDeath: Set<() => void> = new Set();
  constructor(producer: PltProducer) {
    this.producer = producer;
  }
}

type Outcome = { ok: true } | { ok: false; error: unknown } | { ok: false; dead: true };

class Platformatic implements PlatformaticTransport {
  readonly name = "platformatic";
  readonly #o: ResolvedPlatformaticOptions;
  #context: TransportContext | null = null;
  #module: Promise<PltModule> | null = null;
  #client: Client | null = null;
  /** An error no retry can fix (package missing, options refused): every send fails with it. */
  #setupError: TransportError | null = null;
  #lastError: string | null = null;
  #everUp = false;
  #up = false;
  /** Produce calls in progress, and answers to them (success or failure), for the stall watch. */
  #sending = 0;
  #answers = 0;
  /** A broker that stops answering while records wait: `down`, though no error came. */
  readonly #stall = new StallWatch(() => this.#sending, () => this.#answers, (ms) => {
    if (this.#up) this.#markDown(`no answer from the broker for ${Math.round(ms / 1000)} s with records on their way`);
  });
  #closed = false;
  #probeTimer: TimerHandle | null = null;
  #probing = false;
  /** Partition for the next batch's unkeyed records. */
  #sticky = Math.floor(Math.random() * 1024);
  #closing: Promise<void> | null = null;

  constructor(options: ResolvedPlatformaticOptions) {
    this.#o = options;
  }

  get topic(): string {
    return this.#o.topic;
  }

  start(context: TransportContext): void {
    if (this.#context !== null || this.#closed) return;
    this.#context = context;
    this.#stall.start();
    // Connect early: load the package, fetch metadata and a producer id.
    void this.#ready(new AbortController().signal).catch(() => {});
  }

  state(): TransportState {
    if (this.#closed) return "closed";
    if (!this.#everUp) return "connecting";
    return this.#up ? "up" : "down";
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    const job = new Job(batch.records);
    if (this.#closed) throw new TransportError("TRANSPORT_CLOSED", "platformatic transport is closed", { retriable: false });
    if (this.#context === null) this.start(DEFAULT_CONTEXT);
    if (signal.aborted || job.records.length === 0) return report(job, signal);
    const ready = await this.#ready(signal);
    if (signal.aborted) return report(job, signal);
    const { client, partitions } = ready;
    const sticky = this.#sticky++ % partitions;
    const groups = groupByPartition(job.records, partitions, sticky);
    const onAbort = () => this.#kill(client);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.all([...groups].map(([partition, indexes]) => this.#sendGroup(client, job, partition, indexes, signal)));
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    return report(job, signal);
  }

  close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    this.#stall.stop();
    this.#stopProbe();
    if (this.#closing === null) {
      const client = this.#client;
      this.#client = null;
      this.#closing = client === null ? Promise.resolve() : this.#shutClient(client, timeoutMs);
    }
    const ms = Math.max(0, timeoutMs);
    return new Promise<void>((resolve) => {
      const timer = unrefTimeout(resolve, ms);
      this.#closing!.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // ---------------------------------------------------------------- sending

  /** Sends one partition's records; halves the group when the broker refuses its content. */
  async #sendGroup(client: Client, job: Job, partition: number, indexes: ReadonlyArray<number>, signal: AbortSignal): Promise<void> {
    const result = await this.#produce(client, job, partition, indexes);
    if (result.ok) {
      for (const i of indexes) job.outcome[i] = DELIVERED;
      this.#markUp();
      return;
    }
    if ("dead" in result || signal.aborted || client.dead) {
      for (const i of indexes) job.outcome[i] = signal.aborted || this.#closed ? ABORTED : RETRY;
      job.retryError ??= this.#error("the client was closed with these records in flight", true);
      return;
    }
    const error = result.error;
    switch (classifyError(error)) {
      case "records":
        if (indexes.length === 1) {
          job.outcome[indexes[0]!] = REJECTED;
          job.rejectError ??= this.#error(describeError(error), false, error);
          return;
        }
        {
          // The broker refused the whole group: find the records it refuses on their own.
          const half = Math.ceil(indexes.length / 2);
          await this.#sendGroup(client, job, partition, indexes.slice(0, half), signal);
          await this.#sendGroup(client, job, partition, indexes.slice(half), signal);
        }
        return;
      case "rejected":
        for (const i of indexes) job.outcome[i] = REJECTED;
        job.rejectError ??= this.#error(describeError(error), false, error);
        return;
      default:
        for (const i of indexes) job.outcome[i] = RETRY;
        job.retryError = this.#error(describeError(error), true, error);
        this.#markDown(describeError(error));
    }
  }

  /** One call of the client's `send()`, cut short if the client dies meanwhile. */
  #produce(client: Client, job: Job, partition: number, indexes: ReadonlyArray<number>): Promise<Outcome> {
    if (client.dead) return Promise.resolve({ ok: false, dead: true });
    const topic = this.#o.topic;
    const messages: PltMessage[] = new Array(indexes.length);
    for (let k = 0; k < indexes.length; k++) {
      const record = job.records[indexes[k]!]!;
      const message: PltMessage = { topic, partition, value: bytes(record.value), timestamp: BigInt(Math.trunc(record.timestamp)) };
      if (record.key !== null) message.key = bytes(record.key);
      if (record.headers !== null && record.headers.length > 0) {
        const headers = new Map<Bytes, Bytes>();
        // Buffer keys: two headers of the same name stay two entries.
        for (const [name, value] of record.headers) headers.set(nodeBuffer().from(name, "utf8"), bytes(value));
        message.headers = headers;
      }
      messages[k] = message;
    }
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const onDeath = () => finish({ ok: false, dead: true });
      const finish = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        client.active--;
        this.#sending--;
        this.#answers++;
        client.onDeath.delete(onDeath);
        resolve(outcome);
      };
      client.active++;
      this.#sending++;
      client.onDeath.add(onDeath);
      let sent: Promise<unknown>;
      try {
        sent = client.producer.send({ messages });
      } catch (error) {
        finish({ ok: false, error });
        return;
      }
      sent.then(
        () => finish(client.dead ? { ok: false, dead: true } : { ok: true }),
        (error: unknown) => finish(client.dead ? { ok: false, dead: true } : { ok: false, error }),
      );
    });
  }

  // ---------------------------------------------------------------- connecting

  #load(): Promise<PltModule> {
    if (this.#module === null) {
      this.#module = import(PACKAGE).then((m: { default?: unknown }) => {
        const mod = (typeof (m as unknown as PltModule).Producer === "function" ? m : m.default) as PltModule;
        if (mod === undefined || mod === null || typeof mod.Producer !== "function") {
          throw new Error(`${PACKAGE} did not load as expected (no Producer)`);
        }
        return mod;
      });
    }
    return this.#module;
  }

  /** The current client, created on first use. Throws a setup error (final). */
  async #currentClient(): Promise<Client> {
    if (this.#setupError !== null) throw this.#setupError;
    let mod: PltModule;
    try {
      mod = await this.#load();
    } catch (error) {
      this.#setupError = new TransportError(
        "TRANSPORT_UNAVAILABLE",
        `platformatic transport: cannot load ${PACKAGE} (install it next to shedsink): ${String((error as Error)?.message ?? error)}`,
        { retriable: false, cause: error },
      );
      throw this.#setupError;
    }
    if (this.#closed) throw new TransportError("TRANSPORT_CLOSED", "platformatic transport is closed", { retriable: false });
    if (this.#client !== null) return this.#client;
    if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== "function") {
      this.#setupError = new TransportError("TRANSPORT_UNAVAILABLE", `platformatic transport: ${PACKAGE} needs Promise.withResolvers (Node >= 22, Deno, Bun); on older Node use the confluent transport`, {
        retriable: false,
      });
      throw this.#setupError;
    }
    if ((globalThis as { Buffer?: unknown }).Buffer === undefined) {
      this.#setupError = new TransportError("TRANSPORT_UNAVAILABLE", `platformatic transport: ${PACKAGE} needs a runtime with a global Buffer (Node, Deno, Bun)`, {
        retriable: false,
      });
      throw this.#setupError;
    }
    const o = this.#o;
    let producer: PltProducer;
    try {
      producer = new mod.Producer({
        autocreateTopics: true,
        retryDelay,
        ...o.config,
        clientId: o.clientId,
        bootstrapBrokers: [...o.brokers],
        idempotent: true,
        acks: -1,
        retries: Number.MAX_SAFE_INTEGER,
        compression: o.compression,
      });
    } catch (error) {
      this.#setupError = new TransportError("TRANSPORT_UNAVAILABLE", `platformatic transport: ${PACKAGE} refused the options: ${describeError(error)}`, {
        retriable: false,
        cause: error,
      });
      throw this.#setupError;
    }
    const client = new Client(producer);
    this.#listen(client);
    this.#client = client;
    return client;
  }

  #listen(client: Client): void {
    const p = client.producer;
    const down = (what: string) => () => {
      if (!client.dead && client === this.#client) this.#markDown(what);
    };
    p.on("client:broker:failed", down("cannot connect to the broker"));
    p.on("client:broker:disconnect", down("disconnected from the broker"));
    // An 'error' event without a listener would throw.
    p.on("error", () => {});
  }

  #readyAutocreate(): boolean {
    const auto = this.#o.config.autocreateTopics;
    return auto === undefined ? true : auto === true;
  }

  /**
   * Makes sure the client has the topic's metadata and a producer id, waiting at most
   * READY_WAIT_MS. Throws a retriable TransportError when it cannot, a final one when the
   * topic does not exist (and may not be created) or the setup failed.
   */
  async #ready(signal: AbortSignal): Promise<{ client: Client; partitions: number }> {
    const client = await this.#currentClient();
    const p = client.producer;
    const topic = this.#o.topic;
    const work = (async () => {
      const metadata = await p.metadata({ topics: [topic], autocreateTopics: this.#readyAutocreate(), retries: 1 });
      const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0;
      if (!(partitions > 0)) throw new Error(`no partitions in the metadata of topic "${topic}"`);
      if (p.producerId === undefined) await p.initIdempotentProducer({});
      return partitions;
    })();
    let partitions: number;
    try {
      partitions = await within(work, READY_WAIT_MS, signal);
    } catch (error) {
      if (error === TIMED_OUT) {
        const why = `no answer from ${this.#o.brokers.join(",")} within ${READY_WAIT_MS} ms`;
        this.#markDown(why);
        throw this.#error(why, true);
      }
      if (error === ABORTED_WAIT) return { client, partitions: 1 };
      const text = describeError(error);
      if (/unknown topic/i.test(text)) {
        throw this.#error(`unknown topic "${topic}": it does not exist, and the client may not create it (autocreateTopics) or the broker does not`, false, error);
      }
      if (classifyError(error) === "rejected") throw this.#error(text, false, error);
      this.#markDown(text);
      throw this.#error(text, true, error);
    }
    // Metadata may come from the client's cache: it proves nothing while sends get no answer.
    if (!this.#stall.stalled) this.#markUp();
    return { client, partitions };
  }

  // ---------------------------------------------------------------- state

  #markUp(): void {
    this.#everUp = true;
    this.#up = true;
    this.#lastError = null;
    this.#stopProbe();
  }

  #markDown(why: string): void {
    this.#lastError = why;
    if (this.#closed || !this.#everUp) return;
    this.#up = false;
    this.#scheduleProbe();
  }

  #stopProbe(): void {
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
  }

  /** While down, asks a broker for metadata now and then: an answer means up again. */
  #scheduleProbe(): void {
    if (this.#probeTimer !== null || this.#closed) return;
    this.#probeTimer = unrefTimeout(() => {
      this.#probeTimer = null;
      const client = this.#client;
      if (this.#up || this.#closed) return;
      if (client === null || this.#probing) {
        this.#scheduleProbe();
        return;
      }
      this.#probing = true;
      const probe = client.producer.metadata({ topics: [this.#o.topic], forceUpdate: true, autocreateTopics: false, retries: 0 });
      within(probe, PROBE_EVERY_MS, null).then(
        () => {
          this.#probing = false;
          // A broker that answers metadata but not produce requests stays down.
          if (client === this.#client && !client.dead && !this.#stall.stalled) this.#markUp();
          else this.#scheduleProbe();
        },
        () => {
          this.#probing = false;
          this.#scheduleProbe();
        },
      );
    }, PROBE_EVERY_MS);
  }

  // ---------------------------------------------------------------- shutting down

  /** Closes a client whose sends were aborted: nothing it holds may be delivered later. */
  #kill(client: Client): void {
    if (client.dead) return;
    if (this.#client === client) this.#client = null;
    void this.#shutClient(client, 0);
  }

  /** Closes a client; after `graceMs` (at least CLOSE_GRACE_MS) destroys its sockets. Never rejects. */
  #shutClient(client: Client, graceMs: number): Promise<void> {
    client.dead = true;
    for (const wake of [...client.onDeath]) wake();
    client.onDeath.clear();
    const p = client.producer;
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = unrefTimeout(() => {
        destroySockets(p);
        finish();
      }, Math.max(CLOSE_GRACE_MS, graceMs));
      try {
        p.close(true).then(finish, finish);
      } catch {
        destroySockets(p);
        finish();
      }
    });
  }

  #error(message: string, retriable: boolean, cause?: unknown): TransportError {
    return new TransportError(
      retriable ? "TRANSPORT_UNAVAILABLE" : "TRANSPORT_REJECTED",
      `platformatic: topic "${this.#o.topic}": ${message}`,
      cause === undefined ? { retriable } : { retriable, cause },
    );
  }
}

// ------------------------------------------------------------------ helpers

const TIMED_OUT = Symbol("timed out");
const ABORTED_WAIT = Symbol("aborted");

/** `promise`, or a rejection with TIMED_OUT after `ms`, or with ABORTED_WAIT on abort. */
function within<T>(promise: Promise<T>, ms: number, signal: AbortSignal | null): Promise<T> {
  promise.catch(() => {}); // a late rejection is not unhandled
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      f();
    };
    const onAbort = () => finish(() => reject(ABORTED_WAIT));
    const timer = unrefTimeout(() => finish(() => reject(TIMED_OUT)), ms);
    if (signal !== null) {
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
    promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/** The global `Buffer`: Node, Deno and Bun all have one (the client needs it anyway). */
function nodeBuffer(): BufferStatic {
  const b = (globalThis as { Buffer?: BufferStatic }).Buffer;
  if (b === undefined) throw new Error("this runtime has no global Buffer (Node, Deno and Bun have one)");
  return b;
}

/** A Buffer view of the same bytes (no copy). */
function bytes(u8: Uint8Array): Bytes {
  return nodeBuffer().from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function destroySockets(p: PltProducer): void {
  try {
    const connections = p.connections;
    if (connections === undefined) return;
    for (const [, connection] of connections) {
      try {
        connection.socket?.destroy();
      } catch {
        // already gone
      }
    }
  } catch {
    // nothing more to do
  }
}

/** The report for a job: every record not delivered, by outcome. */
function report(job: Job, signal: AbortSignal): SendReport | undefined {
  return buildReport(job.outcome.length, (i) => {
    switch (job.outcome[i]) {
      case DELIVERED:
        return "delivered";
      case REJECTED:
        return "rejected";
      case RETRY:
        return signal.aborted ? "aborted" : "retry";
      case PENDING:
        // never sent: the signal aborted first
        return "retry";
      default:
        // ABORTED: on the wire when the send was aborted, unknown
        return "aborted";
    }
  }, { rejected: job.rejectError, retry: job.retryError });
}
