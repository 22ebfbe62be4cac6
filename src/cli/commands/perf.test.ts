import { describe, expect, it } from "vitest";
import { ScsiError } from "../../core/errors.js";
import { SimulatedTarget } from "../../perf/engine.test-util.js";
import { formatPerfResult, parseRegion, runPerfWorkload, type DirectionFigures, type IntervalRecord, type PerfResult } from "./perf.js";

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

const NONE: DirectionFigures = {
  commands: 0,
  bytes: 0,
  iops: 0,
  bytesPerSecond: 0,
  latencyUs: { min: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 },
  latencyHistogram: [],
};

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
      readPercent: 100,
      reads: NONE,
      writes: NONE,
      latencyHistogram: [],
    };
    const text = formatPerfResult(result, "LUN 1 of iqn.x");
    expect(text).toMatch(/^randread, 4 KiB blocks, QD 32, 1.00 s on LUN 1 of iqn.x \(16 MiB region\)$/m);
    expect(text).toMatch(/^ {2}IOPS: +91,234$/m);
    expect(text).toMatch(/^ {2}Throughput: +356.4 MiB\/s$/m);
    // One unit family in the output: binary, as the sizes beside it.
    expect(text).not.toMatch(/\b[kMG]B\/s/);
    expect(text).toMatch(/p50 330 µs {2}p90 500 µs {2}p99 900 µs {2}p99.9 1.5 ms/);
    expect(text).toMatch(/75% of one core/);
    // No histogram to draw from a result without one; and one workload has no reads/writes lines.
    expect(text).not.toMatch(/histogram|Reads:/);
  });

  it("ends with the latency histogram, one power of two of a microsecond per line", async () => {
    const { lun, env } = simulatedLun(1 << 20, 512, 0.3);
    const r = await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 30 }, env);
    const lines = formatPerfResult(r, "LUN 1").split("\n");
    const at = lines.indexOf("  Latency histogram:");
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1)).toEqual([expect.stringMatching(/^ {4}256 µs to 512 µs \|#{40}\| 100 100\.0% 100\.0%$/)]);
  });

  it("shows a mixed run's reads and writes apart, each with its histogram", async () => {
    const { lun, env } = simulatedLun(1 << 20, 512, 0.3);
    const r = await runPerfWorkload(lun, { rw: "randrw", readPercent: 70, blockSize: 4096, queueDepth: 1, durationMs: 30 }, env);
    const text = formatPerfResult(r, "LUN 1");
    expect(text).toMatch(/^randrw \(70% reads\), 4 KiB blocks, QD 1/);
    expect(text).toMatch(new RegExp(`^ {2}Reads: +[\\d,]+ IOPS .* ${r.reads.commands} commands .*p99`, "m"));
    expect(text).toMatch(new RegExp(`^ {2}Writes: +[\\d,]+ IOPS .* ${r.writes.commands} commands .*p99`, "m"));
    expect(text).toMatch(/^ {2}Read latency histogram:\n {4}256 µs to 512 µs/m);
    expect(text).toMatch(/^ {2}Write latency histogram:\n {4}256 µs to 512 µs/m);
  });
});

