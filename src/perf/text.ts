/**
 * A run's intervals and its latency histogram as text for a terminal or a log: a table of one
 * line per interval under a header, as iostat and libiscsi's iscsi-perf print them, and the
 * histogram as rows of bars. The units come from the caller (the CLI's formatters), so these
 * tables read like the rest of its output.
 */
import type { Log2Bucket } from "./histogram.js";
import { intervalRates, type DirectionInterval, type IntervalReport } from "./intervals.js";

export interface TextUnits {
  /** A latency given in microseconds: "850 µs", "2.1 ms". */
  readonly micros: (us: number) => string;
  /** A count: "12,345". */
  readonly count: (n: number) => string;
}

const MIB = 2 ** 20;

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => c.padStart(widths[i] ?? 0)).join("");
}

/**
 * The interval table: its header lines, and a function giving the line of each interval. A mixed
 * workload gets a read and a write group of columns; one direction gets one group. Throughput is
 * in MiB/s throughout, so a column reads down without a change of unit.
 */
export function intervalTable(mixed: boolean, units: TextUnits): { readonly header: readonly string[]; readonly line: (r: IntervalReport) => string } {
  const group = ["IOPS", "MiB/s", "p50", "p99"];
  const groupWidths = [10, 9, 10, 10];
  const head = ["time", ...group, ...(mixed ? group : []), "in flight"];
  const widths = [8, ...groupWidths, ...(mixed ? groupWidths : []), 11];
  const cells = (r: IntervalReport, d: DirectionInterval): string[] => {
    const { iops, bytesPerSecond } = intervalRates(r, d);
    // An interval with nothing completed has no latency to show, rather than a 0 that reads as fast.
    const latency = (us: number): string => (d.ios === 0 ? "-" : units.micros(us));
    return [units.count(iops), (bytesPerSecond / MIB).toFixed(1), latency(d.latency.p50Us), latency(d.latency.p99Us)];
  };
  const groupWidth = groupWidths.reduce((a, b) => a + b, 0);
  // "---- reads ----" over a group's columns, two spaces in from its left edge as its cells are.
  const title = (name: string): string => {
    const label = ` ${name} `;
    const dashes = groupWidth - 2 - label.length;
    return `  ${"-".repeat(Math.floor(dashes / 2))}${label}${"-".repeat(Math.ceil(dashes / 2))}`;
  };
  const header = mixed ? [`${" ".repeat(widths[0] ?? 0)}${title("reads")}${title("writes")}`, row(head, widths)] : [row(head, widths)];
  return {
    header,
    line: (r) =>
      row([`${(r.endMs / 1000).toFixed(1)} s`, ...(mixed ? [...cells(r, r.reads), ...cells(r, r.writes)] : cells(r, r.all)), units.count(r.inFlight)], widths),
  };
}

/**
 * A latency histogram in power-of-two ranges: each range, a bar scaled to the fullest range (a
 * range holding anything gets at least one mark, so a rare slow I/O is not drawn as none), its
 * count, its share and the share at or below it.
 */
export function histogramText(buckets: readonly Log2Bucket[], units: TextUnits, barWidth = 40): string[] {
  const total = buckets.reduce((a, b) => a + b.count, 0);
  if (total === 0) return [];
  const most = Math.max(...buckets.map((b) => b.count));
  const from = buckets.map((b) => (b.fromUs === 0 ? "" : units.micros(b.fromUs)));
  const to = buckets.map((b) => units.micros(b.toUs));
  const counts = buckets.map((b) => units.count(b.count));
  const fromWidth = Math.max(...from.map((s) => s.length));
  const toWidth = Math.max(...to.map((s) => s.length));
  const countWidth = Math.max(...counts.map((s) => s.length));
  let below = 0;
  return buckets.map((b, i) => {
    below += b.count;
    const marks = b.count === 0 ? 0 : Math.max(1, Math.round((b.count / most) * barWidth));
    const range = b.fromUs === 0 ? `${"".padStart(fromWidth)}  < ${(to[i] ?? "").padStart(toWidth)}` : `${(from[i] ?? "").padStart(fromWidth)} to ${(to[i] ?? "").padStart(toWidth)}`;
    const share = `${((b.count / total) * 100).toFixed(1)}%`.padStart(7);
    const cumulative = `${((below / total) * 100).toFixed(1)}%`.padStart(7);
    return `${range} |${"#".repeat(marks).padEnd(barWidth)}| ${(counts[i] ?? "").padStart(countWidth)}${share}${cumulative}`;
  });
}
