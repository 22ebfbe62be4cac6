import { describe, expect, it } from "vitest";
import { LOCAL_SIZES, QEMU_READ_WORKLOADS, sizeLabel, WORKLOADS } from "./workloads.js";

describe("workloads", () => {
  it("are the issue's seven, QD1 again with busy polling, and the memory goal's 1 MiB reads at QD128", () => {
    expect(WORKLOADS.map((w) => w.id)).toEqual([
      "randread-4k-qd1",
      "randread-4k-qd1-poll",
      "randread-4k-qd32",
      "randread-4k-qd128",
      "randwrite-4k-qd32",
      "seqread-64k-qd8",
      "seqread-1m-qd16",
      "seqwrite-1m-qd16",
      "seqread-1m-qd128",
    ]);
  });

  it("poll only in the row that says so", () => {
    expect(WORKLOADS.filter((w) => w.busyPollUs !== undefined).map((w) => [w.id, w.label, w.busyPollUs])).toEqual([
      ["randread-4k-qd1-poll", "4 KiB random read QD1, busy poll", 200],
    ]);
  });

  it("compare reads with iscsi-perf and writes with qemu-img bench", () => {
    for (const w of WORKLOADS) expect(w.reference).toBe(w.direction === "read" ? "iscsi-perf" : "qemu-img");
  });

  it("have ids unique across the optional qemu-img reads too", () => {
    const ids = [...WORKLOADS, ...QEMU_READ_WORKLOADS].map((w) => w.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("sweep block sizes from 512 B to 128 KiB", () => {
    expect(LOCAL_SIZES[0]).toBe(512);
    expect(LOCAL_SIZES[LOCAL_SIZES.length - 1]).toBe(128 * 1024);
    expect(LOCAL_SIZES.map(sizeLabel)).toContain("64 KiB");
    expect(sizeLabel(1 << 20)).toBe("1 MiB");
  });
});
