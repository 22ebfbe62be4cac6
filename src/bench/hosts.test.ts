import { describe, expect, it } from "vitest";
import { figuresFromWindows, markdownTable, rangeLines, REFERENCE, summarize, tableCells, TABLE_HEADER, textTable, type HostRow } from "./hosts.js";

const figures = (iops4k: number, mbps1m: number, cpuUs4k: number, cpuUs1m: number) => ({ iops4k, mbps1m, cpuUs4k, cpuUs1m });

const rows: HostRow[] = [
  { host: REFERENCE, cpuCounted: "/proc", rounds: [figures(90_000, 1800, 10, 300), figures(80_000, 1600, 12, 320), figures(100_000, 2000, 8, 280)] },
  { host: "node", cpuCounted: "process.cpuUsage", rounds: [figures(45_000, 900, 20, 600), figures(40_000, 800, 25, 650)] },
  { host: "browser (Chromium, via gateway)", cpuCounted: "Chromium + gateway", rounds: [figures(2_000, 30, Number.NaN, Number.NaN)] },
  { host: "deno", cpuCounted: "process.cpuUsage", rounds: [] },
];

describe("summarize", () => {
  const summary = summarize(rows);

  it("takes medians over rounds and divides each by iscsi-perf's", () => {
    expect(summary[0]!.median).toEqual(figures(90_000, 1800, 10, 300));
    expect(summary[1]!.median).toEqual(figures(42_500, 850, 22.5, 625));
    expect(summary[1]!.ratio.iops4k).toBeCloseTo(42_500 / 90_000);
    expect(summary[1]!.ratio.cpuUs1m).toBeCloseTo(625 / 300);
  });

  it("leaves unknown figures (NaN rounds, a host that never finished) as NaN, never 0 or infinity", () => {
    expect(summary[2]!.median.cpuUs4k).toBeNaN();
    expect(summary[2]!.ratio.cpuUs4k).toBeNaN();
    expect(summary[3]!.median.iops4k).toBeNaN();
  });

  it("gives no ratios without an iscsi-perf row", () => {
    expect(summarize(rows.slice(1))[0]!.ratio.iops4k).toBeNaN();
  });
});

describe("the table", () => {
  const summary = summarize(rows);

  it("shows each figure with its ratio to iscsi-perf, and none on iscsi-perf's own row", () => {
    const cells = tableCells(summary);
    expect(cells[0]).toEqual([REFERENCE, "90.0K", "1800", "10.0 µs", "300 µs"]);
    expect(cells[1]).toEqual(["node", "42.5K (0.47x)", "850 (0.47x)", "22.5 µs (2.25x)", "625 µs (2.08x)"]);
    expect(cells[2]).toEqual(["browser (Chromium, via gateway)", "2.0K (0.02x)", "30 (0.02x)", "n/a", "n/a"]);
    expect(cells[3]).toEqual(["deno", "n/a", "n/a", "n/a", "n/a"]);
  });

  it("shortens IOPS as the suite's table does: thousands with a decimal, whole thousands from 100K", () => {
    const cells = tableCells(summarize([{ host: REFERENCE, cpuCounted: "", rounds: [figures(123_456, 1, 1, 1)] }, { host: "x", cpuCounted: "", rounds: [figures(950, 1, 1, 1)] }]));
    expect(cells[0]![1]).toBe("123K");
    expect(cells[1]![1]).toBe("950 (0.01x)");
  });

  it("renders Markdown with a header, right-aligned figure columns and one line per host", () => {
    const md = markdownTable(summary).split("\n");
    expect(md[0]).toBe(`| ${TABLE_HEADER.join(" | ")} |`);
    expect(md[1]).toBe("| --- | ---: | ---: | ---: | ---: |");
    expect(md[3]).toBe("| node | 42.5K (0.47x) | 850 (0.47x) | 22.5 µs (2.25x) | 625 µs (2.08x) |");
    expect(md).toHaveLength(2 + rows.length);
  });

  it("escapes a | in a host's name so the Markdown row keeps its columns", () => {
    const md = markdownTable(summarize([{ host: "a|b", cpuCounted: "", rounds: [figures(1, 1, 1, 1)] }]));
    expect(md.split("\n")[2]).toMatch(/^\| a\\\|b \| /);
  });

  it("aligns the terminal table: host names padded right, figures left, a rule under the header", () => {
    const lines = textTable(summary).split("\n");
    expect(new Set(lines.map((l) => [...l].length)).size).toBe(1);
    expect(lines[1]).toMatch(/^-+( {2}-+){4}$/);
    expect(lines[2]!.startsWith(`${REFERENCE} `)).toBe(true);
    expect(lines[3]!.endsWith("625 µs (2.08x)")).toBe(true);
  });
});

describe("rangeLines", () => {
  it("gives each host's lowest and highest round, one figure when they agree, n/a when none is known", () => {
    const lines = rangeLines(rows);
    expect(lines[0]).toBe(`${REFERENCE} over 3 round(s): 80.0K-100K IOPS, 1600-2000 MB/s, 8.0 µs-12.0 µs and 280 µs-320 µs CPU per read`);
    expect(lines[2]).toBe("browser (Chromium, via gateway) over 1 round(s): 2.0K IOPS, 30 MB/s, n/a and n/a CPU per read");
    expect(lines[3]).toBe("deno over 0 round(s): n/a IOPS, n/a MB/s, n/a and n/a CPU per read");
  });
});

describe("figuresFromWindows", () => {
  it("derives IOPS, decimal MB/s of 1 MiB reads and CPU per read from a reader's windows", () => {
    const f = figuresFromWindows({ ios: 30_000, seconds: 2, cpuUs: 300_000 }, { ios: 1000, seconds: 2, cpuUs: 400_000 });
    expect(f.iops4k).toBe(15_000);
    expect(f.mbps1m).toBeCloseTo((500 * 1048576) / 1e6);
    expect(f.cpuUs4k).toBe(10);
    expect(f.cpuUs1m).toBe(400);
  });

  it("takes CPU measured outside the reader (the browser) when given, and NaN when there is none", () => {
    const small = { ios: 100, seconds: 1 };
    expect(figuresFromWindows(small, small).cpuUs4k).toBeNaN();
    expect(figuresFromWindows(small, small, { smallUs: 5000, largeUs: 100 }).cpuUs4k).toBe(50);
  });
});
