/**
 * `iscsi perf` as someone watching it sees it: a line per interval while it runs, reads and
 * writes mixed in the share asked for, the latency histogram at the end, --json's intervals,
 * --ndjson's stream and --chart's SVG (rendered by Chromium). Against the embedded target
 * (`iscsi target`, a process of its own) and against tgtd.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCaptured } from "../../src/cli/cli.test-util.js";
import type { IntervalRecord } from "../../src/cli/commands/perf.js";
import type { TrackedProcess } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf, spawnIscsi } from "./cli.test-util.js";

const IQN = "iqn.2026-11.test.cli:perf";
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const ARTEFACTS = join(ROOT, "test-results/perf");
const CHROMIUM = "/usr/bin/chromium";

interface Bucket {
  readonly fromUs: number;
  readonly toUs: number;
  readonly count: number;
}

interface Direction {
  readonly commands: number;
  readonly bytes: number;
  readonly iops: number;
  readonly latencyHistogram: Bucket[];
}

interface PerfDoc {
  readonly rw: string;
  readonly commands: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly iops: number;
  readonly queueDepth: number;
  readonly latencyUs: { p50: number; p99: number; max: number };
  readonly interrupted: boolean;
  readonly readPercent: number;
  readonly reads: Direction;
  readonly writes: Direction;
  readonly latencyHistogram: Bucket[];
  readonly intervalSeconds: number;
  readonly intervals?: IntervalRecord[];
}

/** Everything that must hold between a run's intervals and its summary, whatever the timing. */
function expectConsistent(doc: PerfDoc, intervals: readonly IntervalRecord[], bs: number): void {
  expect(intervals.length).toBeGreaterThan(0);
  // The intervals add up to the run, reads and writes apart.
  expect(intervals.reduce((a, i) => a + i.commands, 0)).toBe(doc.commands);
  expect(intervals.reduce((a, i) => a + i.reads.commands, 0)).toBe(doc.reads.commands);
  expect(intervals.reduce((a, i) => a + i.writes.commands, 0)).toBe(doc.writes.commands);
  intervals.forEach((i, k) => {
    expect(i.type).toBe("interval");
    expect(i.reads.commands + i.writes.commands).toBe(i.commands);
    // Every interval but the last is exactly the length asked: the cuts are on the clock.
    if (k < intervals.length - 1) {
      expect(i.seconds).toBe(doc.intervalSeconds);
      expect(i.t).toBeCloseTo((k + 1) * doc.intervalSeconds, 6);
    }
    // Within half a command: the record's numbers are rounded (IOPS to 3 decimals, seconds to 6).
    expect(Math.abs(i.iops * i.seconds - i.commands)).toBeLessThan(0.5);
    expect(Math.abs(i.bytesPerSecond - i.iops * bs)).toBeLessThan(bs / 100 + 1);
    expect(i.inFlight).toBeGreaterThanOrEqual(0);
    expect(i.inFlight).toBeLessThanOrEqual(doc.queueDepth);
    if (i.commands === 0) expect(i.latencyUs).toBeNull();
    else {
      expect(i.latencyUs?.p50).toBeGreaterThan(0);
      expect(i.latencyUs?.p99).toBeGreaterThanOrEqual(i.latencyUs?.p50 ?? 0);
      expect(i.latencyUs?.max).toBeGreaterThanOrEqual(i.latencyUs?.p99 ?? 0);
    }
  });
  // The last interval ends with the run.
  expect((intervals.at(-1)?.t ?? 0) * 1000).toBeCloseTo(doc.elapsedMs, 0);
  // The histogram holds every command, in contiguous powers of two of a microsecond.
  expect(doc.latencyHistogram.reduce((a, b) => a + b.count, 0)).toBe(doc.commands);
  doc.latencyHistogram.forEach((b, k) => {
    expect(b.toUs).toBe(b.fromUs === 0 ? 1 : b.fromUs * 2);
    if (k > 0) expect(b.fromUs).toBe(doc.latencyHistogram[k - 1]?.toUs);
  });
}

