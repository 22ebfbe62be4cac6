/**
 * A run's intervals as a standalone SVG: IOPS over time above, latency (p50 and p99) over time
 * below, on one time axis, so a dip in the one lines up with a spike in the other. Plain shapes
 * and text only (no script, no external font or stylesheet), so it renders in any browser, on
 * GitHub, and through rsvg or Inkscape.
 */
import { escapeXml } from "../bench/svg.js";
import { intervalRates, type IntervalReport } from "./intervals.js";

/** One interval, as the chart needs it. */
export interface ChartPoint {
  /** Seconds from the start of the run to the interval's end. */
  readonly t: number;
  readonly iops: number;
  readonly readIops: number;
  readonly writeIops: number;
  /** Absent for an interval in which nothing completed. */
  readonly p50Us?: number;
  readonly p99Us?: number;
}

/** The chart's view of an interval the engine reported. */
export function chartPoint(r: IntervalReport): ChartPoint {
  return {
    t: r.endMs / 1000,
    iops: intervalRates(r, r.all).iops,
    readIops: intervalRates(r, r.reads).iops,
    writeIops: intervalRates(r, r.writes).iops,
    ...(r.all.ios === 0 ? {} : { p50Us: r.all.latency.p50Us, p99Us: r.all.latency.p99Us }),
  };
}

export interface ChartOptions {
  readonly title: string;
  /** A second line under the title: the workload, the target. */
  readonly subtitle?: string;
  /** Draw reads and writes apart beside the total (a mixed workload). */
  readonly mixed?: boolean;
}

interface Series {
  readonly name: string;
  readonly colour: string;
  /** One value per interval; undefined where there is none (no I/O completed, so no latency). */
  readonly values: readonly (number | undefined)[];
  readonly width?: number;
  readonly dash?: string;
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const WIDTH = 820;
const LEFT = 84;
const RIGHT = 36;
const PLOT_WIDTH = WIDTH - LEFT - RIGHT;
const PANEL_HEIGHT = 200;
const n = (x: number): string => (Math.round(x * 10) / 10).toString();

/**
 * An axis from 0 to a round number at or above `top`, in steps of 1, 2 or 5 times a power of
 * ten, about `ticks` of them.
 */
export function niceAxis(top: number, ticks = 5): { readonly max: number; readonly step: number } {
  if (!(top > 0) || !Number.isFinite(top)) return { max: 1, step: 0.2 };
  const rough = top / ticks;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((m) => m * power >= rough) ?? 10) * power;
  return { max: Math.ceil(top / step - 1e-9) * step, step };
}

