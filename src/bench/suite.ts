/**
 * The side-by-side rounds: in each round every workload runs once with libiscsi's tool and then
 * once with iscsi-ts, one after the other, so both see the machine in the same state; several
 * rounds give a median and a range. qemu-img bench runs a fixed count of requests, sized from the
 * previous run's rate so that each run lasts about as long as the others.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runIscsiPerf, runQemuBench, type PeerRun } from "./libiscsi.js";
import { runOurs, type OurRun } from "./ours.js";
import { formatProfile, summarizeProfile, type ProfileSummary } from "./profile.js";
import { waitForQuiet, type QuietOptions } from "./quiet.js";
import { cpuPerUnit, outcome, type RunFigures, type WorkloadOutcome } from "./report.js";
import { formatIops, formatMiBps } from "./table.js";
import type { BenchTgtd } from "./tgtd.js";
import type { WorkerReport } from "./worker-protocol.js";
import type { WorkloadSpec } from "../perf/engine.js";
import type { WorkloadDef } from "./workloads.js";

export interface SuiteContext {
  readonly tgtd: BenchTgtd;
  readonly clockTicksPerSecond: number;
  readonly rounds: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** The LUN's block size (tgtd's null and file LUNs: 512). */
  readonly blockSize: number;
  readonly log: (line: string) => void;
  /** Failures of single runs: recorded and reported, the suite goes on. */
  readonly failures: string[];
  /** Wait for a quiet machine before each run. */
  readonly quiet: QuietOptions;
  /** Runs that started on a machine still busy after the wait (others' work skews them). */
  readonly noisyRuns: string[];
}

/** Waits for a quiet machine before a run, and notes a run that had to start on a busy one. */
export async function beforeRun(ctx: SuiteContext, what: string): Promise<void> {
  const q = await waitForQuiet(ctx.quiet);
  if (!q.quiet) {
    ctx.noisyRuns.push(`${what}: machine ${q.busyPercent.toFixed(0)}% busy after waiting ${(q.waitedMs / 1000).toFixed(0)} s`);
  } else if (q.waitedMs > 2000) {
    ctx.log(`  (waited ${(q.waitedMs / 1000).toFixed(0)} s for a quiet machine before ${what})`);
  }
}

/** What both initiators' runs report alike. */
type MeasuredRun = Pick<PeerRun, "command" | "ios" | "seconds" | "iops" | "bytesPerSecond" | "cpuSeconds" | "systemCpuSeconds" | "peakRssKiB" | "meanLatencyUs" | "contention">;

export function peerFigures(run: MeasuredRun, round: number, ioBytes: number, per: WorkloadDef["cpuPer"]): RunFigures {
  return {
    round,
    command: run.command,
    ios: run.ios,
    seconds: run.seconds,
    iops: run.iops,
    bytesPerSecond: run.bytesPerSecond,
    cpuSeconds: run.cpuSeconds,
    systemCpuSeconds: run.systemCpuSeconds,
    cpuPerUnit: cpuPerUnit(run.cpuSeconds, run.ios, ioBytes, per),
    peakRssKiB: run.peakRssKiB,
    meanLatencyUs: run.meanLatencyUs,
    tgtdCpuSeconds: run.contention.tgtdCpuSeconds,
    otherCpuPercent: run.contention.otherCpuPercent,
    irqCpuSeconds: run.contention.irqCpuSeconds,
  };
}

/** Ours measure more: per-I/O latencies, and the buffers the worker held. */
export function ourFigures(run: OurRun, round: number, ioBytes: number, per: WorkloadDef["cpuPer"]): RunFigures {
  return { ...peerFigures(run, round, ioBytes, per), latency: run.report.result.latency, bufferBytes: run.report.bufferBytes };
}

export function workerSpec(w: Pick<WorkloadDef, "pattern" | "direction" | "ioBytes" | "queueDepth">, ctx: Pick<SuiteContext, "warmupSeconds" | "seconds">, seed: number): WorkloadSpec {
  return {
    pattern: w.pattern,
    direction: w.direction,
    ioBytes: w.ioBytes,
    queueDepth: w.queueDepth,
    warmupMs: ctx.warmupSeconds * 1000,
    stop: { kind: "duration", ms: ctx.seconds * 1000 },
    seed,
    // iscsi-perf keeps no data; qemu-img bench has a buffer per request, as our writes do.
    sharedReadBuffer: true,
  };
}

/** A first guess at qemu-img's rate, for the short calibration run. */
function guessIops(ioBytes: number): number {
  return ioBytes <= 4096 ? 40_000 : ioBytes <= 65536 ? 12_000 : 1_200;
}

function describeRate(w: WorkloadDef, iops: number, bytesPerSecond: number): string {
  return w.figure === "iops" ? `${formatIops(iops)} IOPS` : `${formatMiBps(bytesPerSecond)} MiB/s`;
}

async function attempt<T>(ctx: SuiteContext, what: string, body: () => Promise<T>): Promise<T | undefined> {
  try {
    return await body();
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown };
    const line = `${what} failed: ${String(e.code ?? "")} ${String(e.message ?? error)}`;
    ctx.failures.push(line);
    ctx.log(`  ${line}`);
    return undefined;
  }
}

export interface SuiteOutput {
  readonly outcomes: WorkloadOutcome[];
  /** The first worker report, for the negotiated parameters. */
  readonly firstReport: WorkerReport | undefined;
}

