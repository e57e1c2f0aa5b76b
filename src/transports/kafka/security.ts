/**
 * The security options every Kafka transport takes, with one meaning on every client:
 * `tls` (CA, client certificate and key as PEM text or file paths; verification on
 * unless turned off explicitly) and `sasl` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512,
 * OAUTHBEARER with a token provider); their schema, and their resolution (files read,
 * PEM told from path) into what each client's mapping starts from. And the hooks that
 * tell the application about failures: `onError` and `logger`.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import * as v from "valibot";
import { InvalidOptionError } from "../../core/errors.ts";
import type { KafkaFailure } from "./failures.ts";

/**
 * TLS to the brokers. `true`: TLS with the runtime's trusted CAs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { KafkaTls } from "./security.ts";
 *
 * const tls: KafkaTls = { ca: "/etc/kafka/ca.pem", servername: "kafka.internal" };
 * assert.equal(tls.rejectUnauthorized, undefined, "verification is on unless turned off");
 * ```
 */
export interface KafkaTls {
  /** CA certificate(s) that sign the brokers' certificates: PEM text, or the path of a PEM file. @default the runtime's trusted CAs */
  readonly ca?: string;
  /** Client certificate for mutual TLS: PEM text or a path. Needs `key`. */
  readonly cert?: string;
  /** The client certificate's private key: PEM text or a path. Needs `cert`. A secret: never logged. */
  readonly key?: string;
  /** The name the brokers' certificates are checked against, and sent as SNI (platformatic only: librdkafka checks the host it connects to). @default each broker's host */
  readonly servername?: string;
  /**
   * Whether the brokers' certificates are verified (chain and host name). Turning it off
   * makes TLS open to interception; it is logged once as a warning.
   * @default true
   */
  readonly rejectUnauthorized?: boolean;
}

/**
 * A token for SASL/OAUTHBEARER, as a token provider returns it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OAuthBearerToken } from "./security.ts";
 *
 * const token: OAuthBearerToken = { value: "eyJ...", expiresAt: Date.now() + 3_600_000, principal: "svc-telemetry" };
 * assert.ok(token.expiresAt > Date.now());
 * ```
 */
export interface OAuthBearerToken {
  /** The token (a JWT, usually). A secret: never logged. */
  readonly value: string;
  /** When it expires, in milliseconds since the epoch; the client asks for a new one before. */
  readonly expiresAt: number;
  /** The principal the token is for. @default "" */
  readonly principal?: string;
  /** SASL extensions sent with the token. @default {} */
  readonly extensions?: Readonly<Record<string, string>>;
}

/**
 * SASL authentication. `username`/`password` for PLAIN and SCRAM; a token provider for
 * OAUTHBEARER, called when a token is needed and again before it expires.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { KafkaSasl } from "./security.ts";
 *
 * const apiKey: KafkaSasl = { mechanism: "PLAIN", username: "KEY", password: "SECRET" };
 * const oauth: KafkaSasl = { mechanism: "OAUTHBEARER", token: async () => ({ value: "eyJ...", expiresAt: Date.now() + 60_000 }) };
 * assert.deepEqual([apiKey.mechanism, oauth.mechanism], ["PLAIN", "OAUTHBEARER"]);
 * ```
 */
