import { describe, expect, it } from "vitest";
import { ScsiError } from "../../core/errors.js";
import { SimulatedTarget } from "../../perf/engine.test-util.js";
import { formatPerfResult, parseRegion, runPerfWorkload, type PerfResult } from "./perf.js";

/** A LUN on the simulated target: capacity from the target, commands taking `latencyMs` each. */
function simulatedLun(blocks: number, blockSize = 512, latencyMs = 0.5) {
  const target = new SimulatedTarget(blockSize, blocks, () => latencyMs);
  const lun = Object.assign(target, { readCapacity: async () => ({ blocks: BigInt(blocks), blockSize }) });
  const env = { now: target.clock, cpuUsage: () => ({ user: 0, system: 0 }) };
  return { lun, env };
}

describe("parseRegion", () => {
  it("reads SIZE and SIZE@OFFSET", () => {
    expect(parseRegion("1G")).toEqual({ size: 1 << 30, offset: 0 });
    expect(parseRegion("64M@1G")).toEqual({ size: 64 << 20, offset: 1 << 30 });
  });

  it("refuses an empty region and a malformed offset", () => {
    expect(() => parseRegion("0")).toThrow(/more than 0 bytes/);
    expect(() => parseRegion("1G@x")).toThrow(/--size offset "x"/);
  });
});

describe("formatPerfResult", () => {
  it("shows IOPS, throughput, latency percentiles and CPU, one per line", () => {
    const result: PerfResult = {
      rw: "randread",
      blockSize: 4096,
      queueDepth: 32,
      offset: 0,
      size: 16 << 20,
      commands: 91_234,
      bytes: 91_234 * 4096,
      elapsedMs: 1000,
      iops: 91_234,
      bytesPerSecond: 91_234 * 4096,
      latencyUs: { min: 120, mean: 345, stddev: 50, p50: 330, p90: 500, p99: 900, p999: 1500, max: 4000 },
      cpu: { userSeconds: 0.5, systemSeconds: 0.25, percentOfOneCore: 75 },
      interrupted: false,
    };
    const text = formatPerfResult(result, "LUN 1 of iqn.x");
    expect(text).toMatch(/^randread, 4 KiB blocks, QD 32, 1.00 s on LUN 1 of iqn.x \(16 MiB region\)$/m);
    expect(text).toMatch(/^ {2}IOPS: +91,234$/m);
    expect(text).toMatch(/^ {2}Throughput: +356.4 MiB\/s$/m);
    // One unit family in the output: binary, as the sizes beside it.
    expect(text).not.toMatch(/\b[kMG]B\/s/);
    expect(text).toMatch(/p50 330 µs {2}p90 500 µs {2}p99 900 µs {2}p99.9 1.5 ms/);
    expect(text).toMatch(/75% of one core/);
  });
});

