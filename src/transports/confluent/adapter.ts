/**
 * The confluent transport: the Kafka skeleton (`../kafka/base.ts`) on librdkafka's
 * producer. How it sends, bounds and recovers is told in `../confluent.ts`. The
 * isolation of records refused as too large is in `./isolate.ts`.
 *
 * @module
 */

import type { Batch, SendReport } from "../../core/contract.ts";
import { TransportError } from "../../core/errors.ts";
import { ABORTED as DEADLINE_ABORTED, withDeadline } from "../../core/scheduler.ts";
import { KafkaBase } from "../kafka/base.ts";
import { failure, librdkafkaFailure } from "../kafka/failures.ts";
import { backoffMs, PROBE_BACKOFF_MAX_MS, PROBE_EVERY_MS } from "../kafka/health.ts";
import { messageOf, optionalPackage } from "../kafka/load.ts";
import { type ClientOptions, DEFAULT_CONTEXT, type KafkaOptions, resolveClientOptions } from "../kafka/options.ts";
import { ABORTED, DELIVERED, EXPIRED, REJECTED, RETRY, SENT, SPLIT } from "../kafka/outcomes.ts";
import { Waiters } from "../kafka/waiters.ts";
import * as rd from "./binding.ts";
import { Client, Job, openProducer, Token } from "./client.ts";
import { Isolation } from "./isolate.ts";
import { SECURE_CONNECT_MS } from "./security.ts";

/** How long a connection attempt (metadata from a bootstrap broker) may take. */
const CONNECT_TIMEOUT_MS = 5000;
/** Reconnect delays after failed attempts: doubling from the first to the last (to 10 s while down on credentials or TLS). */
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 5000;
/** How long a send waits for a connection attempt under way before failing retriably. */
const READY_WAIT_MS = 1000;
/** After a send's signal aborts: how long to wait for the producer's destruction. */
const ABORT_GRACE_MS = 2000;
/** How long a producer that hit a fatal error may drain before it is destroyed. */
const RETIRE_MAX_MS = 30_000;

/**
 * The confluent transport with `load` standing for `import("@confluentinc/kafka-javascript")`:
 * `confluentTransport()` passes the real import, tests a stand-in binding.
 */
export function confluentWith(load: () => Promise<unknown>, options: KafkaOptions & { config?: Readonly<Record<string, rd.LibrdkafkaValue>> }): Confluent {
  return new Confluent(resolveClientOptions(rd.LIBRDKAFKA_CONFIG, options), load);
}

/** The confluent transport (`ConfluentTransport`). */
export class Confluent extends KafkaBase<rd.LibrdkafkaValue, rd.RdModule> {
  readonly name = "confluent";
  #errorNames: Map<number, string> | null = null;
  /** The producer sends go to, once connected. */
  #client: Client | null = null;
  /** The producer of the connection attempt under way. */
  #pending: Client | null = null;
  /** Producers being retired after a fatal error. */
  readonly #retiring: Set<Client> = new Set();
  #connecting = false;
  #attempt = 0;
  #reconnect: { cancel(): void } | null = null;
  readonly #ready = new Waiters();
  /** The last connection error, and librdkafka's last logged connection failure, for messages. */
  #lastConnectError: string | null = null;
  #lastFailLog: string | null = null;
  #teardown: Promise<void> | null = null;
  /** Records produced on any client whose delivery report has not arrived. */
  #outstanding = 0;
  readonly #drain = new Waiters();
  readonly #isolation: Isolation;

  constructor(options: ClientOptions<rd.LibrdkafkaValue>, load: () => Promise<unknown>) {
    super(options, optionalPackage<rd.RdModule>("confluent", rd.PACKAGE, load, "; it runs on Node only"));
    this.#isolation = new Isolation((signal) => this.#drained(signal));
  }

  protected waiting(): number {
    return this.#outstanding;
  }

  protected connect(): void {
    if (this.#connecting || this.#client !== null || this.health.closed || this.setupError !== null || this.#reconnect !== null) return;
    this.#connecting = true;
    this.#connectOnce().then(
      (ok) => this.#afterAttempt(ok),
      () => this.#afterAttempt(false),
    );
  }

