// The demo's orchestrator (run by scripts/demo.sh): starts the server and the load
// generator, pauses the Kafka broker in the middle of the run, prints a live progress
// line, and at the end a summary table, demo-out/report.json and demo-out/timeline.svg.
//
//   node --import tsx demo/main.ts [options]      (see --help)

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { conservationErrors, DROP_REASONS, type DropReason, type SinkStats } from "../mod.ts";
import { classChecks, classReport, tallyLevels } from "./classes.ts";
import { bytes, int, type LatencySummary, parseBytes } from "./common.ts";
import { appThreadReport } from "./cpu.ts";
import { renderTimeline } from "./plot.ts";
import { appThreadLive, type Check, type DemoReport, printLive, renderTable, type Sample } from "./report.ts";

const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

// ------------------------------------------------------------------ options

interface Options {
  duration: number;
  outage: number;
  baseline: number;
  warmup: number;
  rate: number;
  capacityBytes: number;
  runtime: "node" | "deno" | "bun";
  transport: "confluent" | "kafka" | "memory";
  connections: number;
  backendMs: number;
  lingerMs: number | undefined;
  out: string;
  brokers: string;
  shedding: boolean;
  /** The sink's flusher mode; undefined: the sink's default. */
  flusher: "thread" | "worker" | undefined;
}

/** The buffer under --shedding unless --capacity is given. */
const SHEDDING_CAPACITY = "2MiB";

const HELP = `Usage: bash scripts/demo.sh [options]

A server publishing query telemetry to Kafka through shedsink while the broker is
paused for a while. Prints a live line, then a summary table; writes report.json and
timeline.svg to the output directory.

  --duration S     seconds of load with telemetry on            (default 60)
  --outage S       seconds the broker is paused, mid-run         (default 15)
  --baseline S     seconds of the same load with telemetry off, half
                   before the run and half after it              (default 10; 0: none)
  --warmup S       seconds of load before measuring              (default 3)
  --rate N         requests per second                           (default 800)
  --capacity SIZE  the sink's buffer, e.g. 5MiB, 1MiB, 512KiB     (default 5MiB)
  --runtime R      server runtime: node, deno or bun             (default node)
  --transport T    kafka (kafkaTransport: @platformatic/kafka in a worker,
                   librdkafka on Node's thread, @platformatic/kafka on Deno's and
                   Bun's), confluent (librdkafka, Node, thread only), or memory
                   (no broker: the outage is simulated by holding sends)
                                                                 (default kafka)
  --flusher M      the sink's flusher: thread (the flusher and the transport on
                   the server's thread) or worker (in a worker thread) (default:
                   the sink's own, a worker for kafka; the summary says which ran)
  --connections N  load generator's keep-alive connections       (default 16)
  --backend-ms MS  each query's simulated storage round trip     (default 1; 0: none)
  --linger-ms MS   the sink's batch.lingerMs                     (default: the sink's, 20)
  --out DIR        output directory                              (default demo-out)
  --shedding       graded shedding: each request also emits two debug samples
                   and, one in 50, an error record; the sink sheds by the records'
                   "level" (error 0, info 1, debug 3) and evicts less important
                   records when full, so debug gives way first and no error is
                   lost. Defaults to a ${SHEDDING_CAPACITY} buffer, far less than the outage
                   needs (--capacity overrides); the table shows records by class

The live line and the summary show the server's main thread's CPU time (Linux:
/proc/self/task/<pid>/stat) per request, and the sink's cost per record: the same
thread's CPU with telemetry on minus with it off (the baseline), per record.

Try: --outage 35 (longer than a 5 MiB buffer absorbs at 800 req/s) or --capacity 1MiB.`;

