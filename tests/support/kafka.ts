// Helpers for tests that need the local Kafka broker (scripts/kafka.sh).
//
// Runs unchanged on Node 22, 24 and 26, Deno and Bun: only node:child_process,
// node:net, node:fs, node:path and node:process, plus Web standards. Reading topics
// back uses kcat (installed by `scripts/kafka.sh start`); creating topics uses Kafka's
// own TopicCommand from the jars in .kafka/libs.
//
// A missing broker is a test failure, never a skip: call `await requireBroker()`.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createConnection } from "node:net";
import { dirname, join, resolve } from "node:path";
import process from "node:process";

const env = process.env;
const basePort = Number(env.KAFKA_PORT ?? 39092);

/** The broker's normal bootstrap address (PLAINTEXT listener). */
export const BOOTSTRAP: string = env.KAFKA_BOOTSTRAP ?? `127.0.0.1:${basePort}`;

/**
 * Bootstrap address for clients that must reach the broker only through a test TCP
 * proxy (tests/support/proxy.ts): the broker's PROXIED listener (default port 39094)
 * advertises this address, so start the proxy listening on its port and forwarding to
 * PROXIED_TARGET_PORT.
 */
export const PROXIED_BOOTSTRAP: string =
  env.KAFKA_PROXIED_BOOTSTRAP ??
  `127.0.0.1:${env.KAFKA_PROXIED_ADVERTISED_PORT ?? basePort + 3}`;

/** Port the proxy listens on (the advertised PROXIED port). */
export const PROXIED_PROXY_PORT: number = Number(PROXIED_BOOTSTRAP.split(":").pop());

/** Port of the broker's PROXIED listener, where the proxy forwards to. */
export const PROXIED_TARGET_PORT: number = Number(env.KAFKA_PROXIED_PORT ?? basePort + 2);

function findRepoRoot(): string {
  let dir: string;
  const meta = import.meta as ImportMeta & { dirname?: string };
  if (typeof meta.dirname === "string") {
    dir = meta.dirname;
  } else {
    dir = decodeURIComponent(new URL(".", import.meta.url).pathname);
  }
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, "scripts", "kafka.sh"))) return d;
    if (dirname(d) === d) break;
  }
  return process.cwd();
}

/** The repository root (where scripts/kafka.sh lives). */
export const REPO_ROOT: string = findRepoRoot();

const KAFKA_LIBS = resolve(REPO_ROOT, env.KAFKA_LIBS ?? ".kafka/libs");

interface RunResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: Uint8Array;
  stderr: string;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: REPO_ROOT,
      env: process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, opts.timeoutMs);
    }
    child.stdout!.on("data", (c: Uint8Array) => out.push(c));
    child.stderr!.on("data", (c: Uint8Array) => err.push(c));
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        timedOut,
        stdout: concat(out),
        stderr: new TextDecoder().decode(concat(err)),
      });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * Runs `bash scripts/kafka.sh <command>` from the repository root, e.g.
 * `kafka("start")`, `kafka("pause")`, `kafka("kill")`, `kafka("restart")`.
 * Rejects with the script's output when it exits non-zero.
 */
