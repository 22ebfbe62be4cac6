import { describe, expect, it } from "vitest";
import { cpuPerUnit, judgeGoals } from "./report.js";
import { fakeOutcome } from "./report.test-util.js";

describe("cpuPerUnit", () => {
  it("gives CPU seconds per 100K I/Os or per GiB moved", () => {
    expect(cpuPerUnit(2, 400_000, 4096, "100k-ios")).toBeCloseTo(0.5, 9);
    expect(cpuPerUnit(1, 2048, 1 << 20, "gib")).toBeCloseTo(0.5, 9);
  });
  it("is not a number when nothing was done", () => {
    expect(cpuPerUnit(1, 0, 4096, "100k-ios")).toBeNaN();
  });
});

describe("outcome", () => {
  it("compares the medians of the two sides", () => {
    const o = fakeOutcome("randread-4k-qd32", { iops: [100, 300, 200], cpuSeconds: 1 }, { iops: [150, 50, 100], cpuSeconds: 1 });
    expect(o.libiscsi.summary.iops.median).toBe(200);
    expect(o.ours.summary.iops.median).toBe(100);
    expect(o.ratio).toBe(0.5);
    // Same CPU seconds for half the I/Os: twice the CPU per I/O.
    expect(o.cpuRatio).toBeCloseTo(2, 9);
    expect(o.ours.summary.p99Us).toBeDefined();
    expect(o.libiscsi.summary.p99Us).toBeUndefined();
  });

  it("shows a side without runs as not a number rather than as zero or infinity", () => {
    const o = fakeOutcome("randread-4k-qd32", { iops: [] }, { iops: [100] });
    expect(o.ratio).toBeNaN();
  });
});

describe("judgeGoals", () => {
  const even = (id: string, libIops: number, ourIops: number, extra: { ourLatency?: number; ourCpu?: number; ourRss?: number } = {}) =>
    fakeOutcome(id, { iops: [libIops], cpuSeconds: 1 }, { iops: [ourIops], cpuSeconds: extra.ourCpu ?? 1, ...(extra.ourLatency === undefined ? {} : { latencyUs: extra.ourLatency }), rssMiB: extra.ourRss ?? 60 });

  it("meets a rate goal at 1.0x and misses it just below", () => {
    expect(judgeGoals([even("randread-4k-qd32", 1000, 1000)])[0]).toMatchObject({ met: true, measured: 1 });
    expect(judgeGoals([even("randread-4k-qd32", 1000, 999)])[0]).toMatchObject({ met: false });
  });

  it("judges QD1 latency on mean latency against libiscsi's 1/IOPS, at most 1.0x", () => {
    // libiscsi 20K IOPS at QD1: 50 us.
    const met = judgeGoals([even("randread-4k-qd1", 20_000, 20_000, { ourLatency: 50 })]).find((g) => g.goal.startsWith("QD1"));
    expect(met).toMatchObject({ met: true });
    expect(met!.measured).toBeCloseTo(1.0, 9);
    const missed = judgeGoals([even("randread-4k-qd1", 20_000, 18_000, { ourLatency: 51 })]).find((g) => g.goal.startsWith("QD1"));
    expect(missed).toMatchObject({ met: false });
  });

  it("judges the QD1 goals again, named as opt-in, for the busy-polling row", () => {
    const goals = judgeGoals([even("randread-4k-qd1", 20_000, 10_000, { ourLatency: 100 }), even("randread-4k-qd1-poll", 20_000, 25_000, { ourLatency: 40, ourCpu: 1.1 })]);
    expect(goals.filter((g) => g.workload === "randread-4k-qd1-poll").map((g) => [g.goal, g.met])).toEqual([
      ["QD1 latency <= 1.0x libiscsi's, with busy polling (opt-in)", true],
      ["CPU per I/O at 4 KiB random read QD1 <= 1.2x libiscsi's, with busy polling (opt-in)", true],
    ]);
    expect(goals.find((g) => g.workload === "randread-4k-qd1" && g.goal.startsWith("QD1"))).toMatchObject({ met: false });
  });

  it("judges CPU per I/O per workload: 1.0x at 4 KiB QD32 and 1 MiB QD16, 1.2x at QD1", () => {
    const goals = judgeGoals([
      even("randread-4k-qd32", 1000, 1000, { ourCpu: 1.0 }),
      even("seqread-1m-qd16", 1000, 1000, { ourCpu: 1.01 }),
      even("randread-4k-qd1", 1000, 1000, { ourCpu: 1.2 }),
    ]).filter((g) => g.goal.startsWith("CPU"));
    expect(goals.map((g) => [g.workload, g.limit, g.met])).toEqual([
      ["randread-4k-qd32", 1.0, true],
      ["randread-4k-qd1", 1.2, true],
      ["seqread-1m-qd16", 1.0, false],
    ]);
  });

  it("judges memory on the highest VmHWM of the 1 MiB QD128 runs", () => {
    const under = judgeGoals([even("seqread-1m-qd128", 1000, 1000, { ourRss: 149 })]).find((g) => g.goal.startsWith("peak RSS"))!;
    expect(under.met).toBe(true);
    const over = judgeGoals([even("seqread-1m-qd128", 1000, 1000, { ourRss: 150 })]).find((g) => g.goal.startsWith("peak RSS"))!;
    expect(over.met).toBe(false);
  });

  it("leaves out goals whose workload did not run", () => {
    expect(judgeGoals([even("randwrite-4k-qd32", 1000, 1200)]).map((g) => g.workload)).toEqual(["randwrite-4k-qd32"]);
  });
});