function parseOptions(argv: string[]): Options {
  const o: Options = {
    duration: 60,
    outage: 15,
    baseline: 10,
    warmup: 3,
    rate: 800,
    capacityBytes: 5 * 1024 * 1024,
    runtime: "node",
    transport: "confluent",
    connections: 16,
    backendMs: 1,
    lingerMs: undefined,
    out: "demo-out",
    brokers: process.env.KAFKA_BOOTSTRAP ?? `127.0.0.1:${process.env.KAFKA_PORT ?? 39092}`,
    shedding: false,
    flusher: undefined,
  };
  let capacityGiven = false;
  let transport: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      console.log(HELP);
      process.exit(0);
    }
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    const num = (min: number) => {
      const v = value();
      const n = Number(v);
      if (!Number.isFinite(n) || n < min) fail(`${flag} must be a number >= ${min}, got ${JSON.stringify(v)}`);
      return n;
    };
    switch (flag) {
      case "--shedding":
        if (inline !== undefined) fail("--shedding takes no value");
        o.shedding = true;
        break;
      case "--duration": o.duration = num(1); break;
      case "--outage": o.outage = num(0); break;
      case "--baseline": o.baseline = num(0); break;
      case "--warmup": o.warmup = num(0); break;
      case "--rate": o.rate = num(1); break;
      case "--connections": o.connections = Math.round(num(1)); break;
      case "--backend-ms": o.backendMs = num(0); break;
      case "--linger-ms": o.lingerMs = Math.round(num(0)); break;
      case "--capacity":
        try {
          o.capacityBytes = parseBytes(value());
          capacityGiven = true;
        } catch (e) {
          fail(`--capacity: ${(e as Error).message}`);
        }
        break;
      case "--runtime": {
        const v = value();
        if (v !== "node" && v !== "deno" && v !== "bun") fail(`--runtime must be node, deno or bun, got ${JSON.stringify(v)}`);
        o.runtime = v;
        break;
      }
      case "--transport": transport = value(); break;
      case "--flusher": {
        const v = value();
        if (v !== "thread" && v !== "worker") fail(`--flusher must be thread or worker, got ${JSON.stringify(v)}`);
        o.flusher = v;
        break;
      }
      case "--out": o.out = value(); break;
      case "--brokers": o.brokers = value(); break;
      default: fail(`unknown option ${JSON.stringify(arg)} (see --help)`);
    }
  }
  if (o.shedding && !capacityGiven) o.capacityBytes = parseBytes(SHEDDING_CAPACITY);
  if (o.outage >= o.duration) fail(`--outage (${o.outage}) must be shorter than --duration (${o.duration})`);
  // librdkafka cannot run in a worker thread: in worker mode Node takes kafkaTransport
  // too, which is @platformatic/kafka there.
  o.transport = (transport ?? "kafka") as Options["transport"];
  if (!["confluent", "kafka", "memory"].includes(o.transport)) fail(`--transport must be confluent, kafka or memory, got ${JSON.stringify(transport)}`);
  if (o.transport === "confluent" && o.runtime !== "node") fail("the confluent transport (librdkafka) runs on Node only: use --transport kafka with Deno or Bun");
  if (o.transport === "confluent" && o.flusher === "worker") fail("the confluent transport (librdkafka) cannot run in a worker thread: use --transport kafka with --flusher worker");
  if (o.transport !== "memory" && !existsSync(join(ROOT, "src", "transports", `${o.transport}.ts`))) {
    fail(
      `the ${o.transport} transport (src/transports/${o.transport}.ts) is not in this checkout yet.\n` +
        "  Run the demo without a broker instead: --transport memory (the outage is simulated by holding sends).",
    );
  }
  return o;
}

/** A number field of a reply (null in JSON when it was NaN) as a number. */
function numberOr(o: unknown, key: string): number {
  const v = (o as Record<string, unknown> | undefined)?.[key];
  return typeof v === "number" ? v : NaN;
}

function fail(message: string): never {
  console.error(`demo: ${message}`);
  process.exit(2);
}

const opts = parseOptions(process.argv.slice(2));
const outDir = resolve(ROOT, opts.out);
mkdirSync(outDir, { recursive: true });
const topic = `shedsink-demo-${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}-${Math.floor(Math.random() * 1e4)}`;
const useBroker = opts.transport !== "memory";
const tty = process.stdout.isTTY === true;

// ------------------------------------------------------------------ child processes

interface Child {
  readonly proc: ChildProcess;
  readonly name: string;
  send(command: Record<string, unknown>): void;
  /** The next reply of `type` (and `seq`, if given). */
  next(type: string, seq?: number, timeoutMs?: number): Promise<Record<string, unknown>>;
}

