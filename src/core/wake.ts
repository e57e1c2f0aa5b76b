/**
 * Worker mode, on the application's thread: who hears of accepted records in the
 * flusher's place. The flusher runs in a worker and publishes, in the ring's control
 * block, how many pending records or bytes it wants to be woken at (HEED_RECORDS,
 * HEED_BYTES: none while it lingers for a batch to fill, 0 when it sleeps idle). The
 * writer's fast path runs until that point (see `AcceptListener`); then the waker
 * publishes the ring's frames and, unless a wake is already pending, bumps WAKE and
 * notifies the worker, which waits on it with `Atomics.waitAsync`. It never waits. While
 * a wake is pending nothing counts as unheard: the worker publishes its next thresholds
 * before it marks the wake seen (WAKE_SEEN), so one wake per threshold crossed, and the
 * records in between take the fast path.
 *
 * @module
 */

import type { AcceptListener } from "./encode.ts";
import { HEED_BYTES, HEED_RECORDS, WAKE, WAKE_SEEN } from "./ring-control.ts";
import type { SharedRing } from "./shared-ring.ts";

/**
 * Wakes the worker when the records it waits for are there.
 *
 * @example
 * ```ts
 * import { controlBlock, WAKE } from "./ring-control.ts";
 * import { SharedRing } from "./shared-ring.ts";
 * import { WorkerWaker } from "./wake.ts";
 *
 * const control = controlBlock(0);
 * const ring = new SharedRing(new SharedArrayBuffer(64), control);
 * const waker = new WorkerWaker(ring);
 * const at = ring.reserve(20);
 * ring.view.setUint32(at, 20, true);
 * ring.commit(at, 20);
 * waker.accepted(); // an idle worker (heed 0) wants to hear of the first record
 * if (Atomics.load(new Int32Array(control), WAKE) !== 1) throw new Error("woken");
 * ```
 */
export class WorkerWaker implements AcceptListener {
  readonly #ring: SharedRing;
  readonly #ints: Int32Array;
  /** Wakes sent. */
  wakes = 0;

  constructor(ring: SharedRing) {
    this.#ring = ring;
    this.#ints = new Int32Array(ring.control, 0, 16);
  }

  accepted(): void {
    if (this.unheardRecords() < 0 || this.unheardBytes() < 0) this.wake();
  }

  // While a wake is pending (the worker has not seen it yet), the worker will look at the
  // ring anyway and then say what it waits for next: nothing is unheard, so the writer's
  // fast path runs on (to its byte mark, or the clock's next tick, which polls).
  unheardBytes(): number {
    if (this.#wakePending()) return Infinity;
    return Atomics.load(this.#ints, HEED_BYTES) - this.#ring.frameBytes - 1;
  }

  unheardRecords(): number {
    if (this.#wakePending()) return Infinity;
    return Atomics.load(this.#ints, HEED_RECORDS) - this.#ring.pending - 1;
  }

  #wakePending(): boolean {
    return Atomics.load(this.#ints, WAKE) !== Atomics.load(this.#ints, WAKE_SEEN);
  }

  /** On the clock's ticks: publishes the frames, and wakes the worker if it waits for them. */
  poll(): void {
    this.#ring.publish();
    this.#ring.refresh();
    this.accepted();
  }

  /** Publishes the frames and wakes the worker, unless a wake is pending already. */
  wake(): void {
    this.#ring.publish();
    const ints = this.#ints;
    if (Atomics.load(ints, WAKE) !== Atomics.load(ints, WAKE_SEEN)) return;
    Atomics.add(ints, WAKE, 1);
    Atomics.notify(ints, WAKE);
    this.wakes++;
  }
}
