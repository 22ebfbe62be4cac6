import { describe, expect, it } from "vitest";
import { formatProfile, shortUrl, summarizeProfile, type CpuProfile } from "./profile.js";

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: "0" });

/** root -> main -> (decode, encode); plus idle and GC, sampled every 100 us. */
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 5, 6] },
    { id: 2, callFrame: frame("main", "file:///repo/dist/bench/worker.js", 9), children: [3, 4] },
    { id: 3, callFrame: frame("decodePdu", "file:///repo/dist/core/pdu/decode.js", 41) },
    { id: 4, callFrame: frame("encodePdu", "file:///repo/dist/core/pdu/encode.js", 11) },
    { id: 5, callFrame: frame("(idle)") },
    { id: 6, callFrame: frame("(garbage collector)") },
  ],
  startTime: 0,
  endTime: 2000,
  // decode x6, encode x3, main x1, idle x8, gc x2; each sample is charged the next delta (100 us).
  samples: [3, 3, 3, 3, 3, 3, 4, 4, 4, 2, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6],
  timeDeltas: new Array<number>(20).fill(100),
};

describe("summarizeProfile", () => {
  const s = summarizeProfile(PROFILE, { workload: "randread-4k-qd32", file: "x.cpuprofile", root: "/repo" });

  it("charges each sample the time to the next one", () => {
    const decode = s.functions.find((f) => f.name.startsWith("decodePdu"))!;
    expect(decode.selfMs).toBeCloseTo(0.6, 9);
    // The last sample has no next delta: the GC node gets one sample's time, not two.
    expect(s.gcMs).toBeCloseTo(0.1, 9);
    expect(s.idleMs).toBeCloseTo(0.8, 9);
  });

  it("ranks functions by self time and gives shares of busy time with idle left out", () => {
    expect(s.functions[0]!.name).toBe("(idle)");
    expect(s.functions[1]!.name).toBe("decodePdu (dist/core/pdu/decode.js:42)");
    const busy = s.totalMs - s.idleMs;
    expect(s.functions[1]!.busyPercent).toBeCloseTo((100 * 0.6) / busy, 6);
    expect(s.functions[0]!.busyPercent).toBe(0);
  });

  it("sums self time per file", () => {
    expect(s.files.find((f) => f.name === "dist/core/pdu/encode.js")!.selfMs).toBeCloseTo(0.3, 9);
    expect(s.files.find((f) => f.name === "dist/bench/worker.js")!.selfMs).toBeCloseTo(0.1, 9);
  });

  it("falls back to hit counts when a profile has no samples", () => {
    const hits: CpuProfile = { nodes: [{ id: 1, callFrame: frame("a"), hitCount: 3 }, { id: 2, callFrame: frame("b"), hitCount: 1 }], startTime: 0, endTime: 4000 };
    const h = summarizeProfile(hits, { workload: "w", file: "f" });
    expect(h.functions.map((f) => [f.name, f.selfMs])).toEqual([["a", 3], ["b", 1]]);
  });

  it("refuses something that is not a CPU profile", () => {
    expect(() => summarizeProfile({ hello: 1 }, { workload: "w", file: "f" })).toThrow(/not a V8 CPU profile/);
  });

  it("prints both lists with the busy time in the header", () => {
    const text = formatProfile(s);
    expect(text).toContain("busy 1 ms, idle 1 ms, GC 0 ms");
    expect(text).toMatch(/top functions by self time:\n\s+self ms\s+busy %\s+where\n\s+0\.8\s+0\.0\s+\(idle\)/);
    expect(text).toContain("self time by file:");
  });
});

describe("shortUrl", () => {
  it("makes a file URL relative to the repository and keeps node_modules paths short", () => {
    expect(shortUrl("file:///repo/dist/core/x.js", "/repo")).toBe("dist/core/x.js");
    expect(shortUrl("file:///repo/node_modules/@node-rs/crc32/index.js", "/repo")).toBe("node_modules/@node-rs/crc32/index.js");
    expect(shortUrl("node:internal/streams/readable", "/repo")).toBe("node:internal/streams/readable");
    expect(shortUrl("", "/repo")).toBe("");
  });
});