function startChild(name: string, argv: string[], env: Record<string, string>): Child {
  const log = createWriteStream(join(outDir, `${name}.log`));
  const proc = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  proc.stderr!.pipe(log);
  const waiting: Array<{ type: string; seq: number | undefined; resolve: (m: Record<string, unknown>) => void }> = [];
  const early: Record<string, unknown>[] = [];
  let buffer = "";
  proc.stdout!.setEncoding("utf8");
  proc.stdout!.on("data", (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line) as Record<string, unknown>;
      } catch {
        log.write(`[stdout] ${line}\n`);
        continue;
      }
      const i = waiting.findIndex((w) => w.type === message.type && (w.seq === undefined || w.seq === message.seq));
      if (i >= 0) waiting.splice(i, 1)[0]!.resolve(message);
      else early.push(message);
    }
  });
  let exited: string | null = null;
  proc.on("exit", (code, signal) => {
    exited = `${name} exited (${signal ?? `code ${code}`})`;
  });
  return {
    proc,
    name,
    send(command) {
      if (proc.stdin!.writable) proc.stdin!.write(`${JSON.stringify(command)}\n`);
    },
    next(type, seq, timeoutMs = 60_000) {
      const i = early.findIndex((m) => m.type === type && (seq === undefined || m.seq === seq));
      if (i >= 0) return Promise.resolve(early.splice(i, 1)[0]!);
      return new Promise((resolvePromise, reject) => {
        const entry = { type, seq, resolve: (m: Record<string, unknown>) => (clearTimeout(timer), clearInterval(watch), resolvePromise(m)) };
        const timer = setTimeout(() => {
          clearInterval(watch);
          waiting.splice(waiting.indexOf(entry), 1);
          reject(new Error(`${name}: no "${type}" reply within ${timeoutMs} ms (see ${relative(process.cwd(), join(outDir, `${name}.log`))})`));
        }, timeoutMs);
        const watch = setInterval(() => {
          if (exited !== null) {
            clearTimeout(timer);
            clearInterval(watch);
            reject(new Error(`${exited} (see ${relative(process.cwd(), join(outDir, `${name}.log`))})`));
          }
        }, 50);
        waiting.push(entry);
      });
    },
  };
}

function serverArgv(): string[] {
  const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);
  switch (opts.runtime) {
    case "deno":
      return [bin("deno"), "run", "-A", "--no-lock", "demo/server.ts"];
    case "bun":
      return [bin("bun"), "demo/server.ts"];
    default:
      return [process.execPath, "--import", "tsx", "demo/server.ts"];
  }
}

// ------------------------------------------------------------------ broker control

let brokerPaused = false;

function kafka(command: "pause" | "resume"): void {
  const r = spawnSync("bash", [join(ROOT, "scripts", "kafka.sh"), command], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`scripts/kafka.sh ${command} failed: ${r.stderr}`);
  brokerPaused = command === "pause";
}

function cleanupBroker(): void {
  if (brokerPaused) {
    try {
      kafka("resume");
    } catch (e) {
      console.error(`demo: ${(e as Error).message}`);
    }
  }
}

// ------------------------------------------------------------------ the run

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SAMPLE_MS = 500;
const UPLOAD_LINES = 2000;
let uploadId = 0;