/** JSON lines, each parsed. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("iscsi perf against the embedded target", () => {
  let target: TrackedProcess;
  let portal: string;
  const tmp = useTempDir("iscsi-cli-perf-");
  const url = (lun: number): string => `iscsi://${portal}/${IQN}/${lun}`;

  beforeAll(async () => {
    await ensureBuilt();
    target = spawnIscsi(["target", "--listen", "127.0.0.1:0", "--json", "--iqn", IQN, "--lun", "1=mem:64M", "--lun", "2=null:1G"]);
    await target.waitForOutput(/^}$/m, { timeoutMs: 15_000, what: "the target's JSON document" });
    portal = (JSON.parse(target.stdout()) as { portal: string }).portal;
  });

  afterAll(async () => {
    target?.signal("SIGTERM");
    await target?.exited;
  });

  it("--json for 3 s lists an interval a second, which add up to the run's figures", async () => {
    const doc = jsonOf<PerfDoc>(expectOk(await iscsi(["perf", url(2), "--time", "3s", "--qd", "8", "--json"])));
    // The fields --json has always had are still there.
    expect(doc).toMatchObject({ rw: "randread", queueDepth: 8, interrupted: false, readPercent: 100, intervalSeconds: 1 });
    expect(doc.commands).toBeGreaterThan(0);
    expect(doc.latencyUs.p99).toBeGreaterThanOrEqual(doc.latencyUs.p50);
    // A 3 s window in 1 s intervals: three, the third ending with the window.
    expect(doc.intervals?.map((i) => i.seconds).slice(0, 2)).toEqual([1, 1]);
    expect(doc.intervals).toHaveLength(3);
    expectConsistent(doc, doc.intervals ?? [], 4096);
    expect(doc.writes.commands).toBe(0);
  });

  it("randrw with --rwmixread 70 reads about 70% of the time and writes the rest, counted apart", async () => {
    const doc = jsonOf<PerfDoc>(expectOk(await iscsi(["perf", url(1), "--rw", "randrw", "--rwmixread", "70", "--force", "--time", "2s", "--qd", "8", "--json"])));
    expect(doc).toMatchObject({ rw: "randrw", readPercent: 70 });
    const share = doc.reads.commands / doc.commands;
    expect(share).toBeGreaterThan(0.55);
    expect(share).toBeLessThan(0.85);
    expect(doc.writes.commands).toBeGreaterThan(0);
    expect(doc.reads.bytes + doc.writes.bytes).toBe(doc.bytes);
    expect(doc.reads.latencyHistogram.reduce((a, b) => a + b.count, 0)).toBe(doc.reads.commands);
    expect(doc.writes.latencyHistogram.reduce((a, b) => a + b.count, 0)).toBe(doc.writes.commands);
    expectConsistent(doc, doc.intervals ?? [], 4096);
  });

  it("--ndjson prints each interval while it runs, then the summary; SIGINT ends it with the figures so far", async () => {
    const run = spawnIscsi(["perf", url(2), "--time", "60s", "--qd", "4", "--interval", "500ms", "--ndjson"]);
    // The first line is out while the run (a minute long) goes on.
    await run.waitForOutput(/"type":"interval"[^\n]*\n/, { timeoutMs: 30_000, what: "the first interval line" });
    expect(run.running).toBe(true);
    run.signal("SIGINT");
    const status = await run.exited;
    expect(status.code).toBe(130);
    const lines = jsonLines(run.stdout());
    const summary = lines.at(-1) as unknown as PerfDoc & { type: string };
    expect(summary.type).toBe("summary");
    expect(summary.interrupted).toBe(true);
    expect(summary.intervalSeconds).toBe(0.5);
    // The summary does not repeat the intervals already printed.
    expect("intervals" in summary).toBe(false);
    const intervals = lines.slice(0, -1) as unknown as IntervalRecord[];
    expectConsistent(summary, intervals, 4096);
    expect(run.stderr()).toMatch(/^iscsi: interrupted by SIGINT$/m);
  });

  it("prints a header and a line per interval, then the figures and the latency histogram of every command", async () => {
    const { stdout } = expectOk(await iscsi(["perf", url(2), "--time", "2s", "--qd", "8"]));
    const lines = stdout.split("\n");
    expect(lines[0]).toMatch(/^ +time +IOPS +MiB\/s +p50 +p99 +in flight$/);
    const rows = lines.slice(1, 3);
    // (A "-" for the latency of an interval in which nothing completed.)
    const latency = "(?:[\\d.]+ [µm]?s|-)";
    for (const [k, row] of rows.entries()) expect(row).toMatch(new RegExp(`^ +${k + 1}\\.\\d s +[\\d,]+ +\\d+\\.\\d +${latency} +${latency} +\\d+$`));
    expect(lines[3]).toMatch(/^randread, 4 KiB blocks, QD 8, 2\.\d\d s on LUN 2/);
    const commands = Number(/^ {2}Commands: +([\d,]+)/m.exec(stdout)?.[1]?.replace(/,/g, ""));
    const at = lines.indexOf("  Latency histogram:");
    expect(at).toBeGreaterThan(3);
    const bars = lines.slice(at + 1).filter((l) => l !== "");
    for (const bar of bars) expect(bar).toMatch(/^ {4} *(?:[\d.]+ [µm]?s to|<) +[\d.]+ [µm]?s \|#* *\| +[\d,]+ +\d+\.\d% +\d+\.\d%$/);
    const counted = bars.reduce((a, bar) => a + Number(/\| +([\d,]+) /.exec(bar)?.[1]?.replace(/,/g, "")), 0);
    expect(counted).toBe(commands);
    expect(bars.at(-1)).toMatch(/100\.0%$/);
  });

  it("with -q prints the figures only, no interval lines", async () => {
    const { stdout } = expectOk(await iscsi(["perf", url(2), "--time", "1.2s", "--interval", "500ms", "-q"]));
    expect(stdout).toMatch(/^randread, /);
    expect(stdout).not.toMatch(/in flight/);
  });

  it("--chart draws IOPS and latency over time as an SVG that Chromium renders", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it with "apt-get install -y chromium"`);
    const chart = tmp().file("run.svg");
    const doc = jsonOf<PerfDoc>(expectOk(await iscsi(["perf", url(1), "--rw", "randrw", "--rwmixread", "70", "--force", "--time", "3s", "--interval", "500ms", "--chart", chart, "--json"])));
    const svg = readFileSync(chart, "utf8");
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const browser = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const page = await browser.newPage({ viewport: { width: 840, height: 620 } });
      await page.goto(`file://${chart}`);
      // Evaluated in the page (as text: the tests are type-checked without the DOM's types).
      const drawn = (await page.evaluate(`({
        errors: document.getElementsByTagName("parsererror").length,
        lines: [...document.querySelectorAll("polyline")].map((p) => (p.getAttribute("points") ?? "").split(" ").length),
        dots: document.querySelectorAll("circle").length,
        width: document.documentElement.getBoundingClientRect().width,
        text: document.documentElement.textContent ?? "",
      })`)) as { errors: number; lines: number[]; dots: number; width: number; text: string };
      expect(drawn.errors).toBe(0);
      expect(drawn.width).toBeGreaterThan(400);
      // Total, reads and writes: a point per interval each. p50 and p99: a point per interval in
      // which something completed, as lines broken where nothing did (a lone point as a dot).
      const intervals = doc.intervals ?? [];
      expect(drawn.lines.slice(0, 3)).toEqual(Array(3).fill(intervals.length));
      const withLatency = intervals.filter((i) => i.commands > 0).length;
      expect(drawn.lines.slice(3).reduce((a, b) => a + b, 0) + drawn.dots).toBe(2 * withLatency);
      expect(drawn.text).toMatch(/randrw \(70% reads\)/);
      await mkdir(ARTEFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTEFACTS, "chart.png") });
    } finally {
      await browser.close();
    }
  });

  it("refuses what it cannot do before logging in: a chart it cannot write, --rwmixread without a mix, --json with --ndjson", async () => {
    expectFailure(await iscsi(["perf", url(2), "--chart", join(tmp().path, "absent", "run.svg")]), 1, /cannot write the chart to .*absent\/run\.svg: no such file or directory/);
    expectFailure(await iscsi(["perf", url(2), "--rwmixread", "70"]), 1, /--rwmixread applies to --rw rw and randrw, not randread/);
    expectFailure(await iscsi(["perf", url(1), "--rw", "randrw"]), 1, /--rw randrw overwrites the data on the LUN: add --force/);
    expectFailure(await iscsi(["perf", url(2), "--interval", "10ms"]), 1, /--interval 10ms is shorter than 100 ms/);
    expectFailure(await iscsi(["perf", url(2), "--rw", "randrw", "--force", "--rwmixread", "120"]), 1, /--rwmixread 120 is out of range \(0 to 100\)/);
    const both = await iscsi(["perf", url(2), "--json", "--ndjson"]);
    expectFailure(both, 1, /--ndjson and --json/);
    expect(jsonOf<{ error: { code: string } }>(both).error.code).toBe("ISCSI_CLI_USAGE");
  });
});

describe("iscsi perf's failures on standard output", () => {
  // Never connected to for the mistakes, refused for the rest: nothing listens there (this suite's range).
  const url = "iscsi://127.0.0.1:14449/iqn.2026-11.test.cli:perf-nowhere/1";

  beforeAll(async () => {
    await ensureBuilt();
  });

  /** Stdout is one {"type": "error"} line saying what stderr's one line says. */
  const expectErrorLine = (result: Awaited<ReturnType<typeof iscsi>>, code: string, exitCode: number, pattern: RegExp): void => {
    const stderrLine = expectFailure(result, exitCode, pattern);
    const lines = jsonLines(result.stdout);
    expect(lines).toEqual([{ type: "error", code, message: stderrLine.replace(/^iscsi: /, ""), exitCode }]);
  };

  it("--ndjson ends with an error line for a wrong argument, as it does for a connection that fails", async () => {
    expectErrorLine(await iscsi(["perf", url, "--bs", "3", "--ndjson"]), "ISCSI_CLI_USAGE", 1, /--bs 3 must be between 512 bytes and 64 MiB/);
    expectErrorLine(await iscsi(["perf", url, "--ndjson", "--no-such-option"]), "ISCSI_CLI_USAGE", 1, /unknown option '--no-such-option'/);
    expectErrorLine(await iscsi(["perf", url, "--time", "1s", "--ndjson"]), "ISCSI_ERR_TRANSPORT", 4, /connection refused/);
  });

  it("--json gives its error document for a wrong argument", async () => {
    const r = await iscsi(["perf", url, "--bs", "3", "--json"]);
    expectFailure(r, 1, /--bs 3 must be between 512 bytes and 64 MiB/);
    expect(jsonOf(r)).toEqual({ error: { code: "ISCSI_CLI_USAGE", message: "--bs 3 must be between 512 bytes and 64 MiB", exitCode: 1 } });
  });
});

