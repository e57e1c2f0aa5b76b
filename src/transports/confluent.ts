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
 * keeps its connections open: `stall.ts`); `up` again with the next delivery, or when a
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

import * as v from "valibot";
import { parseOptions, rejectOwned } from "../validate.ts";
import { BROKERS_EXPECTED, KAFKA_OPTION_ENTRIES, type KafkaOptions, resolveKafkaOptions, type ResolvedKafkaOptions } from "./options.ts";
import { type TimerHandle, unrefTimeout } from "../runtime.ts";
import { STALL_MS, StallWatch } from "./stall.ts";
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

/** A librdkafka configuration value. */
export type LibrdkafkaValue = string | number | boolean;

/** Options of {@linkcode confluentTransport}. */
export interface ConfluentTransportOptions extends KafkaOptions {
  /**
   * Extra librdkafka properties (see librdkafka's CONFIGURATION.md), passed through as
   * given: an escape hatch for TLS, SASL, timeouts and tuning. The properties this
   * transport sets for its guarantees (brokers, client id, idempotence, acks,
   * compression, queue bounds, delivery reports) cannot be overridden here; setting
   * `message.timeout.ms` re-enables librdkafka's local timeout, and setting
   * `statistics.interval.ms` to 0 turns off the replacement of a producer left without
   * brokers (see the module docs).
   */
  config?: Readonly<Record<string, LibrdkafkaValue>>;
}

/** The Kafka transport and what it tells about itself. */
export interface ConfluentTransport extends Transport {
  /** The topic records are written to. */
  readonly topic: string;
}

/**
 * Creates a Kafka transport on `@confluentinc/kafka-javascript`. Validates its options
 * at once (throwing {@linkcode InvalidOptionError}); connects only when the sink starts
 * it, and never throws for a broker that is down: sends then fail retriably until it is
 * reachable.
 */
export function confluentTransport(options: ConfluentTransportOptions): ConfluentTransport {
  return new Confluent(resolveOptions(options), importPackage, STALL_MS);
}

/**
 * The transport on a binding module other than the installed package, with the stall
 * watch's quiet time given: how the unit tests drive it without librdkafka.
 * @internal
 */
export function confluentTransportOn(load: () => Promise<unknown>, options: ConfluentTransportOptions, stallMs: number = STALL_MS): ConfluentTransport {
  return new Confluent(resolveOptions(options), load, stallMs);
}

// ------------------------------------------------------------------ options

/** librdkafka properties the transport owns. */
const OWNED = new Map<string, string>([
  ["bootstrap.servers", "use the brokers option"],
  ["metadata.broker.list", "use the brokers option"],
  ["client.id", "use the clientId option"],
  ["compression.codec", "use the compression option"],
  ["compression.type", "use the compression option"],
  ["enable.idempotence", "always true"],
  ["acks", "always all"],
  ["request.required.acks", "always all"],
  ["queue.buffering.max.kbytes", "derived from the sink's capacityBytes"],
  ["queue.buffering.max.messages", "derived from the sink's capacityBytes"],
  ["transactional.id", "transactions are not supported"],
  ["dr_cb", "delivery reports are always on"],
  ["dr_msg_cb", "delivery reports are always on"],
  ["event_cb", "events are always on"],
]);

const OptionsSchema = v.strictObject(
  {
    ...KAFKA_OPTION_ENTRIES,
    config: v.optional(
      v.record(
        v.string(),
        v.union([v.string(), v.number(), v.boolean()], "a string, number or boolean"),
        "an object of librdkafka properties (string, number or boolean values)",
      ),
    ),
  },
  "an options object with brokers and topic",
);

interface Resolved extends ResolvedKafkaOptions {
  readonly config: Readonly<Record<string, LibrdkafkaValue>>;
}

function resolveOptions(options: ConfluentTransportOptions): Resolved {
  parseOptions(OptionsSchema, options, { whole: { brokers: BROKERS_EXPECTED } });
  const config = options.config ?? {};
  rejectOwned(config, OWNED);
  return { ...resolveKafkaOptions(options), config: { ...config } };
}

// ------------------------------------------------------------------ the binding, as used here

// Only the parts of @confluentinc/kafka-javascript this file uses, typed structurally so
// that the public types never depend on the optional package.
interface RdError {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly isFatal?: unknown;
}

interface RdDeliveryReport {
  readonly opaque?: unknown;
}

