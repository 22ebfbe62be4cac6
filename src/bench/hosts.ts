/**
 * The README's host table (issue 12): for each host of the library (Node, Bun, Deno, the browser
 * through `iscsi gateway`), 4 KiB random reads at queue depth 32 and 1 MiB sequential reads at
 * queue depth 16 against tgtd's null LUN, beside libiscsi's `iscsi-perf` run in the same rounds.
 *
 * This module holds what every reader shares and what the table is made of; it imports nothing
 * from a host, so the browser reader (browser-reader.ts, bundled for Chromium) runs the very same
 * loops as the Node, Bun and Deno reader (host-reader.ts). hosts-main.ts runs the rounds.
 */
import { median, ratio } from "./stats.js";

/** Where the reads go: a LUN as every entry's openLun returns it (only `read` is used). */
export interface ReadableLun {
  read(lba: number, blocks: number, options: { readonly into: Uint8Array }): Promise<Uint8Array>;
}

/** One workload's window, as a reader measured it. */
export interface Window {
  /** Reads completed inside the window. */
  readonly ios: number;
  /** The window's length, from its first counted completion's clock to its end, seconds. */
  readonly seconds: number;
  /** CPU microseconds spent in the window, when the reader can read its own (not in a browser). */
  readonly cpuUs?: number;
}

export interface MeasureOptions {
  readonly ioBlocks: number;
  readonly depth: number;
  readonly next: () => number;
  readonly warmupMs: number;
  readonly ms: number;
  /** The process's CPU time so far, microseconds (user + system), if the runtime tells it. */
  readonly cpuUs?: () => number;
  /** Told as the window opens and as it closes (the browser bench samples /proc of Chromium then). */
  readonly onEdge?: (edge: "open" | "close") => void | Promise<void>;
}

export const BLOCK = 512;
/** The region read: the first GiB of the null LUN. */
export const REGION_BLOCKS = (1 << 30) / BLOCK;
export const SMALL = { ioBlocks: 8, depth: 32 } as const;
export const LARGE = { ioBlocks: 2048, depth: 16 } as const;

/** Closed loops of `depth` readers for `ms` after a warm-up; the window is what is counted. */
export async function measure(lun: ReadableLun, o: MeasureOptions): Promise<Window> {
  const open = performance.now() + o.warmupMs;
  const end = open + o.ms;
  let counted = 0;
  let cpuAtOpen: number | undefined;
  let cpuAtEnd: number | undefined;
  let openedAt: number | undefined;
  let closedAt: number | undefined;
  const edges: Promise<void>[] = [];
  await Promise.all(
    Array.from({ length: o.depth }, async () => {
      const into = new Uint8Array(o.ioBlocks * BLOCK);
      for (;;) {
        await lun.read(o.next(), o.ioBlocks, { into });
        const now = performance.now();
        if (now >= end) {
          if (closedAt === undefined) {
            closedAt = now;
            cpuAtEnd = o.cpuUs?.();
            if (o.onEdge !== undefined) edges.push(Promise.resolve(o.onEdge("close")));
          }
          return;
        }
        if (now >= open) {
          if (openedAt === undefined) {
            openedAt = now;
            cpuAtOpen = o.cpuUs?.();
            if (o.onEdge !== undefined) edges.push(Promise.resolve(o.onEdge("open")));
          } else counted++;
        }
      }
    }),
  );
  await Promise.all(edges);
  const seconds = openedAt === undefined || closedAt === undefined ? 0 : (closedAt - openedAt) / 1000;
  const cpuUs = cpuAtOpen === undefined || cpuAtEnd === undefined ? undefined : cpuAtEnd - cpuAtOpen;
  return cpuUs === undefined ? { ios: counted, seconds } : { ios: counted, seconds, cpuUs };
}

/** The seeded LBA sequences of both workloads (the same in every reader). */
export function randomSmallLbas(seed = 12345): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s % (REGION_BLOCKS / SMALL.ioBlocks)) * SMALL.ioBlocks;
  };
}

