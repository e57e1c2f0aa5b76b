/**
 * The drain: what the sink asks of its flusher and transport, in whichever thread they
 * run. `flush()`, `close()` with a deadline (flush, stop, close the transport, count the
 * records in doubt) and the status (`lastError`, the transport's name and state, sends
 * and retries). Thread mode runs it in the sink; worker mode runs the same object in
 * the worker (`worker/entry.ts`) and forwards its answers.
 *
 * @module
 */

import type { Transport, TransportState } from "./contract.ts";
import type { FlusherBacklog } from "./backlog.ts";
import type { Flusher } from "./flusher.ts";
import { type Scheduler, withDeadline } from "./scheduler.ts";

/** How a close went: see `CloseReport`. */
export interface CloseOutcome {
  readonly flushed: boolean;
  readonly inDoubt: { readonly records: number; readonly bytes: number };
}

/** The drain's status, as `stats()` shows it. */
export interface DrainStatus {
  readonly name: string;
  readonly state: TransportState;
  readonly lastError: string | null;
  readonly sends: number;
  readonly retries: number;
}

/** An error as `stats().lastError` shows it. */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Flush, close and status over one flusher and its transport. */
export class Drain {
  readonly #flusher: Flusher;
  readonly #backlog: FlusherBacklog;
  readonly #transport: Transport;
  readonly #scheduler: Scheduler;
  /** Records handed to the transport and not settled. */
  readonly #inFlight: () => number;
  #closing: Promise<CloseOutcome> | null = null;

  constructor(flusher: Flusher, backlog: FlusherBacklog, transport: Transport, scheduler: Scheduler, inFlight: () => number) {
    this.#flusher = flusher;
    this.#backlog = backlog;
    this.#transport = transport;
    this.#scheduler = scheduler;
    this.#inFlight = inFlight;
  }

  /** Resolves true once everything accepted so far is settled, false after `timeoutMs`. */
  flush(timeoutMs: number): Promise<boolean> {
    return this.#flusher.flush(timeoutMs);
  }

  /**
   * Flushes for most of `timeoutMs` (0.8), stops the flusher (aborting sends in flight,
   * waiting for them until a tenth of the budget is left), drops the rest as `shutdown`
   * and closes the transport with what is left. Called again, the same promise.
   */
  close(timeoutMs: number): Promise<CloseOutcome> {
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<CloseOutcome> {
    const scheduler = this.#scheduler;
    const flusher = this.#flusher;
    const deadline = scheduler.now() + timeoutMs;
    flusher.drain();
    const flushed = timeoutMs > 0 ? await flusher.flush(Math.floor(timeoutMs * 0.8)) : this.#backlog.count + this.#inFlight() === 0;
    await flusher.stop(Math.max(0, Math.floor(deadline - scheduler.now()) - Math.floor(timeoutMs * 0.1)));
    const left = Math.max(0, deadline - scheduler.now());
    const closing = Promise.resolve().then(() => this.#transport.close(left));
    await withDeadline(scheduler, closing, left, { keepAlive: true }).catch(() => {});
    return { flushed, inDoubt: { records: flusher.inDoubt.records, bytes: flusher.inDoubt.bytes } };
  }

  /** The status now. While the transport says why it is down, that is the last error. */
  status(): DrainStatus {
    const transport = this.#transport;
    const flusher = this.#flusher;
    let failure: { readonly message: string } | null = null;
    try {
      failure = transport.failure?.() ?? null;
    } catch {
      failure = null;
    }
    const lastError = failure !== null ? `TransportError: ${transport.name}: ${failure.message}` : flusher.lastError === null ? null : errorText(flusher.lastError);
    let state: TransportState;
    try {
      state = transport.state();
    } catch {
      state = "down";
    }
    return { name: transport.name, state, lastError, sends: flusher.sends, retries: flusher.retries };
  }
}