interface RdProducer {
  connect(options: Record<string, unknown>, callback: (error: RdError | null | undefined) => void): unknown;
  produce(
    topic: string,
    partition: number | null,
    value: Uint8Array,
    key: Uint8Array | null,
    timestamp: number,
    opaque: unknown,
    headers?: Array<Record<string, Uint8Array>>,
  ): unknown;
  setPollInBackground(on: boolean): unknown;
  getMetadata(options: Record<string, unknown>, callback: (error: RdError | null | undefined) => void): unknown;
  disconnect(timeoutMs: number, callback: () => void): unknown;
  isConnected(): boolean;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

interface RdModule {
  readonly Producer: new (config: Record<string, unknown>) => RdProducer;
  readonly features?: ReadonlyArray<string>;
  readonly CODES?: { readonly ERRORS?: Readonly<Record<string, number>> };
}

const PACKAGE = "@confluentinc/kafka-javascript";

// librdkafka error codes (rdkafka.h).
const ERR_FATAL = -150;
const ERR_PURGE_QUEUE = -152;
const ERR_INVALID_DIFFERENT_RECORD = -138;
const ERR_STATE = -172;
const ERR_QUEUE_FULL = -184;
const ERR_ALL_BROKERS_DOWN = -187;
const ERR_MSG_TIMED_OUT = -192;
const ERR_MSG_SIZE_TOO_LARGE = 10;
const ERR_RECORD_LIST_TOO_LARGE = 18;

/** How long a connection attempt (metadata from a bootstrap broker) may take. */
const CONNECT_TIMEOUT_MS = 5000;
/** Reconnect delays after failed attempts: doubling from the first to the last. */
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 5000;
/** How long a send waits for a connection attempt under way before failing retriably. */
const READY_WAIT_MS = 1000;
/** How often the broker is probed while the transport thinks it is down. */
const PROBE_EVERY_MS = 1000;
/** After a send's signal aborts: how long to wait for the producer's destruction. */
const ABORT_GRACE_MS = 2000;
/** How long a producer that hit a fatal error may drain before it is destroyed. */
const RETIRE_MAX_MS = 30_000;
/**
 * How often librdkafka reports its statistics, read (only while stalled) to notice a
 * producer that has forgotten every broker.
 */
const STATS_EVERY_MS = 5000;

// Per-record state inside a send.
const NOT_PRODUCED = 0;
const PRODUCED = 1;
const DELIVERED = 2;
const REJECTED = 3;
const RETRY = 4;
const EXPIRED = 5;
const ABORTED = 6;
/** Refused by the broker as too large, as part of a group: decided after the group. */
const TOO_LARGE = 7;

// ------------------------------------------------------------------ the transport

/** One librdkafka producer instance and the records it holds. */
class Client {
  readonly producer: RdProducer;
  /** Records produced on it whose delivery report has not arrived. */
  outstanding = 0;
  /** Destroyed: its delivery reports no longer count. */
  dead = false;
  /** The destruction under way, if any. */
  destroying: Promise<void> | null = null;
  /** Sends with records on this client. */
  readonly jobs: Set<Job> = new Set();
  constructor(producer: RdProducer) {
    this.producer = producer;
  }
}

/** The opaque handed to `produce()` for one record. */
class Token {
  readonly job: Job;
  readonly index: number;
  readonly client: Client;
  /** Size of the isolated group it was produced in, or 0 when produced normally. */
  readonly group: number;
  constructor(job: Job, index: number, client: Client, group: number) {
    this.job = job;
    this.index = index;
    this.client = client;
    this.group = group;
  }
}

/** One call of `send`. */
class Job {
  readonly records: ReadonlyArray<OutRecord>;
  readonly outcome: Uint8Array;
  readonly tokens: Array<Token | undefined>;
  /** Records produced whose delivery report has not arrived. */
  waiting = 0;
  /** Called when `waiting` drops to 0 (or the wait is cut short). */
  wake: (() => void) | null = null;
  /** No more outcomes are taken: late delivery reports are ignored. */
  finished = false;
  /** Why records were rejected (the first such error). */
  rejectError: unknown = undefined;
  /** Why records are to be retried (the last such error). */
  retryError: unknown = undefined;
  constructor(records: ReadonlyArray<OutRecord>) {
    this.records = records;
    this.outcome = new Uint8Array(records.length);
    this.tokens = new Array(records.length);
  }
}

const DEFAULT_CONTEXT: TransportContext = { capacityBytes: 5 * 1024 * 1024, maxAgeMs: 120_000 };

class Confluent implements ConfluentTransport {
  readonly name = "confluent";
  readonly #o: Resolved;
  #context: TransportContext | null = null;
  #module: Promise<RdModule> | null = null;
  #errorNames: Map<number, string> | null = null;
  /** The producer sends go to, once connected. */
  #client: Client | null = null;
  /** Producers being retired after a fatal error. */
  readonly #retiring: Set<Client> = new Set();
  #connecting = false;
  #reconnectTimer: TimerHandle | null = null;
  #readyWaiters: Array<() => void> = [];
  /** An error no reconnect can fix (package missing, invalid config): every send fails with it. */
  #setupError: TransportError | null = null;
  /** The last connection error, for messages. */
  #lastConnectError: string | null = null;
  /** librdkafka's last logged connection failure while not connected. */
  #lastFailLog: string | null = null;
  #everUp = false;
  #up = false;
  #probeTimer: TimerHandle | null = null;
  #probing = false;
  #closed = false;
  #teardown: Promise<void> | null = null;
  /** Records produced on any client whose delivery report has not arrived. */
  #outstanding = 0;
  /** Delivery reports received, for the stall watch. */
  #answers = 0;
  /** A broker that stops answering while records wait: `down`, though no error came. */
  readonly #stall: StallWatch;
  /** An isolated group is being produced (or waits for the queue to drain): others wait. */
  #exclusive = false;
  #exclusiveChain: Promise<void> = Promise.resolve();
  #gateWaiters: Array<() => void> = [];
  #drainWaiters: Array<() => void> = [];
  /** Records refused as too large in a group: the group size to isolate them in next time. */
  readonly #isolate: WeakMap<OutRecord, number> = new WeakMap();

