// Helpers for tests against the secured broker (KAFKA_MODE=secured bash scripts/kafka.sh
// start; scripts/kafka/secured.sh): its addresses, users and certificates, reading a topic
// back as the super user (kcat, SASL PLAIN on the INTERNAL listener), and creating a SCRAM
// user while it runs. Runs on Node, Deno and Bun.

import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import process from "node:process";
import { REPO_ROOT } from "./kafka.ts";

const env = process.env;
const port = Number(env.KAFKA_SECURED_PORT ?? 39700);
const dir = resolve(REPO_ROOT, env.KAFKA_SECURED_DIR ?? ".kafka/secured");

/** The secured broker as scripts/kafka/secured.sh makes it (its `env` command prints the same). */
export const SECURED = {
  bootstrap: `127.0.0.1:${port}`,
  adminBootstrap: `127.0.0.1:${port + 2}`,
  caPath: join(dir, "tls", "ca.pem"),
  otherCaPath: join(dir, "tls", "other-ca.pem"),
  user: "alice",
  password: "alice-secret-7d2e",
  adminPassword: "admin-secret-4f9c",
  /** A free port of the secured broker's range, for a test's TCP proxy. */
  proxyPort: port + 5,
  /** alice may write topics whose names start with this. */
  prefix: "secured-a",
} as const;

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Uint8Array) => (stdout += new TextDecoder().decode(d)));
    child.stderr.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** The values of every record of `topic`, re-read until `expected` are there (or 20 s). */
export async function consumeSecured(topic: string, expected: number): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await run("kcat", [
      "-C", "-b", SECURED.adminBootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
      "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=admin",
      "-X", `sasl.password=${SECURED.adminPassword}`, "-X", "fetch.wait.max.ms=10", "-f", "%s\n",
    ], 30_000);
    if (r.code !== 0) throw new Error(`kcat -C -t ${topic} failed (exit ${r.code}): ${r.stderr}`);
    const values = r.stdout.split("\n").filter((line) => line.length > 0);
    if (values.length >= expected || Date.now() > deadline) return values;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates a SCRAM-SHA-256/512 user with alice's rights while the broker runs. */
export async function scramAdd(user: string, password: string): Promise<void> {
  const r = await run("bash", [join(REPO_ROOT, "scripts", "kafka", "secured.sh"), "scram-add", user, password, "alice-acls"], 120_000);
  if (r.code !== 0) throw new Error(`secured.sh scram-add failed (exit ${r.code}): ${r.stderr}`);
}
