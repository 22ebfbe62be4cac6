import { describe, expect, it } from "vitest";
import { axisMax, escapeXml, localChart, ratioChart } from "./svg.js";
import { fakeLocal, fakeOutcome, fakeResults } from "./report.test-util.js";

/** Every element opened is closed, in order (the charts use no CDATA or comments). */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3] === "/") continue;
    if (m[1] === "/") {
      if (stack.pop() !== m[2]) return false;
    } else stack.push(m[2]!);
  }
  return stack.length === 0;
}

describe("ratioChart", () => {
  const outcomes = fakeResults(0.8).workloads;
  const svg = ratioChart(outcomes, "iscsi-ts / libiscsi <test>");

  it("is one well-formed svg element with its title escaped", () => {
    expect(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")).toBe(true);
    expect(balanced(svg)).toBe(true);
    expect(svg).toContain("iscsi-ts / libiscsi &lt;test&gt;");
  });

  it("labels a bar per workload with its ratio", () => {
    for (const o of outcomes) {
      expect(svg).toContain(`>${o.workload.label}</text>`);
    }
    expect(svg.match(/>0\.80x<\/text>/g)?.length).toBe(outcomes.length);
  });

  it("draws the 1.0 line where a ratio of 1.0 ends", () => {
    const one = fakeOutcome("randread-4k-qd32", { iops: [100] }, { iops: [100] });
    const chart = ratioChart([one], "t");
    const bar = /<rect x="(\d+(?:\.\d+)?)" y="[\d.]+" width="([\d.]+)" height="16"/.exec(chart)!;
    const line = /<line x1="([\d.]+)" y1="[\d.]+" x2="[\d.]+" y2="[\d.]+" stroke="#222"/.exec(chart)!;
    expect(Number(bar[1]) + Number(bar[2])).toBeCloseTo(Number(line[1]), 0);
  });

  it("colours a win green and a loss red", () => {
    expect(ratioChart([fakeOutcome("randread-4k-qd32", { iops: [100] }, { iops: [120] })], "t")).toContain('fill="#3c9a4f"');
    expect(ratioChart([fakeOutcome("randread-4k-qd32", { iops: [100] }, { iops: [80] })], "t")).toContain('fill="#d05a4a"');
  });
});

describe("localChart", () => {
  it("draws a line of a point per block size for each initiator", () => {
    const local = fakeLocal();
    const svg = localChart(local, "iSCSI over local");
    expect(balanced(svg)).toBe(true);
    expect(svg.match(/<polyline/g)?.length).toBe(2);
    const points = /<polyline[^>]*points="([^"]+)"/.exec(svg)![1]!.split(" ");
    expect(points.length).toBe(local.points.length);
    for (const label of ["512 B", "4 KiB", "128 KiB"]) expect(svg).toContain(`>${label}</text>`);
  });
});

describe("helpers", () => {
  it("escapes the five XML specials that matter in text and attributes", () => {
    expect(escapeXml(`a<b>&"c"`)).toBe("a&lt;b&gt;&amp;&quot;c&quot;");
  });

  it("rounds an axis up to a step above every value and the floor", () => {
    expect(axisMax([0.5, 0.9], 1.25, 0.25)).toBe(1.5);
    expect(axisMax([2.1], 1.25, 0.25)).toBe(2.5);
    expect(axisMax([Number.NaN], 1, 0.5)).toBe(1.5);
  });
});
