import { describe, expect, it } from "vitest";
import { formatPingSummary, pingStats } from "./ping.js";

describe("pingStats", () => {
  it("gives min, avg, max and mdev (the population standard deviation) as ping(8) does", () => {
    const s = pingStats(4, [1, 2, 3, 6]);
    expect(s).toMatchObject({ sent: 4, received: 4, lossPercent: 0, minMs: 1, avgMs: 3, maxMs: 6 });
    expect(s.mdevMs).toBeCloseTo(Math.sqrt((4 + 1 + 0 + 9) / 4));
  });

  it("counts what was lost", () => {
    expect(pingStats(4, [1]).lossPercent).toBe(75);
    expect(pingStats(0, []).lossPercent).toBe(0);
  });

  it("prints the summary with rtt only when something came back", () => {
    const text = formatPingSummary("iqn.2026-11.x:y", pingStats(3, [0.5, 1, 1.5]), 2004.4);
    expect(text.split("\n")).toEqual([
      "--- iqn.2026-11.x:y ping statistics ---",
      "3 NOP-Outs sent, 3 NOP-Ins received, 0% loss, time 2004ms",
      "rtt min/avg/max/mdev = 0.500/1.000/1.500/0.408 ms",
    ]);
    expect(formatPingSummary("t", pingStats(2, []), 10)).not.toMatch(/rtt/);
  });
});
