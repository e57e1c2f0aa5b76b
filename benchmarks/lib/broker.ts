// Control of the benchmarks' own Kafka broker, through scripts/kafka.sh.
//
// The benchmarks pause and kill their broker, so they do not use the shared one that
// tests run against (127.0.0.1:39092): by default they run their own instance from the
// same jars, with its state in .kafka/bench and its listeners on 127.0.0.1:39392-39395.
// Set BENCH_KAFKA_PORT / BENCH_KAFKA_DIR to move it. Node only.

import { spawn, spawnSync } from "node:child_process";
import { createConnection } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { BENCH_DIR } from "./common.ts";

const ROOT = join(BENCH_DIR, "..");
export const BENCH_KAFKA_PORT: number = Number(process.env.BENCH_KAFKA_PORT ?? 39392);
export const BENCH_KAFKA_DIR: string = process.env.BENCH_KAFKA_DIR ?? ".kafka/bench";
export const BOOTSTRAP = `127.0.0.1:${BENCH_KAFKA_PORT}`;

/** Runs `scripts/kafka.sh <verb>` against the benchmarks' broker; throws on failure. */
export function kafka(verb: "start" | "stop" | "pause" | "resume" | "kill" | "restart" | "status"): string {
  const started = Date.now();
  const r = spawnSync("bash", [join(ROOT, "scripts", "kafka.sh"), verb], {
    env: { ...process.env, KAFKA_DIR: BENCH_KAFKA_DIR, KAFKA_PORT: String(BENCH_KAFKA_PORT) },
    encoding: "utf8",
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`kafka.sh ${verb} failed (${r.status}): ${r.stderr}`);
  if (process.env.BENCH_VERBOSE) console.error(`kafka.sh ${verb}: ${Date.now() - started} ms`);
  return r.stdout.trim();
}

/** Starts the benchmarks' broker unless it is already up; returns its bootstrap address. */
export function ensureBroker(): string {
  const status = kafka("status");
  if (status.startsWith("paused")) kafka("resume");
  if (!status.startsWith("running")) kafka("start");
  return BOOTSTRAP;
}

/** Whether something accepts TCP connections at host:port within `ms`. */
export function reachable(address: string, ms = 1000): Promise<boolean> {
  const [host, port] = address.split(":");
  return new Promise((resolve) => {
    const socket = createConnection({ host: host!, port: Number(port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Like {@linkcode kafka}, without blocking the event loop (for benchmarks that measure it
 * while the broker is paused or killed). Resolves with the time the command took, in ms.
 */
export function kafkaAsync(verb: "pause" | "resume" | "kill" | "restart" | "start" | "stop"): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(ROOT, "scripts", "kafka.sh"), verb], {
      env: { ...process.env, KAFKA_DIR: BENCH_KAFKA_DIR, KAFKA_PORT: String(BENCH_KAFKA_PORT) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`kafka.sh ${verb} failed (${code}): ${stderr}`))));
  });
}