export function sequentialLargeLbas(): () => number {
  let cursor = 0;
  return () => {
    const lba = cursor;
    cursor = (cursor + LARGE.ioBlocks) % REGION_BLOCKS;
    return lba;
  };
}

/** Both workloads on one LUN: what a reader prints (one JSON line) or returns (the browser). */
export interface ReaderResult {
  readonly runtime: string;
  readonly small: Window;
  readonly large: Window;
}

export async function runWorkloads(
  lun: ReadableLun,
  runtime: string,
  seconds: number,
  extra: { readonly warmupMs?: number; readonly cpuUs?: () => number; readonly onEdge?: (workload: "small" | "large", edge: "open" | "close") => void | Promise<void> } = {},
): Promise<ReaderResult> {
  const common = (workload: "small" | "large"): Pick<MeasureOptions, "warmupMs" | "ms" | "cpuUs" | "onEdge"> => ({
    warmupMs: extra.warmupMs ?? 1_500,
    ms: seconds * 1000,
    ...(extra.cpuUs === undefined ? {} : { cpuUs: extra.cpuUs }),
    ...(extra.onEdge === undefined ? {} : { onEdge: (edge: "open" | "close") => extra.onEdge?.(workload, edge) }),
  });
  const small = await measure(lun, { ...SMALL, next: randomSmallLbas(), ...common("small") });
  const large = await measure(lun, { ...LARGE, next: sequentialLargeLbas(), ...common("large") });
  return { runtime, small, large };
}

// ---- The table ----

/** One host's figures in one round (iscsi-perf is a host here too: the reference). */
export interface HostFigures {
  readonly iops4k: number;
  readonly mbps1m: number;
  /** CPU microseconds per I/O; NaN when unknown. */
  readonly cpuUs4k: number;
  readonly cpuUs1m: number;
  /** Where a sum of processes' CPU came from (the browser: Chromium's and the gateway's µs per read), for the record. */
  readonly cpuParts?: Readonly<Record<string, number>>;
}

export interface HostRow {
  readonly host: string;
  /** How its CPU was counted (the browser's is Chromium's processes plus the gateway's). */
  readonly cpuCounted: string;
  readonly rounds: readonly HostFigures[];
}

export interface SummaryRow {
  readonly host: string;
  readonly cpuCounted: string;
  readonly median: HostFigures;
  /** Each median over the reference's median; NaN where either is missing. */
  readonly ratio: HostFigures;
}

export const REFERENCE = "libiscsi iscsi-perf";

export function figuresFromWindows(small: Window, large: Window, cpu?: { readonly smallUs: number; readonly largeUs: number }): HostFigures {
  const rate = (w: Window): number => (w.seconds > 0 ? w.ios / w.seconds : Number.NaN);
  const per = (us: number | undefined, w: Window): number => (us === undefined || w.ios <= 0 ? Number.NaN : us / w.ios);
  return {
    iops4k: rate(small),
    mbps1m: (rate(large) * LARGE.ioBlocks * BLOCK) / 1e6,
    cpuUs4k: per(cpu?.smallUs ?? small.cpuUs, small),
    cpuUs1m: per(cpu?.largeUs ?? large.cpuUs, large),
  };
}

function medianOf(rounds: readonly HostFigures[], key: "iops4k" | "mbps1m" | "cpuUs4k" | "cpuUs1m"): number {
  return median(rounds.map((r) => r[key]).filter((v) => Number.isFinite(v)));
}

/** Medians over rounds, and each as a ratio to the reference row's (`REFERENCE`). */
export function summarize(rows: readonly HostRow[]): SummaryRow[] {
  const keys = ["iops4k", "mbps1m", "cpuUs4k", "cpuUs1m"] as const;
  const medians = rows.map((r) => Object.fromEntries(keys.map((k) => [k, medianOf(r.rounds, k)])) as unknown as HostFigures);
  const refIndex = rows.findIndex((r) => r.host === REFERENCE);
  const ref = refIndex < 0 ? undefined : medians[refIndex];
  return rows.map((r, i) => {
    const m = medians[i]!;
    const rat = Object.fromEntries(keys.map((k) => [k, ref === undefined ? Number.NaN : ratio(m[k], ref[k])])) as unknown as HostFigures;
    return { host: r.host, cpuCounted: r.cpuCounted, median: m, ratio: rat };
  });
}