describe("runPerfWorkload", () => {
  it("runs a random read for the time given and reports it under the CLI's field names", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    const r = await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 100 }, env);
    expect(Object.keys(r)).toEqual(["rw", "blockSize", "queueDepth", "offset", "size", "commands", "bytes", "elapsedMs", "iops", "bytesPerSecond", "latencyUs", "cpu", "interrupted"]);
    expect(r).toMatchObject({ rw: "randread", blockSize: 4096, queueDepth: 1, offset: 0, size: (1 << 20) * 512, commands: 200, bytes: 200 * 4096, elapsedMs: 100, iops: 2000, interrupted: false });
    expect(r.latencyUs).toEqual({ min: 500, mean: 500, stddev: 0, p50: 500, p90: 500, p99: 500, p999: 500, max: 500 });
    expect(lun.ios.every((io) => io.kind === "read" && io.blocks === 8 && io.lba % 8 === 0)).toBe(true);
    expect(lun.maxInFlight).toBe(1);
  });

  it("gives latencies in microseconds rounded to a hundredth", async () => {
    const { lun, env } = simulatedLun(1 << 20, 512, 0.1234567);
    const r = await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 4, durationMs: 10 }, env);
    expect(r.latencyUs.min).toBe(123.46);
    expect(r.latencyUs.max).toBe(123.46);
  });

  it("reads sequentially from the start of the region and wraps at its end", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    await runPerfWorkload(lun, { rw: "read", blockSize: 1 << 20, queueDepth: 1, durationMs: 2.5, offset: 1 << 20, size: 3 << 20 }, env);
    expect(lun.ios.map((io) => io.lba)).toEqual([2048, 4096, 6144, 2048, 4096]);
  });

  it("writes for randwrite and write, at random and sequential offsets inside the region", async () => {
    const random = simulatedLun(1 << 20);
    const r = await runPerfWorkload(random.lun, { rw: "randwrite", blockSize: 8192, queueDepth: 2, durationMs: 20, offset: 4096, size: 1 << 20 }, random.env);
    expect(r.commands).toBeGreaterThan(0);
    for (const io of random.lun.ios) {
      expect(io.kind).toBe("write");
      expect(io.lba).toBeGreaterThanOrEqual(8);
      expect(io.lba + 16).toBeLessThanOrEqual(8 + 2048);
      expect((io.lba - 8) % 16).toBe(0);
    }
    const sequential = simulatedLun(1 << 20);
    await runPerfWorkload(sequential.lun, { rw: "write", blockSize: 8192, queueDepth: 1, durationMs: 1.5 }, sequential.env);
    expect(sequential.lun.ios.map((io) => `${io.kind} ${io.lba}`)).toEqual(["write 0", "write 16", "write 32"]);
  });

  it("reports the CPU time used, as a share of one core", async () => {
    const { lun } = simulatedLun(1 << 20, 512, 1);
    const cpuUsage = () => ({ user: lun.now * 400, system: lun.now * 100 });
    const r = await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 1000 }, { now: lun.clock, cpuUsage });
    expect(r.cpu.userSeconds).toBeCloseTo(0.4, 9);
    expect(r.cpu.systemSeconds).toBeCloseTo(0.1, 9);
    expect(r.cpu.percentOfOneCore).toBeCloseTo(50, 9);
  });

  it("stops early when the signal aborts and says so", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    const controller = new AbortController();
    const read = lun.read.bind(lun);
    lun.read = (lba, blocks, options) => {
      if (lun.ios.length === 20) controller.abort();
      return read(lba, blocks, options);
    };
    const r = await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 1e9 }, { ...env, signal: controller.signal });
    expect(r.interrupted).toBe(true);
    expect(r.commands).toBe(21);
  });

  it("fails with the first command's error", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    const read = lun.read.bind(lun);
    lun.read = async (lba, blocks, options) => {
      await read(lba, blocks, options);
      if (lun.ios.length > 10) throw new ScsiError(2, "READ(10) on LUN 1 failed: MEDIUM ERROR");
    };
    await expect(runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 4, durationMs: 1e9 }, env)).rejects.toThrow(/MEDIUM ERROR/);
  });

  it("refuses a command size that is not a whole number of blocks, a misaligned offset, and a region past the end", async () => {
    const { lun, env } = simulatedLun(1000, 4096);
    await expect(runPerfWorkload(lun, { rw: "randread", blockSize: 512, queueDepth: 1, durationMs: 10 }, env)).rejects.toThrow(/not a multiple of the LUN's 4096-byte blocks/);
    await expect(runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 10, offset: 512 }, env)).rejects.toMatchObject({ code: "ISCSI_CLI_USAGE" });
    await expect(runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 10, size: 8192, offset: 1000 * 4096 }, env)).rejects.toMatchObject({
      code: "ISCSI_CLI_OUT_OF_RANGE",
    });
    await expect(runPerfWorkload(lun, { rw: "randread", blockSize: 8192, queueDepth: 1, durationMs: 10, size: 4096 }, env)).rejects.toThrow(/smaller than one 8192-byte command/);
    await expect(runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 0, durationMs: 10 }, env)).rejects.toThrow(/queue depth/);
    expect(lun.ios).toEqual([]);
  });
});
