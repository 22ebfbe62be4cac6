import { describe, expect, it } from "vitest";
import { cliPath, fioNbdArgs, NBD_WORKLOADS } from "./nbd.js";
import { nbdRow } from "./nbd-table.js";
import { outcome, summarize, type NbdOutcome, type RunFigures } from "./report.js";

function figures(iops: number, cpuPerUnit: number, ioBytes: number): RunFigures {
  return { round: 1, command: "x", ios: iops * 4, seconds: 4, iops, bytesPerSecond: iops * ioBytes, cpuSeconds: 1, cpuPerUnit, peakRssKiB: 10 * 1024, meanLatencyUs: 100 };
}

describe("the NBD part of the bench", () => {
  it("runs the issue's four NBD workloads", () => {
    expect(NBD_WORKLOADS.map((w) => w.label)).toEqual(["4 KiB random read QD32", "4 KiB random write QD32", "1 MiB seq read QD16", "1 MiB seq write QD16"]);
  });

  it("gives fio's nbd engine the workload's pattern, size and queue depth, time-based", () => {
    const [randread, , , seqwrite] = NBD_WORKLOADS;
    expect(fioNbdArgs(randread!, "nbd://127.0.0.1:1/lun", 4, 1 << 30)).toEqual(
      expect.arrayContaining(["--ioengine=nbd", "--uri=nbd://127.0.0.1:1/lun", "--rw=randread", "--bs=4096", "--iodepth=32", "--size=1073741824", "--time_based", "--runtime=4"]),
    );
    expect(fioNbdArgs(seqwrite!, "u", 1, 1 << 30)).toEqual(expect.arrayContaining(["--rw=write", "--bs=1048576", "--iodepth=16"]));
  });

  it("starts the bridge from the same tree as the suite: src under tsx, dist when built", () => {
    expect(cliPath()).toMatch(/\/(src\/cli\/main\.ts|dist\/cli\/main\.js)$/);
  });

  it("shows both servers, their ratio, and the hop's cost against the direct runs of the same invocation", () => {
    const w = NBD_WORKLOADS[0]!;
    const direct = outcome(w, [figures(40_000, 1, 4096)], [figures(50_000, 1.2, 4096)]);
    const o: NbdOutcome = {
      workload: w,
      qemuNbd: { runs: [], summary: summarize([figures(20_000, 3, 4096)]) },
      bridge: { runs: [], summary: summarize([figures(30_000, 2.4, 4096)]) },
      ratio: 1.5,
      cpuRatio: 0.8,
      direct,
    };
    expect(nbdRow(o)).toEqual([
      "4 KiB random read QD32",
      "20.0K IOPS",
      "30.0K IOPS",
      "1.50x",
      "3.00 s/100K IO",
      "2.40 s/100K IO",
      "0.80x",
      "10/10",
      "40.0K IOPS (iscsi-perf)",
      "50.0K IOPS",
      "0.50x/0.60x",
    ]);
    expect(nbdRow({ ...o, direct: undefined }).slice(-3)).toEqual(["not run", "not run", "n/a"]);
  });
});