describe("iscsi perf on a terminal", () => {
  it("draws a live progress line under the interval lines and wipes it before anything else is printed", async () => {
    const { startTarget } = await import("../../src/target/server.js");
    const served = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "null:1G" }] }] });
    try {
      const r = await runCaptured(["perf", `iscsi://${served.host}:${served.port}/${IQN}/1`, "--time", "1.5s", "--interval", "500ms", "--qd", "4"], { stdoutIsTty: true });
      expect(r.status, r.stderr).toBe(0);
      const wipe = "\r\x1b[K";
      expect(r.stdout).toContain(`${wipe}  [`);
      expect(r.stdout).toMatch(/\[#*\.*\] [\d.]+ [µm]?s of 1\.50 s/);
      // Take out every drawing of the live line (a wipe, then what was drawn up to the next wipe):
      // what is left is the plain output, with the progress nowhere in it.
      const plain = r.stdout.replace(/\r\x1b\[K(?: {2}\[[#.]*\][^\r\n]*)?/g, "");
      expect(plain).not.toMatch(/\[[#.]+\]/);
      const lines = plain.split("\n");
      expect(lines[0]).toMatch(/^ +time +IOPS/);
      expect(lines.slice(1, 4).every((l) => /^ +\d\.\d s +[\d,]+ /.test(l))).toBe(true);
      expect(lines[4]).toMatch(/^randread, 4 KiB blocks, QD 4/);
    } finally {
      await served.close();
    }
  });
});

describe("iscsi perf against tgtd", () => {
  let tgtd: Tgtd;
  const LUN_BYTES = 64 << 20;

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: LUN_BYTES } }] });
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  it("streams randrw at 70% reads as JSON lines: both directions in every interval, adding up to the summary", async () => {
    const r = expectOk(await iscsi(["perf", tgtd.url(IQN, 1), "--rw", "randrw", "--rwmixread", "70", "--force", "--time", "3s", "--qd", "16", "--ndjson"]));
    const lines = jsonLines(r.stdout);
    const summary = lines.at(-1) as unknown as PerfDoc & { type: string };
    expect(summary.type).toBe("summary");
    const intervals = lines.slice(0, -1) as unknown as IntervalRecord[];
    expect(intervals).toHaveLength(3);
    expectConsistent(summary, intervals, 4096);
    const share = summary.reads.commands / summary.commands;
    expect(share).toBeGreaterThan(0.55);
    expect(share).toBeLessThan(0.85);
    for (const i of intervals.filter((x) => x.commands > 100)) {
      expect(i.reads.commands).toBeGreaterThan(0);
      expect(i.writes.commands).toBeGreaterThan(0);
    }
  });
});
