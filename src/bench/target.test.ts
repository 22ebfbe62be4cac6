import { describe, expect, it } from "vitest";
import { judgeTargetGoals, renderTargetMarkdown, renderTargetText, summarizeTarget, TARGET_WORKLOADS, targetRows, urlFromTargetJson, type TargetResults, type TargetSample } from "./target.js";

function sample(round: number, iops: number, ioBytes: number, targetUsPerIo: number): TargetSample {
  const ios = iops * 3;
  return { round, ios, seconds: 3, iops, bytesPerSecond: iops * ioBytes, targetCpuSeconds: (ios * targetUsPerIo) / 1e6, initiatorCpuSeconds: ios * 5e-6, othersPercent: 1 };
}

function results(): TargetResults {
  const [randread, seqread, randwrite] = TARGET_WORKLOADS as [(typeof TARGET_WORKLOADS)[number], (typeof TARGET_WORKLOADS)[number], (typeof TARGET_WORKLOADS)[number]];
  return {
    schema: 1,
    startedAt: "2026-12-03T07:00:00.000Z",
    finishedAt: "2026-12-03T07:05:00.000Z",
    settings: { rounds: 2, seconds: 3 },
    servers: { tgtd: "tgtd (--bstype null)", "iscsi-ts": "iscsi target --listen 127.0.0.1:0 --lun 1=mem:1G", "iscsi-ts-null": "iscsi target --listen 127.0.0.1:0 --lun 1=null:1T" },
    cells: [
      { workload: randread.id, server: "tgtd", samples: [sample(1, 80_000, 4096, 10), sample(2, 90_000, 4096, 10)] },
      { workload: randread.id, server: "iscsi-ts", samples: [sample(1, 85_000, 4096, 8), sample(2, 95_000, 4096, 8)] },
      { workload: randread.id, server: "iscsi-ts-null", samples: [sample(1, 100_000, 4096, 6)] },
      { workload: seqread.id, server: "tgtd", samples: [sample(1, 1600, 2 ** 20, 400)] },
      { workload: seqread.id, server: "iscsi-ts", samples: [sample(1, 800, 2 ** 20, 800)] },
      { workload: randwrite.id, server: "tgtd", samples: [sample(1, 30_000, 4096, 12)] },
      { workload: randwrite.id, server: "iscsi-ts", samples: [] },
    ],
    failures: [],
    noisyRuns: [],
  };
}

describe("the target table", () => {
  it("compares 4 KiB random and 1 MiB sequential reads (iscsi-perf) and writes (qemu-img bench)", () => {
    expect(TARGET_WORKLOADS.map((w) => `${w.id} ${w.reference}`)).toEqual(["randread-4k-qd32 iscsi-perf", "seqread-1m-qd16 iscsi-perf", "randwrite-4k-qd32 qemu-img", "seqwrite-1m-qd16 qemu-img"]);
  });

  it("summarizes the target's CPU per I/O in microseconds and the rate by the workload's figure", () => {
    const w = TARGET_WORKLOADS[1]!;
    const s = summarizeTarget(w, [sample(1, 800, 2 ** 20, 800)]);
    expect(s.rate).toBe(800 * 2 ** 20);
    expect(s.targetCpuPerIoUs).toBeCloseTo(800, 6);
  });

  it("judges the goal at least 1.0x tgtd per workload; a side that never ran misses it", () => {
    expect(judgeTargetGoals(results()).map((g) => [g.workload, g.met])).toEqual([
      ["randread-4k-qd32", true],
      ["seqread-1m-qd16", false],
      ["randwrite-4k-qd32", false],
      ["seqwrite-1m-qd16", false],
    ]);
    expect(judgeTargetGoals(results())[0]?.ratio).toBeCloseTo(90_000 / 85_000, 6);
  });

  it("renders a row per workload with ratios ours (memory and null LUNs) over tgtd, target CPU per I/O and met or missed", () => {
    const rows = targetRows(results());
    expect(rows[0]).toEqual(["4 KiB random read QD32", "iscsi-perf", "85.0K IOPS", "90.0K IOPS", "1.06x", "100K IOPS", "1.18x", "10.0 us", "8.0 us", "0.80x", "6.0 us", "0.60x", "met", "1%"]);
    expect(rows[1]?.slice(5, 7)).toEqual(["failed", "n/a"]);
    expect(rows[1]?.slice(2, 5)).toEqual(["1600 MiB/s", "800 MiB/s", "0.50x"]);
    expect(rows[2]?.slice(1, 5)).toEqual(["qemu-img bench", "30.0K IOPS", "failed", "n/a"]);
    const md = renderTargetMarkdown(results());
    expect(md).toContain("### The embedded target as a server, against tgtd");
    expect(md).toContain("| 4 KiB random read QD32 | iscsi-perf | 85.0K IOPS | 90.0K IOPS | 1.06x |");
    expect(renderTargetText(results())).toContain("randread-4k-qd32 1.06x met, seqread-1m-qd16 0.50x missed");
  });

  it("reads the LUN's URL from iscsi target's --json document only once it is complete", () => {
    const doc = JSON.stringify({ iqn: "iqn.x:t", port: 4000, luns: [{ lun: 1, url: "iscsi://127.0.0.1:4000/iqn.x:t/1" }] }, null, 2);
    expect(urlFromTargetJson(doc.slice(0, 40))).toBeUndefined();
    expect(urlFromTargetJson(`${doc}\n`)).toBe("iscsi://127.0.0.1:4000/iqn.x:t/1");
    expect(urlFromTargetJson("")).toBeUndefined();
  });
});
