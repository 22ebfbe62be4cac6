import { describe, expect, it } from "vitest";
import type { WorkloadResult } from "../perf/engine.js";
import { formatPerfResult, parseRegion } from "./perf.js";

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
    const result: WorkloadResult = {
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
    expect(text).toMatch(/^ {2}Throughput: +373.7 MB\/s \(356.4 MiB\/s\)$/m);
    expect(text).toMatch(/p50 330 µs {2}p90 500 µs {2}p99 900 µs {2}p99.9 1.5 ms/);
    expect(text).toMatch(/75% of one core/);
  });
});
