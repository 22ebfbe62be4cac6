import { describe, expect, it } from "vitest";
import { parseBenchArgs } from "./args.js";
import {
  renderScalingMarkdown,
  renderScalingText,
  SCALING_ROWS,
  SCALING_WORKLOADS,
  scalingFindings,
  scalingRows,
  summarizeSide,
  type ScalingResults,
  type ScalingSample,
} from "./scaling.js";

function sample(round: number, iops: number, over: Partial<ScalingSample> = {}): ScalingSample {
  return { round, ios: iops * 3, iops, bytesPerSecond: iops * 4096, cpuSeconds: iops * 3 * 10e-6, tgtdCores: 0.9, initiatorCores: 0.8, othersPercent: 2, ...over };
}

const [randread, seqread] = SCALING_WORKLOADS as [(typeof SCALING_WORKLOADS)[number], (typeof SCALING_WORKLOADS)[number]];

function results(): ScalingResults {
  return {
    schema: 1,
    startedAt: "2026-12-03T07:00:00.000Z",
    finishedAt: "2026-12-03T07:10:00.000Z",
    cores: 2,
    settings: { rounds: 2, seconds: 3, warmupSeconds: 1 },
    tgtdParams: { MaxConnections: "4" },
    cells: [
      { row: "connections-1", workload: randread.id, libiscsi: [sample(1, 80_000), sample(2, 90_000)], ours: [sample(1, 60_000, { connections: 1 }), sample(2, 70_000, { connections: 1 })] },
      { row: "connections-4", workload: randread.id, libiscsi: [sample(1, 80_000)], ours: [sample(1, 40_000, { connections: 2 })] },
      { row: "sessions-4", workload: randread.id, libiscsi: [sample(1, 100_000, { othersPercent: undefined })], ours: [sample(1, 50_000, { connections: 4 })] },
      { row: "connections-1", workload: seqread.id, libiscsi: [sample(1, 1000, { bytesPerSecond: 1024 * 2 ** 20 })], ours: [] },
    ],
    failures: ["scaling round 1 connections-1 seqread-1m-qd16 iscsi-ts failed: BENCH_ERR_PEER gone"],
    noisyRuns: [],
  };
}

describe("the scaling table", () => {
  it("has rows for 1, 2 and 4 connections, 2 and 4 sessions over two tgtds, and 2 sessions on 1 and 2 workers", () => {
    expect(SCALING_ROWS.map((r) => r.id)).toEqual(["connections-1", "connections-2", "connections-4", "sessions-2", "sessions-4", "workers-1", "workers-2"]);
    expect(SCALING_ROWS.every((r) => r.peers === r.sessions)).toBe(true);
    expect(SCALING_WORKLOADS.map((w) => w.id)).toEqual(["randread-4k-qd32", "seqread-1m-qd16"]);
  });

  it("summarizes a side by medians, with CPU per I/O in microseconds and the fewest connections seen", () => {
    const s = summarizeSide([sample(1, 60_000, { connections: 4 }), sample(2, 70_000, { connections: 3 })]);
    expect(s.iops).toBe(65_000);
    expect(s.cpuPerIoUs).toBeCloseTo(10, 6);
    expect(s.connections).toBe(3);
    expect(summarizeSide([]).runs).toBe(0);
  });

  it("titles each table so that no line of it starts with a workload's label (the main table's rows do)", () => {
    for (const line of renderScalingText(results()).split("\n")) {
      for (const w of SCALING_WORKLOADS) expect(line.startsWith(w.label), line).toBe(false);
    }
  });

  it("shows ratios ours over libiscsi, says iscsi-perf has no MC/S, and flags a session that got fewer connections than asked", () => {
    const rows = scalingRows(results(), randread);
    expect(rows.map((r) => r[0])).toEqual(["1 session, 1 connection", "1 session, 4 connections (only 2 connections)", "4 sessions, 2 tgtd"]);
    expect(rows[0]).toEqual(["1 session, 1 connection", "1 iscsi-perf", "65.0K", "85.0K", "0.76x", "10.0 us", "10.0 us", "1.00x", "0.80+0.90", "0.80+0.90", "2%"]);
    expect(rows[1]?.[1]).toBe("1 iscsi-perf (no MC/S)");
    expect(rows[2]?.[1]).toBe("4 iscsi-perf processes");
  });

  it("shows a side with no run as failed and its ratios as n/a, and throughput in MiB/s", () => {
    const [row] = scalingRows(results(), seqread);
    expect(row?.slice(2, 5)).toEqual(["failed", "1024", "n/a"]);
  });

  it("renders Markdown with a table per workload, the notes, the findings and the failures", () => {
    const md = renderScalingMarkdown(results());
    expect(md).toContain("### Scaling: connections, sessions, worker threads");
    expect(md).toContain("**Scaling at 4 KiB random read QD32: aggregate IOPS (QD32 per session or process)**");
    expect(md).toContain("| 1 session, 1 connection | 1 iscsi-perf | 65.0K | 85.0K | 0.76x |");
    expect(md).toContain("- iscsi-perf has no MC/S");
    expect(md).toContain("Failed runs: scaling round 1 connections-1 seqread-1m-qd16");
    expect(renderScalingText(results())).toContain("tgtd MaxConnections=4");
  });

  it("draws its findings about the 2-core machine from the run's own rows", () => {
    const [first] = scalingFindings(results());
    expect(first).toContain("On this 2-core machine");
    expect(first).toContain("4 sessions gave 0.77x the IOPS of 1 for us and 1.18x for libiscsi");
  });
});

describe("--only scaling and --only target", () => {
  it("runs the scaling part at the end of a full run unless told not to, and never in a smoke or partial run", () => {
    expect(parseBenchArgs([])).toMatchObject({ only: undefined, scaling: true });
    expect(parseBenchArgs(["--no-scaling"]).scaling).toBe(false);
    expect(parseBenchArgs(["--quick"]).scaling).toBe(false);
    expect(parseBenchArgs(["--only", "nbd"])).toMatchObject({ only: "nbd", onlyNbd: true, scaling: false });
  });

  it("takes scaling and target as parts of their own, and refuses another name naming all three", () => {
    expect(parseBenchArgs(["--only", "scaling"])).toMatchObject({ only: "scaling", onlyNbd: false, scaling: false });
    expect(parseBenchArgs(["--only", "target"])).toMatchObject({ only: "target", onlyNbd: false });
    expect(() => parseBenchArgs(["--only", "local"])).toThrow(/--only takes "nbd", got "local"; "scaling" and "target" too/);
  });
});
