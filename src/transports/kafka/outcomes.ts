/**
 * What became of each record of one send, as a Kafka transport learns it: a code per
 * record in a `Uint8Array`, and at the end the {@linkcode SendReport} the flusher reads.
 *
 * @module
 */

import { buildReport, type OutRecord, type RecordOutcome, type SendReport } from "../../core/contract.ts";

/** Not handed to the client yet: not written, safe to send again. */
export const PENDING = 0;
/** Handed to the client, no answer yet: if the send is aborted now, nobody knows. */
export const SENT = 1;
export const DELIVERED = 2;
/** Refused for good. */
export const REJECTED = 3;
/** Not written, a later attempt may succeed (`aborted` if the send was aborted). */
export const RETRY = 4;
/** Given up on by the client's own delivery timeout. */
export const EXPIRED = 5;
/** On the wire when the send was aborted: unknown. */
export const ABORTED = 6;
/** Refused as too large with others: to be sent again in a smaller group (a retry). */
export const SPLIT = 7;

/** A code's outcome in the report; `null`: `retry`, or `aborted` once the send was aborted. */
const AS_REPORTED: ReadonlyArray<RecordOutcome | null> = ["retry", "aborted", "delivered", "rejected", null, "expired", "aborted", null];

/**
 * The outcomes of one send's records, all {@linkcode PENDING} at first, and the first
 * error that rejected records and the last that left some to retry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DELIVERED, Outcomes } from "./outcomes.ts";
 *
 * const value = new Uint8Array(1);
 * const records = [0, 1, 2].map(() => ({ key: null, value, headers: null, timestamp: 0, size: 21 }));
 * const outcomes = new Outcomes(records);
 * outcomes.codes.fill(DELIVERED);
 * outcomes.reject(1, new Error("too large"));
 * const report = outcomes.report(new AbortController().signal);
 * assert.deepEqual(report?.rejected, [1]);
 * ```
 */
export class Outcomes {
  readonly records: ReadonlyArray<OutRecord>;
  /** One of the codes above per record. */
  readonly codes: Uint8Array;
  /** Why records were rejected (the first such error). */
  rejectError: unknown = undefined;
  /** Why records are to be retried (the last such error). */
  retryError: unknown = undefined;

  constructor(records: ReadonlyArray<OutRecord>) {
    this.records = records;
    this.codes = new Uint8Array(records.length);
  }

  /** Record `i` is refused for good, because of `error` (kept if it is the first). */
  reject(i: number, error: unknown): void {
    this.codes[i] = REJECTED;
    this.rejectError ??= error;
  }

  /** Records `indexes` (from `from` on) are to be sent again, because of `error`. */
  retry(indexes: ReadonlyArray<number>, error: unknown, from = 0): void {
    for (let k = from; k < indexes.length; k++) this.codes[indexes[k]!] = RETRY;
    this.retryError = error;
  }

  /** The report for the send, aborted or not by `signal`: every record not delivered, by outcome. */
  report(signal: AbortSignal): SendReport | undefined {
    const codes = this.codes;
    const aborted = signal.aborted ? "aborted" : "retry";
    return buildReport(codes.length, (i) => AS_REPORTED[codes[i]!] ?? aborted, { rejected: this.rejectError, retry: this.retryError });
  }
}