export async function kafka(command: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  const args = command.trim().split(/\s+/).filter(Boolean);
  const r = await run("bash", [join(REPO_ROOT, "scripts", "kafka.sh"), ...args], {
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  if (r.code !== 0) {
    throw new Error(
      `scripts/kafka.sh ${command} failed (${r.timedOut ? "timed out" : `exit ${r.code ?? r.signal}`}):\n` +
        `${text(r.stdout)}${r.stderr}`,
    );
  }
}

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** True when a TCP connection to `address` (default BOOTSTRAP) succeeds. */
export function brokerReachable(address: string = BOOTSTRAP, timeoutMs = 2000): Promise<boolean> {
  const { host, port } = hostPort(address);
  return new Promise((resolvePromise) => {
    const socket = createConnection({ host, port });
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

/** Throws when the broker cannot be reached: tests that need Kafka fail, never skip. */
export async function requireBroker(address: string = BOOTSTRAP): Promise<void> {
  if (!(await brokerReachable(address))) {
    throw new Error(
      `Kafka broker not reachable at ${address}; start it with \`npm run kafka -- start\``,
    );
  }
}

/** A fresh topic name: prefix, time and randomness, only [a-z0-9-]. */
export function uniqueTopic(prefix = "test"): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9._-]+/g, "-");
  const rand = Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, "0");
  return `${clean}-${Date.now().toString(36)}-${rand}`;
}

async function kcat(args: string[], timeoutMs: number): Promise<RunResult> {
  try {
    return await run("kcat", args, { timeoutMs });
  } catch (e) {
    throw new Error(
      `${(e as Error).message}; kcat is needed by the Kafka test helpers ` +
        "(`npm run kafka -- start` installs it, or `apt-get install -y kcat`)",
    );
  }
}

/** Partition count of `topic` in the broker's metadata, or 0 when it does not exist. */
export async function topicPartitions(topic: string, bootstrap = BOOTSTRAP): Promise<number> {
  const r = await kcat(["-L", "-J", "-b", bootstrap, "-t", topic, "-m", "5", "-X", "allow.auto.create.topics=false"], 10_000);
  if (r.code !== 0) {
    throw new Error(`kcat -L -t ${topic} failed (exit ${r.code ?? r.signal}): ${r.stderr}`);
  }
  const meta = JSON.parse(text(r.stdout)) as {
    topics?: { topic: string; partitions?: unknown[]; error?: string }[];
  };
  const t = meta.topics?.find((x) => x.topic === topic);
  if (!t || t.error) return 0;
  return t.partitions?.length ?? 0;
}

/**
 * Creates a topic with Kafka's own TopicCommand (replication factor 1) and waits until
 * the broker's metadata shows all its partitions. `extraConfigs` are topic configs,
 * e.g. `{ "max.message.bytes": 2048, "retention.ms": 60000 }`. Rejects if it exists.
 */
export async function createTopic(
  name: string,
  partitions = 3,
  extraConfigs: Record<string, string | number> = {},
  bootstrap = BOOTSTRAP,
): Promise<void> {
  const args = [
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Xmx256m",
    "-Dshedsink.kafka.log.level=WARN",
    `-Dlog4j2.configurationFile=${join(REPO_ROOT, "scripts", "kafka", "log4j2.properties")}`,
    "-cp",
    `${KAFKA_LIBS}/*`,
    "org.apache.kafka.tools.TopicCommand",
    "--bootstrap-server",
    bootstrap,
    "--create",
    "--topic",
    name,
    "--partitions",
    String(partitions),
    "--replication-factor",
    "1",
  ];
  for (const [k, v] of Object.entries(extraConfigs)) args.push("--config", `${k}=${v}`);
  const r = await run(env.JAVA ?? "java", args, { timeoutMs: 60_000 });
  if (r.code !== 0) {
    throw new Error(
      `creating topic ${name} failed (${r.timedOut ? "timed out" : `exit ${r.code ?? r.signal}`}):\n` +
        `${text(r.stdout)}${r.stderr}`,
    );
  }
  const deadline = Date.now() + 10_000;
  while ((await topicPartitions(name, bootstrap)) < partitions) {
    if (Date.now() > deadline) throw new Error(`topic ${name} created but not in metadata after 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One record read back from a topic. */
export interface ConsumedRecord {
  partition: number;
  offset: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
}

export interface ConsumeOptions {
  /** Keep re-reading the topic until at least this many records are there. */
  expected?: number;
  /** Give up waiting for `expected` after this long and return what was read (default 15 s). */
  timeoutMs?: number;
  bootstrap?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// kcat prints, per record, "partition offset keylen valuelen\n" then the raw key and
// value bytes (a length of -1 means null), so any bytes round-trip exactly.
function parseRecords(buf: Uint8Array): ConsumedRecord[] {
  const records: ConsumedRecord[] = [];
  let at = 0;
  while (at < buf.length) {
    const nl = buf.indexOf(10, at);
    if (nl < 0) throw new Error("kcat output truncated (no header line)");
    const header = text(buf.subarray(at, nl)).split(" ").map(Number);
    if (header.length !== 4 || header.some((n) => !Number.isInteger(n))) {
      throw new Error(`unexpected kcat output: ${text(buf.subarray(at, nl))}`);
    }
    const [partition, offset, keyLen, valueLen] = header as [number, number, number, number];
    at = nl + 1;
    const key = keyLen < 0 ? null : buf.slice(at, at + keyLen);
    at += Math.max(keyLen, 0);
    const value = valueLen < 0 ? null : buf.slice(at, at + valueLen);
    at += Math.max(valueLen, 0);
    if (at > buf.length) throw new Error("kcat output truncated (record body)");
    records.push({ partition, offset, key, value });
  }
  return records;
}

async function readTopicOnce(topic: string, bootstrap: string, timeoutMs: number): Promise<ConsumedRecord[]> {
  const r = await kcat(
    [
      "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
      // reach the end of each partition without waiting out the default 500 ms fetch
      "-X", "fetch.wait.max.ms=10",
      "-f", "%p %o %K %S\n%k%s",
    ],
    timeoutMs,
  );
  if (r.code === 0) return parseRecords(r.stdout);
  if (/Unknown topic|UNKNOWN_TOPIC/i.test(r.stderr)) return [];
  throw new Error(
    `kcat -C -t ${topic} failed (${r.timedOut ? "timed out" : `exit ${r.code ?? r.signal}`}): ${r.stderr}`,
  );
}

/**
 * Reads every record of `topic` from the beginning (all partitions; per-partition order).
 * With `expected`, re-reads until that many records are there or `timeoutMs` passes, and
 * then returns what it has, so the caller's assertion shows what is missing. A topic
 * that does not exist reads as empty.
 */
export async function consumeRecords(topic: string, opts: ConsumeOptions = {}): Promise<ConsumedRecord[]> {
  const bootstrap = opts.bootstrap ?? BOOTSTRAP;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(deadline - Date.now(), 1000);
    const records = await readTopicOnce(topic, bootstrap, left + 5000);
    if (opts.expected === undefined || records.length >= opts.expected || Date.now() >= deadline) {
      return records;
    }
    await sleep(200);
  }
}

/** The values (raw bytes) of every record of `topic`; null values are left out. */
export async function consumeAll(topic: string, opts: ConsumeOptions = {}): Promise<Uint8Array[]> {
  const records = await consumeRecords(topic, opts);
  return records.flatMap((r) => (r.value === null ? [] : [r.value]));
}

/** The values of every record of `topic` as UTF-8 strings (e.g. one JSON document each). */
export async function consumeValues(topic: string, opts: ConsumeOptions = {}): Promise<string[]> {
  return (await consumeAll(topic, opts)).map(text);
}
