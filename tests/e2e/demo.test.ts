// The demo (scripts/demo.sh) in a short mode, against a real Kafka broker it starts itself
// (its own KAFKA_DIR and ports, so it never pauses the broker the other suites use).
// Checks the machine-readable report it writes and the SVG timeline. The demo's server
// runs on the runtime running this file (kafkaTransport), in the sink's default flusher
// mode (a worker, @platformatic/kafka there), and once with --flusher thread (the
// flusher and the client on the server's thread: librdkafka on Node, @platformatic/kafka
// on Deno and Bun) on Node 24, Deno and Bun.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { REPO_ROOT } from "../support/kafka.ts";
import { freePortRange } from "../support/ports.ts";

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const g = globalThis as { Deno?: unknown; Bun?: unknown };
const RUNTIME = g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";

async function runDemo(args: string[], outDir: string): Promise<RunResult> {
  // The demo broker takes four ports from its bootstrap port on; free ones, so that a
  // broker another run has not yet released (or is still running) cannot collide.
  const port = process.env.SHEDSINK_DEMO_E2E_KAFKA_PORT ?? String(await freePortRange(4));
  const dir = `.kafka/demo-e2e-${port}`; // its own broker state, removed afterwards
  return await new Promise<RunResult>((resolve, reject) => {
    const child = spawn("bash", [join(REPO_ROOT, "scripts", "demo.sh"), ...args, "--runtime", RUNTIME, "--out", `${outDir}-${RUNTIME}`], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        SHEDSINK_SKIP_SETUP: "1",
        SHEDSINK_DEMO_KAFKA_DIR: dir,
        SHEDSINK_DEMO_KAFKA_PORT: port,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGTERM"), 240_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      rmSync(join(REPO_ROOT, dir), { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

// ------------------------------------------------------------------ a strict XML checker

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
}

/**
 * Parses `text` as XML 1.0 (without a DTD) and throws at the first well-formedness error:
 * one root element, matching tags, quoted and unique attributes, no raw `<` or bare `&`.
 * Returns every element, in document order.
 */
function parseXml(text: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const stack: string[] = [];
  let i = 0;
  let roots = 0;
  const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
  const fail = (why: string): never => {
    const line = text.slice(0, i).split("\n").length;
    throw new Error(`not well-formed XML at line ${line}: ${why}`);
  };
  const name = () => {
    NAME.lastIndex = i;
    const m = NAME.exec(text);
    if (m === null) fail("expected a name");
    i += m![0].length;
    return m![0];
  };
  const space = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const checkText = (s: string) => {
    if (s.includes("<")) fail("raw '<' in text or attribute");
    const amp = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)/.exec(s);
    if (amp !== null) fail(`bare '&' in ${JSON.stringify(s.slice(0, 40))}`);
  };
  if (text.startsWith("<?xml")) {
    const end = text.indexOf("?>");
    if (end < 0) fail("unterminated XML declaration");
    i = end + 2;
  }
  while (i < text.length) {
    if (text.startsWith("<!--", i)) {
      const end = text.indexOf("-->", i + 4);
      if (end < 0) fail("unterminated comment");
      i = end + 3;
    } else if (text.startsWith("</", i)) {
      i += 2;
      const n = name();
      space();
      if (text[i] !== ">") fail(`expected '>' after </${n}`);
      i++;
      const open = stack.pop();
      if (open !== n) fail(`</${n}> closes <${open ?? "nothing"}>`);
    } else if (text[i] === "<") {
      i++;
      if (stack.length === 0 && ++roots > 1) fail("more than one root element");
      const n = name();
      const attributes: Record<string, string> = {};
      for (;;) {
        const before = i;
        space();
        if (text.startsWith("/>", i)) {
          i += 2;
          elements.push({ name: n, attributes });
          break;
        }
        if (text[i] === ">") {
          i++;
          elements.push({ name: n, attributes });
          stack.push(n);
          break;
        }
        if (i === before) fail(`expected whitespace before an attribute of <${n}>`);
        const a = name();
        space();
        if (text[i] !== "=") fail(`attribute ${a} of <${n}> has no value`);
        i++;
        space();
        const quote = text[i];
        if (quote !== '"' && quote !== "'") fail(`attribute ${a} of <${n}> is not quoted`);
        const end = text.indexOf(quote!, i + 1);
        if (end < 0) fail(`unterminated attribute ${a}`);
        const value = text.slice(i + 1, end);
        checkText(value);
        if (a in attributes) fail(`duplicate attribute ${a} on <${n}>`);
        attributes[a] = value;
        i = end + 1;
      }
    } else {
      const next = text.indexOf("<", i);
      const chunk = text.slice(i, next < 0 ? text.length : next);
      if (stack.length === 0 && chunk.trim() !== "") fail("text outside the root element");
      checkText(chunk);
      i = next < 0 ? text.length : next;
    }
  }
  if (stack.length > 0) fail(`unclosed <${stack[stack.length - 1]}>`);
  if (roots !== 1) fail("no root element");
  return elements;
}

test("the XML checker accepts well-formed XML and rejects the usual mistakes", () => {
  assert.equal(parseXml(`<?xml version="1.0"?>\n<svg a="1"><g id='x'>a &amp; b<path d="M0,0"/></g><!-- c --></svg>\n`).length, 3);
  for (const bad of ["<a><b></a></b>", "<a>x & y</a>", '<a b="1" b="2"/>', "<a b=1/>", "<a/><b/>", "<a>", "<a><</a>"]) {
    assert.throws(() => parseXml(bad), /not well-formed/, bad);
  }
});

// ------------------------------------------------------------------ the demo

interface CpuFigures {
  cpuMs: number;
  requests: number;
  records: number;
  perRequestUs: number | null;
  perRecordUs: number | null;
}

interface Report {
  emit: Record<string, { n: number; p50: number; p99: number }>;
  stringify: Record<string, { n: number; p50: number; p99: number }>;
  config: { duration: number; outage: number; capacityBytes: number; flusher: string; flusherAsked: string | null };
  outage: { start: number; end: number; simulated: boolean };
  requests: { answered: number; errors: number; unanswered: number; handled: number };
  records: { offered: number; accepted: number; delivered: number; pending: number; inFlight: number };
  drops: { total: number; byReason: Record<string, number> };
  ingest: { lines: number; records: number; invalid: number; total: { lines: number; invalid: number } };
  buffer: { peakBytes: number; peakFraction: number };
  latency: { server: Record<string, { n: number; p99: number }>; client: Record<string, { n: number; p99: number }> };
  topic: { checked: boolean; records?: number; duplicates?: number };
  appThread: {
    available: boolean;
    flusher: string;
    pid: number | null;
    off: CpuFigures;
    on: CpuFigures;
    sinkPerRecordUs: number | null;
    process: { sinkPerRecordUs: number | null };
  };
  metrics: { scraped: boolean };
  conservation: { holds: boolean; checks: Array<{ name: string; ok: boolean; detail: string }> };
  classes?: {
    deliveredFrom: string | null;
    byClass: Array<{ class: number; name: string | null; offered: number; delivered: number | null; shed: number; otherDrops: number | null }>;
  };
  samples: unknown[];
  series: string[];
  svg: string;
}

function readReport(outDir: string): { report: Report; svg: string } {
  const report = JSON.parse(readFileSync(join(REPO_ROOT, `${outDir}-${RUNTIME}`, "report.json"), "utf8")) as Report;
  const svg = readFileSync(join(REPO_ROOT, report.svg), "utf8");
  return { report, svg };
}

function checkSvg(svg: string, expectedSeries: string[], panels = 4): void {
  const elements = parseXml(svg);
  assert.equal(elements[0]!.name, "svg");
  assert.equal(elements[0]!.attributes.xmlns, "http://www.w3.org/2000/svg");
  const series = new Map(elements.filter((e) => e.attributes["data-series"] !== undefined).map((e) => [e.attributes["data-series"]!, e]));
  for (const id of expectedSeries) {
    const path = series.get(id);
    assert.ok(path !== undefined, `series ${id} is drawn`);
    assert.equal(path.name, "path");
    assert.match(path.attributes.d ?? "", /^M[-0-9.]+,[-0-9.]+( L[-0-9.]+,[-0-9.]+)+$/, `series ${id} has a polyline`);
  }
  assert.equal(elements.filter((e) => e.attributes.class === "outage").length, panels, `the outage is shaded on each of the ${panels} panels`);
}

/**
 * The application thread's CPU figures: present, finite and not negative where they
 * cannot be (the sink's cost is a difference of two noisy figures: any sign).
 */
function checkAppThread(report: Report, flusher: string, baseline: boolean): void {
  const a = report.appThread;
  assert.equal(a.flusher, flusher);
  if (process.platform !== "linux") return; // read from /proc
  assert.equal(a.available, true, "the server's main thread's CPU was read");
  assert.ok(typeof a.pid === "number" && a.pid > 0);
  assert.ok(a.on.requests > 0 && a.on.records >= a.on.requests, "every request of the run emitted a record");
  for (const v of [a.on.cpuMs, a.on.perRequestUs, a.on.perRecordUs]) {
    assert.ok(typeof v === "number" && Number.isFinite(v) && v >= 0, `the thread's CPU per request and per record: ${JSON.stringify(a.on)}`);
  }
  if (baseline) {
    assert.ok(a.off.requests > 0 && a.off.records === 0, "telemetry off emits nothing");
    assert.ok(typeof a.off.perRequestUs === "number" && Number.isFinite(a.off.perRequestUs) && a.off.perRequestUs >= 0);
    assert.ok(typeof a.sinkPerRecordUs === "number" && Number.isFinite(a.sinkPerRecordUs), `the sink's cost per record: ${a.sinkPerRecordUs}`);
    assert.ok(typeof a.process.sinkPerRecordUs === "number" && Number.isFinite(a.process.sinkPerRecordUs));
  } else {
    assert.equal(a.sinkPerRecordUs, null, "no baseline, no difference");
  }
}

function output(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

test("demo, short mode: an outage within capacity loses nothing, conservation holds, the SVG is well-formed", { timeout: 300_000 }, async () => {
  const outDir = "demo-out/e2e-fits";
  const r = await runDemo(["--duration", "12", "--outage", "4", "--baseline", "3", "--warmup", "2"], outDir);
  assert.equal(r.code, 0, output(r));
  assert.match(r.stdout, /^Latency +requests +server p50 +server p99 +client p50 +client p99$/m, "the table is printed");
  assert.match(r.stdout, /^timeline: .*timeline\.svg$/m, "the SVG's path is printed");
  assert.match(r.stdout, /conservation +holds/);
  assert.match(r.stdout, /^Application thread CPU \(the server's main thread/m, "the CPU section is printed");
  assert.match(r.stdout, /^ +the sink's cost +[-+][0-9.]+ µs\/record/m);
  assert.match(r.stdout, /^ +sink\.emit\(\) call +[0-9.]+ µs +p50; p99 /m, "emit()'s p50 and p99 are printed");
  assert.match(r.stdout, /^ +JSON\.stringify baseline +[0-9.]+ µs +p50; p99 /m, "the baseline is printed beside them");
  assert.match(r.stdout, /^ +emit\(\) \/ JSON\.stringify +[0-9.]+x +p50; p99 [0-9.]+x/m, "with their ratio");

  const { report, svg } = readReport(outDir);
  // Without --flusher the sink runs in its default mode, and the report says which.
  assert.equal(report.config.flusherAsked, null);
  assert.equal(report.config.flusher, "worker", "kafkaTransport's default: a worker");
  assert.match(r.stdout, new RegExp(`^shedsink demo: .* ${report.config.flusher} flusher, `, "m"));
  checkAppThread(report, report.config.flusher, true);
  // emit() and its baseline are each timed on every other call: as many of each, within
  // one per stretch of a phase (the run has five: before, outage, upload, outage, after).
  const timed = { emit: report.emit.on!, stringify: report.stringify.on! };
  assert.ok(timed.emit.n > 0 && Math.abs(timed.emit.n - timed.stringify.n) <= 5, `emit() timed ${timed.emit.n} times, JSON.stringify ${timed.stringify.n}`);
  assert.ok(timed.stringify.p50 > 0 && timed.stringify.p99 >= timed.stringify.p50);
  assert.ok(report.conservation.holds, JSON.stringify(report.conservation.checks, null, 2));
  for (const c of report.conservation.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  assert.ok(report.records.delivered > 0);
  assert.equal(report.records.pending + report.records.inFlight, 0);
  assert.equal(report.records.offered, report.records.accepted + report.drops.total);
  assert.equal(report.records.accepted, report.records.delivered, "nothing accepted was lost: the outage fit in the buffer");
  assert.equal(report.drops.byReason.buffer_full, 0);
  assert.equal(report.drops.byReason.invalid, report.ingest.total.invalid, "the only drops are the malformed NDJSON lines");
  assert.ok(report.ingest.invalid > 0 && report.ingest.records > 0);
  assert.equal(report.topic.checked, true);
  assert.equal(report.topic.records, report.records.delivered, "the topic holds exactly what was delivered");
  assert.equal(report.topic.duplicates, 0);
  assert.ok(report.metrics.scraped, "/metrics served Prometheus text");
  assert.equal(report.outage.simulated, false);
  assert.ok(report.outage.end - report.outage.start >= 3.5, "the broker was paused for about 4 s");
  assert.ok(report.buffer.peakBytes > 0, "the buffer filled during the outage");
  assert.equal(report.requests.errors, 0);
  assert.equal(report.requests.answered, report.requests.handled);
  for (const key of ["baseline", "on", "before", "outage", "after"]) {
    assert.ok(report.latency.server[key]!.n > 0 && report.latency.client[key]!.n > 0, `latency of phase ${key}`);
    assert.ok(report.latency.server[key]!.p99 > 0 && report.latency.client[key]!.p99 > 0);
  }
  assert.ok(report.samples.length >= 20);
  const expected = ["buffer_fill", "accepted_rate", "delivered_rate", "drops_total", "drops_invalid", "server_p99", "client_p99"];
  assert.deepEqual([...report.series].sort(), [...expected].sort());
  checkSvg(svg, expected);
});

test("demo, short mode: an outage longer than the buffer absorbs drops as buffer_full, every record still accounted for", { timeout: 300_000 }, async () => {
  const outDir = "demo-out/e2e-overflows";
  const r = await runDemo(["--duration", "10", "--outage", "5", "--baseline", "0", "--warmup", "1", "--capacity", "256KiB"], outDir);
  assert.equal(r.code, 0, output(r));
  const { report, svg } = readReport(outDir);
  for (const c of report.conservation.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  assert.ok(report.drops.byReason.buffer_full > 0, "records were dropped as buffer_full");
  assert.ok(report.buffer.peakFraction > 0.9, `the buffer filled up (peak ${report.buffer.peakFraction})`);
  assert.ok(report.records.delivered > 0);
  assert.equal(report.topic.records, report.records.delivered);
  assert.equal(report.topic.duplicates, 0);
  assert.ok(report.series.includes("drops_buffer_full"));
  checkSvg(svg, ["buffer_fill", "delivered_rate", "drops_total", "drops_buffer_full", "server_p99", "client_p99"]);
  assert.match(r.stdout, /dropped +[0-9,]+ +buffer_full [0-9,]+/);
  checkAppThread(report, report.config.flusher, false);
});

// Thread mode on Node 24 (the demo's default Node), Deno and Bun: the same demo code on
// Node 22 and 26, so they are spared the extra run.
const NODE_MAJOR = Number((process.versions.node ?? "0").split(".")[0]);
if (RUNTIME !== "node" || NODE_MAJOR === 24) {
  test("demo, short mode, --flusher thread: the sink runs on the server's thread, the report says so and gives that thread's CPU", { timeout: 300_000 }, async () => {
    const outDir = "demo-out/e2e-thread";
    const r = await runDemo(["--flusher", "thread", "--duration", "10", "--outage", "3", "--baseline", "3", "--warmup", "2"], outDir);
    assert.equal(r.code, 0, output(r));
    assert.match(r.stdout, /^shedsink demo: .* thread flusher, /m);
    assert.match(r.stdout, /flusher: thread\)$/m, "the CPU section names the mode");
    const { report, svg } = readReport(outDir);
    for (const c of report.conservation.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
    assert.equal(report.config.flusherAsked, "thread");
    assert.equal(report.config.flusher, "thread", "sink.stats().flusher in the server");
    assert.ok(report.records.delivered > 0);
    assert.equal(report.records.pending + report.records.inFlight, 0);
    assert.equal(report.topic.checked, true);
    assert.equal(report.topic.records, report.records.delivered, "the topic holds exactly what was delivered");
    assert.equal(report.topic.duplicates, 0);
    const samples = report.samples as Array<{ stats: { flusher: string } }>;
    assert.ok(samples.every((s) => s.stats.flusher === "thread"), "every sample's stats() says thread");
    checkAppThread(report, "thread", true);
    checkSvg(svg, ["buffer_fill", "accepted_rate", "delivered_rate", "server_p99", "client_p99"]);
  });
}

test("demo, short mode, --shedding: debug gives way first, no error record is lost, shed records are not in the topic", { timeout: 300_000 }, async () => {
  const outDir = "demo-out/e2e-shedding";
  const r = await runDemo(["--shedding", "--duration", "10", "--outage", "6", "--baseline", "0", "--warmup", "1", "--capacity", "1MiB"], outDir);
  assert.equal(r.code, 0, output(r));
  assert.match(r.stdout, /^By class \(shedding on the "level" field/m, "the by-class table is printed");
  const { report, svg } = readReport(outDir);
  for (const c of report.conservation.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  assert.ok(report.conservation.checks.some((c) => c.name === "no error (class 0) record lost"));
  assert.ok(report.conservation.checks.some((c) => c.name === "debug gave way first"));
  const classes = report.classes;
  assert.ok(classes !== undefined, "report.json has the by-class figures");
  assert.equal(classes.deliveredFrom, "topic");
  const [errors, info, , debug] = classes.byClass;
  assert.equal(errors!.name, "error");
  assert.ok(errors!.offered > 0, "error records were emitted");
  assert.equal(errors!.delivered, errors!.offered, "every error record is in the topic");
  assert.equal(errors!.shed, 0);
  assert.ok(debug!.shed > 0, "debug records were shed");
  assert.ok(debug!.shed / debug!.offered > info!.shed / info!.offered, "debug gave way first: a larger share of it was shed");
  const firstShed = (c: number) => (report.samples as Array<{ t: number; stats: { shed: Array<{ records: number }> } }>).find((s) => (s.stats.shed[c]?.records ?? 0) > 0)?.t ?? Infinity;
  assert.ok(firstShed(3) <= firstShed(1), `debug was shed from t=${firstShed(3)} s, info from t=${firstShed(1)} s`);
  assert.ok(report.drops.byReason.shed! > 0);
  assert.equal(report.topic.records, report.records.delivered);
  assert.equal(report.topic.duplicates, 0);
  const sum = classes.byClass.reduce((a, x) => a + x.delivered!, 0);
  assert.equal(sum, report.topic.records, "every record in the topic has a class");
  for (const x of classes.byClass) assert.ok(x.delivered! + x.shed <= x.offered, `class ${x.class}: shed records are not in the topic`);
  const expected = ["buffer_fill", "shed_class_0", "shed_class_1", "shed_class_3", "delivered_rate", "drops_total", "drops_shed", "server_p99", "client_p99"];
  for (const id of expected) assert.ok(report.series.includes(id), `series ${id}`);
  checkSvg(svg, expected, 5);
});
