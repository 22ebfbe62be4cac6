import { describe, expect, it } from "vitest";
import { chartPoint, intervalChart, niceAxis, type ChartPoint } from "./chart.js";
import { IntervalMeter, type IntervalReport } from "./intervals.js";

/** Every element closed in order, one root <svg>: what an XML parser would accept of our output. */
function wellFormed(svg: string): boolean {
  const open: string[] = [];
  let roots = 0;
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (open.length === 0 && closing === "") roots += 1;
    if (selfClosing === "/") continue;
    if (closing === "/") {
      if (open.pop() !== name) return false;
    } else open.push(name ?? "");
  }
  return open.length === 0 && roots === 1 && /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/.test(svg);
}

/** The points of each polyline, as [x, y] pairs. */
function polylines(svg: string): number[][][] {
  return [...svg.matchAll(/<polyline points="([^"]*)"/g)].map((m) => (m[1] ?? "").split(" ").map((p) => p.split(",").map(Number)));
}

function point(t: number, iops: number, p50Us?: number, p99Us?: number): ChartPoint {
  return { t, iops, readIops: iops * 0.7, writeIops: iops * 0.3, ...(p50Us === undefined ? {} : { p50Us, p99Us }) };
}

describe("intervalChart", () => {
  const series = [point(1, 30_000, 300, 900), point(2, 32_000, 310, 950), point(3, 12_000, 800, 4_000), point(4, 31_000, 305, 990)];

  it("is one well-formed SVG with its title and subtitle escaped", () => {
    const svg = intervalChart(series, { title: "randread <QD 32> & more", subtitle: 'LUN 1 of "iqn"' });
    expect(wellFormed(svg)).toBe(true);
    expect(svg).toContain("randread &lt;QD 32&gt; &amp; more");
    expect(svg).toContain("LUN 1 of &quot;iqn&quot;");
    expect(svg).not.toMatch(/<script|href=/);
  });

  it("draws IOPS, p50 and p99 with a point per interval, higher values higher up, on one time axis", () => {
    const lines = polylines(intervalChart(series, { title: "t" }));
    expect(lines).toHaveLength(3);
    const [iops, p50, p99] = lines;
    for (const line of lines) expect(line).toHaveLength(4);
    // The third interval dipped in IOPS and rose in latency: its point is lower in the one
    // panel and higher in the others (y grows downwards).
    expect(iops?.[2]?.[1]).toBeGreaterThan(iops?.[1]?.[1] ?? 0);
    expect(p99?.[2]?.[1]).toBeLessThan(p99?.[1]?.[1] ?? 0);
    expect(p50?.[2]?.[1]).toBeLessThan(p50?.[1]?.[1] ?? 0);
    // The same time falls at the same x in both panels, and time runs left to right.
    expect(iops?.map((p) => p[0])).toEqual(p99?.map((p) => p[0]));
    expect(iops?.map((p) => p[0])).toEqual([...(iops ?? []).map((p) => p[0] ?? 0)].sort((a, b) => a - b));
  });

  it("breaks the latency lines where an interval had no completion, and keeps IOPS at zero there", () => {
    const stalled = [point(1, 30_000, 300, 900), point(2, 31_000, 300, 900), point(3, 0), point(4, 29_000, 300, 900), point(5, 30_000, 300, 900)];
    const lines = polylines(intervalChart(stalled, { title: "t" }));
    // IOPS whole (5 points); p50 and p99 each in two pieces of two.
    expect(lines.map((l) => l.length)).toEqual([5, 2, 2, 2, 2]);
  });

  it("draws reads and writes beside the total for a mixed workload", () => {
    const svg = intervalChart(series, { title: "t", mixed: true });
    expect(polylines(svg)).toHaveLength(5);
    expect(svg).toMatch(/>reads</);
    expect(svg).toMatch(/>writes</);
    expect(intervalChart(series, { title: "t" })).not.toMatch(/>reads</);
  });

  it("gives latency in microseconds, or in milliseconds once the p99 passes 2 ms", () => {
    expect(intervalChart(series.slice(0, 2), { title: "t" })).toMatch(/latency \(µs\)/);
    expect(intervalChart(series, { title: "t" })).toMatch(/latency \(ms\)/);
  });

  it("draws a run of one interval as points", () => {
    const svg = intervalChart([point(0.4, 1000, 100, 200)], { title: "t" });
    expect(wellFormed(svg)).toBe(true);
    expect(polylines(svg)).toEqual([]);
    expect(svg.match(/<circle /g)).toHaveLength(3);
  });
});

describe("chartPoint", () => {
  it("takes an interval's end, its rates and its percentiles, and no latency from an empty one", () => {
    const meter = new IntervalMeter(0, 500);
    const reports: IntervalReport[] = [];
    for (let i = 0; i < 30; i++) meter.record(i % 3 === 0, 4096, 0.25);
    meter.flushDue(600, 1, (r) => reports.push(r));
    meter.finish(1000, 0, (r) => reports.push(r));
    expect(reports.map(chartPoint)).toEqual([
      { t: 0.5, iops: 60, readIops: 40, writeIops: 20, p50Us: 250, p99Us: 250 },
      { t: 1, iops: 0, readIops: 0, writeIops: 0 },
    ]);
  });
});

describe("niceAxis", () => {
  it("rounds an axis up to a step of 1, 2 or 5 times a power of ten", () => {
    expect(niceAxis(35_000)).toEqual({ max: 40_000, step: 10_000 });
    expect(niceAxis(4.4)).toEqual({ max: 5, step: 1 });
    expect(niceAxis(0.9)).toEqual({ max: 1, step: 0.2 });
    expect(niceAxis(100)).toEqual({ max: 100, step: 20 });
    expect(niceAxis(0)).toEqual({ max: 1, step: 0.2 });
  });
});
