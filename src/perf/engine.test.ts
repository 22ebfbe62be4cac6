import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../core/errors.js";
import { AddressGenerator, blockTargetOf, runWorkload, validateSpec, type BlockTarget, type WorkloadSpec } from "./engine.js";
import { SimulatedTarget } from "./engine.test-util.js";
import type { IntervalReport } from "./intervals.js";

const base: WorkloadSpec = {
  pattern: "random",
  direction: "read",
  ioBytes: 4096,
  queueDepth: 4,
  stop: { kind: "duration", ms: 100 },
};

describe("runWorkload", () => {
  it("keeps queueDepth I/Os in flight, so the rate is queue depth over latency", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 0.5);
    const result = await runWorkload(target, { ...base, queueDepth: 8 }, { now: target.clock });
    expect(target.maxInFlight).toBe(8);
    // 8 in flight, 0.5 ms each: 16 per ms (within one batch of 8 at the window's edge).
    expect(Math.abs(result.iops - 16_000) / 16_000).toBeLessThan(0.01);
    expect(result.latency.p50Us).toBeCloseTo(500, 0);
    expect(result.latency.p99Us).toBeCloseTo(500, 0);
    expect(result.bytes).toBe(result.ios * 4096);
    expect(result.bytesPerSecond).toBeCloseTo(result.iops * 4096, 0);
    expect(result.interrupted).toBe(false);
  });

  it("runs until the time is up and measures each I/O's latency", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 0.5);
    const r = await runWorkload(target, { ...base, queueDepth: 1 }, { now: target.clock });
    expect(r.ios).toBe(200);
    expect(r.elapsedMs).toBe(100);
    expect(r.iops).toBe(2000);
    expect(r.latency).toMatchObject({ count: 200, minUs: 500, maxUs: 500, meanUs: 500, stddevUs: 0, p50Us: 500, p999Us: 500 });
  });

  it("stops after exactly the count asked for", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const result = await runWorkload(target, { ...base, stop: { kind: "count", ios: 37 } }, { now: target.clock });
    expect(result.ios).toBe(37);
    expect(result.latency.count).toBe(37);
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

  it("takes the CPU time at the window's edges and gives it as a share of one core", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    // 0.4 s user and 0.1 s system per second of simulated time.
    const cpuUsage = () => ({ user: target.now * 400, system: target.now * 100 });
    const r = await runWorkload(target, { ...base, queueDepth: 1, warmupMs: 50, stop: { kind: "duration", ms: 1000 } }, { now: target.clock, cpuUsage });
    expect(r.elapsedMs).toBe(1000);
    expect(r.cpu?.userSeconds).toBeCloseTo(0.4, 9);
    expect(r.cpu?.systemSeconds).toBeCloseTo(0.1, 9);
    expect(r.cpu?.percentOfOneCore).toBeCloseTo(50, 9);
  });

  it("leaves CPU out of the result when no counter is given", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const r = await runWorkload(target, { ...base, stop: { kind: "count", ios: 4 } }, { now: target.clock });
    expect("cpu" in r).toBe(false);
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

  it("repeats the random addresses of a seed, spreads them, and draws others for another seed", async () => {
    const addresses = async (seed: number): Promise<number[]> => {
      const target = new SimulatedTarget(512, 1 << 20, () => 1);
      await runWorkload(target, { ...base, seed, stop: { kind: "count", ios: 500 } }, { now: target.clock });
      return target.ios.map((io) => io.lba);
    };
    const a = await addresses(7);
    expect(a.length).toBeGreaterThanOrEqual(500);
    expect(new Set(a).size).toBeGreaterThan(0.95 * a.length);
    expect(await addresses(7)).toEqual(a);
    expect(await addresses(8)).not.toEqual(a);
  });

  it("writes whole I/Os of data that is not zeros and differs between blocks and between slots", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(target, { ...base, direction: "write", ioBytes: 8192, queueDepth: 2, stop: { kind: "count", ios: 4 } }, { now: target.clock });
    const writes = target.ios.filter((io) => io.kind === "write");
    expect(writes.length).toBeGreaterThanOrEqual(4);
    for (const io of writes) {
      expect(io.data?.length).toBe(8192);
      expect(io.data?.filter((b) => b === 0).length).toBeLessThan(8192 / 64);
      expect(io.data?.subarray(0, 512)).not.toEqual(io.data?.subarray(512, 1024));
    }
    expect(writes[0]!.buffer).not.toBe(writes[1]!.buffer);
    expect(writes[0]!.data).not.toEqual(writes[1]!.data);
  });

  it("reads into one shared buffer when asked, and into a buffer per slot otherwise", async () => {
    const shared = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(shared, { ...base, queueDepth: 4, sharedReadBuffer: true, stop: { kind: "count", ios: 8 } }, { now: shared.clock });
    expect(new Set(shared.ios.map((io) => io.buffer)).size).toBe(1);
    const own = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(own, { ...base, queueDepth: 4, stop: { kind: "count", ios: 8 } }, { now: own.clock });
    expect(new Set(own.ios.map((io) => io.buffer)).size).toBe(4);
  });

  it("gives each writing slot a buffer of its own even when reads would share one", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(target, { ...base, direction: "write", queueDepth: 3, sharedReadBuffer: true, stop: { kind: "count", ios: 6 } }, { now: target.clock });
    expect(new Set(target.ios.map((io) => io.buffer)).size).toBe(3);
  });

  it("rejects with the first I/O error and issues nothing more after it", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    target.failAt = 5;
    await expect(runWorkload(target, { ...base, queueDepth: 2, stop: { kind: "count", ios: 1000 } }, { now: target.clock })).rejects.toThrow("simulated failure of I/O 5");
    // The other slot finishes the one I/O it had in flight and stops.
    expect(target.ios.length).toBeLessThanOrEqual(7);
    expect(target.inFlight).toBe(0);
  });

  it("keeps the first error when I/Os in flight fail after it", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    let calls = 0;
    const failing = {
      blockSize: 512,
      blocks: 1 << 20,
      read: async (lba: number, blocks: number, options: { readonly into: Uint8Array }) => {
        const n = calls++;
        await target.read(lba, blocks, options);
        if (n >= 3) throw new RangeError(`I/O ${n} failed`);
      },
      write: target.write.bind(target),
    };
    await expect(runWorkload(failing, { ...base, queueDepth: 4, stop: { kind: "count", ios: 1000 } }, { now: target.clock })).rejects.toThrow("I/O 3 failed");
  });

  it("stops every loop and rejects when a window hook throws", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const run = runWorkload(
      target,
      { ...base, queueDepth: 4, warmupMs: 5, stop: { kind: "duration", ms: 1e9 } },
      {
        now: target.clock,
        onWindowStart: () => {
          throw new RangeError("sampling /proc failed");
        },
      },
    );
    await expect(run).rejects.toThrow("sampling /proc failed");
    expect(target.inFlight).toBe(0);
    const issued = target.ios.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(target.ios.length).toBe(issued);
  });

  it("stops when the signal aborts, counts the I/Os that were in flight, and says it was interrupted", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const controller = new AbortController();
    const ends: number[] = [];
    const read = target.read.bind(target);
    target.read = (lba, blocks, options) => {
      if (target.ios.length === 20) controller.abort();
      return read(lba, blocks, options);
    };
    const r = await runWorkload(target, { ...base, queueDepth: 1, stop: { kind: "duration", ms: 1e9 } }, { now: target.clock, signal: controller.signal, onWindowEnd: () => ends.push(target.now) });
    expect(r.interrupted).toBe(true);
    expect(r.ios).toBe(21);
    expect(r.elapsedMs).toBe(21);
    expect(ends).toEqual([21]);
  });

  it("gives an empty window when the signal aborts during the warm-up", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const controller = new AbortController();
    const events: string[] = [];
    setImmediate(() => controller.abort());
    const r = await runWorkload(
      target,
      { ...base, queueDepth: 2, warmupMs: 1e6, stop: { kind: "duration", ms: 10 } },
      { now: target.clock, signal: controller.signal, onWindowStart: () => events.push("start"), onWindowEnd: () => events.push("end") },
    );
    expect(r).toMatchObject({ ios: 0, elapsedMs: 0, iops: 0, interrupted: true });
    expect(r.warmupIos).toBeGreaterThan(0);
    expect(events).toEqual(["start", "end"]);
  });

  it("measures latency per I/O when I/Os take different times", async () => {
    const target = new SimulatedTarget(512, 1 << 20, (io) => (io.lba % 2 === 0 ? 1 : 3));
    const result = await runWorkload(target, { ...base, pattern: "sequential", ioBytes: 512, queueDepth: 1, stop: { kind: "count", ios: 100 } }, { now: target.clock });
    expect(result.latency.minUs).toBe(1000);
    expect(result.latency.maxUs).toBe(3000);
    expect(result.latency.meanUs).toBeCloseTo(2000, 6);
    expect(result.latency.stddevUs).toBeCloseTo(1000, 6);
  });

  it("refuses a bad spec before issuing anything", async () => {
    const target = new SimulatedTarget(512, 1000, () => 1);
    await expect(runWorkload(target, { ...base, ioBytes: 1000 }, { now: target.clock })).rejects.toBeInstanceOf(ConfigError);
    expect(target.ios).toEqual([]);
  });
});

