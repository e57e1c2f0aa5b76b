/**
 * Finding the record a broker refuses as too large among innocent neighbours.
 *
 * `MSG_SIZE_TOO_LARGE` and `RECORD_LIST_TOO_LARGE` fail a whole librdkafka batch. Those
 * records are sent again in isolated groups (nothing else in librdkafka's queue while a
 * group is on its way), halving the group each time, so that only a record refused on
 * its own is `rejected`.
 *
 * @module
 */

import type { OutRecord } from "../../core/contract.ts";
import type { Scheduler } from "../../core/scheduler.ts";
import { type Outcomes, RETRY, SPLIT } from "../kafka/outcomes.ts";
import { Waiters } from "../kafka/waiters.ts";

/** The records to isolate, and the gate that holds other sends back meanwhile. */
export class Isolation {
  /** Records refused as too large in a group: the group size to isolate them in next time. */
  readonly #size: WeakMap<OutRecord, number> = new WeakMap();
  /** An isolated group is being produced (or waits for the queue to drain): others wait. */
  #busy = false;
  #chain: Promise<void> = Promise.resolve();
  readonly #gate = new Waiters();
  readonly #drained: (signal: AbortSignal) => Promise<void>;

  /** `drained`: resolves once librdkafka holds no record, or the signal aborts. */
  constructor(drained: (signal: AbortSignal) => Promise<void>) {
    this.#drained = drained;
  }

  /** Whether an isolated group is under way: check it with no await before producing. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Resolves when the gate opens (check `busy` again), or the signal aborts. */
  whenOpen(scheduler: Scheduler, signal: AbortSignal): Promise<void> {
    return this.#gate.wait(scheduler, signal);
  }

  /** Opens the gate for every waiter (the transport is shutting down). */
  open(): void {
    this.#gate.wakeAll();
  }

  /** A batch's indexes: records sent normally, and those to isolate (refused as too large before). */
  split(records: ReadonlyArray<OutRecord>): { normal: number[]; isolated: number[] } {
    const normal: number[] = [];
    const isolated: number[] = [];
    for (let i = 0; i < records.length; i++) {
      if (this.#size.has(records[i]!)) isolated.push(i);
      else normal.push(i);
    }
    return { normal, isolated };
  }

  /** The isolated records in groups of their sizes, smallest first (sizes read as it goes). */
  *groups(records: ReadonlyArray<OutRecord>, isolated: number[]): Generator<number[]> {
    isolated.sort((a, b) => this.#size.get(records[a]!)! - this.#size.get(records[b]!)!);
    let at = 0;
    while (at < isolated.length) {
      const size = this.#size.get(records[isolated[at]!]!)!;
      const group = isolated.slice(at, at + size);
      at += group.length;
      yield group;
    }
  }

  /** Records refused as too large ({@linkcode SPLIT}) in a group of several: retry them in smaller groups. */
  decide(job: Outcomes, indexes: ReadonlyArray<number>, group: number): void {
    let failed = 0;
    for (const i of indexes) if (job.codes[i] === SPLIT) failed++;
    if (failed === 0) return;
    const next = Math.max(1, Math.ceil((group > 0 ? Math.min(group, failed) : failed) / 2));
    for (const i of indexes) {
      if (job.codes[i] !== SPLIT) continue;
      job.codes[i] = RETRY;
      this.#size.set(job.records[i]!, next);
    }
  }

  /** Runs `body` alone: after every earlier record's report, with later sends held back. */
  exclusively(signal: AbortSignal, body: () => Promise<void>): Promise<void> {
    const run = async () => {
      if (signal.aborted) return;
      this.#busy = true;
      try {
        await this.#drained(signal);
        if (!signal.aborted) await body();
      } finally {
        this.#busy = false;
        this.#gate.wakeAll();
      }
    };
    const result = this.#chain.then(run);
    this.#chain = result.catch(() => {});
    return result;
  }
}
