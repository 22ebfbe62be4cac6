import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../core/errors.js";
import { AddressGenerator, runWorkload, validateSpec, type WorkloadSpec } from "./workload.js";
import { SimulatedTarget } from "./workload.test-util.js";

const base: WorkloadSpec = {
  pattern: "random",
  direction: "read",
  ioBytes: 4096,
  queueDepth: 4,
  warmupMs: 0,
  stop: { kind: "duration", ms: 100 },
};

describe("runWorkload", () => {
  it("keeps queueDepth I/Os in flight, so the rate is queue depth over latency", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 0.5);
    const result = await runWorkload(target, { ...base, queueDepth: 8 }, { now: target.clock });
    // 8 in flight, 0.5 ms each: 16 per ms (within one batch of 8 at the window's edge).
    expect(Math.abs(result.iops - 16_000) / 16_000).toBeLessThan(0.01);
    expect(result.latency.p50Us).toBeCloseTo(500, 0);
    expect(result.latency.p99Us).toBeCloseTo(500, 0);
    expect(result.bytes).toBe(result.ios * 4096);
    expect(result.bytesPerSecond).toBeCloseTo(result.iops * 4096, 0);
  });

  it("stops after exactly the count asked for", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const result = await runWorkload(target, { ...base, stop: { kind: "count", ios: 37 } }, { now: target.clock });
    expect(result.ios).toBe(37);
  });

  it("leaves the I/Os of the warm-up out of the window and opens it at a completion", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const events: string[] = [];
    const result = await runWorkload(
      target,
      { ...base, queueDepth: 1, warmupMs: 10, stop: { kind: "duration", ms: 20 } },
      { now: target.clock, onWindowStart: () => events.push(`start@${target.now}`), onWindowEnd: () => events.push(`end@${target.now}`) },
    );
    // QD1, 1 ms each: completions at 1..10 are warm-up (the one at 10 opens the window).
    expect(result.warmupIos).toBe(10);
    expect(events).toEqual(["start@10", "end@30"]);
    expect(result.ios).toBe(20);
    expect(result.elapsedMs).toBe(20);
  });

  it("walks sequential addresses in I/O-sized steps from the region's start and wraps at its end", async () => {
    const target = new SimulatedTarget(512, 1000, () => 1);
    await runWorkload(target, { ...base, pattern: "sequential", queueDepth: 1, ioBytes: 4096, startLba: 8, regionBlocks: 32, stop: { kind: "count", ios: 6 } }, { now: target.clock });
    expect(target.ios.map((io) => io.lba)).toEqual([8, 16, 24, 32, 8, 16]);
  });

  it("keeps random addresses aligned to the I/O size and inside the region", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 16, max: 5000 }), fc.integer(), async (ioBlocks, start, region, seed) => {
        const target = new SimulatedTarget(512, start + region, () => 1);
        await runWorkload(target, { ...base, ioBytes: ioBlocks * 512, startLba: start, regionBlocks: region, seed, stop: { kind: "count", ios: 50 } }, { now: target.clock });
        for (const io of target.ios) {
          expect((io.lba - start) % ioBlocks).toBe(0);
          expect(io.lba).toBeGreaterThanOrEqual(start);
          expect(io.lba + ioBlocks).toBeLessThanOrEqual(start + region);
          expect(io.blocks).toBe(ioBlocks);
        }
      }),
      { numRuns: 40 },
    );
  });

  it("writes a full buffer of non-zero data that differs between slots", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(target, { ...base, direction: "write", queueDepth: 2, stop: { kind: "count", ios: 4 } }, { now: target.clock });
    const writes = target.ios.filter((io) => io.kind === "write");
    expect(writes.length).toBeGreaterThanOrEqual(4);
    expect(writes.every((io) => io.buffer.length === 4096 && io.buffer.every((b) => b !== 0))).toBe(true);
    expect(writes[0]!.buffer[0]).not.toBe(writes[1]!.buffer[0]);
  });

  it("reads into one shared buffer when asked, and into a buffer per slot otherwise", async () => {
    const shared = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(shared, { ...base, queueDepth: 4, sharedReadBuffer: true, stop: { kind: "count", ios: 8 } }, { now: shared.clock });
    expect(new Set(shared.ios.map((io) => io.buffer)).size).toBe(1);
    const own = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(own, { ...base, queueDepth: 4, stop: { kind: "count", ios: 8 } }, { now: own.clock });
    expect(new Set(own.ios.map((io) => io.buffer)).size).toBe(4);
  });

  it("rejects with the first I/O error and issues nothing more after it", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    target.failAt = 5;
    await expect(runWorkload(target, { ...base, queueDepth: 2, stop: { kind: "count", ios: 1000 } }, { now: target.clock })).rejects.toThrow("simulated failure of I/O 5");
    // The other slot finishes the one I/O it had in flight and stops.
    expect(target.ios.length).toBeLessThanOrEqual(8);
  });

  it("measures latency per I/O when I/Os take different times", async () => {
    const target = new SimulatedTarget(512, 1 << 20, (io) => (io.lba % 2 === 0 ? 1 : 3));
    const result = await runWorkload(target, { ...base, pattern: "sequential", ioBytes: 512, queueDepth: 1, stop: { kind: "count", ios: 100 } }, { now: target.clock });
    expect(result.latency.minUs).toBe(1000);
    expect(result.latency.maxUs).toBe(3000);
    expect(result.latency.meanUs).toBeCloseTo(2000, 0);
  });
});

describe("validateSpec", () => {
  const target = { blockSize: 512, blocks: 1000 };
  it("refuses an I/O size that is not a whole number of blocks", () => {
    expect(() => validateSpec({ ...base, ioBytes: 1000 }, target)).toThrow(ConfigError);
  });
  it("refuses a queue depth below 1 or not an integer", () => {
    expect(() => validateSpec({ ...base, queueDepth: 0 }, target)).toThrow(/queue depth 0/);
    expect(() => validateSpec({ ...base, queueDepth: 1.5 }, target)).toThrow(ConfigError);
  });
  it("refuses a region past the end of the target or smaller than one I/O", () => {
    expect(() => validateSpec({ ...base, startLba: 990, regionBlocks: 20 }, target)).toThrow(/does not fit/);
    expect(() => validateSpec({ ...base, regionBlocks: 4 }, target)).toThrow(/smaller than one/);
  });
  it("refuses a stop condition that is not positive", () => {
    expect(() => validateSpec({ ...base, stop: { kind: "duration", ms: 0 } }, target)).toThrow(ConfigError);
    expect(() => validateSpec({ ...base, stop: { kind: "count", ios: -1 } }, target)).toThrow(ConfigError);
  });
});

describe("AddressGenerator", () => {
  it("repeats its sequence for the same seed and differs for another", () => {
    const a = new AddressGenerator(42);
    const b = new AddressGenerator(42);
    const c = new AddressGenerator(43);
    const sa = Array.from({ length: 20 }, () => a.next32());
    expect(Array.from({ length: 20 }, () => b.next32())).toEqual(sa);
    expect(Array.from({ length: 20 }, () => c.next32())).not.toEqual(sa);
  });

  it("spreads draws evenly over the range", () => {
    const g = new AddressGenerator(7);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[g.below(10)]! += 1;
    for (const n of counts) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });

  it("stays below n for n up to 2^53", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.integer(), (n, seed) => {
        const v = new AddressGenerator(seed).below(n);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThan(n);
        expect(Number.isInteger(v)).toBe(true);
      }),
    );
  });
});