describe("runPerfWorkload", () => {
  it("runs a random read for the time given and reports it under the CLI's field names", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    const r = await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 100 }, env);
    // The fields --json has always printed come first, in their order; new ones only after them.
    expect(Object.keys(r)).toEqual([
      "rw",
      "blockSize",
      "queueDepth",
      "offset",
      "size",
      "commands",
      "bytes",
      "elapsedMs",
      "iops",
      "bytesPerSecond",
      "latencyUs",
      "cpu",
      "interrupted",
      "readPercent",
      "reads",
      "writes",
      "latencyHistogram",
    ]);
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

  it("runs randrw and rw with the read share asked for, counting reads and writes apart", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    const r = await runPerfWorkload(lun, { rw: "randrw", readPercent: 70, blockSize: 4096, queueDepth: 4, durationMs: 1000 }, env);
    const reads = lun.ios.filter((io) => io.kind === "read").length;
    expect(reads / lun.ios.length).toBeGreaterThan(0.67);
    expect(reads / lun.ios.length).toBeLessThan(0.73);
    expect(r).toMatchObject({ rw: "randrw", readPercent: 70 });
    expect(r.reads.commands + r.writes.commands).toBe(r.commands);
    expect(r.reads.bytes + r.writes.bytes).toBe(r.bytes);
    expect(r.reads.latencyUs.p50).toBe(500);
    const sequential = simulatedLun(1 << 20);
    const s = await runPerfWorkload(sequential.lun, { rw: "rw", blockSize: 4096, queueDepth: 1, durationMs: 5 }, sequential.env);
    expect(s.readPercent).toBe(50);
    expect(sequential.lun.ios.map((io) => io.lba)).toEqual(Array.from({ length: sequential.lun.ios.length }, (_, i) => i * 8));
    expect(new Set(sequential.lun.ios.map((io) => io.kind))).toEqual(new Set(["read", "write"]));
  });

  it("gives a one-direction run its share of reads as 100 or 0, and the other direction as zeros", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    const r = await runPerfWorkload(lun, { rw: "randwrite", blockSize: 4096, queueDepth: 1, durationMs: 5 }, env);
    expect(r.readPercent).toBe(0);
    expect(r.writes.commands).toBe(r.commands);
    expect(r.reads).toMatchObject({ commands: 0, bytes: 0, iops: 0, latencyHistogram: [] });
    expect(r.latencyHistogram).toEqual([{ fromUs: 256, toUs: 512, count: r.commands }]);
  });

  it("cuts the run into intervals when asked, each as a record that adds up to the run", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    const seen: IntervalRecord[] = [];
    const r = await runPerfWorkload(
      lun,
      { rw: "randrw", readPercent: 70, blockSize: 4096, queueDepth: 1, durationMs: 100 },
      { ...env, intervalMs: 25, onInterval: (record) => seen.push(record), wake: () => () => undefined },
    );
    expect(r.intervalSeconds).toBe(0.025);
    expect(r.intervals).toEqual(seen);
    expect(seen.map((i) => [i.type, i.t, i.seconds, i.commands, i.iops])).toEqual([
      ["interval", 0.025, 0.025, 50, 2000],
      ["interval", 0.05, 0.025, 50, 2000],
      ["interval", 0.075, 0.025, 50, 2000],
      ["interval", 0.1, 0.025, 50, 2000],
    ]);
    for (const i of seen) {
      expect(i.reads.commands + i.writes.commands).toBe(i.commands);
      expect(i.bytesPerSecond).toBe(i.iops * 4096);
      expect(i.latencyUs).toEqual({ mean: 500, p50: 500, p99: 500, max: 500 });
    }
    expect(seen.reduce((a, i) => a + i.reads.commands, 0)).toBe(r.reads.commands);
    expect(seen.reduce((a, i) => a + i.commands, 0)).toBe(r.commands);
  });

  it("gives an interval in which nothing completed no latency, rather than zeros", async () => {
    const { lun, env } = simulatedLun(1 << 20, 512, 30);
    const seen: IntervalRecord[] = [];
    await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 60 }, { ...env, intervalMs: 10, onInterval: (record) => seen.push(record), wake: () => () => undefined });
    expect(seen.map((i) => i.commands)).toEqual([0, 0, 1, 0, 0, 1]);
    expect(seen[0]?.latencyUs).toBeNull();
    expect(seen[0]?.writes.latencyUs).toBeNull();
    expect(seen[2]?.latencyUs?.p99).toBe(30_000);
  });

  it("keeps no intervals in the result when none are asked for", async () => {
    const { lun, env } = simulatedLun(1 << 20);
    const r = await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 10 }, env);
    expect("intervals" in r).toBe(false);
    expect("intervalSeconds" in r).toBe(false);
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
    await expect(runPerfWorkload(lun, { rw: "randrw", readPercent: 101, blockSize: 4096, queueDepth: 1, durationMs: 10 }, env)).rejects.toThrow(/read percentage 101/);
    expect(lun.ios).toEqual([]);
  });
});