  protected async transmit(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    const job = new Job(batch.records);
    await this.#whenReady(signal);
    if (signal.aborted) return this.#report(job, signal);
    if (this.#client === null) throw this.setupError ?? this.#unavailable();
    const { normal, isolated } = this.#isolation.split(job.records);
    if (normal.length > 0) {
      // No await between this check and produce(): an isolated group never shares
      // librdkafka's queue with other records.
      while (this.#isolation.busy && !signal.aborted) await this.#isolation.whenOpen(this.scheduler, signal);
      if (!signal.aborted) {
        this.#produce(job, normal, 0);
        await this.#waitDeliveries(job, signal);
        this.#isolation.decide(job, normal, 0);
      }
    }
    for (const group of this.#isolation.groups(job.records, isolated)) {
      if (signal.aborted) break;
      await this.#isolation.exclusively(signal, async () => {
        this.#produce(job, group, group.length);
        await this.#waitDeliveries(job, signal);
      });
      this.#isolation.decide(job, group, group.length);
    }
    return this.#report(job, signal);
  }

  protected shutdown(timeoutMs: number): Promise<void> {
    return this.#destroyAll(Math.max(0, Math.floor(timeoutMs * 0.8)));
  }

  /** While down and nothing is stalled: metadata from a broker (a queued request on a hung broker would mislead). */
  protected probe(): Promise<boolean> | null {
    const client = this.#client;
    if (client === null || this.health.stalled) return null;
    return new Promise<boolean>((resolve) => {
      try {
        client.producer.getMetadata({ allTopics: false, timeout: PROBE_EVERY_MS }, (error) => resolve(!error && client === this.#client));
      } catch {
        resolve(false);
      }
    });
  }

  // ---------------------------------------------------------------- connecting

  #afterAttempt(ok: boolean): void {
    this.#connecting = false;
    this.#ready.wakeAll();
    if (ok) {
      this.#attempt = 0;
      return;
    }
    if (this.health.closed || this.setupError !== null) return;
    // Bounded, with jitter: producers of many processes that lost the same cluster do not
    // reconnect in step. Down on credentials or TLS (each attempt handshakes the broker
    // pays for, none succeeding before someone fixes the cause): as the probes (Health).
    const off = this.health.backingOff;
    const delay = backoffMs(this.#attempt++, off ? PROBE_EVERY_MS : RECONNECT_FIRST_MS, off ? PROBE_BACKOFF_MAX_MS : RECONNECT_MAX_MS);
    this.#reconnect = this.scheduler.later(delay, () => {
      this.#reconnect = null;
      this.connect();
    });
  }