export type KafkaSasl =
  | { readonly mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"; readonly username: string; readonly password: string }
  | { readonly mechanism: "OAUTHBEARER"; readonly token: () => OAuthBearerToken | Promise<OAuthBearerToken> };

/**
 * Where a transport tells what happens to its connection, once per change (never per
 * retry): `error` when it goes down and why, `info` when it is up again, `warn` for a
 * setting that weakens security. Messages hold no secret.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { KafkaLogger } from "./security.ts";
 *
 * const lines: string[] = [];
 * const logger: KafkaLogger = (level, message) => lines.push(`${level}: ${message}`);
 * logger("info", "up");
 * assert.deepEqual(lines, ["info: up"]);
 * ```
 */
export type KafkaLogger = (level: "info" | "warn" | "error", message: string) => void;

/** The security options and hooks, as every Kafka transport takes them. */
export interface KafkaSecurityOptions {
  /** TLS to the brokers (`true`: with the runtime's trusted CAs). @default no TLS */
  tls?: boolean | KafkaTls;
  /** SASL authentication. @default none */
  sasl?: KafkaSasl;
  /** Called once each time the transport goes down, with why (a typed {@linkcode KafkaFailure}). @default none */
  onError?: (failure: KafkaFailure) => void;
  /** Logs changes of the connection (down and why, up again) and weakened security. @default none (a weakened setting is then told once by `console.warn`) */
  logger?: KafkaLogger;
}

const PEM_OR_PATH = "PEM text or the path of a readable PEM file";

const pemOrPath = v.pipe(v.string(PEM_OR_PATH), v.minLength(1, PEM_OR_PATH));

/** The valibot entries of {@linkcode KafkaSecurityOptions}, to spread into a transport's `strictObject`. */
export const SECURITY_OPTION_ENTRIES = {
  tls: v.optional(
    v.union([
      v.boolean(),
      v.strictObject({
        ca: v.optional(pemOrPath),
        cert: v.optional(pemOrPath),
        key: v.optional(pemOrPath),
        servername: v.optional(v.pipe(v.string("a host name"), v.regex(/^[A-Za-z0-9.-]{1,253}$/, "a host name"))),
        rejectUnauthorized: v.optional(v.boolean("true or false")),
      }),
    ], "true, or an object with ca, cert, key, servername, rejectUnauthorized"),
  ),
  sasl: v.optional(
    v.variant("mechanism", [
      v.strictObject({
        mechanism: v.picklist(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
        username: v.pipe(v.string("a non-empty string"), v.minLength(1, "a non-empty string")),
        password: v.pipe(v.string("a non-empty string"), v.minLength(1, "a non-empty string")),
      }),
      v.strictObject({
        mechanism: v.literal("OAUTHBEARER"),
        token: v.custom<() => OAuthBearerToken>((x) => typeof x === "function", "a function that returns a token ({ value, expiresAt })"),
      }),
    ], '{ mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512", username, password } or { mechanism: "OAUTHBEARER", token }'),
  ),
  onError: v.optional(v.custom<(failure: KafkaFailure) => void>((x) => typeof x === "function", "a function")),
  logger: v.optional(v.custom<KafkaLogger>((x) => typeof x === "function", "a function (level, message)")),
};

/** A PEM given as text or read from a file, and the file's path if it came from one. */
export interface Pem {
  readonly pem: string;
  readonly path: string | null;
}

/** {@linkcode KafkaTls} resolved: files read, verification explicit. */
export interface ResolvedTls {
  readonly ca: Pem | null;
  readonly cert: Pem | null;
  readonly key: Pem | null;
  readonly servername: string | null;
  readonly verify: boolean;
}

/** The security options resolved, for the clients' mappings. */
export interface ResolvedSecurity {
  readonly tls: ResolvedTls | null;
  readonly sasl: KafkaSasl | null;
}

const isPem = (s: string) => s.includes("-----BEGIN ");

function readPem(value: string | undefined, option: string): Pem | null {
  if (value === undefined) return null;
  if (isPem(value)) return { pem: value, path: null };
  let text: string;
  try {
    if (!existsSync(value)) throw new Error("no such file");
    text = readFileSync(value, "utf8");
  } catch (error) {
    // The value is a path here, never the key itself (PEM text was handled above).
    throw new InvalidOptionError("INVALID_OPTION", option, value, PEM_OR_PATH, { cause: error });
  }
  if (!isPem(text)) throw new InvalidOptionError("INVALID_OPTION", option, value, `${PEM_OR_PATH} (the file holds no PEM block)`);
  return { pem: text, path: value };
}

/**
 * Resolves the security options (validated already): reads the PEM files (throwing
 * `InvalidOptionError` naming the option for a file that cannot be read), and checks
 * that `cert` and `key` come together.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveSecurity } from "./security.ts";
 *
 * const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
 * const resolved = resolveSecurity({ tls: { ca: pem }, sasl: { mechanism: "PLAIN", username: "u", password: "p" } });
 * assert.deepEqual(resolved.tls, { ca: { pem, path: null }, cert: null, key: null, servername: null, verify: true });
 * assert.equal(resolveSecurity({}).tls, null);
 * ```
 */
export function resolveSecurity(options: KafkaSecurityOptions): ResolvedSecurity {
  const sasl = options.sasl ?? null;
  const given = options.tls;
  if (given === undefined || given === false) return { tls: null, sasl };
  const t: KafkaTls = given === true ? {} : given;
  if ((t.cert === undefined) !== (t.key === undefined)) {
    const missing = t.cert === undefined ? "tls.cert" : "tls.key";
    throw new InvalidOptionError("INVALID_OPTION", missing, undefined, "a value: tls.cert and tls.key go together (mutual TLS)");
  }
  return {
    tls: {
      ca: readPem(t.ca, "tls.ca"),
      cert: readPem(t.cert, "tls.cert"),
      key: readPem(t.key, "tls.key"),
      servername: t.servername ?? null,
      verify: t.rejectUnauthorized !== false,
    },
    sasl,
  };
}

