// The demo's --shedding mode: the records of three classes the server emits (errors,
// request telemetry, debug samples), the sink's shedding option, and the by-class
// figures, checks, table rows, live-line text and plot series of the report.
// Web standards only (the server imports it too, on Node, Deno and Bun).

import type { SinkStats } from "../mod.ts";

/** The `level` field's values and their classes: 0 the most important. */
export const LEVELS: Readonly<Record<string, number>> = Object.freeze({ error: 0, info: 1, debug: 3 });

/** The sink's options in --shedding mode (with the default levels per class). */
export const SHEDDING_OPTIONS = {
  shedding: { field: "level", names: LEVELS },
  // A record that does not fit evicts the oldest pending record of a less important
  // class: an error finding the buffer full takes the place of a debug or info record.
  whenFull: "drop-oldest",
} as const;

/** Number of classes (0 to 3; class 2 is unused by the demo). */
export const CLASSES = 4;
/** One request in `ERROR_EVERY` also emits an error record (2%). */
export const ERROR_EVERY = 50;
/** Debug samples per request. */
export const DEBUG_PER_REQUEST = 2;

/** The name of class `c` in the demo, or null (class 2). */
export function className(c: number): string | null {
  return Object.keys(LEVELS).find((k) => LEVELS[k] === c) ?? null;
}

/** What a request's handler knows when it emits its extra records. */
export interface RequestFacts {
  ts: number;
  requestId: number;
  fingerprint: string;
  keyspace: string;
  table: string;
  tabletType: string;
  rows: number;
  scanMs: number;
  backendMs: number;
}

/** The debug samples of one request: the scan and the storage round trip. */
export function debugRecords(f: RequestFacts): object[] {
  return [
    { level: "debug", ts: f.ts, requestId: f.requestId, span: "scan", table: f.table, rowsScanned: 2000, rowsMatched: f.rows, ms: f.scanMs },
    { level: "debug", ts: f.ts, requestId: f.requestId, span: "backend", tabletType: f.tabletType, plannedMs: f.backendMs, ms: f.backendMs },
  ];
}

/** The error record of a request with one (every `ERROR_EVERY`th): a replica timeout retried on the primary. */
export function errorRecord(f: RequestFacts): object | null {
  if (f.requestId % ERROR_EVERY !== 0) return null;
  return {
    level: "error",
    ts: f.ts,
    requestId: f.requestId,
    fingerprint: f.fingerprint,
    keyspace: f.keyspace,
    table: f.table,
    code: "REPLICA_TIMEOUT",
    error: `replica of ${f.keyspace}.${f.table} did not answer within 50 ms; retried on the primary`,
  };
}

/** Counts records by class, from their `level` field; `unknown`: no such field or no class. */
export function tallyLevels(values: Iterable<unknown>): { byClass: number[]; unknown: number } {
  const byClass = new Array<number>(CLASSES).fill(0);
  let unknown = 0;
  for (const v of values) {
    const level = (v as { level?: unknown } | null)?.level;
    const c = typeof level === "string" ? LEVELS[level] : undefined;
    if (c === undefined) unknown++;
    else byClass[c]!++;
  }
  return { byClass, unknown };
}

// ------------------------------------------------------------------ the report

/** One class's figures in report.json. */
export interface ClassFigures {
  class: number;
  name: string | null;
  /** Records of the class the server emitted (request records and NDJSON lines). */
  offered: number;
  /** Records of the class delivered: counted in the topic, or in the memory transport; null: not checked. */
  delivered: number | null;
  /** Records of the class shed (`stats().shed` in close()'s report). */
  shed: number;
  shedBytes: number;
  /** Dropped for another reason (buffer_full, lost): offered - delivered - shed; null when delivered is not known. */
  otherDrops: number | null;
}

/** The `classes` part of report.json: present in --shedding mode only. */
export interface ClassReport {
  names: Readonly<Record<string, number>>;
  whenFull: string;
  /** Indexed by class. */
  byClass: ClassFigures[];
  /** Where `delivered` was counted: "topic" (kcat), "transport" (memory) or null (not checked). */
  deliveredFrom: "topic" | "transport" | null;
  /** Delivered records whose class could not be told (none expected). */
  deliveredUnclassified: number | null;
}

/** The by-class figures, from the server's counts, the final report and what was delivered. */
export function classReport(
  offered: number[],
  final: SinkStats,
  delivered: { from: "topic" | "transport"; byClass: number[]; unknown: number } | null,
): ClassReport {
  const byClass: ClassFigures[] = [];
  for (let c = 0; c < CLASSES; c++) {
    const shed = final.shed[c] ?? { records: 0, bytes: 0 };
    const d = delivered === null ? null : delivered.byClass[c] ?? 0;
    byClass.push({
      class: c,
      name: className(c),
      offered: offered[c] ?? 0,
      delivered: d,
      shed: shed.records,
      shedBytes: shed.bytes,
      otherDrops: d === null ? null : (offered[c] ?? 0) - d - shed.records,
    });
  }
  return { names: LEVELS, whenFull: SHEDDING_OPTIONS.whenFull, byClass, deliveredFrom: delivered?.from ?? null, deliveredUnclassified: delivered?.unknown ?? null };
}