  async #connectOnce(): Promise<boolean> {
    let mod: rd.RdModule;
    try {
      mod = await this.load();
    } catch (error) {
      this.setupError = error as TransportError;
      return false;
    }
    if (this.health.closed) return false;
    this.#errorNames ??= rd.errorNames(mod);
    const codec = this.options.compression;
    if (codec !== "none" && Array.isArray(mod.features) && !mod.features.includes(codec)) {
      this.setupFailed(`this build of librdkafka has no ${codec} codec (it has: ${mod.features.join(", ")}); choose another compression`);
      return false;
    }
    const opened = openProducer(mod, rd.librdkafkaConfig(this.options, this.context ?? DEFAULT_CONTEXT));
    if (opened instanceof Error) {
      this.setupFailed(`librdkafka refused the configuration: ${messageOf(opened.cause)}`, opened.cause);
      return false;
    }
    const client = new Client(opened);
    this.#listen(client);
    this.#pending = client;
    const error = await client.connect(this.health.backingOff ? SECURE_CONNECT_MS : CONNECT_TIMEOUT_MS);
    this.#pending = null;
    if (error !== null) {
      // The binding has destroyed the native client already.
      client.dead = true;
      this.#lastConnectError = this.#describe(error);
      const why = this.#lastFailLog ?? this.#lastConnectError;
      // What librdkafka said while connecting (event.error, FAIL logs) is more precise
      // than the attempt's own error: keep it.
      const known = this.health.failure;
      this.health.down(known ?? librdkafkaFailure(why, this.options.security.tls !== null) ?? failure("BROKERS_UNREACHABLE", why));
      return false;
    }
    if (this.health.closed) {
      void client.destroy(0);
      return false;
    }
    this.#client = client;
    this.#lastConnectError = null;
    this.#lastFailLog = null;
    this.health.markUp();
    return true;
  }

  #listen(client: Client): void {
    const on = client.on.bind(client);
    on("delivery-report", (error: rd.RdError | null, report: rd.RdDeliveryReport) => this.#onDelivery(client, error, report));
    on("event.error", (error: rd.RdError) => this.#onError(client, error));
    // An 'error' event without a listener would throw.
    on("error", () => {});
    on("event.stats", (stats: { message?: unknown }) => {
      // A producer that has forgotten every broker while its records wait unanswered can
      // send nothing more: replace it, and send its records again (module docs).
      if (client !== this.#client || client.outstanding === 0 || !this.health.stalled || !rd.listsNoBroker(stats)) return;
      this.#client = null;
      this.connect();
      void this.#destroyClient(client, 0, RETRY);
    });
    on("event.log", (entry: { fac?: unknown; message?: unknown }) => {
      // librdkafka's last connection failure ("Connect to … failed: Connection refused"), for messages.
      if (entry.fac !== "FAIL" || typeof entry.message !== "string" || (this.#client !== null && this.health.up)) return;
      this.#lastFailLog = entry.message.replace(/^\[thrd:[^\]]*\]:\s*/, "");
      this.#failed(client, this.#lastFailLog);
    });
  }

  /** Waits (briefly) for a connection attempt under way, or starts one. */
  #whenReady(signal: AbortSignal): Promise<void> {
    if (this.#client !== null || this.setupError !== null) return Promise.resolve();
    this.connect();
    if (!this.#connecting) return Promise.resolve();
    return this.#ready.wait(this.scheduler, signal, READY_WAIT_MS);
  }

  #unavailable(): TransportError {
    const why = this.health.failure?.message ?? this.#lastFailLog ?? this.#lastConnectError;
    return new TransportError("TRANSPORT_UNAVAILABLE", `confluent: not connected to ${this.options.brokers}${why === null ? "" : `: ${why}`}`, { retriable: true });
  }

  // The binding's error events carry librdkafka's error text only (no code, no fatal
  // flag), lower-cased without its "Local: " prefix: match on both.
  #onError(client: Client, error: rd.RdError): void {
    const code = rd.errorCode(error);
    const text = messageOf(error).toLowerCase();
    if (error.isFatal === true || code === rd.ERR_FATAL || text.startsWith("fatal error")) {
      this.#retire(client);
    } else if ((code === rd.ERR_ALL_BROKERS_DOWN || text.includes("all broker connections are down")) && client === this.#client) {
      this.health.down();
    } else {
      this.#failed(client, messageOf(error));
    }
  }

  /**
   * librdkafka said why a connection failed (an error event, a FAIL log line): a known
   * failure (authentication, TLS, unreachable) makes the transport down with it. The
   * producer keeps retrying on its own, backing off (reconnect.backoff.ms).
   */
  #failed(client: Client, text: string): void {
    if (client !== this.#client && client !== this.#pending) return;
    const why = librdkafkaFailure(text, this.options.security.tls !== null);
    // One broker unreachable while up is for librdkafka to route around (all of them
    // down is ERR__ALL_BROKERS_DOWN); a specific failure is not replaced by the broken
    // connection it leads to.
    const known = this.health.failure;
    if (why === null || (why.code === "BROKERS_UNREACHABLE" && (this.health.up || (known !== null && known.code !== "BROKER_STALLED")))) return;
    this.health.fail(why);
  }

  /**
   * A fatal error makes a producer unusable: new sends go to a new one, and this one is
   * destroyed once its queue has drained (librdkafka purges what it had not sent).
   */
  #retire(client: Client): void {
    if (client.dead || this.#retiring.has(client)) return;
    this.#retiring.add(client);
    if (this.#client === client) this.#client = null;
    this.connect();
    const started = this.scheduler.now();
    const check = () => {
      if (client.dead) return;
      if (client.outstanding > 0 && this.scheduler.now() - started < RETIRE_MAX_MS && !this.health.closed) {
        this.scheduler.later(200, check);
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
      job.retry(indexes, this.setupError ?? this.#unavailable());
      return;
    }
    client.jobs.add(job);
    for (let k = 0; k < indexes.length; k++) {
      const i = indexes[k]!;
      const record = job.records[i]!;
      const token = new Token(job, i, client, group);
      try {
        client.producer.produce(this.options.topic, null, record.value, record.key, record.timestamp, token, rd.headersOf(record));
      } catch (error) {
        const code = rd.errorCode(error);
        if (code === rd.ERR_QUEUE_FULL || code === rd.ERR_FATAL || code === rd.ERR_STATE || code === undefined) {
          // librdkafka's queue is full, or the producer is unusable (fatal error,
          // disconnected): this record and the rest wait for a retry, on a new one if so.
          job.retry(indexes, this.#error(error, true), k);
          if (code !== rd.ERR_QUEUE_FULL) this.#retire(client);
          return;
        }
        // Refused for this record alone (too large for message.max.bytes, unknown topic, …).
        job.reject(i, this.#error(error, false));
        continue;
      }
      job.codes[i] = SENT;
      job.tokens[i] = token;
      job.waiting++;
      client.outstanding++;
      this.#outstanding++;
    }
  }

  #onDelivery(client: Client, error: rd.RdError | null, report: rd.RdDeliveryReport): void {
    const token = report?.opaque;
    if (!(token instanceof Token)) return;
    client.outstanding--;
    this.#outstanding--;
    this.health.answered();
    if (this.#outstanding === 0) this.#drain.wakeAll();
    const job = token.job;
    const i = token.index;
    if (job.finished || job.codes[i] !== SENT) return;
    job.waiting--;
    if (!error) {
      job.codes[i] = DELIVERED;
      this.health.markUp();
    } else {
      this.#classify(job, token, error);
    }
    if (job.waiting === 0) job.wake?.();
  }

  /** Maps a delivery report's error to an outcome. */
  #classify(job: Job, token: Token, error: rd.RdError): void {
    const i = token.index;
    switch (rd.deliveryFailure(error, token.group)) {
      case "rejected":
        job.reject(i, this.#error(error, false));
        return;
      case "split":
        // Perhaps only a neighbour in the same broker batch was too large.
        job.codes[i] = SPLIT;
        job.retryError = this.#error(error, true);
        return;
      case "retry":
        job.retry([i], this.#error(error, true));
        return;
      default:
        job.codes[i] = EXPIRED;
    }
  }

  /** Resolves once every produced record of the job has its report, or the signal aborts. */
  async #waitDeliveries(job: Job, signal: AbortSignal): Promise<void> {
    if (job.waiting === 0) return;
    const delivered = new Promise<void>((resolve) => (job.wake = resolve));
    if ((await withDeadline(this.scheduler, delivered, Infinity, { signal })) === DEADLINE_ABORTED) {
      // The sink is closing: nothing may be delivered after we report records aborted,
      // and without purge() only destroying the producer guarantees that.
      await withDeadline(this.scheduler, Promise.race([delivered, this.#destroyAll(0)]), ABORT_GRACE_MS);
    }
    job.wake = null;
  }

  /** Resolves once no record waits for its report, or the signal aborts. */
  #drained(signal: AbortSignal): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve();
    return this.#drain.wait(this.scheduler, signal);
  }

  #report(job: Job, signal: AbortSignal): SendReport | undefined {
    job.finished = true;
    for (const token of job.tokens) if (token !== undefined) token.client.jobs.delete(job);
    return job.report(signal);
  }

  // ---------------------------------------------------------------- shutting down

  /** Flushes (up to `flushMs`) and destroys every producer; idempotent. */
  #destroyAll(flushMs: number): Promise<void> {
    if (this.#teardown !== null) return this.#teardown;
    this.health.close();
    this.#reconnect?.cancel();
    this.#reconnect = null;
    const clients = [...this.#retiring];
    if (this.#client !== null) clients.push(this.#client);
    // A producer still connecting is destroyed too: nothing keeps connecting after close().
    if (this.#pending !== null) clients.push(this.#pending);
    this.#client = null;
    this.#pending = null;
    this.#retiring.clear();
    const wake = () => {
      this.#ready.wakeAll();
      this.#isolation.open();
      this.#drain.wakeAll();
    };
    this.#teardown = Promise.all(clients.map((c) => this.#destroyClient(c, flushMs, ABORTED))).then(wake, wake);
    return this.#teardown;
  }

  /**
   * Destroys a producer after flushing it for up to `flushMs`; records it still held get
   * `outcome` (they can no longer be delivered by it).
   */
  async #destroyClient(client: Client, flushMs: number, outcome: typeof ABORTED | typeof REJECTED | typeof RETRY): Promise<void> {
    await client.destroy(flushMs);
    if (client.dead) return;
    client.dead = true;
    this.#outstanding -= client.outstanding;
    client.outstanding = 0;
    for (const job of client.jobs) {
      if (job.finished) continue;
      for (let i = 0; i < job.tokens.length; i++) {
        const token = job.tokens[i];
        if (token === undefined || token.client !== client || job.codes[i] !== SENT) continue;
        job.waiting--;
        if (outcome === REJECTED) job.reject(i, this.error("the producer failed fatally with this record in flight", false));
        else if (outcome === RETRY) {
          job.retry([i], this.error("librdkafka had lost every broker (a fenced cluster answered metadata with none); the producer was replaced and its records are sent again", true));
        } else job.codes[i] = outcome;
      }
      if (job.waiting <= 0) job.wake?.();
    }
    client.jobs.clear();
    if (this.#outstanding <= 0) {
      this.#outstanding = 0;
      this.#drain.wakeAll();
    }
  }

  // ---------------------------------------------------------------- errors

  #describe(error: unknown): string {
    return rd.describeError(error, this.#errorNames);
  }

  #error(error: unknown, retriable: boolean): Error {
    return this.error(this.#describe(error), retriable, error);
  }
}
