/**
 * Why a Kafka transport cannot deliver, in one vocabulary for every client: a
 * {@linkcode KafkaFailure} with a code from {@linkcode KAFKA_FAILURE_CODES} and a message
 * that says what to check. A transport with a failure is `down` (even before a broker
 * ever answered) and holds its records within the sink's capacity and `maxAgeMs`; the
 * failure clears when a broker answers again.
 *
 * Messages never carry a secret: they are made here from a fixed advice and the client's
 * own error text, which names mechanisms and hosts, never credentials.
 *
 * @module
 */

/**
 * Every code of a {@linkcode KafkaFailure}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KAFKA_FAILURE_CODES } from "./failures.ts";
 *
 * assert.ok(KAFKA_FAILURE_CODES.includes("SASL_AUTHENTICATION_FAILED"));
 * ```
 */
export const KAFKA_FAILURE_CODES = [
  "SASL_AUTHENTICATION_FAILED",
  "SASL_MECHANISM_UNSUPPORTED",
  "TLS_CERTIFICATE_VERIFY_FAILED",
  "TLS_HANDSHAKE_FAILED",
  "TLS_REQUIRED",
  "BROKERS_UNREACHABLE",
  "BROKER_STALLED",
] as const;

/** One of {@linkcode KAFKA_FAILURE_CODES}. */
export type KafkaFailureCode = (typeof KAFKA_FAILURE_CODES)[number];

/**
 * Why a Kafka transport is `down`: `code` to switch on, `message` to show (it starts with
 * the code and says what to check).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { failure, type KafkaFailure } from "./failures.ts";
 *
 * const f: KafkaFailure = failure("TLS_REQUIRED", "connection closed while requesting ApiVersion");
 * assert.equal(f.message, "TLS_REQUIRED: the broker expects TLS: set the tls option (connection closed while requesting ApiVersion)");
 * ```
 */
export interface KafkaFailure {
  /** What failed, from {@linkcode KAFKA_FAILURE_CODES}. */
  readonly code: KafkaFailureCode;
  /** `CODE: what to check (what the client said)`. */
  readonly message: string;
}

const ADVICE: Readonly<Record<KafkaFailureCode, string>> = {
  SASL_AUTHENTICATION_FAILED: "check sasl.username/password (and that the user exists for this mechanism)",
  SASL_MECHANISM_UNSUPPORTED: "the broker does not enable this sasl.mechanism",
  TLS_CERTIFICATE_VERIFY_FAILED: "check tls.ca (and that the broker's certificate names the host it is reached by)",
  TLS_HANDSHAKE_FAILED: "check that the port is a TLS listener, and tls.cert/tls.key if the broker wants a client certificate",
  TLS_REQUIRED: "the broker expects TLS: set the tls option",
  BROKERS_UNREACHABLE: "no broker answers: check brokers, the network and that Kafka runs",
  BROKER_STALLED: "records get no answer: the broker is hung, overloaded or cut off",
};

/**
 * A failure with `code`'s advice and the client's `detail` (its error text, which must
 * hold no secret).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { failure } from "./failures.ts";
 *
 * assert.equal(failure("BROKERS_UNREACHABLE").message, "BROKERS_UNREACHABLE: no broker answers: check brokers, the network and that Kafka runs");
 * ```
 */
export function failure(code: KafkaFailureCode, detail?: string): KafkaFailure {
  const text = detail === undefined || detail.length === 0 ? "" : ` (${detail.length > 300 ? `${detail.slice(0, 297)}...` : detail})`;
  return { code, message: `${code}: ${ADVICE[code]}${text}` };
}

/**
 * What a librdkafka error text (an `event.error`, a failed connect, a `FAIL` log line)
 * says is wrong with the connection, or `null` when it names nothing known. `tls`:
 * whether the transport uses TLS (a closed connection while asking a broker's API
 * versions means TLS is expected only when it does not).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { librdkafkaFailure } from "./failures.ts";
 *
 * const text = "SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";
 * assert.equal(librdkafkaFailure(text, true)?.code, "SASL_AUTHENTICATION_FAILED");
 * assert.equal(librdkafkaFailure("Connect to ipv4#127.0.0.1:1 failed: Connection refused", false)?.code, "BROKERS_UNREACHABLE");
 * ```
 */
