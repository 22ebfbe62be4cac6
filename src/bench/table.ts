/**
 * The tables a run prints: aligned text for the terminal, and Markdown for the README section.
 * Each cell shows the median over the rounds with the range in brackets; ratios are iscsi-ts over
 * libiscsi, of medians.
 */
import { describeMachine } from "./machine.js";
import type { BenchResults, LocalComparison, RunFigures, WorkloadOutcome } from "./report.js";
import { median } from "./stats.js";
import type { Spread } from "./stats.js";
import { sizeLabel } from "./workloads.js";

const MiB = 1024 * 1024;

export function formatIops(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  if (x >= 1e5) return `${(x / 1e3).toFixed(0)}K`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}K`;
  return x.toFixed(0);
}

export function formatMiBps(bytesPerSecond: number): string {
  return Number.isFinite(bytesPerSecond) ? `${(bytesPerSecond / MiB).toFixed(0)}` : "n/a";
}

export function formatRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : "n/a";
}

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "n/a";
}

/** "75.3K [74.1K-76.0K]": a median and its range, or the median alone for one round. */
export function formatSpread(s: Spread, format: (x: number) => string): string {
  if (s.n <= 1 || s.min === s.max) return format(s.median);
  return `${format(s.median)} [${format(s.min)}-${format(s.max)}]`;
}

function rate(o: WorkloadOutcome, side: "libiscsi" | "ours"): string {
  const summary = o[side].summary;
  return o.workload.figure === "iops"
    ? `${formatSpread(summary.iops, formatIops)} IOPS`
    : `${formatSpread(summary.bytesPerSecond, formatMiBps)} MiB/s`;
}

function cpuUnit(o: WorkloadOutcome): string {
  return o.workload.cpuPer === "gib" ? "s/GiB" : "s/100K IO";
}

const HEADERS = [
  "workload",
  "libiscsi tool",
  "libiscsi",
  "iscsi-ts",
  "ratio",
  "mean lat us lib*/ts",
  "ts p50/p99 us",
  "CPU libiscsi",
  "CPU iscsi-ts",
  "CPU ratio",
  "peak RSS MiB lib/ts",
  "others' CPU % lib/ts",
];

function workloadRow(o: WorkloadOutcome): string[] {
  const lib = o.libiscsi.summary;
  const ours = o.ours.summary;
  return [
    o.workload.label,
    o.tool,
    rate(o, "libiscsi"),
    rate(o, "ours"),
    formatRatio(o.ratio),
    `${fixed(lib.meanLatencyUs.median, 0)}/${fixed(ours.meanLatencyUs.median, 0)}`,
    ours.p50Us === undefined || ours.p99Us === undefined ? "n/a" : `${fixed(ours.p50Us.median, 0)}/${fixed(ours.p99Us.median, 0)}`,
    `${fixed(lib.cpuPerUnit.median, 2)} ${cpuUnit(o)}`,
    `${fixed(ours.cpuPerUnit.median, 2)} ${cpuUnit(o)}`,
    formatRatio(o.cpuRatio),
    `${fixed(lib.peakRssKiB.max / 1024, 0)}/${fixed(ours.peakRssKiB.max / 1024, 0)}`,
    `${fixed(lib.otherCpuPercent.median, 0)}/${fixed(ours.otherCpuPercent.median, 0)}`,
  ];
}

const SPLIT_HEADERS = ["workload", "libiscsi user", "libiscsi system", "iscsi-ts user", "iscsi-ts system", "tgtd lib/ts", "softirq lib/ts"];

/** Median seconds of a figure over a side's runs, "n/a" when the runs did not record it. */
function medianOf(runs: readonly RunFigures[], pick: (r: RunFigures) => number | undefined): string {
  const values = runs.flatMap((r) => {
    const v = pick(r);
    return v === undefined ? [] : [v];
  });
  return values.length === 0 ? "n/a" : median(values).toFixed(2);
}

/** Where each initiator's CPU went in a window (user, kernel), and what tgtd and the softirqs spent beside it. */
function splitRow(o: WorkloadOutcome): string[] {
  const user = (r: RunFigures): number | undefined => (r.systemCpuSeconds === undefined ? undefined : r.cpuSeconds - r.systemCpuSeconds);
  const lib = o.libiscsi.runs;
  const ours = o.ours.runs;
  return [
    o.workload.label,
    medianOf(lib, user),
    medianOf(lib, (r) => r.systemCpuSeconds),
    medianOf(ours, user),
    medianOf(ours, (r) => r.systemCpuSeconds),
    `${medianOf(lib, (r) => r.tgtdCpuSeconds)}/${medianOf(ours, (r) => r.tgtdCpuSeconds)}`,
    `${medianOf(lib, (r) => r.irqCpuSeconds)}/${medianOf(ours, (r) => r.irqCpuSeconds)}`,
  ];
}

function splitTitle(results: BenchResults): string {
  return `where the CPU went: median CPU seconds per ${results.settings.seconds} s window, the initiator's user and system time, and beside it tgtd's and the softirqs' (loopback TCP, charged to no process)`;
}

const LOCAL_HEADERS = ["block size", "local (fio)", "libiscsi", "iscsi-ts", "libiscsi/local", "iscsi-ts/local", "iscsi-ts/libiscsi"];

function localRows(local: LocalComparison): string[][] {
  return local.points.map((p) => [
    sizeLabel(p.ioBytes),
    `${formatSpread(p.local.iops, formatIops)} IOPS`,
    `${formatSpread(p.libiscsi.iops, formatIops)} IOPS`,
    `${formatSpread(p.ours.iops, formatIops)} IOPS`,
    formatRatio(p.libiscsiOverLocal),
    formatRatio(p.oursOverLocal),
    formatRatio(p.ours.iops.median / p.libiscsi.iops.median),
  ]);
}