function fmtIops(v: number): string {
  // As the suite's own table (table.ts's formatIops), which this module cannot import (it must bundle for a browser).
  if (!Number.isFinite(v)) return "n/a";
  if (v >= 1e5) return `${(v / 1e3).toFixed(0)}K`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}K`;
  return v.toFixed(0);
}

function fmtMbps(v: number): string {
  return Number.isFinite(v) ? v.toFixed(0) : "n/a";
}

function fmtUs(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return v >= 100 ? `${v.toFixed(0)} µs` : `${v.toFixed(1)} µs`;
}

function fmtRatio(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}x` : "n/a";
}

/** Each host's range over rounds (min-max), one line per host, for the notes under the table. */
export function rangeLines(rows: readonly HostRow[]): string[] {
  const range = (values: readonly number[], fmt: (v: number) => string): string => {
    const known = values.filter((v) => Number.isFinite(v));
    if (known.length === 0) return "n/a";
    const lo = Math.min(...known);
    const hi = Math.max(...known);
    return lo === hi ? fmt(lo) : `${fmt(lo)}-${fmt(hi)}`;
  };
  return rows.map((r) => {
    const of = (k: "iops4k" | "mbps1m" | "cpuUs4k" | "cpuUs1m"): number[] => r.rounds.map((f) => f[k]);
    return `${r.host} over ${r.rounds.length} round(s): ${range(of("iops4k"), fmtIops)} IOPS, ${range(of("mbps1m"), fmtMbps)} MB/s, ${range(of("cpuUs4k"), fmtUs)} and ${range(of("cpuUs1m"), fmtUs)} CPU per read`;
  });
}

export const TABLE_HEADER = ["host", "4 KiB rand read QD32 IOPS", "1 MiB seq read QD16 MB/s", "CPU per 4 KiB read", "CPU per 1 MiB read"] as const;

/** The cells of each row: a figure with its ratio to iscsi-perf in parentheses (none on iscsi-perf's own row). */
export function tableCells(summary: readonly SummaryRow[]): string[][] {
  return summary.map((s) => {
    const withRatio = (text: string, r: number): string => (s.host === REFERENCE || text === "n/a" ? text : `${text} (${fmtRatio(r)})`);
    return [
      s.host,
      withRatio(fmtIops(s.median.iops4k), s.ratio.iops4k),
      withRatio(fmtMbps(s.median.mbps1m), s.ratio.mbps1m),
      withRatio(fmtUs(s.median.cpuUs4k), s.ratio.cpuUs4k),
      withRatio(fmtUs(s.median.cpuUs1m), s.ratio.cpuUs1m),
    ];
  });
}

/** A Markdown table (for the README), figures right-aligned. */
export function markdownTable(summary: readonly SummaryRow[]): string {
  const rows = tableCells(summary);
  const escape = (cell: string): string => cell.replace(/\|/g, "\\|");
  return [`| ${TABLE_HEADER.join(" | ")} |`, `|${TABLE_HEADER.map((_, i) => (i === 0 ? " --- " : " ---: ")).join("|")}|`, ...rows.map((r) => `| ${r.map(escape).join(" | ")} |`)].join("\n");
}

/** The same table for a terminal: columns padded, the first left-aligned, the rest right-aligned. */
export function textTable(summary: readonly SummaryRow[]): string {
  const rows = [[...TABLE_HEADER], ...tableCells(summary)];
  const widths = TABLE_HEADER.map((_, c) => Math.max(...rows.map((r) => [...r[c]!].length)));
  const line = (r: readonly string[]): string => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}
