import { describe, expect, it } from "vitest";
import { parseBenchArgs } from "./args.js";
import { LOCAL_SIZES, NBD_WORKLOAD_IDS, QEMU_READ_WORKLOADS, WORKLOADS } from "./workloads.js";

describe("parseBenchArgs", () => {
  it("runs every workload three rounds of four seconds with the full local sweep by default", () => {
    const o = parseBenchArgs([]);
    expect(o).toMatchObject({ rounds: 3, seconds: 4, warmupSeconds: 1, quick: false, profile: false, local: true, localQueueDepth: 16, localFileBytes: 1 << 30 });
    expect(o.workloads).toEqual(WORKLOADS);
    expect(o.localSizes).toEqual(LOCAL_SIZES);
  });

  it("makes --quick one round of one second with three block sizes, each still overridable", () => {
    expect(parseBenchArgs(["--quick"])).toMatchObject({ rounds: 1, seconds: 1, quick: true, localSizes: [512, 4096, 131072], localFileBytes: 256 << 20 });
    expect(parseBenchArgs(["--quick", "--rounds", "2"]).rounds).toBe(2);
  });

  it("selects workloads by id, none, or adds the qemu-img reads", () => {
    expect(parseBenchArgs(["--workloads", "randread-4k-qd1,seqwrite-1m-qd16"]).workloads.map((w) => w.id)).toEqual(["randread-4k-qd1", "seqwrite-1m-qd16"]);
    expect(parseBenchArgs(["--workloads", "none"]).workloads).toEqual([]);
    expect(parseBenchArgs(["--qemu-reads"]).workloads).toEqual([...WORKLOADS, ...QEMU_READ_WORKLOADS]);
  });

  it("refuses an unknown workload, naming the known ones", () => {
    expect(() => parseBenchArgs(["--workloads", "randread-8k"])).toThrow(/unknown workload "randread-8k"; known: randread-4k-qd1/);
  });

  it("refuses rounds or seconds that are not positive integers and sizes not a multiple of 512", () => {
    expect(() => parseBenchArgs(["--rounds", "0"])).toThrow(expect.objectContaining({ code: "BENCH_ERR_USAGE" }));
    expect(() => parseBenchArgs(["--seconds", "2.5"])).toThrow(/--seconds must be a positive integer/);
    expect(() => parseBenchArgs(["--local-sizes", "512,1000"])).toThrow(/1000 is not a multiple of 512/);
  });

  it("refuses an unknown option with the usage", () => {
    expect(() => parseBenchArgs(["--fast"])).toThrow(/usage: npm run bench/);
  });

  it("waits up to 30 s for a machine under 15% busy before each run, and never in --quick", () => {
    expect(parseBenchArgs([])).toMatchObject({ quietPercent: 15, quietWaitSeconds: 30 });
    expect(parseBenchArgs(["--quick"])).toMatchObject({ quietWaitSeconds: 0 });
    expect(parseBenchArgs(["--quiet-percent", "0"])).toMatchObject({ quietPercent: 0 });
    expect(() => parseBenchArgs(["--quiet-wait=-1"])).toThrow(/--quiet-wait must be a non-negative number/);
  });

  it("reads --no-local, --profile and --out", () => {
    expect(parseBenchArgs(["--no-local", "--profile", "--out", "/tmp/r"])).toMatchObject({ local: false, profile: true, outDir: "/tmp/r" });
  });

  it("runs the NBD part by default; --no-nbd skips it; --only nbd runs it with the direct runs of its four workloads and no local sweep", () => {
    expect(parseBenchArgs([])).toMatchObject({ nbd: true, onlyNbd: false });
    expect(parseBenchArgs(["--no-nbd"])).toMatchObject({ nbd: false });
    const only = parseBenchArgs(["--only", "nbd"]);
    expect(only).toMatchObject({ nbd: true, onlyNbd: true, local: false });
    expect(only.workloads.map((w) => w.id)).toEqual(WORKLOADS.filter((w) => NBD_WORKLOAD_IDS.includes(w.id)).map((w) => w.id));
    expect(parseBenchArgs(["--only", "nbd", "--workloads", "none"]).workloads).toEqual([]);
    expect(() => parseBenchArgs(["--only", "local"])).toThrow(/--only takes "nbd", got "local"/);
  });
});