/** Columns padded to their widest cell; text left, figures right. */
export function alignColumns(rows: readonly (readonly string[])[], leftColumns = 2): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (i < leftColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd())
    .join("\n");
}

function when(results: BenchResults): string {
  return `${results.startedAt.slice(0, 16).replace("T", " ")} UTC`;
}

export function settingsLine(results: BenchResults): string {
  const s = results.settings;
  const load = (l: readonly number[]): string => (l[0] === undefined ? "?" : l[0].toFixed(1));
  return (
    `${s.rounds} round(s), ${s.seconds} s measured per run after ${s.warmupSeconds} s warm-up, initiators alternating; ` +
    `load average ${load(results.machine.loadAverage)} at the start, ${load(results.loadAverageAtEnd)} at the end` +
    (s.quick ? " (--quick: a smoke run, not a measurement)" : "")
  );
}

/** Lines about runs that failed or ran on a busy machine: the reader must know. */
export function caveats(results: BenchResults): string[] {
  const notes: string[] = [];
  if (results.noisyRuns.length > 0) {
    notes.push(
      `${results.noisyRuns.length} run(s) had to start while other work kept the machine over ${results.settings.quietPercent}% busy (after waiting up to ${results.settings.quietWaitSeconds} s): see noisyRuns in the JSON`,
    );
  }
  if (results.failures.length > 0) notes.push(`${results.failures.length} run(s) FAILED and are missing from the medians: ${results.failures.join("; ")}`);
  return notes;
}

export const FOOTNOTES = [
  "median [min-max] over the rounds; ratio = iscsi-ts / libiscsi of the medians (higher is better for iscsi-ts, except CPU and latency).",
  "* libiscsi's tools print no latencies: their mean latency is queue depth / IOPS (Little's law); iscsi-ts's is measured per I/O.",
  "CPU: utime+stime of the initiator process from /proc/<pid>/stat over the measured window, per 100K I/Os or per GiB moved.",
  "peak RSS: VmHWM from /proc/<pid>/status (highest over the rounds); iscsi-ts's includes its I/O buffers: one shared read buffer (iscsi-perf keeps no data), a buffer per request for writes (as qemu-img bench).",
  "others' CPU: share of the machine's CPU capacity used by processes other than the initiator and tgtd during the window (the machine is shared: above a few percent, treat that run's figures with care).",
  "qemu-img bench has no random mode: its 4 KiB writes go to sequential offsets (ours are random; tgtd's null LUN costs the same either way).",
];

export function renderTable(results: BenchResults): string {
  const lines: string[] = [];
  lines.push(`iscsi-ts vs libiscsi, loopback to tgtd's null LUN, ${when(results)}`);
  lines.push(`machine: ${describeMachine(results.machine)}`);
  if (results.source !== undefined) lines.push(`source: ${results.source.commit}${results.source.dirty ? " with uncommitted changes in src/" : ""}`);
  lines.push(settingsLine(results));
  for (const note of caveats(results)) lines.push(note);
  lines.push("");
  lines.push(alignColumns([HEADERS, ...results.workloads.map(workloadRow)]));
  lines.push("");
  for (const note of FOOTNOTES) lines.push(note);
  lines.push("");
  lines.push(splitTitle(results));
  lines.push(alignColumns([SPLIT_HEADERS, ...results.workloads.map(splitRow)], 1));
  if (results.local !== undefined) {
    lines.push("");
    lines.push(`iSCSI over local: random reads at QD${results.local.queueDepth} of a ${(results.local.fileBytes / MiB).toFixed(0)} MiB file, through the page cache, by fio locally and through tgtd's file LUN`);
    lines.push(alignColumns([LOCAL_HEADERS, ...localRows(results.local)], 1));
  }
  if (results.goals.length > 0) {
    lines.push("");
    lines.push("goals:");
    for (const g of results.goals) lines.push(`  ${g.met ? "met   " : "MISSED"}  ${g.goal}: ${g.detail}`);
  }
  return `${lines.join("\n")}\n`;
}

export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[], leftColumns: number): string {
  const align = headers.map((_, i) => (i < leftColumns ? "---" : "---:"));
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(headers), line(align), ...rows.map(line)].join("\n");
}

/** The README section's tables, goals and machine line, in Markdown. */
export function renderMarkdown(results: BenchResults): string {
  const parts: string[] = [];
  const source = results.source === undefined ? "" : ` from commit ${results.source.commit}${results.source.dirty ? " (with uncommitted changes in src/)" : ""}`;
  parts.push(`Measured ${when(results)}${source} on ${describeMachine(results.machine)}; ${settingsLine(results)}.`);
  const notes = caveats(results);
  if (notes.length > 0) parts.push(notes.join("\n\n"));
  parts.push(markdownTable(HEADERS, results.workloads.map(workloadRow), 2));
  parts.push(FOOTNOTES.map((n) => `- ${n}`).join("\n"));
  parts.push(`${splitTitle(results)}:`);
  parts.push(markdownTable(SPLIT_HEADERS, results.workloads.map(splitRow), 1));
  if (results.local !== undefined) {
    parts.push(`iSCSI over local, random reads at QD${results.local.queueDepth} of a ${(results.local.fileBytes / MiB).toFixed(0)} MiB file through the page cache:`);
    parts.push(markdownTable(LOCAL_HEADERS, localRows(results.local), 1));
  }
  if (results.goals.length > 0) {
    parts.push(["| goal | result | measured |", "|---|---|---|", ...results.goals.map((g) => `| ${g.goal} | ${g.met ? "met" : "**missed**"} | ${g.detail} |`)].join("\n"));
  }
  return `${parts.join("\n\n")}\n`;
}
