/**
 * What an error from `@platformatic/kafka` means for the records it was about, and how
 * to say it in one line.
 *
 * @module
 */

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
  "INVALID_TOPIC_EXCEPTION",
  "INVALID_REQUIRED_ACKS",
  "UNSUPPORTED_FOR_MESSAGE_FORMAT",
  "UNSUPPORTED_COMPRESSION_TYPE",
  "UNSUPPORTED_VERSION",
  "POLICY_VIOLATION",
]);

/**
 * The client's error codes that no retry fixes. Not an authentication failure: like an
 * outage, it is fixed where the records cannot see (the user created, the password
 * corrected), so they wait for it within the sink's capacity and `maxAgeMs`.
 */
const FINAL_CODES = new Set([
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
 * first two kinds; anything not known to be final is `retry`.
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
 * message and the innermost causes.
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

