import { describe, expect, it } from "vitest";
import { busyPercentOver, waitForQuiet } from "./quiet.js";

describe("waitForQuiet", () => {
  it("does not sample at all when the threshold is 0", async () => {
    const started = performance.now();
    expect(await waitForQuiet({ thresholdPercent: 0, maxWaitMs: 10_000 })).toEqual({ waitedMs: 0, busyPercent: 0, quiet: true });
    expect(performance.now() - started).toBeLessThan(50);
  });

  it("goes at once when any machine counts as quiet", async () => {
    const q = await waitForQuiet({ thresholdPercent: 100.1, maxWaitMs: 10_000, sampleMs: 50 });
    expect(q.quiet).toBe(true);
    expect(q.waitedMs).toBeLessThan(1000);
  });

  it("gives up after the longest wait and says the machine was busy", async () => {
    // This test's own loop keeps a CPU busy, so no sample can come in under a 1% threshold... unless
    // the machine has many idle CPUs: then the share is small but still above zero.
    const spin = setInterval(() => {
      const end = performance.now() + 15;
      while (performance.now() < end);
    }, 16);
    try {
      const q = await waitForQuiet({ thresholdPercent: 0.01, maxWaitMs: 200, sampleMs: 100 });
      expect(q.quiet).toBe(false);
      expect(q.waitedMs).toBeGreaterThanOrEqual(200);
      expect(q.busyPercent).toBeGreaterThan(0);
    } finally {
      clearInterval(spin);
    }
  });
});

describe("busyPercentOver", () => {
  it("gives a share between 0 and 100", async () => {
    const p = await busyPercentOver(50);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThanOrEqual(100);
  });
});
