/**
 * What the examples check of themselves when run with EXAMPLE_SELFTEST=1 (scripts/examples.sh
 * runs them so against the local broker). Not part of an example to copy.
 */

import { conservationErrors, type Sink, type SinkStats } from "../mod.ts";

/** What a self-test expects once its requests are sent. */
export interface Expected {
  /** Records that must reach Kafka. */
  readonly delivered: number;
  /** Lines `GET /metrics` must hold, such as `shedsink_records_delivered_total 20`. */
  readonly metrics: ReadonlyArray<string>;
  /** More checks of the stats; each string returned is a problem. */
  readonly stats?: (stats: SinkStats) => string[];
}

/**
 * Flushes the sink, reads `base/metrics`, checks the counts and conservation, stops the
 * server, closes the sink and checks its report. Returns what was wrong (nothing: passed).
 */
export async function verify(sink: Sink<never>, base: string, brokers: string, expected: Expected, stopServer: () => unknown): Promise<string[]> {
  const problems: string[] = [];
  if (!(await sink.flush({ timeoutMs: 30_000 }))) {
    problems.push(`flush() did not settle the records within 30 s (is a Kafka broker at ${brokers}? last transport error: ${sink.stats().lastError})`);
  }
  const metrics = await (await fetch(`${base}/metrics`)).text();
  for (const line of expected.metrics) if (!metrics.includes(`\n${line}\n`)) problems.push(`/metrics does not say ${line}`);
  const stats = sink.stats();
  if (stats.delivered.records !== expected.delivered) {
    problems.push(`delivered ${stats.delivered.records} records, expected ${expected.delivered} (last transport error: ${stats.lastError})`);
  }
  problems.push(...(expected.stats?.(stats) ?? []), ...conservationErrors(stats));
  await stopServer();
  const report = await sink.close({ timeoutMs: 5000 });
  if (report.delivered.records !== expected.delivered || report.pending.records !== 0 || report.inFlight.records !== 0) {
    problems.push(`close(): delivered ${report.delivered.records}, pending ${report.pending.records}, in flight ${report.inFlight.records}`);
  }
  problems.push(...conservationErrors(report).map((e) => `after close(): ${e}`));
  return problems;
}

/** Sends `GET base/orders/<i>` `count` times; returns the problems. */
export async function getOrders(base: string, count: number): Promise<string[]> {
  const problems: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${base}/orders/${i}`);
    await res.text();
    if (res.status !== 200) problems.push(`GET /orders/${i}: status ${res.status}`);
  }
  return problems;
}

/** The line a self-test ends with, and its exit code. */
export function outcome(name: string, problems: ReadonlyArray<string>, where: string, passed: string): { line: string; code: number } {
  return problems.length > 0
    ? { line: `${name}: self-test FAILED (${where}):\n  ${problems.join("\n  ")}`, code: 1 }
    : { line: `${name}: self-test passed: ${passed}`, code: 0 };
}
