/**
 * Builds the example Worker and runs it in workerd (from npm) with config.capnp.
 *
 *   node examples/cloudflare/run.ts            # serves http://127.0.0.1:8787 until Ctrl-C
 *
 * Environment:
 *   SHEDSINK_BROKERS    bootstrap brokers, default 127.0.0.1:39092 (`bash scripts/kafka.sh start`)
 *   SHEDSINK_TOPIC      topic, default shedsink-examples
 *   PORT                port to listen on, default 8787
 *   EXAMPLE_SELFTEST=1  listen on a free port, send 20 requests, wait until /metrics says
 *                       the object delivered all 20 with nothing dropped, exit 0 (or 1,
 *                       saying what was wrong)
 */

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import process from "node:process";
import { build } from "./build.ts";

const here = new URL(".", import.meta.url).pathname;
const selfTest = process.env.EXAMPLE_SELFTEST === "1";
const env = {
  ...process.env,
  SHEDSINK_BROKERS: process.env.SHEDSINK_BROKERS ?? "127.0.0.1:39092",
  SHEDSINK_TOPIC: process.env.SHEDSINK_TOPIC ?? "shedsink-examples",
};

/** A free port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

await build();
const port = selfTest ? await freePort() : Number(process.env.PORT ?? 8787);
const workerd = (createRequire(import.meta.url)("workerd") as { default: string }).default;
const child = spawn(workerd, ["serve", "config.capnp", "--experimental", `--socket-addr=http=127.0.0.1:${port}`], {
  cwd: here,
  env,
  stdio: selfTest ? ["ignore", "pipe", "pipe"] : "inherit",
});
let output = "";
child.stdout?.on("data", (b: Uint8Array) => (output += new TextDecoder().decode(b)));
child.stderr?.on("data", (b: Uint8Array) => (output += new TextDecoder().decode(b)));
if (!selfTest) {
  console.log(`serving http://127.0.0.1:${port} (brokers ${env.SHEDSINK_BROKERS}, topic ${env.SHEDSINK_TOPIC})`);
} else {
  const base = `http://127.0.0.1:${port}`;
  const problems: string[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    for (let i = 0; ; i++) {
      try {
        await (await fetch(`${base}/ready`)).arrayBuffer();
        break;
      } catch {
        if (i > 200) throw new Error(`workerd did not start:\n${output}`);
        await sleep(50);
      }
    }
    await (await fetch(`${base}/metrics`)).text(); // the object, before the records
    for (let i = 0; i < 20; i++) await (await fetch(`${base}/orders/${i}`)).text();
    let metrics = "";
    for (let i = 0; i < 300 && !metrics.includes("\nshedsink_records_delivered_total 21\n"); i++) {
      await sleep(100);
      metrics = await (await fetch(`${base}/metrics`)).text();
    }
    // 21: the 20 orders and the first /ready.
    if (!metrics.includes("\nshedsink_records_delivered_total 21\n")) problems.push(`/metrics does not say 21 delivered:\n${metrics}\n${output}`);
    if (/\nshedsink_records_dropped_total\{[^}]*\} [1-9]/.test(metrics)) problems.push(`records were dropped:\n${metrics}`);
  } catch (error) {
    problems.push(String(error));
  }
  child.kill("SIGTERM");
  if (problems.length > 0) {
    console.error(`cloudflare example: FAILED\n${problems.join("\n")}`);
    process.exit(1);
  }
  console.log("cloudflare example: 21 records delivered through the Durable Object, none dropped");
  process.exit(0);
}