describe("runWorkload with reads and writes mixed", () => {
  it("draws reads in the share asked for, and a pure run's addresses for the same seed", async () => {
    const mixed = new SimulatedTarget(512, 1 << 20, () => 1);
    const r = await runWorkload(mixed, { ...base, direction: "mixed", readPercent: 70, seed: 3, stop: { kind: "count", ios: 4000 } }, { now: mixed.clock });
    const reads = mixed.ios.filter((io) => io.kind === "read").length;
    const share = reads / mixed.ios.length;
    expect(share).toBeGreaterThan(0.67);
    expect(share).toBeLessThan(0.73);
    // Drawn afresh for each I/O, not in a fixed pattern: runs of each kind come in many lengths.
    const runs = new Set<number>();
    let length = 0;
    mixed.ios.forEach((io, i) => {
      length += 1;
      if (mixed.ios[i + 1]?.kind !== io.kind) {
        runs.add(length);
        length = 0;
      }
    });
    expect(runs.size).toBeGreaterThan(5);
    expect(r.reads.ios + r.writes.ios).toBe(r.ios);
    const pure = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(pure, { ...base, seed: 3, stop: { kind: "count", ios: 4000 } }, { now: pure.clock });
    expect(mixed.ios.map((io) => io.lba)).toEqual(pure.ios.map((io) => io.lba));
  });

  it("reads only at 100 and writes only at 0", async () => {
    for (const readPercent of [0, 100]) {
      const target = new SimulatedTarget(512, 1 << 20, () => 1);
      const r = await runWorkload(target, { ...base, direction: "mixed", readPercent, stop: { kind: "count", ios: 300 } }, { now: target.clock });
      expect(new Set(target.ios.map((io) => io.kind))).toEqual(new Set([readPercent === 100 ? "read" : "write"]));
      expect(readPercent === 100 ? r.reads.ios : r.writes.ios).toBe(300);
    }
  });

  it("times reads and writes apart, and the run's latency over both", async () => {
    const target = new SimulatedTarget(512, 1 << 20, (io) => (io.kind === "read" ? 1 : 3));
    const r = await runWorkload(target, { ...base, direction: "mixed", readPercent: 50, queueDepth: 1, stop: { kind: "duration", ms: 1000 } }, { now: target.clock });
    expect(r.reads.latency).toMatchObject({ minUs: 1000, maxUs: 1000, count: r.reads.ios });
    expect(r.writes.latency).toMatchObject({ minUs: 3000, maxUs: 3000, count: r.writes.ios });
    expect(r.latency).toMatchObject({ minUs: 1000, maxUs: 3000, count: r.ios });
    expect(r.reads.bytes).toBe(r.reads.ios * 4096);
    expect(r.reads.iops + r.writes.iops).toBeCloseTo(r.iops, 9);
    expect(r.latencyBuckets).toEqual([
      { fromUs: 512, toUs: 1024, count: r.reads.ios },
      { fromUs: 1024, toUs: 2048, count: 0 },
      { fromUs: 2048, toUs: 4096, count: r.writes.ios },
    ]);
  });

  it("keeps each slot's write data apart from what its reads land in", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    await runWorkload(target, { ...base, direction: "mixed", queueDepth: 2, stop: { kind: "count", ios: 40 } }, { now: target.clock });
    const written = new Set(target.ios.filter((io) => io.kind === "write").map((io) => io.buffer));
    const readInto = new Set(target.ios.filter((io) => io.kind === "read").map((io) => io.buffer));
    expect(written.size).toBe(2);
    expect(readInto.size).toBe(2);
    expect([...written].some((b) => readInto.has(b))).toBe(false);
  });
});