/** A tick's label: no more decimals than the step has, thousands grouped. */
function tickLabel(value: number, step: number): string {
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
  return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function text(x: number, y: number, body: string, attrs = ""): string {
  return `<text x="${n(x)}" y="${n(y)}" ${attrs}>${escapeXml(body)}</text>`;
}

/** One panel: grid, y labels, the series as lines broken where a value is missing, and a legend. */
function panel(out: string[], top: number, label: string, series: readonly Series[], times: readonly number[], xMax: number, xStep: number, showX: boolean): void {
  const values = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const y = niceAxis(Math.max(0, ...values));
  const xs = (t: number): number => LEFT + (t / xMax) * PLOT_WIDTH;
  const ys = (v: number): number => top + PANEL_HEIGHT - (Math.max(0, v) / y.max) * PANEL_HEIGHT;
  for (let v = 0; v <= y.max + y.step / 2; v += y.step) {
    out.push(`<line x1="${LEFT}" y1="${n(ys(v))}" x2="${LEFT + PLOT_WIDTH}" y2="${n(ys(v))}" stroke="#e4e4e4"/>`);
    out.push(text(LEFT - 8, ys(v) + 4, tickLabel(v, y.step), 'text-anchor="end" fill="#555"'));
  }
  for (let t = 0; t <= xMax * (1 + 1e-9); t += xStep) {
    out.push(`<line x1="${n(xs(t))}" y1="${top}" x2="${n(xs(t))}" y2="${top + PANEL_HEIGHT}" stroke="#f0f0f0"/>`);
    if (showX) out.push(text(xs(t), top + PANEL_HEIGHT + 16, tickLabel(t, xStep), 'text-anchor="middle" fill="#555"'));
  }
  out.push(`<rect x="${LEFT}" y="${top}" width="${PLOT_WIDTH}" height="${PANEL_HEIGHT}" fill="none" stroke="#bbb"/>`);
  out.push(text(18, top + PANEL_HEIGHT / 2, label, `text-anchor="middle" fill="#333" transform="rotate(-90 18 ${n(top + PANEL_HEIGHT / 2)})"`));
  for (const s of series) {
    // A missing value breaks the line: an interval without a completion has no latency to join.
    const runs: string[][] = [[]];
    s.values.forEach((v, i) => {
      const t = times[i];
      if (v === undefined || t === undefined) runs.push([]);
      else runs.at(-1)?.push(`${n(xs(t))},${n(ys(v))}`);
    });
    const style = `fill="none" stroke="${s.colour}" stroke-width="${s.width ?? 2}" stroke-linejoin="round"${s.dash === undefined ? "" : ` stroke-dasharray="${s.dash}"`}`;
    for (const points of runs) {
      if (points.length > 1) out.push(`<polyline points="${points.join(" ")}" ${style}/>`);
      // A lone point (a single interval, or one between gaps) would draw nothing as a line.
      if (points.length === 1) {
        const [cx, cy] = (points[0] ?? "0,0").split(",");
        out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.colour}"/>`);
      }
    }
  }
  // The legend sits above the panel, where no line can run through it.
  let lx = LEFT;
  for (const s of series) {
    out.push(`<line x1="${n(lx)}" y1="${top - 8}" x2="${n(lx + 22)}" y2="${top - 8}" stroke="${s.colour}" stroke-width="${s.width ?? 2}"${s.dash === undefined ? "" : ` stroke-dasharray="${s.dash}"`}/>`);
    out.push(text(lx + 28, top - 4, s.name, 'fill="#333"'));
    lx += 44 + s.name.length * 7;
  }
}

/** The chart of a run's intervals, in order. */
export function intervalChart(intervals: readonly ChartPoint[], options: ChartOptions): string {
  const times = intervals.map((p) => p.t);
  // The time axis ends with the run, not at a round number past it (which would leave a blank).
  const xMax = Math.max(0, ...times) || 1;
  const xStep = niceAxis(xMax, 8).step;
  const p99Top = Math.max(0, ...intervals.map((p) => p.p99Us ?? 0));
  // Microseconds while they read well; milliseconds once the tail passes 2 ms.
  const [unit, scale] = p99Top >= 2000 ? ["ms", 1000] : ["µs", 1];
  const iopsSeries: Series[] = [{ name: options.mixed === true ? "total" : "IOPS", colour: "#2f6fb5", values: intervals.map((p) => p.iops), width: 2.5 }];
  if (options.mixed === true) {
    iopsSeries.push({ name: "reads", colour: "#3c9a4f", values: intervals.map((p) => p.readIops), width: 1.5 });
    iopsSeries.push({ name: "writes", colour: "#c8702a", values: intervals.map((p) => p.writeIops), width: 1.5 });
  }
  const inUnit = (us: number | undefined): number | undefined => (us === undefined ? undefined : us / scale);
  const latencySeries: Series[] = [
    { name: "p50", colour: "#2f6fb5", values: intervals.map((p) => inUnit(p.p50Us)) },
    { name: "p99", colour: "#d05a4a", values: intervals.map((p) => inUnit(p.p99Us)), dash: "6 3" },
  ];
  const firstTop = options.subtitle === undefined ? 62 : 80;
  const secondTop = firstTop + PANEL_HEIGHT + 30;
  const height = secondTop + PANEL_HEIGHT + 48;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(text(12, 24, options.title, 'font-size="15" font-weight="600"'));
  if (options.subtitle !== undefined) out.push(text(12, 44, options.subtitle, 'fill="#555"'));
  if (intervals.length === 0) {
    out.push(text(WIDTH / 2, firstTop + PANEL_HEIGHT / 2, "no intervals: the run ended before its first", 'text-anchor="middle" fill="#777"'));
  }
  panel(out, firstTop, "IOPS", iopsSeries, times, xMax, xStep, false);
  panel(out, secondTop, `latency (${unit})`, latencySeries, times, xMax, xStep, true);
  out.push(text(LEFT + PLOT_WIDTH / 2, height - 12, "seconds (each point: the interval ending there)", 'text-anchor="middle" fill="#333"'));
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
