// The demo's timeline plot: four stacked panels sharing a time axis (buffer fill,
// records/s accepted and delivered, drops/s by reason, p99 latency), with the telemetry-off
// baseline and the broker outage shaded. With --shedding, a fifth panel right under the
// fill panel: records shed per second by class, and the fill panel marks where each
// class starts to give way. Plain SVG, no dependencies.

import { DEFAULT_SHED_LEVELS, DROP_REASONS, type DropReason } from "../mod.ts";
import { className, LEVELS, shedSeries } from "./classes.ts";
import { bytes } from "./common.ts";
import type { DemoReport, Sample } from "./report.ts";

const W = 1000;
const LEFT = 72;
const RIGHT = 190;
const PANEL_H = 140;
const GAP = 42;
const TOP = 64;
const PLOT_W = W - LEFT - RIGHT;

const COLORS: Record<string, string> = {
  fill: "#2f6fb0",
  accepted: "#8a8f98",
  delivered: "#1a9850",
  server: "#6a3d9a",
  client: "#d95f02",
  buffer_full: "#d7191c",
  oversize: "#7b3294",
  invalid: "#fdae61",
  closed: "#636363",
  expired: "#a6611a",
  rejected: "#e7298a",
  shutdown: "#1f78b4",
  shed: "#e08214",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const f = (n: number) => (Math.round(n * 10) / 10).toString();

interface Series {
  id: string;
  label: string;
  color: string;
  points: Array<[number, number]>;
  area?: boolean;
  dash?: string;
}

/** A round step for an axis going up to `max` with about `ticks` ticks. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** Renders the SVG and returns it with the ids of the data series it drew. */
export function renderTimeline(r: DemoReport): { svg: string; series: string[] } {
  const samples = r.samples.filter((s) => s.phase !== "warmup");
  const x0 = samples.length > 0 ? Math.min(0, samples[0]!.t - samples[0]!.dt) : 0;
  const x1 = Math.max(r.config.duration, samples.length > 0 ? samples[samples.length - 1]!.t : 1);
  // Telemetry-off stretches: from each "baseline-*" event to the next event (or the end).
  const offRanges: Array<[number, number]> = [];
  r.events.forEach((e, i) => {
    if (e.what.startsWith("baseline")) offRanges.push([Math.max(x0, e.t), Math.min(x1, r.events[i + 1]?.t ?? x1)]);
  });
  const X = (t: number) => LEFT + ((t - x0) / (x1 - x0)) * PLOT_W;
  const drawn: string[] = [];
  const out: string[] = [];
  const shedding = r.classes !== undefined;
  const panels = shedding ? 5 : 4;
  const height = TOP + panels * (PANEL_H + GAP) + 20;

  out.push(
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>shedsink demo timeline</title>`,
    `<rect x="0" y="0" width="${W}" height="${height}" fill="#ffffff"/>`,
  );
  const c = r.config;
  out.push(
    `<text x="${LEFT}" y="24" font-size="16" font-weight="bold">shedsink: ${esc(c.runtime)} server publishing query telemetry to Kafka (${esc(c.transport)} transport)</text>`,
    `<text x="${LEFT}" y="44" fill="#444">${esc(`${c.rate} req/s for ${c.duration} s, broker ${r.outage.simulated ? "outage simulated" : "paused"} for ${(r.outage.end - r.outage.start).toFixed(1)} s, buffer ${bytes(c.capacityBytes)}; ` +
      `${r.records.delivered.toLocaleString("en-US")} delivered, ${r.drops.total.toLocaleString("en-US")} dropped, conservation ${r.conservation.holds ? "holds" : "BROKEN"}`)}</text>`,
  );

  out.push(
    `<rect x="${LEFT + PLOT_W + 14}" y="14" width="14" height="10" fill="#e8f1fb" stroke="#9bbbe0"/>`,
    `<text x="${LEFT + PLOT_W + 34}" y="23">telemetry off</text>`,
    `<rect x="${LEFT + PLOT_W + 14}" y="32" width="14" height="10" fill="#f4cccc" stroke="#d99"/>`,
    `<text x="${LEFT + PLOT_W + 34}" y="41">${r.outage.simulated ? "outage (simulated)" : "broker paused"}</text>`,
  );

  // Derived per-sample series.
  const rate = (get: (s: Sample) => number) =>
    samples.map((s, i) => {
      const prev = i === 0 ? r.samples[r.samples.indexOf(s) - 1] : samples[i - 1];
      const before = prev === undefined ? 0 : get(prev);
      return [s.t, s.dt > 0 ? (get(s) - before) / s.dt : 0] as [number, number];
    });
  const fill: Series = {
    id: "buffer_fill",
    label: "pending + in flight",
    color: COLORS.fill!,
    area: true,
    points: samples.map((s) => [s.t, ((s.stats.pending.bytes + s.stats.inFlight.bytes) / s.stats.capacityBytes) * 100]),
  };
  const accepted: Series = { id: "accepted_rate", label: "accepted/s", color: COLORS.accepted!, dash: "5 3", points: rate((s) => s.stats.accepted.records) };
  const delivered: Series = { id: "delivered_rate", label: "delivered/s", color: COLORS.delivered!, points: rate((s) => s.stats.delivered.records) };
  const dropReasons = DROP_REASONS.filter((reason) => r.drops.byReason[reason] > 0);
  const dropSeries: Series[] = [
    { id: "drops_total", label: "all reasons", color: "#000000", points: rate((s) => DROP_REASONS.reduce((a, x) => a + s.stats.dropped[x].records, 0)) },
    ...dropReasons.map((reason: DropReason) => ({
      id: `drops_${reason}`,
      label: reason,
      color: COLORS[reason] ?? "#000000",
      dash: "4 2",
      points: rate((s) => s.stats.dropped[reason].records),
    })),
  ];
  const serverP99: Series = { id: "server_p99", label: "server p99", color: COLORS.server!, points: samples.filter((s) => s.serverLat.n > 0).map((s) => [s.t, s.serverLat.p99]) };
  const clientP99: Series = { id: "client_p99", label: "client p99", color: COLORS.client!, points: samples.filter((s) => s.client.lat.n > 0).map((s) => [s.t, s.client.lat.p99]) };

  const panel = (index: number, title: string, unit: string, series: Series[], scale: { max?: number; log?: boolean } = {}, note?: string, marks: Array<{ v: number; label: string; color: string }> = []) => {
    const top = TOP + index * (PANEL_H + GAP) + 18;
    const bottom = top + PANEL_H;
    let max = scale.max ?? 0;
    let min = Infinity;
    for (const s of series) {
      for (const [, v] of s.points) {
        if (!Number.isFinite(v)) continue;
        if (scale.max === undefined) max = Math.max(max, v);
        if (v > 0) min = Math.min(min, v);
      }
    }
    if (max <= 0) max = 1;
    let Y: (v: number) => number;
    let ticks: Array<{ v: number; label: string }> = [];
    if (scale.log === true) {
      // Logarithmic: 1-2-5 ticks from below the smallest value to above the largest.
      const steps = (mantissas: number[]) => {
        const out: number[] = [];
        for (let e = -3; e <= 5; e++) for (const m of mantissas) out.push(m * 10 ** e);
        return out;
      };
      const all = steps([1, 2, 5]);
      const lo = all.filter((c) => c <= (Number.isFinite(min) ? min : 1)).pop() ?? 0.001;
      const hi = all.find((c) => c >= max) ?? max;
      // Over more than two decades, ticks at 1 and 5 of each decade only.
      const candidates = hi / lo > 200 ? steps([1, 5]) : all;
      Y = (v: number) => bottom - ((Math.log(Math.max(lo, Math.min(v, hi))) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * PANEL_H;
      ticks = candidates.filter((c) => c >= lo && c <= hi).map((v) => ({ v, label: formatTick(v, v) }));
    } else {
      const step = niceStep(max, 4);
      const yMax = scale.max ?? Math.ceil((max * 1.05) / step) * step;
      Y = (v: number) => bottom - (Math.min(v, yMax) / yMax) * PANEL_H;
      for (let v = 0; v <= yMax + 1e-9; v += step) ticks.push({ v, label: formatTick(v, step) });
    }
    out.push(`<g id="panel-${index}">`);
    out.push(`<text x="${LEFT}" y="${top - 6}" font-weight="bold">${esc(title)}</text>`);
    // Shading: the baseline and the outage.
    for (const [a, b] of offRanges) {
      out.push(`<rect class="baseline" x="${f(X(a))}" y="${top}" width="${f(X(b) - X(a))}" height="${PANEL_H}" fill="#e8f1fb"/>`);
    }
    out.push(`<rect class="outage" id="outage-${index}" x="${f(X(r.outage.start))}" y="${top}" width="${f(X(r.outage.end) - X(r.outage.start))}" height="${PANEL_H}" fill="#f4cccc" fill-opacity="0.7"/>`);
    // The NDJSON upload during the outage.
    if (Number.isFinite(r.ingest.at)) {
      out.push(`<line class="upload" x1="${f(X(r.ingest.at))}" y1="${top}" x2="${f(X(r.ingest.at))}" y2="${bottom}" stroke="#555555" stroke-dasharray="2 3"/>`);
      if (index === 0) out.push(`<text x="${f(X(r.ingest.at) + 4)}" y="${top + 30}" fill="#555">NDJSON upload</text>`);
    }
    if (index === 0) {
      for (const [a, b] of offRanges) out.push(`<text x="${f((X(a) + X(b)) / 2)}" y="${top + 14}" text-anchor="middle" fill="#2f6fb0">off</text>`);
      out.push(`<text x="${f((X(r.outage.start) + X(r.outage.end)) / 2)}" y="${top + 14}" text-anchor="middle" fill="#990000">${r.outage.simulated ? "outage (simulated)" : "broker paused"}</text>`);
    }
    // Grid and y labels.
    for (const { v, label } of ticks) {
      const y = Y(v);
      out.push(`<line x1="${LEFT}" y1="${f(y)}" x2="${LEFT + PLOT_W}" y2="${f(y)}" stroke="#dddddd" stroke-width="1"/>`);
      out.push(`<text x="${LEFT - 6}" y="${f(y + 4)}" text-anchor="end" fill="#555">${esc(label)}${unit === "%" ? "%" : ""}</text>`);
    }
    out.push(`<text x="16" y="${f((top + bottom) / 2)}" transform="rotate(-90 16 ${f((top + bottom) / 2)})" text-anchor="middle" fill="#555">${esc(unit)}</text>`);
    // Series.
    series.forEach((s, i) => {
      const pts = s.points.filter(([, v]) => Number.isFinite(v));
      let d = pts.map(([t, v], j) => `${j === 0 ? "M" : "L"}${f(X(t))},${f(Y(v))}`).join(" ");
      if (d === "") d = `M${f(X(x0))},${f(Y(0))} L${f(X(x1))},${f(Y(0))}`;
      if (s.area === true && pts.length > 0) {
        const area = `${d} L${f(X(pts[pts.length - 1]![0]))},${f(bottom)} L${f(X(pts[0]![0]))},${f(bottom)} Z`;
        out.push(`<path d="${area}" fill="${s.color}" fill-opacity="0.25" stroke="none"/>`);
      }
      out.push(`<path id="series-${s.id}" data-series="${s.id}" d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.area === true ? 2 : 1.6}"${s.dash === undefined ? "" : ` stroke-dasharray="${s.dash}"`}/>`);
      drawn.push(s.id);
      const ly = top + 12 + i * 18;
      out.push(`<line x1="${LEFT + PLOT_W + 14}" y1="${ly - 4}" x2="${LEFT + PLOT_W + 38}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dash === undefined ? "" : ` stroke-dasharray="${s.dash}"`}/>`);
      out.push(`<text x="${LEFT + PLOT_W + 44}" y="${ly}">${esc(s.label)}</text>`);
    });
    // Horizontal marks (the fill at which each class starts to give way).
    for (const m of marks) {
      out.push(`<line class="mark" x1="${LEFT}" y1="${f(Y(m.v))}" x2="${LEFT + PLOT_W}" y2="${f(Y(m.v))}" stroke="${m.color}" stroke-dasharray="6 4" stroke-width="1.2"/>`);
      out.push(`<text x="${LEFT + 6}" y="${f(Y(m.v) + 13)}" fill="${m.color}" font-size="11">${esc(m.label)}</text>`);
    }
    if (note !== undefined) out.push(`<text x="${LEFT + PLOT_W / 2}" y="${f(top + PANEL_H / 2)}" text-anchor="middle" fill="#1a9850" font-size="14">${esc(note)}</text>`);
    // Frame and x ticks.
    out.push(`<rect x="${LEFT}" y="${top}" width="${PLOT_W}" height="${PANEL_H}" fill="none" stroke="#888888"/>`);
    const xStep = niceStep(x1 - x0, 10);
    for (let t = Math.ceil(x0 / xStep) * xStep; t <= x1 + 1e-9; t += xStep) {
      out.push(`<line x1="${f(X(t))}" y1="${bottom}" x2="${f(X(t))}" y2="${bottom + 4}" stroke="#888888"/>`);
      out.push(`<text x="${f(X(t))}" y="${bottom + 16}" text-anchor="middle" fill="#555">${esc(formatTick(t, xStep))}</text>`);
    }
    out.push(`</g>`);
  };

  // Where each class of the demo starts to give way (the default levels).
  const marks = !shedding ? [] : Object.values(LEVELS)
    .filter((cls) => DEFAULT_SHED_LEVELS[cls]!.start < 1)
    .map((cls) => ({ v: DEFAULT_SHED_LEVELS[cls]!.start * 100, label: `${className(cls)} (class ${cls}) shed from ${DEFAULT_SHED_LEVELS[cls]!.start * 100}% up`, color: cls === 3 ? "#b8860b" : "#2c7bb6" }));
  panel(0, `Buffer fill: bytes held (pending + in flight) as % of ${bytes(c.capacityBytes)}`, "%", [fill], { max: 100 }, undefined, marks);
  let next = 1;
  if (shedding) {
    const shed = shedSeries(rate);
    const none = shed.every((s) => s.points.every(([, v]) => v === 0));
    panel(next++, "Records shed per second, by class (the fill above decides which class gives way)", "records/s", shed, {}, none ? "nothing shed" : undefined);
  }
  panel(next++, "Records per second: accepted into the buffer, delivered to Kafka", "records/s", [accepted, delivered]);
  panel(next++, "Drops per second, by reason", "records/s", dropSeries, {}, r.drops.total === 0 ? "no drops" : undefined);
  panel(next++, "Request latency, p99 per 0.5 s interval, log scale (server: in the server process; client: seen by the load generator)", "ms", [serverP99, clientP99], { log: true });
  out.push(`<text x="${LEFT + PLOT_W / 2}" y="${height - 8}" text-anchor="middle" fill="#555">seconds since telemetry was switched on</text>`);
  out.push(`</svg>`);
  return { svg: out.join("\n") + "\n", series: drawn };
}

function formatTick(v: number, step: number): string {
  let decimals = 0;
  while (decimals < 3 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-9) decimals++;
  const n = Math.abs(v) < 1e-9 ? 0 : v;
  return n.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}