describe("runWorkload in intervals", () => {
  const noTimer = (): (() => void) => () => undefined;

  it("reports intervals of the length asked, the last ending with the window, adding up to the run", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 0.5);
    const reports: IntervalReport[] = [];
    const r = await runWorkload(target, { ...base, queueDepth: 1, stop: { kind: "duration", ms: 100 } }, { now: target.clock, intervalMs: 10, onInterval: (x) => reports.push(x), wake: noTimer });
    expect(reports.map((x) => [x.startMs, x.endMs])).toEqual(Array.from({ length: 10 }, (_, i) => [i * 10, i * 10 + 10]));
    expect(reports.map((x) => x.all.ios)).toEqual(Array(10).fill(20));
    expect(reports.reduce((a, x) => a + x.all.ios, 0)).toBe(r.ios);
    expect(reports.every((x) => x.all.latency.p50Us === 500)).toBe(true);
    // One I/O in flight at every end but the run's, which the last completion closed.
    expect(reports.map((x) => x.inFlight)).toEqual([...Array(9).fill(1), 0]);
  });

  it("counts the in-flight I/Os at an interval's end, up to the queue depth", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 0.7);
    const reports: IntervalReport[] = [];
    await runWorkload(target, { ...base, queueDepth: 8, stop: { kind: "duration", ms: 50 } }, { now: target.clock, intervalMs: 5, onInterval: (x) => reports.push(x), wake: noTimer });
    expect(reports.slice(0, -1).every((x) => x.inFlight === 8)).toBe(true);
    expect(reports.at(-1)?.inFlight).toBeLessThan(8);
  });

  it("reports a stall when the timer wakes it, with nothing completed and the stalled I/O in flight", async () => {
    let clock = 0;
    const pending: (() => void)[] = [];
    const stalled: BlockTarget = {
      blockSize: 512,
      blocks: 1 << 20,
      read: () => new Promise((resolve) => pending.push(() => resolve(undefined))),
      write: () => Promise.resolve(),
    };
    const timers: { at: number; fire: () => void; cancelled: boolean }[] = [];
    const wake = (delayMs: number, fire: () => void): (() => void) => {
      const timer = { at: clock + delayMs, fire, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    };
    const controller = new AbortController();
    const reports: IntervalReport[] = [];
    const run = runWorkload(stalled, { ...base, queueDepth: 1, stop: { kind: "duration", ms: 1000 } }, { now: () => clock, intervalMs: 10, onInterval: (x) => reports.push(x), wake, signal: controller.signal });
    // Nothing completes; the clock reaches 25 ms and the timer set for 10 ms fires.
    clock = 25;
    timers[0]?.fire();
    expect(reports.map((x) => [x.startMs, x.endMs, x.all.ios, x.inFlight])).toEqual([
      [0, 10, 0, 1],
      [10, 20, 0, 1],
    ]);
    // It set itself again for the next end, at 30.
    expect(timers[1]?.at).toBe(30);
    controller.abort();
    clock = 27;
    pending.shift()?.();
    const r = await run;
    expect(r.ios).toBe(1);
    expect(reports.at(-1)).toMatchObject({ startMs: 20, endMs: 27 });
    expect(reports.at(-1)?.all.ios).toBe(1);
    // No timer outlives the run (it would keep the process alive): the one not fired was cancelled.
    expect(timers.map((t) => t.cancelled)).toEqual([false, true]);
  });

  it("stops every loop and rejects when the interval callback throws", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const run = runWorkload(
      target,
      { ...base, queueDepth: 4, stop: { kind: "duration", ms: 1e9 } },
      {
        now: target.clock,
        intervalMs: 10,
        wake: noTimer,
        onInterval: () => {
          throw new RangeError("the terminal went away");
        },
      },
    );
    await expect(run).rejects.toThrow("the terminal went away");
    expect(target.inFlight).toBe(0);
  });

  it("reports no intervals when none is asked for", async () => {
    const target = new SimulatedTarget(512, 1 << 20, () => 1);
    const reports: IntervalReport[] = [];
    await runWorkload(target, { ...base, stop: { kind: "count", ios: 50 } }, { now: target.clock, onInterval: (x) => reports.push(x) });
    expect(reports).toEqual([]);
  });
});