  readonly #import: () => Promise<unknown>;

  constructor(options: Resolved, load: () => Promise<unknown>, stallMs: number) {
    this.#o = options;
    this.#import = load;
    this.#stall = new StallWatch(() => this.#outstanding, () => this.#answers, () => {
      if (this.#up) this.#markDown();
    }, stallMs);
  }

  get topic(): string {
    return this.#o.topic;
  }

  start(context: TransportContext): void {
    if (this.#context !== null || this.#closed) return;
    this.#context = context;
    this.#stall.start();
    this.#connect();
  }

  state(): TransportState {
    if (this.#closed) return "closed";
    if (!this.#everUp) return "connecting";
    return this.#up ? "up" : "down";
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    const job = new Job(batch.records);
    if (this.#closed) throw new TransportError("TRANSPORT_CLOSED", "confluent transport is closed", { retriable: false });
    if (this.#context === null) this.start(DEFAULT_CONTEXT);
    if (signal.aborted) return noneProduced(job);
    await this.#whenReady(signal);
    if (signal.aborted) return noneProduced(job);
    if (this.#client === null) {
      if (this.#setupError !== null) throw this.#setupError;
      throw this.#unavailable();
    }

    // Records refused as too large before go in isolated groups, after the others.
    const normal: number[] = [];
    const isolated: number[] = [];
    for (let i = 0; i < job.records.length; i++) {
      if (this.#isolate.has(job.records[i]!)) isolated.push(i);
      else normal.push(i);
    }
    if (normal.length > 0) {
      // No await between this check and produce(): an isolated group never shares
      // librdkafka's queue with other records.
      while (this.#exclusive && !signal.aborted) await this.#gateOpen(signal);
      if (!signal.aborted) {
        this.#produce(job, normal, 0);
        await this.#waitDeliveries(job, signal);
        this.#decideTooLarge(job, normal, 0);
      }
    }
    if (isolated.length > 0 && !signal.aborted) {
      isolated.sort((a, b) => this.#isolate.get(job.records[a]!)! - this.#isolate.get(job.records[b]!)!);
      let at = 0;
      while (at < isolated.length && !signal.aborted) {
        const size = this.#isolate.get(job.records[isolated[at]!]!)!;
        const group = isolated.slice(at, at + size);
        at += group.length;
        await this.#exclusively(signal, async () => {
          this.#produce(job, group, group.length);
          await this.#waitDeliveries(job, signal);
        });
        this.#decideTooLarge(job, group, group.length);
      }
    }
    return this.#report(job, signal);
  }

  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    const flushMs = Math.max(0, Math.floor(timeoutMs * 0.8));
    await new Promise<void>((resolve) => {
      const timer = unrefTimeout(resolve, Math.max(0, timeoutMs));
      this.#destroyAll(flushMs).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // ---------------------------------------------------------------- connecting

  #load(): Promise<RdModule> {
    if (this.#module === null) {
      this.#module = this.#import().then((loaded) => {
        const m = loaded as { default?: unknown } | null | undefined;
        const mod = (typeof (m as RdModule | null | undefined)?.Producer === "function" ? m : m?.default) as RdModule;
        if (mod === undefined || mod === null || typeof mod.Producer !== "function") {
          throw new Error(`${PACKAGE} did not load as expected (no Producer)`);
        }
        return mod;
      });
    }
    return this.#module;
  }

  /** Starts connection attempts unless connected, connecting or closed. */
  #connect(): void {
    if (this.#connecting || this.#client !== null || this.#closed || this.#setupError !== null) return;
    if (this.#reconnectTimer !== null) return;
    this.#connecting = true;
    this.#connectOnce().then(
      (ok) => this.#afterAttempt(ok),
      () => this.#afterAttempt(false),
    );
  }

  #attempt = 0;

  #afterAttempt(ok: boolean): void {
    this.#connecting = false;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const wake of waiters) wake();
    if (ok) {
      this.#attempt = 0;
      return;
    }
    if (this.#closed || this.#setupError !== null) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.#attempt++);
    this.#reconnectTimer = unrefTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, delay);
  }

  async #connectOnce(): Promise<boolean> {
    let mod: RdModule;
    try {
      mod = await this.#load();
    } catch (error) {
      this.#setupError = new TransportError(
        "TRANSPORT_UNAVAILABLE",
        `confluent transport: cannot load ${PACKAGE} (install it next to shedsink; it runs on Node only): ${message(error)}`,
        { retriable: false, cause: error },
      );
      return false;
    }
    if (this.#closed) return false;
    if (this.#errorNames === null) {
      this.#errorNames = new Map();
      for (const [name, code] of Object.entries(mod.CODES?.ERRORS ?? {})) this.#errorNames.set(code, name);
    }
    const codec = this.#o.compression;
    if (codec !== "none" && Array.isArray(mod.features) && !mod.features.includes(codec)) {
      this.#setupError = new TransportError(
        "TRANSPORT_UNAVAILABLE",
        `confluent transport: this build of librdkafka has no ${codec} codec (it has: ${mod.features.join(", ")}); choose another compression`,
        { retriable: false },
      );
      return false;
    }
    let producer: RdProducer;
    try {
      producer = new mod.Producer(this.#config());
    } catch (error) {
      this.#setupError = new TransportError("TRANSPORT_UNAVAILABLE", `confluent transport: librdkafka refused the configuration: ${message(error)}`, {
        retriable: false,
        cause: error,
      });
      return false;
    }
    const client = new Client(producer);
    this.#listen(client);
    return new Promise<boolean>((resolve) => {
      const done = (error: RdError | null | undefined) => {
        if (error) {
          // The binding has destroyed the native client already.
          this.#lastConnectError = this.#describe(error);
          if (this.#everUp) this.#markDown();
          resolve(false);
          return;
        }
        if (this.#closed) {
          void destroy(client, 0);
          resolve(false);
          return;
        }
        try {
          producer.setPollInBackground(true);
        } catch {
          // older bindings poll on their own interval
        }
        this.#client = client;
        this.#lastConnectError = null;
        this.#lastFailLog = null;
        this.#markUp();
        resolve(true);
      };
      try {
        producer.connect({ allTopics: false, timeout: CONNECT_TIMEOUT_MS }, done);
      } catch (error) {
        done({ message: message(error) });
      }
    });
  }

  #config(): Record<string, unknown> {
    const context = this.#context ?? DEFAULT_CONTEXT;
    const o = this.#o;
    return {
      "bootstrap.servers": o.brokers.join(","),
      "client.id": o.clientId,
      "enable.idempotence": true,
      "request.required.acks": -1,
      "compression.codec": o.compression,
      // Java's key hashing, as the Deno/Bun transport and Kafka's own clients use, so a key
      // lands on the same partition whichever runtime produced it.
      partitioner: "murmur2_random",
      // librdkafka's queue never holds more than the sink counts in flight.
      "queue.buffering.max.kbytes": Math.max(1, Math.ceil(context.capacityBytes / 1024)),
      "queue.buffering.max.messages": Math.min(2 ** 31 - 1, Math.max(1, Math.ceil(context.capacityBytes / 20))),
      // No local timeout: see the module docs (invariant 4). The flusher enforces maxAgeMs.
      "message.timeout.ms": 0,
      "linger.ms": 5,
      "reconnect.backoff.max.ms": 2000,
      "enable.metrics.push": false,
      // Read while stalled, to notice a producer left without brokers (see #onStats).
      "statistics.interval.ms": STATS_EVERY_MS,
      ...o.config,
      dr_cb: true,
    };
  }

  #listen(client: Client): void {
    const p = client.producer;
    p.on("delivery-report", (error: RdError | null, report: RdDeliveryReport) => {
      try {
        this.#onDelivery(client, error, report);
      } catch {
        // never let a delivery report throw into the event loop
      }
    });
    p.on("event.error", (error: RdError) => {
      try {
        this.#onError(client, error);
      } catch {
        // as above
      }
    });
    // An 'error' event without a listener would throw.
    p.on("error", () => {});
    p.on("event.stats", (stats: { message?: unknown }) => {
      try {
        this.#onStats(client, stats);
      } catch {
        // as above
      }
    });
    p.on("event.log", (entry: { severity?: unknown; fac?: unknown; message?: unknown }) => {
      try {
        this.#onLog(client, entry);
      } catch {
        // as above
      }
    });
  }

  /** Waits (briefly) for a connection attempt under way, or starts one. */
  #whenReady(signal: AbortSignal): Promise<void> {
    if (this.#client !== null || this.#setupError !== null) return Promise.resolve();
    this.#connect();
    if (!this.#connecting) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        resolve();
      };
      const timer = unrefTimeout(finish, READY_WAIT_MS);
      signal.addEventListener("abort", finish, { once: true });
      this.#readyWaiters.push(finish);
    });
  }