/** The checks of the by-class accounting, added to the report's conservation checks. */
export function classChecks(r: ClassReport, final: SinkStats): Array<{ name: string; ok: boolean; detail: string }> {
  const checks: Array<{ name: string; ok: boolean; detail: string }> = [];
  const where = r.deliveredFrom === "topic" ? "in the topic" : "received by the transport";
  const [errors, info, , debug] = r.byClass as [ClassFigures, ClassFigures, ClassFigures, ClassFigures];
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  if (r.deliveredFrom !== null) {
    checks.push({
      name: "no error (class 0) record lost",
      ok: errors.delivered === errors.offered && errors.shed === 0,
      detail: `${n(errors.offered)} offered, ${n(errors.delivered!)} ${where}, ${errors.shed} shed`,
    });
    const bad = r.byClass.filter((x) => x.delivered! + x.shed > x.offered);
    const sum = r.byClass.reduce((a, x) => a + x.delivered!, 0);
    checks.push({
      name: `shed records are not ${where}`,
      ok: bad.length === 0 && r.deliveredUnclassified === 0 && sum + r.deliveredUnclassified === final.delivered.records,
      detail: r.byClass.filter((x) => x.offered > 0).map((x) => `class ${x.class}: ${n(x.delivered!)} + shed ${n(x.shed)} <= offered ${n(x.offered)}`).join("; ") +
        `; ${n(sum)} by class + ${r.deliveredUnclassified} without = delivered ${n(final.delivered.records)}`,
    });
  } else {
    checks.push({ name: "no error (class 0) record shed", ok: errors.shed === 0, detail: `${errors.shed} shed (deliveries by class not checked)` });
  }
  const share = (x: ClassFigures) => (x.offered > 0 ? x.shed / x.offered : 0);
  const none = r.byClass.every((x) => x.shed === 0);
  checks.push({
    name: "debug gave way first",
    ok: none || share(debug) > share(info),
    detail: none
      ? "nothing was shed"
      : `shed ${(share(debug) * 100).toFixed(1)}% of debug (class 3), ${(share(info) * 100).toFixed(1)}% of info (class 1), ${(share(errors) * 100).toFixed(1)}% of errors`,
  });
  return checks;
}

/** The table's by-class rows. */
export function classRows(r: ClassReport): string[] {
  const n = (v: number | null) => (v === null ? "n/a" : Math.round(v).toLocaleString("en-US"));
  const pct = (v: number, of: number) => (of > 0 ? `${((v / of) * 100).toFixed(1)}%` : "");
  const out = [
    `By class (shedding on the "level" field; whenFull: ${r.whenFull})`,
    `  ${"class".padEnd(12)}${"offered".padStart(12)}${"delivered".padStart(12)}${"shed".padStart(12)}${"".padStart(8)}${"other drops".padStart(13)}`,
  ];
  for (const x of r.byClass) {
    if (x.name === null && x.offered === 0) continue;
    out.push(
      `  ${`${x.class} ${x.name ?? ""}`.padEnd(12)}${n(x.offered).padStart(12)}${n(x.delivered).padStart(12)}${n(x.shed).padStart(12)}${pct(x.shed, x.offered).padStart(8)}${n(x.otherDrops).padStart(13)}`,
    );
  }
  out.push(
    r.deliveredFrom === null
      ? "  delivered: not checked (the topic could not be read back)"
      : `  delivered: ${r.deliveredFrom === "topic" ? "counted in the topic (read back with kcat)" : "counted in what the memory transport received"}, by level;` +
        " other drops: offered - delivered - shed (buffer_full, lost)",
  );
  return out;
}

/** "info 1,234, debug 5,678": the shed records by class, for the live line. */
export function shedText(stats: SinkStats): string {
  const parts: string[] = [];
  stats.shed.forEach((x, c) => {
    if (x.records > 0) parts.push(`${className(c) ?? `class ${c}`} ${Math.round(x.records).toLocaleString("en-US")}`);
  });
  return parts.join(", ");
}

/** The by-class shed series for the plot: records shed per second. */
export function shedSeries(
  rate: (get: (s: { stats: SinkStats }) => number) => Array<[number, number]>,
): Array<{ id: string; label: string; color: string; points: Array<[number, number]> }> {
  const colors = ["#d7191c", "#2c7bb6", "#7b3294", "#b8860b"];
  const out = [];
  for (const [name, c] of Object.entries(LEVELS)) {
    out.push({ id: `shed_class_${c}`, label: `${name} (class ${c})`, color: colors[c]!, points: rate((s) => s.stats.shed[c]?.records ?? 0) });
  }
  return out;
}