describe("blockTargetOf", () => {
  it("reads the LUN's capacity and passes reads and writes straight through", async () => {
    const calls: string[] = [];
    const into = new Uint8Array(1024);
    const lun = {
      readCapacity: async () => {
        calls.push("capacity");
        return { blocks: 1000n, blockSize: 512 };
      },
      read: async (lba: number, blocks: number, options: { readonly into: Uint8Array }) => {
        calls.push(`read ${lba} ${blocks} ${options.into === into}`);
        return options.into;
      },
      write: async (lba: number, data: Uint8Array) => {
        calls.push(`write ${lba} ${data.length}`);
      },
    };
    const target = await blockTargetOf(lun);
    expect([target.blockSize, target.blocks]).toEqual([512, 1000]);
    await target.read(8, 2, { into });
    await target.write(16, into);
    expect(calls).toEqual(["capacity", "read 8 2 true", "write 16 1024"]);
  });
});

describe("validateSpec", () => {
  const target = { blockSize: 512, blocks: 1000 };
  it("refuses an I/O size that is not a whole number of blocks", () => {
    expect(() => validateSpec({ ...base, ioBytes: 1000 }, target)).toThrow(/I\/O size 1000 is not a whole number of 512-byte blocks/);
  });
  it("refuses a queue depth below 1 or not an integer", () => {
    expect(() => validateSpec({ ...base, queueDepth: 0 }, target)).toThrow(/queue depth 0/);
    expect(() => validateSpec({ ...base, queueDepth: 1.5 }, target)).toThrow(ConfigError);
  });
  it("refuses a region past the end of the target or smaller than one I/O", () => {
    expect(() => validateSpec({ ...base, startLba: 990, regionBlocks: 20 }, target)).toThrow(/does not fit/);
    expect(() => validateSpec({ ...base, regionBlocks: 4 }, target)).toThrow(/smaller than one/);
  });
  it("refuses a stop condition that is not positive, and a negative warm-up", () => {
    expect(() => validateSpec({ ...base, stop: { kind: "duration", ms: 0 } }, target)).toThrow(ConfigError);
    expect(() => validateSpec({ ...base, stop: { kind: "count", ios: -1 } }, target)).toThrow(ConfigError);
    expect(() => validateSpec({ ...base, warmupMs: -1 }, target)).toThrow(/warm-up -1 ms/);
  });
  it("refuses a mixed workload's read share outside 0 to 100", () => {
    const target = { blockSize: 512, blocks: 1000 };
    for (const readPercent of [-1, 101, Number.NaN]) expect(() => validateSpec({ ...base, direction: "mixed", readPercent }, target)).toThrow(/read percentage/);
    expect(() => validateSpec({ ...base, direction: "mixed" }, target)).not.toThrow();
  });

  it("refuses a pattern or direction it does not know (a request read from JSON)", () => {
    expect(() => validateSpec({ ...base, pattern: "zigzag" as "random" }, target)).toThrow(/access pattern "zigzag"/);
    expect(() => validateSpec({ ...base, direction: "trim" as "read" }, target)).toThrow(/direction "trim"/);
  });
  it("gives the I/O's blocks and the region, defaulting to the whole target", () => {
    expect(validateSpec(base, target)).toEqual({ ioBlocks: 8, start: 0, region: 1000 });
    expect(validateSpec({ ...base, startLba: 100 }, target)).toEqual({ ioBlocks: 8, start: 100, region: 900 });
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

  it("reaches slots beyond 2^32", () => {
    const g = new AddressGenerator(3);
    const n = 2 ** 40;
    const draws = Array.from({ length: 100 }, () => g.below(n));
    expect(draws.some((v) => v >= 2 ** 32)).toBe(true);
    expect(draws.some((v) => v >= n / 2)).toBe(true);
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
