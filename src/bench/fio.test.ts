import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BenchError } from "./errors.js";
import { fioArgs, parseFioJson } from "./fio.js";

const FIXTURE = readFileSync(new URL("./fixtures/fio-randread-4k.json", import.meta.url), "utf8");

describe("fio", () => {
  it("reads IOPS, bandwidth, latencies and CPU from fio's JSON", () => {
    const run = parseFioJson(FIXTURE);
    const job = (JSON.parse(FIXTURE) as { jobs: [{ read: { iops: number; bw_bytes: number; clat_ns: { mean: number; percentile: Record<string, number> } }; usr_cpu: number; sys_cpu: number; job_runtime: number }] }).jobs[0];
    expect(run.iops).toBe(job.read.iops);
    expect(run.bytesPerSecond).toBe(job.read.bw_bytes);
    expect(run.meanLatencyUs).toBeCloseTo(job.read.clat_ns.mean / 1000, 6);
    expect(run.p50Us).toBe(job.read.clat_ns.percentile["50.000000"]! / 1000);
    expect(run.p99Us).toBe(job.read.clat_ns.percentile["99.000000"]! / 1000);
    expect(run.cpuSeconds).toBeCloseTo(((job.usr_cpu + job.sys_cpu) / 100) * (job.job_runtime / 1000), 6);
  });

  it("skips warnings printed before the JSON", () => {
    expect(parseFioJson(`fio: some warning\n${FIXTURE}`).iops).toBe(parseFioJson(FIXTURE).iops);
  });

  it("refuses output that is not fio's JSON", () => {
    expect(() => parseFioJson("fio: failed to open file")).toThrow(BenchError);
    expect(() => parseFioJson('{"jobs": []}')).toThrow(/jobs\[0\]/);
  });

  it("keeps the file's cached pages (invalidate=0) and reads through the cache unless direct is asked", () => {
    const args = fioArgs({ file: "/tmp/x", ioBytes: 512, queueDepth: 16, seconds: 4, rampSeconds: 1, direct: false });
    expect(args).toContain("--invalidate=0");
    expect(args).toContain("--direct=0");
    expect(args).toContain("--bs=512");
    expect(args).toContain("--iodepth=16");
    expect(fioArgs({ file: "/tmp/x", ioBytes: 512, queueDepth: 1, seconds: 1, rampSeconds: 0, direct: true })).toContain("--direct=1");
  });
});
