/**
 * The benchmark suite, end to end, in its --quick form: its own tgtd, every workload with libiscsi's
 * tool and with our worker, the iSCSI-over-local sweep at three block sizes, and the results it
 * writes. This checks that the suite works and its figures are sane, not how fast anything is.
 * It runs the suite from its TypeScript sources (under tsx), so it needs no build.
 */
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { BenchResults, RunFigures } from "../../src/bench/report.js";
import { NBD_WORKLOAD_IDS, WORKLOADS } from "../../src/bench/workloads.js";
import { useTempDir } from "../support/tmp.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function runSuite(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/bench/main.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function expectSaneRun(run: RunFigures, what: string): void {
  expect(run.iops, what).toBeGreaterThan(0);
  expect(run.bytesPerSecond, what).toBeGreaterThan(0);
  expect(run.ios, what).toBeGreaterThan(0);
  expect(run.seconds, what).toBeGreaterThan(0);
  expect(run.cpuSeconds, what).toBeGreaterThanOrEqual(0);
  expect(Number.isFinite(run.cpuPerUnit), what).toBe(true);
  expect(run.peakRssKiB, what).toBeGreaterThan(0);
  expect(run.meanLatencyUs, what).toBeGreaterThan(0);
}

describe("npm run bench -- --quick", () => {
  const tmp = useTempDir("iscsi-ts-bench-smoke-");

  it("prints a table with every workload and writes results with sane positive figures for both initiators", { timeout: 400_000 }, async () => {
    const out = tmp().path;
    const { code, stdout, stderr } = await runSuite(["--quick", "--out", out]);
    try {
      await checkOutput(out, code, stdout);
    } catch (error) {
      // The suite's progress log says which run went wrong and how.
      (error as Error).message += `\n--- the suite's stderr ---\n${stderr.slice(-4000)}\n--- stdout ---\n${stdout.slice(-3000)}`;
      throw error;
    }
  });
});

async function checkOutput(out: string, code: number | null, stdout: string): Promise<void> {
  expect(code, "the suite's exit code").toBe(0);

  // The table: a header naming the machine, then a row per workload with both figures and a ratio.
  expect(stdout).toMatch(/^iscsi-ts vs libiscsi, loopback to tgtd's null LUN, \d{4}-\d\d-\d\d \d\d:\d\d UTC$/m);
  expect(stdout).toMatch(/^machine: .+, \d+ cores, /m);
  for (const w of WORKLOADS) {
    const row = stdout.split("\n").find((line) => line.startsWith(w.label));
    expect(row, `no row for ${w.label}`).toBeDefined();
    expect(row).toMatch(/\d\.\d\dx/);
    expect(row).not.toContain("n/a");
  }
  expect(stdout).toContain("iSCSI over local");

  // The files: JSON, Markdown and both charts, under a -quick name (a smoke run never replaces latest).
  const files = await readdir(out);
  const json = files.find((f) => /^\d{4}-.*-quick\.json$/.test(f));
  expect(json, `files: ${files.join(", ")}`).toBeDefined();
  expect(files.some((f) => f.endsWith("-quick-ratios.svg"))).toBe(true);
  expect(files.some((f) => f.endsWith("-quick-local.svg"))).toBe(true);
  expect(files.some((f) => f.endsWith("-quick.md"))).toBe(true);
  expect(files.some((f) => f.startsWith("latest"))).toBe(false);
  const svg = await readFile(join(out, files.find((f) => f.endsWith("-quick-ratios.svg"))!), "utf8");
  expect(svg.startsWith("<svg")).toBe(true);

  const results = JSON.parse(await readFile(join(out, json!), "utf8")) as BenchResults & { failures: string[] };
  expect(results.failures).toEqual([]);
  expect(results.machine.cores).toBeGreaterThan(0);
  expect(results.machine.versions["libiscsi"]).toBeDefined();
  expect(results.workloads.map((o) => o.workload.id)).toEqual(WORKLOADS.map((w) => w.id));
  for (const o of results.workloads) {
    expect(o.libiscsi.runs.length, o.workload.id).toBe(1);
    expect(o.ours.runs.length, o.workload.id).toBe(1);
    expectSaneRun(o.libiscsi.runs[0]!, `${o.workload.id} libiscsi`);
    expectSaneRun(o.ours.runs[0]!, `${o.workload.id} iscsi-ts`);
    const latency = o.ours.runs[0]!.latency!;
    expect(latency.p50Us).toBeGreaterThan(0);
    expect(latency.p99Us).toBeGreaterThanOrEqual(latency.p50Us);
    expect(o.ratio).toBeGreaterThan(0);
    // Both sides move the workload's I/O size: throughput is IOPS times it.
    expect(o.ours.runs[0]!.bytesPerSecond).toBeCloseTo(o.ours.runs[0]!.iops * o.workload.ioBytes, -3);
  }
  // Four rate goals, QD1 latency, three CPU per I/O goals (issue 11), peak RSS, and the two QD1
  // goals again for the busy-polling row, named opt-in.
  expect(results.goals.length).toBe(11);
  expect(results.goals.filter((g) => g.goal.endsWith("with busy polling (opt-in)")).map((g) => g.workload)).toEqual(["randread-4k-qd1-poll", "randread-4k-qd1-poll"]);

  // The NBD part: both servers through fio's nbd engine, each workload beside its direct runs.
  expect(stdout).toMatch(/^NBD: fio --ioengine=nbd over 1 GiB of the null LUN, through qemu-nbd and through iscsi nbd$/m);
  const nbd = results.nbd!;
  expect(nbd.outcomes.map((o) => o.workload.id)).toEqual(NBD_WORKLOAD_IDS);
  for (const o of nbd.outcomes) {
    expect(o.qemuNbd.runs.length, o.workload.id).toBe(1);
    expect(o.bridge.runs.length, o.workload.id).toBe(1);
    for (const [side, run] of [["qemu-nbd", o.qemuNbd.runs[0]!], ["iscsi nbd", o.bridge.runs[0]!]] as const) {
      expectSaneRun(run, `${o.workload.id} ${side}`);
      expect(run.cpuSeconds, `${o.workload.id} ${side}: the server process used CPU`).toBeGreaterThan(0);
      expect(Math.abs(run.bytesPerSecond / (run.iops * o.workload.ioBytes) - 1), `${o.workload.id} ${side}: throughput is IOPS times the I/O size`).toBeLessThan(0.01);
    }
    expect(o.direct?.workload.id).toBe(o.workload.id);
    const row = stdout.split("\n").filter((line) => line.startsWith(o.workload.label)).at(-1);
    expect(row, `no NBD row for ${o.workload.label}`).toMatch(/x\/\d+\.\d\dx$/);
  }

  const local = results.local!;
  expect(local.points.map((p) => p.ioBytes)).toEqual([512, 4096, 131072]);
  for (const p of local.points) {
    expect(p.local.iops.median).toBeGreaterThan(0);
    expect(p.libiscsi.iops.median).toBeGreaterThan(0);
    expect(p.ours.iops.median).toBeGreaterThan(0);
    expect(p.oursOverLocal).toBeGreaterThan(0);
  }
}
