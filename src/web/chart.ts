/**
 * The live chart: IOPS above, latency (mean and 99th percentile) below, over the last minute, on
 * one canvas drawn at the screen's pixel density. Axes scale to "nice" steps so the numbers on
 * them read at a glance.
 */
import { formatCount } from "./format.js";

export interface Sample {
  /** Seconds since the workload started. */
  readonly t: number;
  readonly iops: number;
  readonly meanMs: number;
  readonly p99Ms: number;
}

/** The chart shows at most the last minute, and at least 10 s (so a new run does not fill it at once). */
const WINDOW_S = 60;
const MIN_WINDOW_S = 10;

/** Axis labels: three significant digits, no trailing zeros, µs below a millisecond. */
function axisMs(ms: number): string {
  if (ms === 0) return "0";
  if (ms < 1) return `${Number((ms * 1000).toPrecision(3))} µs`;
  return `${Number(ms.toPrecision(3))} ms`;
}

const COLORS = {
  grid: "#e5e7eb",
  axis: "#6b7280",
  iops: "#0f766e",
  iopsFill: "rgba(20, 184, 166, 0.18)",
  mean: "#2563eb",
  p99: "#e11d48",
  text: "#111827",
};

/** A step of 1, 2 or 5 times a power of ten giving about `ticks` steps up to `max`. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

interface Panel {
  readonly top: number;
  readonly height: number;
  readonly max: number;
  readonly step: number;
}

export class LiveChart {
  private samples: Sample[] = [];
  private readonly context: CanvasRenderingContext2D;

  constructor(private readonly canvas: HTMLCanvasElement) {
    const context = canvas.getContext("2d");
    if (context === null) throw new Error("this browser has no 2D canvas");
    this.context = context;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  clear(): void {
    this.samples = [];
    this.draw();
  }

  add(sample: Sample): void {
    this.samples.push(sample);
    const from = sample.t - WINDOW_S;
    while ((this.samples[0]?.t ?? from) < from) this.samples.shift();
    this.draw();
  }

  draw(): void {
    const ratio = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    if (width === 0 || height === 0) return;
    if (this.canvas.width !== Math.round(width * ratio) || this.canvas.height !== Math.round(height * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
    }
    const c = this.context;
    c.setTransform(ratio, 0, 0, ratio, 0, 0);
    c.clearRect(0, 0, width, height);
    c.font = "12px system-ui, sans-serif";

    const left = 64;
    const right = width - 16;
    const last = this.samples.at(-1)?.t ?? 0;
    // The window grows with the run in steps of 10 s up to a minute, then slides.
    const span = Math.min(WINDOW_S, Math.max(MIN_WINDOW_S, Math.ceil(last / 10) * 10));
    const start = Math.max(0, last - span);
    const x = (t: number): number => left + ((t - start) / span) * (right - left);

    const gap = 28;
    const panelHeight = (height - 24 - gap - 20) / 2;
    const maxIops = Math.max(10, ...this.samples.map((s) => s.iops));
    const maxLatency = Math.max(0.1, ...this.samples.map((s) => s.p99Ms));
    const iops: Panel = this.panel(20, panelHeight, maxIops);
    const latency: Panel = this.panel(20 + panelHeight + gap, panelHeight, maxLatency);

    this.axes(iops, left, right, (v) => formatCount(Math.round(v)), "IOPS");
    this.axes(latency, left, right, axisMs, "latency");
    this.timeAxis(latency, x, start, start + span);

    const yOf = (p: Panel, v: number): number => p.top + p.height - (v / p.max) * p.height;
    if (this.samples.length > 1) {
      // IOPS: a filled area under the line, so the level reads before the numbers do.
      c.beginPath();
      c.moveTo(x(this.samples[0]?.t ?? 0), iops.top + iops.height);
      for (const s of this.samples) c.lineTo(x(s.t), yOf(iops, s.iops));
      c.lineTo(x(last), iops.top + iops.height);
      c.closePath();
      c.fillStyle = COLORS.iopsFill;
      c.fill();
      this.line(this.samples.map((s) => [x(s.t), yOf(iops, s.iops)]), COLORS.iops, 2);
      this.line(this.samples.map((s) => [x(s.t), yOf(latency, s.p99Ms)]), COLORS.p99, 1.5);
      this.line(this.samples.map((s) => [x(s.t), yOf(latency, s.meanMs)]), COLORS.mean, 2);
    }
    this.legend(latency, right, [
      ["mean", COLORS.mean],
      ["p99", COLORS.p99],
    ]);
    if (this.samples.length === 0) {
      c.fillStyle = COLORS.axis;
      c.textAlign = "center";
      c.fillText("Start the workload to see IOPS and latency here", (left + right) / 2, iops.top + iops.height / 2);
    }
  }

  private panel(top: number, height: number, max: number): Panel {
    const step = niceStep(max * 1.1, 4);
    return { top, height, max: Math.ceil((max * 1.1) / step) * step, step };
  }

  private axes(p: Panel, left: number, right: number, label: (v: number) => string, title: string): void {
    const c = this.context;
    c.lineWidth = 1;
    c.textAlign = "right";
    c.textBaseline = "middle";
    for (let v = 0; v <= p.max + p.step / 2; v += p.step) {
      const y = Math.round(p.top + p.height - (v / p.max) * p.height) + 0.5;
      c.strokeStyle = COLORS.grid;
      c.beginPath();
      c.moveTo(left, y);
      c.lineTo(right, y);
      c.stroke();
      c.fillStyle = COLORS.axis;
      c.fillText(label(v), left - 8, y);
    }
    c.fillStyle = COLORS.text;
    c.textAlign = "left";
    c.textBaseline = "bottom";
    c.font = "600 12px system-ui, sans-serif";
    c.fillText(title, left, p.top - 6);
    c.font = "12px system-ui, sans-serif";
  }

  private timeAxis(p: Panel, x: (t: number) => number, start: number, end: number): void {
    const c = this.context;
    c.fillStyle = COLORS.axis;
    c.textAlign = "center";
    c.textBaseline = "top";
    const step = end - start <= MIN_WINDOW_S ? 2 : 10;
    for (let t = Math.ceil(start / step) * step; t <= end + 1e-9; t += step) c.fillText(`${Math.round(t)} s`, x(t), p.top + p.height + 6);
  }

  private line(points: readonly (readonly [number, number])[], color: string, width: number): void {
    const c = this.context;
    c.beginPath();
    points.forEach(([px, py], i) => (i === 0 ? c.moveTo(px, py) : c.lineTo(px, py)));
    c.strokeStyle = color;
    c.lineWidth = width;
    c.lineJoin = "round";
    c.stroke();
  }

  private legend(p: Panel, right: number, entries: readonly (readonly [string, string])[]): void {
    const c = this.context;
    c.textAlign = "right";
    c.textBaseline = "bottom";
    let at = right;
    for (const [name, color] of [...entries].reverse()) {
      c.fillStyle = COLORS.text;
      c.fillText(name, at, p.top - 6);
      const w = c.measureText(name).width;
      c.fillStyle = color;
      c.fillRect(at - w - 22, p.top - 13, 16, 3);
      at -= w + 34;
    }
  }
}