/** POSTs 2,000 NDJSON lines of telemetry (every 500th one malformed) to /ingest. */
async function postNdjson(port: number, upload: number) {
  const lines: string[] = [];
  for (let i = 0; i < UPLOAD_LINES; i++) {
    const id = upload * UPLOAD_LINES + i;
    lines.push(
      i % 500 === 499
        ? `{"source":"ingest","id":${id},`
        : JSON.stringify({ ...(opts.shedding ? { level: "info" } : {}), source: "ingest", id, keyspace: "commerce", table: "uploads", rows: i % 17, latencyMs: 0.1 }),
    );
  }
  const body = lines.join("\n") + "\n";
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/ingest`, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
  const result = (await res.json()) as { lines: number; records: number; invalid: number; ms: number };
  return { ...result, bytes: body.length, status: res.status, clientMs: performance.now() - started };
}

const server = startChild("server", serverArgv(), {
  DEMO_SERVER: JSON.stringify({ transport: opts.transport, brokers: opts.brokers, topic, capacityBytes: opts.capacityBytes, backendMs: opts.backendMs, lingerMs: opts.lingerMs, shedding: opts.shedding, flusher: opts.flusher }),
});
const children: Child[] = [server];

function shutdown(code: number): never {
  cleanupBroker();
  for (const c of children) c.proc.kill("SIGKILL");
  process.exit(code);
}
process.on("SIGINT", () => {
  if (tty) process.stdout.write("\n");
  console.error("demo: interrupted");
  shutdown(130);
});
process.on("SIGTERM", () => shutdown(143));

const loadAtStart = loadavg()[0]!;
let transportLabel: string = opts.transport;
/** The flusher mode the sink runs in, as its stats() say. */
let flusherMode: string = opts.flusher ?? "thread";

async function main(): Promise<number> {
  const listening = await server.next("listening", undefined, 120_000);
  const port = listening.port as number;
  // kafkaTransport() picks a client per runtime: name both when they differ.
  transportLabel = listening.transport === opts.transport ? opts.transport : `${opts.transport} (${listening.transport})`;
  flusherMode = String(listening.flusher);
  const load = startChild("load", [process.execPath, "--import", "tsx", "demo/load.ts"], {
    DEMO_LOAD: JSON.stringify({ port, rate: opts.rate, connections: opts.connections, maxInFlight: opts.connections * 8 }),
  });
  children.push(load);
  await load.next("ready", undefined, 60_000);

  // The telemetry-off baseline is split around the run, so that drift over time (JIT
  // and heap settling, other work on the machine) weighs on both sides alike.
  const plan = {
    warmup: opts.warmup,
    baseline: opts.baseline / 2,
    before: (opts.duration - opts.outage) / 2,
    outage: opts.outage,
  };
  const t0 = Date.now() + (plan.warmup + plan.baseline) * 1000; // telemetry on from here
  const rel = (t: number) => (t - t0) / 1000;
  const outageAt = t0 + plan.before * 1000;
  const events: Array<{ t: number; what: string }> = [];
  const outage = { start: NaN, end: NaN };

  console.log(
    `demo: ${opts.runtime} server on 127.0.0.1:${port}, ${transportLabel} transport` +
      (useBroker ? ` to ${opts.brokers}, topic ${topic}` : " (no broker: the outage is simulated)") +
      `; flusher: ${flusherMode}${opts.flusher === undefined ? " (the sink's default)" : ""}` +
      `; ${int(opts.rate)} req/s from a separate load-generator process`,
  );
  console.log(
    `demo: ${opts.warmup > 0 ? `${opts.warmup} s warm-up, ` : ""}${opts.baseline > 0 ? `${plan.baseline} s telemetry off, ` : ""}` +
      `${opts.duration} s telemetry on with the broker paused for ${opts.outage} s from t=${plan.before.toFixed(1)} s` +
      `${opts.baseline > 0 ? `, ${plan.baseline} s telemetry off` : ""}; buffer ${bytes(opts.capacityBytes)}` +
      (opts.shedding ? "; graded shedding on the records' level (error 0, info 1, debug 3)" : ""),
  );

  const phaseAt = (t: number) => {
    let name: string | undefined;
    for (const e of events) if (e.t <= t) name = e.what;
    return name;
  };
  const setPhase = (name: string, telemetry: boolean) => {
    server.send({ cmd: "phase", name, telemetry });
    load.send({ cmd: "phase", name });
    events.push({ t: Date.now(), what: name });
  };

  // Sampling: both processes are asked at the same instant; their answers make one sample.
  const samples: Sample[] = [];
  let seq = 0;
  let lastPlain = 0;
  let sampling = true;
  let phase = "warmup";
  /** The index of the current phase's first sample. */
  let phaseStart = 0;
  let lastSampleAt = Date.now();
  const takeSample = async () => {
    const n = ++seq;
    server.send({ cmd: "sample", seq: n });
    load.send({ cmd: "sample", seq: n });
    const [s, l] = await Promise.all([server.next("sample", n, 10_000), load.next("sample", n, 10_000)]);
    const now = Date.now();
    const dt = (now - lastSampleAt) / 1000;
    lastSampleAt = now;
    const sample: Sample = {
      t: rel(now),
      dt,
      // The phase the interval mostly belongs to (the server reports the one at its end).
      phase: phaseAt(now - (dt * 1000) / 2) ?? (s.phase as string),
      broker: useBroker ? (brokerPaused ? "paused" : "up") : brokerPaused ? "simulated outage" : "none",
      requests: s.requests as number,
      serverLat: s.lat as LatencySummary,
      emit: s.emit as LatencySummary,
      client: { sent: l.sent as number, ok: l.ok as number, errors: l.errors as number, skipped: l.skipped as number, lat: l.lat as LatencySummary },
      stats: s.stats as SinkStats,
      cpu: { thread: numberOr(s.cpu, "thread"), process: numberOr(s.cpu, "process") },
      emitted: s.emitted as number,
    };
    samples.push(sample);
    const cpuText = appThreadLive(samples, phaseStart);
    if (tty) printLive(sample, cpuText, true);
    else if (now - lastPlain >= 5000 || sample.phase !== phase) {
      printLive(sample, cpuText, false);
      lastPlain = now;
    }
    if (sample.phase !== phase) phaseStart = samples.length - 1;
    phase = sample.phase;
  };
  const sampler = (async () => {
    let next = Date.now() + SAMPLE_MS;
    while (sampling) {
      await sleep(Math.max(0, next - Date.now()));
      next += SAMPLE_MS;
      if (sampling) await takeSample();
    }
  })();
  const until = (t: number) => sleep(Math.max(0, t - Date.now()));
  const note = (text: string) => {
    if (tty) process.stdout.write("\r\x1b[2K");
    console.log(text);
  };

  // Warm-up with telemetry on, so that the emit path, the flusher and the transport are
  // warm before anything is measured, like in a server that has been up for a while.
  setPhase("warmup", true);
  load.send({ cmd: "run", on: true });
  lastSampleAt = Date.now();
  let warmupUploads = 0;
  if (plan.warmup > 0) {
    // The /ingest path too (its records go to Kafka like the others and are counted).
    for (let i = 0; i < 3 && Date.now() < t0 - plan.baseline * 1000 - 500; i++) {
      await postNdjson(port, uploadId++);
      warmupUploads++;
    }
    await until(t0 - plan.baseline * 1000);
  }
  if (plan.baseline > 0) {
    setPhase("baseline-before", false);
    await until(t0);
  }
  setPhase("before", true);
  await until(outageAt);

  // The outage.
  const beforeStats = samples.filter((s) => s.phase === "before");
  const acceptedRate = beforeStats.length > 1
    ? (beforeStats[beforeStats.length - 1]!.stats.accepted.bytes - beforeStats[0]!.stats.accepted.bytes) /
      beforeStats.slice(1).reduce((a, s) => a + s.dt, 0)
    : NaN;
  const absorbSeconds = opts.capacityBytes / acceptedRate;
  setPhase("outage", true);
  if (useBroker) kafka("pause");
  else {
    server.send({ cmd: "outage", on: true });
    brokerPaused = true;
  }
  outage.start = rel(Date.now());
  note(
    `demo: t=${outage.start.toFixed(1)} s: broker ${useBroker ? "paused (SIGSTOP)" : "outage simulated"} for ${opts.outage} s. ` +
      (Number.isFinite(absorbSeconds)
        ? `Telemetry arrives at ${bytes(acceptedRate)}/s, so the ${bytes(opts.capacityBytes)} buffer absorbs about ${absorbSeconds.toFixed(0)} s: ` +
          (absorbSeconds > opts.outage
            ? "this outage fits, nothing should be dropped."
            : opts.shedding
            ? "this outage does not fit: debug records give way first (from 50% fill), then info (from 85%); errors stay."
            : "this outage does not fit, expect buffer_full drops.")
        : ""),
  );

  // An NDJSON upload while the broker is away: piped into the sink, it is read at once.
  // Requests served while it is parsed are counted apart ("upload"): the baseline has no
  // upload, so they would blur the comparison of telemetry on and off.
  const upload = (async () => {
    await sleep(Math.min(1000, opts.outage * 250));
    const at = rel(Date.now());
    setPhase("upload", true);
    const result = await postNdjson(port, uploadId++);
    const end = rel(Date.now());
    if (brokerPaused) setPhase("outage", true);
    return { ...result, at, end };
  })();

  await until(outageAt + opts.outage * 1000);
  if (useBroker) kafka("resume");
  else {
    server.send({ cmd: "outage", on: false });
    brokerPaused = false;
  }
  outage.end = rel(Date.now());
  setPhase("after", true);
  const ingest = await upload;
  note(
    `demo: t=${outage.end.toFixed(1)} s: broker ${useBroker ? "resumed (SIGCONT)" : "back"}. ` +
      `The NDJSON upload during the outage (${int(ingest.lines)} lines, ${bytes(ingest.bytes)}) was read in ${ingest.ms} ms.`,
  );
  await until(t0 + opts.duration * 1000);
  if (plan.baseline > 0) {
    setPhase("baseline-after", false);
    await until(t0 + (opts.duration + plan.baseline) * 1000);
  }
  server.send({ cmd: "measured" }); // the server's CPU by phase ends here

  // The end: stop the load, scrape /metrics, let the sink flush and close.
  sampling = false;
  await sampler;
  if (tty) process.stdout.write("\n");
  load.send({ cmd: "stop" });
  const loadFinal = await load.next("final", undefined, 30_000);
  const scrape = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch((e: unknown) => `error: ${e}`);
  console.log("demo: load stopped; flushing the sink and reading the topic back");
  server.send({ cmd: "finish", flushTimeoutMs: 60_000 });
  const serverFinal = await server.next("final", undefined, 90_000);
  transportLabel = serverFinal.transport === opts.transport ? opts.transport : `${opts.transport} (${serverFinal.transport})`;
  flusherMode = String(serverFinal.flusher);

  const report = buildReport({ samples, loadFinal, serverFinal, scrape, ingest: { ...ingest, warmupUploads }, outage, absorbSeconds, acceptedRate, events: events.map((e) => ({ t: rel(e.t), what: e.what })) });
  const { svg, series } = renderTimeline(report);
  report.series = series;
  const svgPath = join(outDir, "timeline.svg");
  writeFileSync(svgPath, svg);
  report.svg = relative(ROOT, svgPath);
  writeFileSync(join(outDir, "report.json"), JSON.stringify(report, null, 2) + "\n");
  console.log("");
  console.log(renderTable(report));
  console.log("");
  console.log(`timeline: ${relative(process.cwd(), svgPath) || svgPath}`);
  console.log(`report:   ${relative(process.cwd(), join(outDir, "report.json"))}`);
  if (report.drops.total === 0 && opts.outage > 0) {
    const longer = Number.isFinite(absorbSeconds) ? Math.ceil(absorbSeconds * 1.5 / 5) * 5 : opts.outage * 2;
    console.log(`next:     bash scripts/demo.sh --outage ${Math.min(longer, opts.duration - 10)}   (longer than the buffer absorbs: drops appear)`);
  }
  return report.conservation.holds ? 0 : 1;
}

// ------------------------------------------------------------------ the report

function readTopic(): DemoReport["topic"] {
  if (!useBroker) return { checked: false, why: "no broker (memory transport)" };
  const r = spawnSync("kcat", ["-C", "-b", opts.brokers, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
    timeout: 120_000,
  });
  if (r.error !== undefined || r.status !== 0) return { checked: false, why: `kcat failed: ${r.error?.message ?? r.stderr.trim()}` };
  const ids = new Set<string>();
  const values: unknown[] = [];
  let records = 0;
  let unparsable = 0;
  for (const line of r.stdout.split("\n")) {
    if (line === "") continue;
    records++;
    try {
      const v = JSON.parse(line) as { requestId?: number; source?: string; id?: number; level?: string };
      // With shedding a request has several records: its identity includes the level and the span.
      const of = v.requestId !== undefined ? `q${v.requestId}` : `i${v.id}`;
      ids.add(opts.shedding ? `${of}/${v.level}/${(v as { span?: string }).span ?? ""}` : of);
      if (opts.shedding) values.push(v);
    } catch {
      unparsable++;
    }
  }
  const byLevel = opts.shedding ? { byLevel: tallyLevels(values) } : {};
  return { checked: true, records, distinct: ids.size, duplicates: records - unparsable - ids.size, unparsable, ...byLevel };
}

interface ReportInput {
  samples: Sample[];
  loadFinal: Record<string, unknown>;
  serverFinal: Record<string, unknown>;
  scrape: string;
  ingest: { lines: number; records: number; invalid: number; ms: number; bytes: number; status: number; clientMs: number; at: number; end: number; warmupUploads: number };
  outage: { start: number; end: number };
  absorbSeconds: number;
  acceptedRate: number;
  events: Array<{ t: number; what: string }>;
}

/** Adds "baseline", the sum of the two telemetry-off stretches. */
function withBaseline(byPhase: Record<string, number>): Record<string, number> {
  return { ...byPhase, baseline: (byPhase["baseline-before"] ?? 0) + (byPhase["baseline-after"] ?? 0) };
}

function buildReport(input: ReportInput): DemoReport {
  const { samples, loadFinal, serverFinal, scrape } = input;
  const final = serverFinal.report as SinkStats & { flushed: boolean; durationMs: number };
  const dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, final.dropped[r].records])) as Record<DropReason, number>;
  const totalDrops = DROP_REASONS.reduce((a, r) => a + final.dropped[r].records, 0);
  const serverLat = serverFinal.latency as Record<string, LatencySummary>;
  const clientLat = loadFinal.latency as Record<string, LatencySummary>;
  const ingest = serverFinal.ingest as { lines: number; records: number; invalid: number };
  const emitted = serverFinal.emitted as number;
  const topicCheck = readTopic();
  const peak = samples.reduce((a, s) => Math.max(a, s.stats.pending.bytes + s.stats.inFlight.bytes), 0);
  const metricDelivered = /^shedsink_records_delivered_total(?:\{[^}]*\})? (\d+)/m.exec(scrape);

  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const law = conservationErrors(final);
  check("sink counters balance", law.length === 0,
    law.length === 0
      ? `offered ${int(final.offered.records)} = accepted ${int(final.accepted.records)} + refused ${int(final.refused.records)}; ` +
        `accepted = delivered ${int(final.delivered.records)} + lost ${int(final.lost.records)} + pending ${final.pending.records} + in flight ${final.inFlight.records} (records and bytes)`
      : law.join("; "));
  check("nothing left in the buffer", final.pending.records === 0 && final.inFlight.records === 0, `pending ${final.pending.records}, in flight ${final.inFlight.records} after close()`);
  check("every record offered was emitted by the server", final.offered.records === emitted + ingest.lines,
    `${int(emitted)} request records + ${int(ingest.lines)} NDJSON lines = ${int(emitted + ingest.lines)}; sink offered ${int(final.offered.records)}`);
  check("every request answered", (loadFinal.ok as number) === (serverFinal.queries as number) && (loadFinal.errors as number) === 0 && (loadFinal.unanswered as number) === 0,
    `client got ${int(loadFinal.ok as number)} answers, ${loadFinal.errors} errors, ${loadFinal.unanswered} unanswered; server handled ${int(serverFinal.queries as number)}`);
  const classes = !opts.shedding ? null : classReport(
    serverFinal.emittedByClass as number[],
    final,
    topicCheck.checked && topicCheck.byLevel !== undefined
      ? { from: "topic", ...topicCheck.byLevel }
      : serverFinal.received
      ? { from: "transport", ...(serverFinal.received as { byClass: number[]; unknown: number }) }
      : null,
  );
  if (topicCheck.checked) {
    check("the topic holds exactly the delivered records", topicCheck.records === final.delivered.records && topicCheck.duplicates === 0,
      `topic ${int(topicCheck.records)} records (${int(topicCheck.distinct)} distinct, ${topicCheck.duplicates} duplicates); delivered ${int(final.delivered.records)}`);
  }
  if (classes !== null) checks.push(...classChecks(classes, final));
  check("/metrics agrees", metricDelivered !== null, metricDelivered === null ? "no shedsink_records_delivered_total in /metrics" : `shedsink_records_delivered_total ${metricDelivered[1]} just before the final flush`);

  const pct = (on: number, off: number) => (Number.isFinite(on) && Number.isFinite(off) && off > 0 ? ((on - off) / off) * 100 : NaN);
  return {
    version: 1,
    createdAt: new Date().toISOString(),
    config: {
      duration: opts.duration,
      outage: opts.outage,
      baseline: opts.baseline,
      warmup: opts.warmup,
      rate: opts.rate,
      capacityBytes: opts.capacityBytes,
      runtime: opts.runtime,
      transport: transportLabel,
      brokers: useBroker ? opts.brokers : null,
      topic: useBroker ? topic : null,
      connections: opts.connections,
      backendMs: opts.backendMs,
      lingerMs: opts.lingerMs ?? null,
      ...(opts.shedding ? { shedding: true } : {}),
      flusher: flusherMode,
      flusherAsked: opts.flusher ?? null,
    },
    machine: { cpus: cpus().length, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadavg()[0]!, node: process.version },
    outage: { ...input.outage, simulated: !useBroker },
    events: input.events,
    requests: {
      sent: loadFinal.sent as number,
      answered: loadFinal.ok as number,
      errors: loadFinal.errors as number,
      skipped: loadFinal.skipped as number,
      skippedByPhase: loadFinal.skippedByPhase as Record<string, number>,
      unanswered: loadFinal.unanswered as number,
      handled: serverFinal.queries as number,
      byPhase: withBaseline(serverFinal.queriesByPhase as Record<string, number>),
      withTelemetry: emitted,
    },
    records: {
      offered: final.offered.records,
      accepted: final.accepted.records,
      delivered: final.delivered.records,
      refused: final.refused.records,
      lost: final.lost.records,
      pending: final.pending.records,
      inFlight: final.inFlight.records,
      acceptedBytes: final.accepted.bytes,
      deliveredBytes: final.delivered.bytes,
    },
    drops: { total: totalDrops, byReason: dropped },
    ingest: { ...input.ingest, total: ingest },
    emit: serverFinal.emit as Record<string, LatencySummary>,
    stringify: serverFinal.stringify as Record<string, LatencySummary>,
    flush: { flushed: serverFinal.flushed as boolean, ms: serverFinal.flushMs as number, lastError: serverFinal.lastError as string | null },
    buffer: {
      capacityBytes: opts.capacityBytes,
      peakBytes: peak,
      peakFraction: peak / opts.capacityBytes,
      telemetryBytesPerSecond: input.acceptedRate,
      absorbSeconds: input.absorbSeconds,
    },
    latency: {
      server: serverLat,
      client: clientLat,
      p99ChangePercent: { server: pct(serverLat.on?.p99 ?? NaN, serverLat.baseline?.p99 ?? NaN), client: pct(clientLat.on?.p99 ?? NaN, clientLat.baseline?.p99 ?? NaN) },
      p50ChangePercent: { server: pct(serverLat.on?.p50 ?? NaN, serverLat.baseline?.p50 ?? NaN), client: pct(clientLat.on?.p50 ?? NaN, clientLat.baseline?.p50 ?? NaN) },
    },
    topic: topicCheck,
    ...(classes === null ? {} : { classes }),
    appThread: appThreadReport({
      cpu: serverFinal.cpu as { thread: Record<string, number>; process: Record<string, number> },
      requests: serverFinal.queriesByPhase as Record<string, number>,
      records: serverFinal.emittedByPhase as Record<string, number>,
      pid: (serverFinal.pid as number | undefined) ?? null,
      flusher: flusherMode,
    }),
    metrics: { scraped: metricDelivered !== null, deliveredTotal: metricDelivered === null ? null : Number(metricDelivered[1]) },
    conservation: { holds: checks.every((c) => c.ok), checks },
    samples,
    series: [],
    svg: "",
  };
}

main().then(
  (code) => shutdown(code),
  (error: unknown) => {
    if (tty) process.stdout.write("\n");
    console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
    shutdown(1);
  },
);