  #unavailable(): TransportError {
    const why = this.#lastFailLog !== null ? `: ${this.#lastFailLog}` : this.#lastConnectError !== null ? `: ${this.#lastConnectError}` : "";
    return new TransportError("TRANSPORT_UNAVAILABLE", `confluent: not connected to ${this.#o.brokers}${why}`, { retriable: true });
  }

  // ---------------------------------------------------------------- state

  #markUp(): void {
    this.#everUp = true;
    this.#up = true;
    if (this.#probeTimer !== null) {
      clearTimeout(this.#probeTimer);
      this.#probeTimer = null;
    }
  }

  #markDown(): void {
    if (this.#closed) return;
    this.#up = false;
    this.#scheduleProbe();
  }

  /** While down, asks a broker for metadata now and then: an answer means up again. */
  #scheduleProbe(): void {
    if (this.#probeTimer !== null || this.#closed) return;
    this.#probeTimer = unrefTimeout(() => {
      this.#probeTimer = null;
      const client = this.#client;
      if (this.#up || this.#closed) return;
      if (client === null || this.#probing || this.#stall.stalled) {
        this.#scheduleProbe();
        return;
      }
      this.#probing = true;
      try {
        client.producer.getMetadata({ allTopics: false, timeout: PROBE_EVERY_MS }, (error) => {
          this.#probing = false;
          // A broker that answers metadata but not produce requests stays down.
          if (!error && client === this.#client && !this.#stall.stalled) this.#markUp();
          else this.#scheduleProbe();
        });
      } catch {
        this.#probing = false;
        this.#scheduleProbe();
      }
    }, PROBE_EVERY_MS);
  }

  // The binding's error events carry librdkafka's error text only (no code, no fatal
  // flag), lower-cased without its "Local: " prefix: match on both.
  #onError(client: Client, error: RdError): void {
    if (client.dead) return;
    const code = errorCode(error);
    const text = message(error).toLowerCase();
    if (error.isFatal === true || code === ERR_FATAL || text.startsWith("fatal error")) {
      this.#retire(client);
      return;
    }
    if (code === ERR_ALL_BROKERS_DOWN || text.includes("all broker connections are down")) {
      if (client === this.#client && this.#everUp) this.#markDown();
    }
  }

  /** Keeps librdkafka's last connection failure ("Connect to … failed: Connection refused") for messages. */
  #onLog(client: Client, entry: { severity?: unknown; fac?: unknown; message?: unknown }): void {
    if (client.dead || entry.fac !== "FAIL" || typeof entry.message !== "string") return;
    if (this.#client !== null && this.#up) return;
    this.#lastFailLog = entry.message.replace(/^\[thrd:[^\]]*\]:\s*/, "");
  }

  /**
   * A producer that has forgotten every broker while its records wait unanswered can
   * send nothing more: replace it, and send its records again (module docs, "A producer
   * left without brokers").
   */
  #onStats(client: Client, stats: { message?: unknown }): void {
    if (client.dead || client !== this.#client || client.outstanding === 0 || !this.#stall.stalled) return;
    const text = stats?.message;
    if (typeof text !== "string") return;
    const brokers = (JSON.parse(text) as { brokers?: unknown }).brokers;
    if (typeof brokers !== "object" || brokers === null) return;
    // Brokers it could connect to: configured (bootstrap) or learned from metadata, not
    // the internal or logical ones (a coordinator handle).
    for (const broker of Object.values(brokers)) {
      const source = (broker as { source?: unknown } | null)?.source;
      if (source !== "internal" && source !== "logical") return;
    }
    this.#client = null;
    this.#connect();
    void this.#destroyClient(client, 0, RETRY);
  }

  /**
   * A fatal error makes a producer unusable: new sends go to a new one, and this one is
   * destroyed once its queue has drained (librdkafka purges what it had not sent).
   */
  #retire(client: Client): void {
    if (client.dead || this.#retiring.has(client)) return;
    this.#retiring.add(client);
    if (this.#client === client) this.#client = null;
    this.#connect();
    const started = Date.now();
    const check = () => {
      if (client.dead) return;
      if (client.outstanding > 0 && Date.now() - started < RETIRE_MAX_MS && !this.#closed) {
        unrefTimeout(check, 200);
        return;
      }
      this.#retiring.delete(client);
      void this.#destroyClient(client, 0, REJECTED);
    };
    check();
  }

  // ---------------------------------------------------------------- producing

  /** Hands records to librdkafka. `group` > 0: an isolated group of that size. */
  #produce(job: Job, indexes: ReadonlyArray<number>, group: number): void {
    const client = this.#client;
    if (client === null) {
      for (const i of indexes) job.outcome[i] = RETRY;
      job.retryError = this.#setupError ?? this.#unavailable();
      return;
    }
    const topic = this.#o.topic;
    client.jobs.add(job);
    for (let k = 0; k < indexes.length; k++) {
      const i = indexes[k]!;
      const record = job.records[i]!;
      const token = new Token(job, i, client, group);
      try {
        client.producer.produce(topic, null, record.value, record.key, record.timestamp, token, headersOf(record));
      } catch (error) {
        const code = errorCode(error);
        if (code === ERR_QUEUE_FULL) {
          // librdkafka's queue is full: this record and the rest wait for a retry.
          for (let j = k; j < indexes.length; j++) job.outcome[indexes[j]!] = RETRY;
          job.retryError = this.#error(error, true);
          return;
        }
        if (code === ERR_FATAL || code === ERR_STATE || code === undefined) {
          // The producer is unusable (fatal error, disconnected): retry on a new one.
          for (let j = k; j < indexes.length; j++) job.outcome[indexes[j]!] = RETRY;
          job.retryError = this.#error(error, true);
          this.#retire(client);
          return;
        }
        // Refused for this record alone (too large for message.max.bytes, unknown topic, …).
        job.outcome[i] = REJECTED;
        job.rejectError ??= this.#error(error, false);
        continue;
      }
      job.outcome[i] = PRODUCED;
      job.tokens[i] = token;
      job.waiting++;
      client.outstanding++;
      this.#outstanding++;
    }
  }

  #onDelivery(client: Client, error: RdError | null, report: RdDeliveryReport): void {
    if (client.dead) return;
    const token = report?.opaque;
    if (!(token instanceof Token)) return;
    client.outstanding--;
    this.#outstanding--;
    this.#answers++;
    if (this.#outstanding === 0 && this.#drainWaiters.length > 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const wake of waiters) wake();
    }
    const job = token.job;
    const i = token.index;
    if (job.finished || job.outcome[i] !== PRODUCED) return;
    job.waiting--;
    if (!error) {
      job.outcome[i] = DELIVERED;
      this.#markUp();
    } else {
      this.#classify(job, token, error);
    }
    if (job.waiting === 0) job.wake?.();
  }

  /** Maps a delivery report's error to an outcome. */
  #classify(job: Job, token: Token, error: RdError): void {
    const i = token.index;
    switch (errorCode(error)) {
      case ERR_MSG_SIZE_TOO_LARGE:
      case ERR_RECORD_LIST_TOO_LARGE:
        if (token.group === 1) {
          job.outcome[i] = REJECTED;
          job.rejectError ??= this.#error(error, false);
        } else {
          // Perhaps only a neighbour in the same broker batch was too large.
          job.outcome[i] = TOO_LARGE;
          job.retryError = this.#error(error, true);
        }
        return;
      case ERR_PURGE_QUEUE:
      case ERR_INVALID_DIFFERENT_RECORD:
        // never written: safe to send again
        job.outcome[i] = RETRY;
        job.retryError = this.#error(error, true);
        return;
      case ERR_MSG_TIMED_OUT:
        // Only with a message.timeout.ms set through `config` (see the module docs).
        job.outcome[i] = EXPIRED;
        return;
      default:
        // librdkafka retries whatever is retriable itself: what reaches us is final.
        job.outcome[i] = REJECTED;
        job.rejectError ??= this.#error(error, false);
    }
  }

  /** Records refused as too large in a group of several: retry them in smaller groups. */
  #decideTooLarge(job: Job, indexes: ReadonlyArray<number>, group: number): void {
    let failed = 0;
    for (const i of indexes) if (job.outcome[i] === TOO_LARGE) failed++;
    if (failed === 0) return;
    const next = Math.max(1, Math.ceil((group > 0 ? Math.min(group, failed) : failed) / 2));
    for (const i of indexes) {
      if (job.outcome[i] !== TOO_LARGE) continue;
      job.outcome[i] = RETRY;
      this.#isolate.set(job.records[i]!, next);
    }
  }

  /** Resolves once every produced record of the job has its report, or the signal aborts. */
  #waitDeliveries(job: Job, signal: AbortSignal): Promise<void> {
    if (job.waiting === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let done = false;
      let timer: TimerHandle | null = null;
      const finish = () => {
        if (done) return;
        done = true;
        job.wake = null;
        if (timer !== null) clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        // The sink is closing: nothing may be delivered after we report records aborted,
        // and without purge() only destroying the producer guarantees that.
        this.#closed = true;
        void this.#destroyAll(0).then(finish);
        timer = unrefTimeout(finish, ABORT_GRACE_MS);
      };
      job.wake = finish;
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Waits while an isolated group is being sent. */
  #gateOpen(signal: AbortSignal): Promise<void> {
    if (!this.#exclusive) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        signal.removeEventListener("abort", finish);
        resolve();
      };
      signal.addEventListener("abort", finish, { once: true });
      this.#gateWaiters.push(finish);
    });
  }

  /** Runs `body` alone: after every earlier record's report, with later sends held back. */
  #exclusively(signal: AbortSignal, body: () => Promise<void>): Promise<void> {
    const run = async () => {
      if (signal.aborted) return;
      this.#exclusive = true;
      try {
        await this.#drained(signal);
        if (!signal.aborted) await body();
      } finally {
        this.#exclusive = false;
        const waiters = this.#gateWaiters;
        this.#gateWaiters = [];
        for (const wake of waiters) wake();
      }
    };
    const result = this.#exclusiveChain.then(run);
    this.#exclusiveChain = result.catch(() => {});
    return result;
  }

  #drained(signal: AbortSignal): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        signal.removeEventListener("abort", finish);
        resolve();
      };
      signal.addEventListener("abort", finish, { once: true });
      this.#drainWaiters.push(finish);
    });
  }

  #report(job: Job, signal: AbortSignal): SendReport | undefined {
    job.finished = true;
    for (const token of job.tokens) if (token !== undefined) token.client.jobs.delete(job);
    return buildReport(job.outcome.length, (i) => {
      switch (job.outcome[i]) {
        case DELIVERED:
          return "delivered";
        case REJECTED:
          return "rejected";
        case RETRY:
        case TOO_LARGE:
          return signal.aborted ? "aborted" : "retry";
        case EXPIRED:
          return "expired";
        case NOT_PRODUCED:
          // never handed to librdkafka (the send was aborted first): not written
          return "retry";
        default:
          // produced without a report when the send was aborted: unknown
          return "aborted";
      }
    }, { rejected: job.rejectError, retry: job.retryError });
  }

  // ---------------------------------------------------------------- shutting down

  /** Flushes (up to `flushMs`) and destroys every producer; idempotent. */
  #destroyAll(flushMs: number): Promise<void> {
    if (this.#teardown !== null) return this.#teardown;
    this.#closed = true;
    this.#stall.stop();
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    const clients = [...this.#retiring];
    if (this.#client !== null) clients.push(this.#client);
    this.#client = null;
    this.#retiring.clear();
    const wake = () => {
      const waiters = [...this.#readyWaiters, ...this.#gateWaiters, ...this.#drainWaiters];
      this.#readyWaiters = [];
      this.#gateWaiters = [];
      this.#drainWaiters = [];
      for (const w of waiters) w();
    };
    this.#teardown = Promise.all(clients.map((c) => this.#destroyClient(c, flushMs, ABORTED))).then(wake, wake);
    return this.#teardown;
  }

  /**
   * Destroys a producer after flushing it for up to `flushMs`; records it still held get
   * `outcome` (they can no longer be delivered by it).
   */
  async #destroyClient(client: Client, flushMs: number, outcome: number): Promise<void> {
    await destroy(client, flushMs);
    if (client.dead) return;
    client.dead = true;
    this.#outstanding -= client.outstanding;
    client.outstanding = 0;
    for (const job of client.jobs) {
      if (job.finished) continue;
      for (let i = 0; i < job.tokens.length; i++) {
        const token = job.tokens[i];
        if (token === undefined || token.client !== client || job.outcome[i] !== PRODUCED) continue;
        job.outcome[i] = outcome;
        job.waiting--;
        if (outcome === REJECTED) {
          job.rejectError ??= new TransportError("TRANSPORT_REJECTED", `confluent: topic "${this.#o.topic}": the producer failed fatally with this record in flight`, {
            retriable: false,
          });
        } else if (outcome === RETRY) {
          job.retryError = new TransportError(
            "TRANSPORT_UNAVAILABLE",
            `confluent: topic "${this.#o.topic}": librdkafka had lost every broker (a fenced cluster answered metadata with none); the producer was replaced and its records are sent again`,
            { retriable: true },
          );
        }
      }
      if (job.waiting <= 0) job.wake?.();
    }
    client.jobs.clear();
    if (this.#outstanding <= 0) {
      this.#outstanding = 0;
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  // ---------------------------------------------------------------- errors

  #describe(error: unknown): string {
    const code = errorCode(error);
    const name = code === undefined ? undefined : this.#errorNames?.get(code);
    const text = message(error);
    return name === undefined ? text : `${text} (${name})`;
  }

  #error(error: unknown, retriable: boolean): TransportError {
    return new TransportError(
      retriable ? "TRANSPORT_UNAVAILABLE" : "TRANSPORT_REJECTED",
      `confluent: topic "${this.#o.topic}": ${this.#describe(error)}`,
      { retriable, cause: error },
    );
  }
}

function importPackage(): Promise<unknown> {
  return import(PACKAGE);
}

/** Flushes for up to `flushMs`, then destroys the native producer. Never rejects. */
function destroy(client: Client, flushMs: number): Promise<void> {
  if (client.destroying !== null) return client.destroying;
  client.destroying = new Promise<void>((resolve) => {
    try {
      if (!client.producer.isConnected()) {
        resolve();
        return;
      }
      client.producer.disconnect(flushMs, () => resolve());
    } catch {
      resolve();
    }
  });
  return client.destroying;
}

/** The report of a send aborted before it produced anything: nothing left the transport. */
function noneProduced(job: Job): SendReport {
  job.finished = true;
  return { retry: job.records.map((_, i) => i) };
}

function headersOf(record: OutRecord): Array<Record<string, Uint8Array>> | undefined {
  const headers = record.headers;
  if (headers === null || headers.length === 0) return undefined;
  const out: Array<Record<string, Uint8Array>> = new Array(headers.length);
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    out[i] = { [name]: value };
  }
  return out;
}

function errorCode(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as RdError).code;
  return typeof code === "number" ? code : undefined;
}

function message(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const text = (error as RdError).message;
    if (typeof text === "string" && text.length > 0) return text;
  }
  return String(error);
}