export function librdkafkaFailure(text: string, tls: boolean): KafkaFailure | null {
  const t = text.toLowerCase();
  const detail = text.replace(/^\[thrd:[^\]]*\]:\s*/, "");
  if (/unsupported sasl mechanism|mechanism .* not (?:supported|enabled)|no common sasl mechanism/.test(t)) return failure("SASL_MECHANISM_UNSUPPORTED", detail);
  if (/sasl authentication|authentication failed|invalid credentials|invalid username or password/.test(t)) return failure("SASL_AUTHENTICATION_FAILED", detail);
  if (/certificate verify failed|could not be verified|self.signed certificate|unable to get local issuer|certificate has expired|hostname mismatch/.test(t)) {
    return failure("TLS_CERTIFICATE_VERIFY_FAILED", detail);
  }
  if (/ssl handshake failed|ssl routines|wrong version number|tls handshake/.test(t)) return failure("TLS_HANDSHAKE_FAILED", detail);
  if (!tls && /connecting to a ssl listener|apiversion|api_version|apiversion_query/.test(t) && /disconnect|closed/.test(t)) return failure("TLS_REQUIRED", detail);
  if (/connection refused|all broker connections are down|failed to resolve|timed out|transport failure|no route to host|network is unreachable|connection reset/.test(t)) {
    return failure("BROKERS_UNREACHABLE", detail);
  }
  return null;
}

/** An error's `code` and `message`, and those of its causes and aggregated errors, `error` first. */
export function errorChain(error: unknown, out: Array<{ code?: unknown; message?: unknown; apiId?: unknown }> = [], depth = 0): Array<{ code?: unknown; message?: unknown; apiId?: unknown }> {
  if (typeof error !== "object" || error === null || depth > 8) return out;
  const e = error as { code?: unknown; message?: unknown; apiId?: unknown; errors?: unknown; cause?: unknown };
  out.push(e);
  if (Array.isArray(e.errors)) for (const inner of e.errors) errorChain(inner, out, depth + 1);
  if (e.cause !== undefined) errorChain(e.cause, out, depth + 1);
  return out;
}

/** Node's TLS error codes of a certificate the client could not verify. */
const CERT_CODES = /^(?:UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;

/**
 * What an error of `@platformatic/kafka` (or of Node's `net`/`tls` under it) says is
 * wrong with the connection, or `null` when it names nothing known. `tls`: whether the
 * transport uses TLS (a connection closed at the SASL handshake, before any answer,
 * means TLS is expected only when it does not: a TLS listener drops a plaintext client
 * without a word).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeFailure } from "./failures.ts";
 *
 * const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
 * assert.equal(nodeFailure(new Error("Connection failed", { cause: refused }))?.code, "BROKERS_UNREACHABLE");
 * ```
 */
export function nodeFailure(error: unknown, tls = true): KafkaFailure | null {
  const chain = errorChain(error);
  const text = (e: { message?: unknown }) => (typeof e.message === "string" ? e.message : "");
  for (const e of chain) {
    const code = typeof e.code === "string" ? e.code : "";
    const m = text(e);
    if (code === "PLT_KFK_AUTHENTICATION" || e.apiId === "SASL_AUTHENTICATION_FAILED") {
      const inner = chain.map(text).filter((x) => x.length > 0 && x !== m).pop();
      // The handshake got no answer: the broker closed the connection at the first request.
      if (inner !== undefined && /^Connection closed/i.test(inner) && !chain.some((x) => x.apiId !== undefined)) {
        return tls ? failure("BROKERS_UNREACHABLE", `${m} ${inner}`) : failure("TLS_REQUIRED", `the broker closed the connection at the SASL handshake: ${inner}`);
      }
      if (chain.some((x) => x.apiId === "UNSUPPORTED_SASL_MECHANISM") || /suitable SASL mechanism|UNSUPPORTED_SASL_MECHANISM/i.test(`${m} ${inner ?? ""}`)) {
        return failure("SASL_MECHANISM_UNSUPPORTED", inner ?? m);
      }
      return failure("SASL_AUTHENTICATION_FAILED", inner ?? m);
    }
    if (e.apiId === "UNSUPPORTED_SASL_MECHANISM") return failure("SASL_MECHANISM_UNSUPPORTED", m);
    if (CERT_CODES.test(code)) return failure("TLS_CERTIFICATE_VERIFY_FAILED", `${code}: ${m}`);
    if (/requires TLS/i.test(m)) return failure("TLS_REQUIRED", m);
    if (/TLS handshake failed|wrong version number|ERR_SSL/i.test(`${code} ${m}`)) return failure("TLS_HANDSHAKE_FAILED", m);
  }
  for (const e of chain) {
    const code = typeof e.code === "string" ? e.code : "";
    if (/^(?:ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ETIMEDOUT|EPIPE)$/.test(code) || code === "PLT_KFK_TIMEOUT") {
      return failure("BROKERS_UNREACHABLE", text(e));
    }
  }
  return null;
}