export async function runSuite(ctx: SuiteContext, workloads: readonly WorkloadDef[], lunUrl: string): Promise<SuiteOutput> {
  const libRuns = new Map<string, RunFigures[]>(workloads.map((w) => [w.id, []]));
  const ourRuns = new Map<string, RunFigures[]>(workloads.map((w) => [w.id, []]));
  const qemuRate = new Map<string, number>();
  let firstReport: WorkerReport | undefined;

  for (const w of workloads.filter((w) => w.reference === "qemu-img")) {
    // A pilot too short to time (a guess far off, a busy moment) is run again, longer.
    let count = Math.max(w.queueDepth * 4, Math.round(guessIops(w.ioBytes) * 0.4));
    for (let pilotRun = 0; pilotRun < 3; pilotRun++) {
      const pilot = await attempt(ctx, `qemu-img calibration for ${w.id}`, () =>
        runQemuBench({ url: lunUrl, queueDepth: w.queueDepth, ioBytes: w.ioBytes, write: w.direction === "write", count, clockTicksPerSecond: ctx.clockTicksPerSecond }),
      );
      if (pilot === undefined) break;
      qemuRate.set(w.id, pilot.iops);
      if (pilot.seconds >= 0.25) break;
      count = Math.ceil(count * Math.min(8, 0.5 / pilot.seconds));
    }
  }

  for (let round = 1; round <= ctx.rounds; round++) {
    for (const [index, w] of workloads.entries()) {
      await beforeRun(ctx, `round ${round} ${w.id} ${w.reference}`);
      const lib = await attempt(ctx, `round ${round} ${w.id} ${w.reference}`, async () => {
        if (w.reference === "iscsi-perf") {
          return runIscsiPerf({
            url: lunUrl,
            queueDepth: w.queueDepth,
            ioBytes: w.ioBytes,
            blockSize: ctx.blockSize,
            random: w.pattern === "random",
            seconds: ctx.seconds,
            clockTicksPerSecond: ctx.clockTicksPerSecond,
            tgtdPid: ctx.tgtd.pid,
          });
        }
        const rate = qemuRate.get(w.id) ?? guessIops(w.ioBytes);
        const count = Math.max(w.queueDepth * 10, Math.round(rate * ctx.seconds));
        const run = await runQemuBench({
          url: lunUrl,
          queueDepth: w.queueDepth,
          ioBytes: w.ioBytes,
          write: w.direction === "write",
          count,
          clockTicksPerSecond: ctx.clockTicksPerSecond,
          tgtdPid: ctx.tgtd.pid,
        });
        qemuRate.set(w.id, run.iops);
        return run;
      });
      if (lib !== undefined) libRuns.get(w.id)!.push(peerFigures(lib, round, w.ioBytes, w.cpuPer));
      await beforeRun(ctx, `round ${round} ${w.id} iscsi-ts`);
      const ours = await attempt(ctx, `round ${round} ${w.id} iscsi-ts`, () =>
        runOurs({ url: lunUrl, spec: workerSpec(w, ctx, round * 100 + index), tgtdPid: ctx.tgtd.pid, ...(w.busyPollUs === undefined ? {} : { busyPollUs: w.busyPollUs }) }),
      );
      if (ours !== undefined) {
        firstReport ??= ours.report;
        ourRuns.get(w.id)!.push(ourFigures(ours, round, w.ioBytes, w.cpuPer));
      }
      const others = (c: { otherCpuPercent: number }): string => `others ${c.otherCpuPercent.toFixed(0)}%`;
      const libText = lib === undefined ? "failed" : `${describeRate(w, lib.iops, lib.bytesPerSecond)} cpu ${lib.cpuSeconds.toFixed(2)} s ${others(lib.contention)}`;
      const ourText =
        ours === undefined
          ? "failed"
          : `${describeRate(w, ours.iops, ours.bytesPerSecond)} cpu ${ours.cpuSeconds.toFixed(2)} s rss ${(ours.peakRssKiB / 1024).toFixed(0)} MiB ${others(ours.contention)}`;
      ctx.log(`[round ${round}/${ctx.rounds}] ${w.label.padEnd(26)} ${w.reference} ${libText} | iscsi-ts ${ourText}`);
    }
  }
  return { outcomes: workloads.map((w) => outcome(w, libRuns.get(w.id)!, ourRuns.get(w.id)!)), firstReport };
}

/**
 * One more run of our worker per workload under `node --cpu-prof` (not counted: profiling slows
 * it), with the profile and its summary written beside the results.
 */
export async function profileWorkloads(ctx: SuiteContext, workloads: readonly WorkloadDef[], lunUrl: string, outDir: string, stamp: string, root: string): Promise<ProfileSummary[]> {
  const summaries: ProfileSummary[] = [];
  for (const w of workloads) {
    const name = `${stamp}-${w.id}.cpuprofile`;
    const run = await attempt(ctx, `profile of ${w.id}`, () => runOurs({ url: lunUrl, spec: workerSpec(w, ctx, 7) }, { profile: { dir: outDir, name } }));
    if (run === undefined) continue;
    const summary = await attempt(ctx, `profile summary of ${w.id}`, async () =>
      summarizeProfile(JSON.parse(await readFile(join(outDir, name), "utf8")) as unknown, { workload: w.id, file: name, root }),
    );
    if (summary === undefined) continue;
    summaries.push(summary);
    await writeFile(join(outDir, `${stamp}-${w.id}.profile.txt`), formatProfile(summary));
    const topLine = summary.functions.filter((f) => !f.name.startsWith("(idle)")).slice(0, 3).map((f) => `${f.name} ${f.busyPercent.toFixed(1)}%`).join("; ");
    ctx.log(`[profile] ${w.label}: ${describeRate(w, run.iops, run.bytesPerSecond)} under the profiler; top: ${topLine}`);
  }
  return summaries;
}
