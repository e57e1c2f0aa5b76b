/**
 * The common security options (`tls`, `sasl`) as librdkafka properties, and the checks
 * of the confluent transport's `config`: every key a known librdkafka property (else the
 * closest name is suggested), none contradicting `tls`/`sasl`, and none of the options
 * librdkafka cannot honour.
 *
 * @module
 */

import { InvalidOptionError } from "../../core/errors.ts";
import { isSecretOption, REDACTED } from "../../validate.ts";
import type { ResolvedKafkaOptions } from "../kafka/options.ts";
import type { ResolvedSecurity } from "../kafka/security.ts";
import { LIBRDKAFKA_PROPERTIES } from "./properties.ts";

/** Reconnect backoff with TLS or SASL: a certificate or credential error is retried at most every few seconds. */
export const SECURE_RECONNECT_MS = 1000;
export const SECURE_RECONNECT_MAX_MS = 10_000;
/**
 * A connection attempt's length while down on credentials or TLS: librdkafka redoes the
 * handshake every 500 ms while a request waits (whatever reconnect.backoff.ms says), and
 * its producer cannot be destroyed before that request ends: short attempts, far apart
 * (the transport's backoff), bound the handshakes and let close() end them quickly.
 */
export const SECURE_CONNECT_MS = 1500;

/** librdkafka's OAUTHBEARER token, as the binding's refresh callback resolves it. */
interface RdToken {
  tokenValue: string;
  lifetime: number;
  principal: string;
  extensions?: Record<string, string>;
}

/** The librdkafka properties of the security options (none when neither `tls` nor `sasl` is set). */
export function securityProperties(security: ResolvedSecurity): Record<string, unknown> {
  const { tls, sasl } = security;
  const out: Record<string, unknown> = {};
  if (tls === null && sasl === null) return out;
  out["security.protocol"] = tls === null ? "sasl_plaintext" : sasl === null ? "ssl" : "sasl_ssl";
  if (tls !== null) {
    if (tls.ca !== null) out[tls.ca.path === null ? "ssl.ca.pem" : "ssl.ca.location"] = tls.ca.path ?? tls.ca.pem;
    if (tls.cert !== null) out[tls.cert.path === null ? "ssl.certificate.pem" : "ssl.certificate.location"] = tls.cert.path ?? tls.cert.pem;
    if (tls.key !== null) out[tls.key.path === null ? "ssl.key.pem" : "ssl.key.location"] = tls.key.path ?? tls.key.pem;
    out["enable.ssl.certificate.verification"] = tls.verify;
    out["ssl.endpoint.identification.algorithm"] = tls.verify ? "https" : "none";
  }
  if (sasl !== null) {
    out["sasl.mechanisms"] = sasl.mechanism;
    if (sasl.mechanism === "OAUTHBEARER") {
      const provide = sasl.token;
      out.oauthbearer_token_refresh_cb = async (): Promise<RdToken> => {
        const t = await provide();
        const token: RdToken = { tokenValue: t.value, lifetime: t.expiresAt, principal: t.principal ?? "" };
        if (t.extensions !== undefined) token.extensions = { ...t.extensions };
        return token;
      };
    } else {
      out["sasl.username"] = sasl.username;
      out["sasl.password"] = sasl.password;
    }
  }
  // librdkafka retries a failed handshake every reconnect.backoff.ms (100 ms by default,
  // on every broker connection): with a bad certificate or credentials that is a storm
  // of handshakes. Slower here; config may set other values.
  out["reconnect.backoff.ms"] = SECURE_RECONNECT_MS;
  out["reconnect.backoff.max.ms"] = SECURE_RECONNECT_MAX_MS;
  return out;
}

/** The property names the security options own (whatever their values). */
const SECURITY_KEYS = /^(?:security\.protocol|sasl\.|ssl\.|ssl_|enable\.ssl\.|oauthbearer_token_refresh_cb$|enable\.sasl\.)/;

/** Whether librdkafka `key` is a security setting (TLS or SASL). */
export function isSecurityProperty(key: string): boolean {
  return SECURITY_KEYS.test(key);
}

/** Levenshtein distance, for suggestions. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The known property closest to `key`, if one is close enough to be a misspelling. */
export function closestProperty(key: string): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const name of LIBRDKAFKA_PROPERTIES) {
    const d = distance(key.toLowerCase(), name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 4)) ? best : null;
}

const shown = (path: string, value: unknown) => (isSecretOption(path) ? REDACTED : value);

/** Throws `InvalidOptionError` for the first key of `config` that is no librdkafka property, suggesting the closest. */
export function checkPropertyNames(config: Readonly<Record<string, unknown>>, name: string): void {
  for (const key of Object.keys(config)) {
    if (LIBRDKAFKA_PROPERTIES.has(key)) continue;
    const path = `${name}.${key}`;
    const near = closestProperty(key);
    throw new InvalidOptionError("INVALID_OPTION", path, shown(path, config[key]), near === null ? "a librdkafka property (see librdkafka's CONFIGURATION.md)" : `a librdkafka property: did you mean "${near}"?`);
  }
}

/**
 * The confluent transport's `config` check (see `ClientConfig.check`): unknown property
 * names, settings that contradict `tls`/`sasl`, and `tls.servername`, which librdkafka
 * cannot honour (it checks the host it connects to).
 */
export function checkLibrdkafkaConfig(config: Readonly<Record<string, unknown>>, common: ResolvedKafkaOptions, name: string): void {
  checkPropertyNames(config, name);
  const security = common.security;
  if (security.tls !== null && security.tls.servername !== null) {
    throw new InvalidOptionError("INVALID_OPTION", "tls.servername", security.tls.servername, "no value with the confluent transport (librdkafka checks the host name it connects to); use the platformatic transport, or reach the brokers by the name in their certificates");
  }
  if (security.tls === null && security.sasl === null) return;
  const mapped = securityProperties(security);
  for (const key of Object.keys(config)) {
    if (!isSecurityProperty(key)) continue;
    const ours = mapped[key];
    const path = `${name}.${key}`;
    if (ours !== undefined && (typeof ours === "function" || String(ours).toLowerCase() !== String(config[key]).toLowerCase())) {
      throw new InvalidOptionError("INVALID_OPTION", path, shown(path, config[key]), "no value: it contradicts the tls/sasl options, which set it (set it in one place only)");
    }
    if (ours === undefined && /^(?:security\.protocol|sasl\.mechanisms?|sasl\.username|sasl\.password|sasl\.oauthbearer\.method)$/.test(key)) {
      throw new InvalidOptionError("INVALID_OPTION", path, shown(path, config[key]), "no value: the tls/sasl options decide it (set it in one place only)");
    }
  }
}
