/**
 * The common security options (`tls`, `sasl`) as `@platformatic/kafka` connection
 * options, and the check that the platformatic transport's `config` does not set them a
 * second time.
 *
 * @module
 */

import { InvalidOptionError } from "../../core/errors.ts";
import { REDACTED } from "../../validate.ts";
import type { ResolvedKafkaOptions } from "../kafka/options.ts";
import type { ResolvedSecurity } from "../kafka/security.ts";

/** The client options of the security options (`tls`, `tlsServerName`, `sasl`); none when neither is set. */
export function securityOptions(security: ResolvedSecurity): Record<string, unknown> {
  const { tls, sasl } = security;
  const out: Record<string, unknown> = {};
  if (tls !== null) {
    const t: Record<string, unknown> = { rejectUnauthorized: tls.verify };
    if (tls.ca !== null) t.ca = tls.ca.pem;
    if (tls.cert !== null) t.cert = tls.cert.pem;
    if (tls.key !== null) t.key = tls.key.pem;
    if (tls.servername !== null) {
      t.servername = tls.servername;
      out.tlsServerName = tls.servername;
    }
    out.tls = t;
  }
  if (sasl !== null) {
    if (sasl.mechanism === "OAUTHBEARER") {
      const provide = sasl.token;
      out.sasl = {
        mechanism: "OAUTHBEARER",
        token: async () => (await provide()).value,
        oauthBearerExtensions: async () => ({ ...((await provide()).extensions ?? {}) }),
      };
    } else {
      out.sasl = { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
    }
  }
  return out;
}

/** Client options that are security settings (TLS or SASL). */
export const SECURITY_KEYS: ReadonlySet<string> = new Set(["tls", "ssl", "tlsServerName", "sasl"]);

/** The platformatic transport's `config` check (see `ClientConfig.check`): no security setting beside `tls`/`sasl`. */
export function checkProducerConfig(config: Readonly<Record<string, unknown>>, common: ResolvedKafkaOptions, name: string): void {
  if (common.security.tls === null && common.security.sasl === null) return;
  for (const key of Object.keys(config)) {
    if (!SECURITY_KEYS.has(key)) continue;
    throw new InvalidOptionError("INVALID_OPTION", `${name}.${key}`, key === "sasl" || key === "tls" || key === "ssl" ? REDACTED : config[key], "no value: the tls/sasl options set it (set it in one place only)");
  }
}
