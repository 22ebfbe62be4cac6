import { describe, expect, it } from "vitest";
import { alignColumns, formatIops, formatMiBps, formatRatio, formatSpread, renderMarkdown, renderTable } from "./table.js";
import { fakeResults } from "./report.test-util.js";
import { WORKLOADS } from "./workloads.js";

describe("number formats", () => {
  it("shortens IOPS to thousands with one decimal, whole thousands from 100K", () => {
    expect(formatIops(950)).toBe("950");
    expect(formatIops(75_312)).toBe("75.3K");
    expect(formatIops(123_456)).toBe("123K");
    expect(formatIops(Number.NaN)).toBe("n/a");
  });

  it("shows throughput in MiB/s and ratios with two decimals", () => {
    expect(formatMiBps(1536 * 1024 * 1024)).toBe("1536");
    expect(formatRatio(0.934)).toBe("0.93x");
    expect(formatRatio(Number.POSITIVE_INFINITY)).toBe("n/a");
  });

  it("shows a range only when the rounds differ", () => {
    expect(formatSpread({ median: 2, min: 1, max: 3, n: 3 }, String)).toBe("2 [1-3]");
    expect(formatSpread({ median: 2, min: 2, max: 2, n: 3 }, String)).toBe("2");
    expect(formatSpread({ median: 2, min: 2, max: 2, n: 1 }, String)).toBe("2");
  });
});

describe("alignColumns", () => {
  it("pads text columns on the right and figures on the left to the widest cell", () => {
    expect(alignColumns([["a", "1"], ["bbb", "22"]], 1)).toBe("a     1\nbbb  22");
  });
});

describe("renderTable", () => {
  const results = fakeResults(0.9);
  const text = renderTable(results);

  it("names the machine, the date and the settings in its header", () => {
    expect(text).toContain("Test CPU <9000>, 2 cores");
    expect(text).toContain("2026-11-25 18:00 UTC");
    expect(text).toContain("3 round(s), 4 s measured");
    expect(text).toContain("load average 0.5 at the start, 1.5 at the end");
  });

  it("has a row per workload with both figures and their ratio", () => {
    for (const w of WORKLOADS) {
      const row = text.split("\n").find((line) => line.startsWith(w.label));
      expect(row, w.label).toBeDefined();
      expect(row).toContain("0.90x");
      expect(row).toContain(w.reference);
    }
  });

  it("lines every workload row up under the header", () => {
    const lines = text.split("\n");
    const header = lines.find((l) => l.startsWith("workload"))!;
    const ratioEnd = header.indexOf("ratio") + "ratio".length;
    for (const w of WORKLOADS) {
      const row = lines.find((line) => line.startsWith(w.label))!;
      expect(row.slice(ratioEnd - 5, ratioEnd)).toBe("0.90x");
    }
  });

  it("lists every goal as met or missed", () => {
    for (const g of results.goals) expect(text).toContain(g.goal);
    expect(text).toMatch(/MISSED {2}4 KiB random read QD32/);
  });

  it("adds the iSCSI-over-local table when the sweep ran", () => {
    expect(text).toContain("iSCSI over local");
    expect(text).toMatch(/^512 B\s+300K IOPS\s+30\.0K IOPS\s+25\.0K IOPS\s+0\.10x\s+0\.08x\s+0\.83x$/m);
    expect(renderTable(fakeResults(0.9, { local: false }))).not.toContain("iSCSI over local");
  });
});

describe("renderMarkdown", () => {
  it("gives a pipe table with a separator row and a row per workload", () => {
    const md = renderMarkdown(fakeResults(1.1));
    const rows = md.split("\n").filter((l) => l.startsWith("| "));
    expect(md).toContain("| --- | --- | ---: |");
    for (const w of WORKLOADS) expect(rows.some((r) => r.startsWith(`| ${w.label} |`))).toBe(true);
    expect(md).toContain("| 4 KiB random read QD32: >= 1.0x libiscsi IOPS | met |");
  });
});

describe("caveats", () => {
  it("says how many runs started on a busy machine and which runs failed", () => {
    const results = { ...fakeResults(1), noisyRuns: ["a", "b"], failures: ["round 1 randread-4k-qd1 iscsi-ts failed: BENCH_ERR_WORKER boom"] };
    const text = renderTable(results);
    expect(text).toContain("2 run(s) had to start while other work kept the machine over 15% busy (after waiting up to 30 s)");
    expect(text).toContain("1 run(s) FAILED and are missing from the medians: round 1 randread-4k-qd1 iscsi-ts failed: BENCH_ERR_WORKER boom");
    expect(renderTable(fakeResults(1))).not.toContain("busy (after waiting");
  });
});

describe("the CPU split", () => {
  it("gives each side's median user and system seconds, and n/a for results that did not record them", () => {
    const base = fakeResults(1);
    const first = base.workloads[0]!;
    const withSplit = {
      ...first,
      libiscsi: { ...first.libiscsi, runs: first.libiscsi.runs.map((r, i) => ({ ...r, cpuSeconds: 1.5, systemCpuSeconds: 1.2 + i * 0.1, tgtdCpuSeconds: 3.9, irqCpuSeconds: 1 })) },
      ours: { ...first.ours, runs: first.ours.runs.map((r) => ({ ...r, cpuSeconds: 3, systemCpuSeconds: 1, tgtdCpuSeconds: 3.7, irqCpuSeconds: 0.9 })) },
    };
    const text = renderTable({ ...base, workloads: [withSplit, ...base.workloads.slice(1)] });
    // libiscsi: system 1.2/1.3/1.4 (median 1.3), user 0.3/0.2/0.1 (median 0.2); ours: user 2, system 1.
    expect(text).toMatch(new RegExp(`^${first.workload.label}\\s+0\\.20\\s+1\\.30\\s+2\\.00\\s+1\\.00\\s+3\\.90/3\\.70\\s+1\\.00/0\\.90$`, "m"));
    expect(text).toMatch(new RegExp(`^${base.workloads[1]!.workload.label}\\s+n/a\\s+n/a\\s+n/a\\s+n/a\\s+n/a/n/a\\s+n/a/n/a$`, "m"));
  });
});

describe("the source line", () => {
  it("names the commit measured and says when src/ had changes on top of it", () => {
    expect(renderTable({ ...fakeResults(1), source: { commit: "0123456789ab", dirty: false } })).toMatch(/^source: 0123456789ab$/m);
    expect(renderTable({ ...fakeResults(1), source: { commit: "0123456789ab", dirty: true } })).toContain("source: 0123456789ab with uncommitted changes in src/");
    expect(renderTable(fakeResults(1))).not.toContain("source:");
  });
});
