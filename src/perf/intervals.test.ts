import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IntervalMeter, intervalRates, type IntervalReport } from "./intervals.js";

/** Feeds completions (clock time, direction, latency) to a meter as the engine does, then closes at `closeAt`. */
function run(meter: IntervalMeter, completions: readonly { at: number; write?: boolean; latencyMs?: number }[], closeAt: number, inFlight = 4): IntervalReport[] {
  const reports: IntervalReport[] = [];
  const emit = (r: IntervalReport): void => void reports.push(r);
  for (const c of completions) {
    if (meter.isDue(c.at)) meter.flushDue(c.at, inFlight, emit);
    meter.record(c.write === true, 4096, c.latencyMs ?? 1);
  }
  meter.finish(closeAt, inFlight - 1, emit);
  return reports;
}

describe("IntervalMeter", () => {
  it("cuts the window at exact multiples of the length, from the window's opening", () => {
    // Opened at clock 500; completions every 2 ms from 502 to 530.
    const completions = Array.from({ length: 15 }, (_, i) => ({ at: 502 + 2 * i }));
    const reports = run(new IntervalMeter(500, 10), completions, 530);
    expect(reports.map((r) => [r.index, r.startMs, r.endMs, r.all.ios])).toEqual([
      [0, 0, 10, 5],
      [1, 10, 20, 5],
      [2, 20, 30, 5],
    ]);
  });

  it("counts a completion exactly on a boundary in the interval that boundary ends", () => {
    const reports = run(new IntervalMeter(0, 10), [{ at: 10 }, { at: 10.001 }, { at: 20 }], 20);
    expect(reports.map((r) => r.all.ios)).toEqual([1, 2]);
    expect(reports.at(-1)?.endMs).toBe(20);
  });

  it("reports the intervals a stall skipped, with nothing in them, when the next completion comes", () => {
    const reports = run(new IntervalMeter(0, 10), [{ at: 5 }, { at: 42 }], 45);
    expect(reports.map((r) => [r.startMs, r.all.ios])).toEqual([
      [0, 1],
      [10, 0],
      [20, 0],
      [30, 0],
      [40, 1],
    ]);
    expect(reports[1]?.all.latency.count).toBe(0);
    // Each was reported with what was in flight then: the stalled I/O.
    expect(reports.slice(0, 4).map((r) => r.inFlight)).toEqual([4, 4, 4, 4]);
  });

  it("leaves the interval holding the window's due end to finish, however late the closing completion", () => {
    const waiting = new IntervalMeter(0, 10, 30);
    expect(waiting.nextDueAt).toBe(10);
    waiting.flushDue(31, 1, () => undefined);
    // Two intervals went; the third, which holds 30, waits for the window to close.
    expect(waiting.isDue(31)).toBe(false);
    expect(waiting.isDue(1e9)).toBe(false);
    expect(waiting.nextDueAt).toBeUndefined();
    const meter = new IntervalMeter(0, 10, 30);
    const reports = run(meter, [{ at: 9 }, { at: 19 }, { at: 29 }, { at: 30.4 }], 30.4);
    expect(reports.map((r) => [r.startMs, r.endMs, r.all.ios])).toEqual([
      [0, 10, 1],
      [10, 20, 1],
      [20, 30.4, 2],
    ]);
  });

  it("ends early at a window that closes early (a stop by count, or an interrupt)", () => {
    const reports = run(new IntervalMeter(0, 10, 100), [{ at: 3 }, { at: 12 }, { at: 14 }], 14);
    expect(reports.map((r) => [r.startMs, r.endMs, r.all.ios])).toEqual([
      [0, 10, 1],
      [10, 14, 2],
    ]);
  });

  it("splits reads and writes, each interval's latencies its own", () => {
    const reports = run(
      new IntervalMeter(0, 10),
      [
        { at: 1, latencyMs: 1 },
        { at: 2, write: true, latencyMs: 5 },
        { at: 3, latencyMs: 1 },
        { at: 11, latencyMs: 2 },
        { at: 12, write: true, latencyMs: 8 },
      ],
      20,
    );
    const [first, second] = reports;
    expect([first?.reads.ios, first?.writes.ios, first?.all.ios]).toEqual([2, 1, 3]);
    expect([first?.reads.bytes, first?.writes.bytes]).toEqual([8192, 4096]);
    expect(first?.reads.latency.maxUs).toBe(1000);
    expect(first?.writes.latency.p50Us).toBe(5000);
    expect(first?.all.latency.maxUs).toBe(5000);
    // The second interval knows nothing of the first's samples.
    expect(second?.reads.latency).toMatchObject({ count: 1, minUs: 2000, maxUs: 2000 });
    expect(second?.writes.latency).toMatchObject({ count: 1, p50Us: 8000 });
  });

  it("adds up to exactly what completed, in contiguous intervals, however the completions fall", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.001, max: 1000, noNaN: true }), { maxLength: 300 }),
        fc.double({ min: 5, max: 300, noNaN: true }),
        fc.double({ min: 0, max: 1000, noNaN: true }),
        (times, length, start) => {
          const sorted = [...times].sort((a, b) => a - b).map((t) => start + t);
          const closeAt = (sorted.at(-1) ?? start) + 0.1;
          const reports = run(new IntervalMeter(start, length), sorted.map((at, i) => ({ at, write: i % 3 === 0 })), closeAt);
          expect(reports.reduce((a, r) => a + r.all.ios, 0)).toBe(sorted.length);
          expect(reports.reduce((a, r) => a + r.writes.ios, 0)).toBe(sorted.filter((_, i) => i % 3 === 0).length);
          reports.forEach((r, i) => {
            expect(r.index).toBe(i);
            expect(r.reads.ios + r.writes.ios).toBe(r.all.ios);
            if (i > 0) expect(r.startMs).toBe(reports[i - 1]?.endMs);
            if (i < reports.length - 1) expect(r.endMs - r.startMs).toBeCloseTo(length, 9);
          });
          expect(reports.at(-1)?.endMs).toBeCloseTo(closeAt - start, 9);
        },
      ),
    );
  });

  it("refuses an interval that is not a positive duration", () => {
    expect(() => new IntervalMeter(0, 0)).toThrow(RangeError);
    expect(() => new IntervalMeter(0, Number.NaN)).toThrow(RangeError);
  });
});

describe("intervalRates", () => {
  it("gives I/Os and bytes per second over the interval's own length", () => {
    expect(intervalRates({ startMs: 1000, endMs: 1500 }, { ios: 100, bytes: 409_600 })).toEqual({ iops: 200, bytesPerSecond: 819_200 });
    expect(intervalRates({ startMs: 5, endMs: 5 }, { ios: 3, bytes: 12_288 })).toEqual({ iops: 0, bytesPerSecond: 0 });
  });
});
