/**
 * Typed errors: one root, {@linkcode ShedsinkError}, whose `code` comes from one closed
 * list, so callers can `switch (err.code)`; the original error, if any, is `cause`.
 *
 * shedsink throws only for programmer errors that no retry could fix: a bad option at
 * construction, a bad argument to `close()` or `flush()`. Load, Kafka outages and bad
 * records never throw; they are counted. Transports report failures as
 * {@linkcode TransportError}s, which the sink keeps as `stats().lastError`.
 *
 * @module
 */

/**
 * Every code a {@linkcode ShedsinkError} can carry.
 *
 * @example
 * ```ts
 * import { ERROR_CODES, InvalidOptionError } from "./errors.ts";
 *
 * const err = new InvalidOptionError("INVALID_OPTION", "capacityBytes", -1, "an integer from 256");
 * if (!ERROR_CODES.includes(err.code)) throw new Error("every code is listed");
 * ```
 */
export const ERROR_CODES = [
  "INVALID_OPTION",
  "INVALID_ARGUMENT",
  "SINK_CLOSING",
  "TRANSPORT_UNAVAILABLE",
  "TRANSPORT_REJECTED",
  "TRANSPORT_CLOSED",
] as const;

/** One of {@linkcode ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The root of every error shedsink throws or reports.
 *
 * @example
 * ```ts
 * import { ShedsinkError, TransportError } from "./errors.ts";
 *
 * function describe(err: unknown): string {
 *   if (!(err instanceof ShedsinkError)) return "not ours";
 *   switch (err.code) {
 *     case "TRANSPORT_UNAVAILABLE":
 *       return err.retriable ? "retry later" : "fix the setup";
 *     default:
 *       return err.code;
 *   }
 * }
 * const down = new TransportError("TRANSPORT_UNAVAILABLE", "broker down", { retriable: true });
 * if (describe(down) !== "retry later") throw new Error(describe(down));
 * ```
 */
export class ShedsinkError extends Error {
  /** What went wrong, from {@linkcode ERROR_CODES}. */
  readonly code: ErrorCode;
  /** Whether the same operation may succeed if tried again later. */
  readonly retriable: boolean;
  /** `options.cause`: the error behind this one; `options.retriable`: see the field (default false). */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options?.retriable ?? false;
    this.name = new.target.name;
  }
}

/**
 * A constructor option (or a call argument) that is missing, of the wrong type or out
 * of range. `option` is its dotted path (`"batch.lingerMs"`), `value` what was given and
 * `expected` what would have been accepted.
 *
 * @example
 * ```ts
 * import { InvalidOptionError } from "./errors.ts";
 *
 * const err = new InvalidOptionError("INVALID_OPTION", "batch.lingerMs", -1, "an integer from 0 to 60000");
 * const expected = 'Invalid option "batch.lingerMs": expected an integer from 0 to 60000, received -1';
 * if (err.message !== expected) throw new Error(err.message);
 * ```
 */
export class InvalidOptionError extends ShedsinkError {
  /** The option's dotted path. */
  readonly option: string;
  /** The value given. */
  readonly value: unknown;
  /** What would have been accepted. */
  readonly expected: string;
  /** The message is made from `option`, `value` and `expected`. */
  constructor(
    code: "INVALID_OPTION" | "INVALID_ARGUMENT",
    option: string,
    value: unknown,
    expected: string,
    options?: { cause?: unknown },
  ) {
    super(code, `Invalid ${code === "INVALID_OPTION" ? "option" : "argument"} "${option}": expected ${expected}, received ${describe(value)}`, options);
    this.option = option;
    this.value = value;
    this.expected = expected;
  }
}

/** The codes a {@linkcode TransportError} carries. */
export type TransportErrorCode = "TRANSPORT_UNAVAILABLE" | "TRANSPORT_REJECTED" | "TRANSPORT_CLOSED";

/**
 * A failure a transport reports. `retriable` tells the flusher whether sending the same
 * records again later may succeed.
 *
 * @example
 * ```ts
 * import { ShedsinkError, TransportError } from "./errors.ts";
 *
 * const err = new TransportError("TRANSPORT_UNAVAILABLE", "broker down", { retriable: true });
 * if (!(err instanceof ShedsinkError) || !err.retriable || err.name !== "TransportError") throw new Error("a retriable ShedsinkError");
 * ```
 */
export class TransportError extends ShedsinkError {
  /** What went wrong. */
  declare readonly code: TransportErrorCode;
  /** `options.retriable`: whether the flusher may send the same records again later. */
  constructor(code: TransportErrorCode, message: string, options: { retriable: boolean; cause?: unknown }) {
    super(code, message, options);
  }
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return "an array";
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return "an object";
  }
}
