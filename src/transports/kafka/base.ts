/**
 * The skeleton every Kafka transport stands on, whatever its client library: the life
 * cycle of the {@linkcode Transport} contract (start once with the sink's context, or
 * with the default one at the first send; refuse sends once closed; close within the
 * deadline), its {@linkcode Health}, the client package loaded once, and its errors,
 * worded the same way. An adapter (`confluent/`, `platformatic/`) fills in what only its
 * client knows: connecting, sending a batch, probing a broker, shutting down.
 *
 * @module
 */

import type { Batch, SendReport, Transport, TransportContext, TransportState } from "../../core/contract.ts";
import { TransportError } from "../../core/errors.ts";
import { type Scheduler, withDeadline } from "../../core/scheduler.ts";
import type { KafkaFailure } from "./failures.ts";
import { Health } from "./health.ts";
import type { ProducerModule } from "./load.ts";
import { type ClientOptions, DEFAULT_CONTEXT } from "./options.ts";
import { Outcomes } from "./outcomes.ts";

/** What the worker's transport tells its twin on the application's thread. */
interface TwinHealth {
  readonly state: TransportState;
  readonly failure: KafkaFailure | null;
}

/** One instance of a client library's producer, as a transport holds it. */
export class Client<P> {
  readonly producer: P;
  /** Closed or destroyed: nothing it still holds may count as delivered. */
  dead = false;
  constructor(producer: P) {
    this.producer = producer;
  }
}

/** A Kafka transport on one client library, `M` its module. See the module docs. */
export abstract class KafkaBase<C, M extends ProducerModule> implements Transport {
  abstract readonly name: string;
  protected readonly options: ClientOptions<C>;
  protected readonly health: Health;
  /** The client package, loaded once (a final TransportError when it cannot be). */
  protected readonly load: () => Promise<M>;
  /** The sink's context, once started. */
  protected context: TransportContext | null = null;
  /** An error no reconnect can fix (package missing, options refused): every send fails with it. */
  protected setupError: TransportError | null = null;

  constructor(options: ClientOptions<C>, load: () => Promise<M>) {
    this.options = options;
    this.load = load;
    this.health = new Health(() => this.waiting(), () => this.probe(), (state, failure, previous) => {
      this.#toTwin?.({ state, failure });
      // (Once closed, the failure it was down with stays readable; nobody is told it again.)
      if (failure !== null && state === "down") {
        this.options.onError?.(failure);
        this.options.logger?.("error", `${this.name}: down: ${failure.message}`);
      } else if (state === "up") {
        this.options.logger?.("info", previous === "down" ? `${this.name}: up again` : `${this.name}: up`);
      }
    });
  }

  /** Why the transport is down, while it is or when it closed (see {@linkcode KafkaFailure}); `null` otherwise. */
  failure(): KafkaFailure | null {
    if (this.#twin !== null && !this.health.closed) return this.#twin.failure;
    return this.health.failure;
  }

  /** Worker mode, in the worker: tells the application's object each change of health. */
  #toTwin: ((change: TwinHealth) => void) | null = null;
  /** Worker mode, on the application's thread: the worker's health, as last told. */
  #twin: TwinHealth | null = null;

  /**
   * Worker mode: this object on the application's thread answers `state()` and
   * `failure()` as the worker's twin, which runs the client, last told it (its hooks,
   * `onError` and `logger`, are called by the worker through the sink).
   */
  remote(post: (message: unknown) => void, side: "host" | "worker"): (message: unknown) => void {
    if (side === "worker") {
      this.#toTwin = post;
      return () => {};
    }
    this.#twin = { state: "connecting", failure: null };
    return (message) => {
      this.#twin = message as TwinHealth;
    };
  }

  log(level: "info" | "warn" | "error", message: string): boolean {
    const logger = this.options.logger;
    if (typeof logger !== "function") return false;
    logger(level, message);
    return true;
  }

  /** The topic records are written to. */
  get topic(): string {
    return this.options.topic;
  }

  start(context: TransportContext): void {
    if (this.context !== null || this.health.closed) return;
    this.context = context;
    if (this.options.security.tls?.verify === false) {
      const warning = `${this.name}: tls.rejectUnauthorized is false: the brokers' certificates are not verified, so the connection is open to interception`;
      if (this.options.logger !== null) this.options.logger("warn", warning);
      else console.warn(`shedsink: ${warning}`);
    }
    this.health.start(context.scheduler);
    this.connect();
  }

  state(): TransportState {
    if (this.#twin !== null && !this.health.closed) return this.#twin.state;
    return this.health.state();
  }

  send(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    if (this.health.closed) return Promise.reject(this.closedError());
    if (this.context === null) this.start(DEFAULT_CONTEXT);
    // Nothing handed on: every record may be sent again.
    if (signal.aborted || batch.records.length === 0) return Promise.resolve(new Outcomes(batch.records).report(signal));
    return this.transmit(batch, signal);
  }

  async close(timeoutMs: number): Promise<void> {
    this.health.close();
    await withDeadline(this.scheduler, this.shutdown(timeoutMs), Math.max(0, timeoutMs));
  }

  /** The sink's scheduler, or the default one before the sink started the transport. */
  protected get scheduler(): Scheduler {
    return (this.context ?? DEFAULT_CONTEXT).scheduler;
  }

  /** A failure to report: retriable (`TRANSPORT_UNAVAILABLE`) or final (`TRANSPORT_REJECTED`). */
  protected error(message: string, retriable: boolean, cause?: unknown): TransportError {
    return new TransportError(
      retriable ? "TRANSPORT_UNAVAILABLE" : "TRANSPORT_REJECTED",
      `${this.name}: topic "${this.options.topic}": ${message}`,
      cause === undefined ? { retriable } : { retriable, cause },
    );
  }

  /** What a send gets once the transport is closed. */
  protected closedError(): TransportError {
    return new TransportError("TRANSPORT_CLOSED", `${this.name} transport is closed`, { retriable: false });
  }

  /** Keeps (and returns) an error no reconnect can fix: every later send fails with it. */
  protected setupFailed(message: string, cause?: unknown): TransportError {
    this.setupError = new TransportError("TRANSPORT_UNAVAILABLE", `${this.name} transport: ${message}`, cause === undefined ? { retriable: false } : { retriable: false, cause });
    return this.setupError;
  }

  /** Records (or requests) sent and not answered, for the stall watch. */
  protected abstract waiting(): number;
  /** Asks a broker whether it is back (see {@linkcode Health}); `null` when it cannot now. */
  protected abstract probe(): Promise<boolean> | null;
  /** Starts connecting, without waiting (called when the transport starts). */
  protected abstract connect(): void;
  /** Sends a non-empty batch whose signal has not aborted (the contract's `send`). */
  protected abstract transmit(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined>;
  /** Releases the client (`health` is closed already); `close()` waits for it at most `timeoutMs`. */
  protected abstract shutdown(timeoutMs: number): Promise<void>;
}
