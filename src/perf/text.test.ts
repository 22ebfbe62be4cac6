import { describe, expect, it } from "vitest";
import { LatencyHistogram } from "./histogram.js";
import { IntervalMeter, type IntervalReport } from "./intervals.js";
import { histogramText, intervalTable, type TextUnits } from "./text.js";

const units: TextUnits = {
  micros: (us) => (us < 1000 ? `${Math.round(us)} µs` : `${(us / 1000).toFixed(2)} ms`),
  count: (n) => Math.round(n).toLocaleString("en-US"),
};

/** Intervals of 1 s: the first with `reads` reads of 200 µs and `writes` writes of 2 ms, the second empty. */
function twoIntervals(reads: number, writes: number): IntervalReport[] {
  const meter = new IntervalMeter(0, 1000);
  const reports: IntervalReport[] = [];
  for (let i = 0; i < reads; i++) meter.record(false, 4096, 0.2);
  for (let i = 0; i < writes; i++) meter.record(true, 4096, 2);
  meter.flushDue(1500, 32, (r) => reports.push(r));
  meter.finish(2000, 31, (r) => reports.push(r));
  return reports;
}

describe("intervalTable", () => {
  it("gives one line per interval under a header: time, IOPS, MiB/s, p50, p99 and commands in flight", () => {
    const table = intervalTable(false, units);
    const [busy, idle] = twoIntervals(25_600, 0).map(table.line);
    expect(table.header).toEqual(["    time      IOPS    MiB/s       p50       p99  in flight"]);
    expect(busy?.trim().split(/\s{2,}/)).toEqual(["1.0 s", "25,600", "100.0", "200 µs", "200 µs", "32"]);
    // Nothing completed: no latency to show, rather than a 0 that would read as fast.
    expect(idle?.trim().split(/\s{2,}/)).toEqual(["2.0 s", "0", "0.0", "-", "-", "31"]);
    for (const line of [busy, idle]) expect(line?.length).toBe(table.header[0]?.length);
  });

  it("gives reads and writes their own columns under a title each for a mixed workload", () => {
    const table = intervalTable(true, units);
    expect(table.header).toHaveLength(2);
    expect(table.header[0]).toMatch(/^ +-+ reads -+ +-+ writes -+$/);
    expect(table.header[1]?.trim().split(/\s+/)).toEqual(["time", "IOPS", "MiB/s", "p50", "p99", "IOPS", "MiB/s", "p50", "p99", "in", "flight"]);
    const line = table.line(twoIntervals(700, 300)[0]!);
    expect(line.trim().split(/\s{2,}/)).toEqual(["1.0 s", "700", "2.7", "200 µs", "200 µs", "300", "1.2", "2.00 ms", "2.00 ms", "32"]);
    expect(line.length).toBe(table.header[1]?.length);
    // The titles stand over their own group of columns.
    const readsAt = table.header[0]?.indexOf("reads") ?? -1;
    const writesAt = table.header[0]?.indexOf("writes") ?? -1;
    const [readIops, writeIops] = [...(table.header[1] ?? "").matchAll(/IOPS/g)].map((m) => m.index ?? 0);
    expect(readsAt).toBeGreaterThan(readIops ?? 0);
    expect(readsAt).toBeLessThan(writeIops ?? 0);
    expect(writesAt).toBeGreaterThan(writeIops ?? 0);
  });
});

describe("histogramText", () => {
  it("draws each power-of-two range as a bar scaled to the fullest, with its count, share and running share", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 300; i++) h.recordMs(0.1);
    for (let i = 0; i < 600; i++) h.recordMs(0.2);
    for (let i = 0; i < 100; i++) h.recordMs(1.5);
    const lines = histogramText(h.log2BucketsUs(), units, 20);
    expect(lines).toEqual([
      "  64 µs to  128 µs |##########          | 300  30.0%  30.0%",
      " 128 µs to  256 µs |####################| 600  60.0%  90.0%",
      " 256 µs to  512 µs |                    |   0   0.0%  90.0%",
      " 512 µs to 1.02 ms |                    |   0   0.0%  90.0%",
      "1.02 ms to 2.05 ms |###                 | 100  10.0% 100.0%",
    ]);
  });

  it("gives a range that holds anything at least one mark, so a rare slow I/O shows", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 100_000; i++) h.recordMs(0.3);
    h.recordMs(80);
    const lines = histogramText(h.log2BucketsUs(), units, 40);
    expect(lines.at(-1)).toMatch(/\|# {39}\| +1 +0\.0% 100\.0%$/);
    expect(lines.slice(1, -1).every((l) => /\| {40}\|/.test(l))).toBe(true);
  });

  it("names the first range by its upper end when it starts at zero, and is empty with nothing recorded", () => {
    const h = new LatencyHistogram();
    h.recordNs(400);
    h.recordNs(1500);
    const lines = histogramText(h.log2BucketsUs(), units, 10);
    expect(lines[0]).toMatch(/^ +< 1 µs \|#+ *\|/);
    expect(lines[1]).toMatch(/^1 µs to 2 µs \|/);
    expect(histogramText([], units)).toEqual([]);
  });
});
