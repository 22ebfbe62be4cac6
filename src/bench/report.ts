/**
 * The results of a suite run as written to bench/results/<timestamp>.json: every run of every
 * round (so a reader can recompute anything), the per-workload medians and ratios, the
 * iSCSI-over-local sweep, the machine, and each goal of the issue judged against the figures.
 */
import type { LatencySummary } from "../perf/histogram.js";
import type { MachineInfo } from "./machine.js";
import type { ProfileSummary } from "./profile.js";
import { type Spread, ratio, spread } from "./stats.js";
import type { ReferenceTool, WorkloadDef } from "./workloads.js";

/** One initiator's figures from one run, normalised the same way for both sides. */
export interface RunFigures {
  readonly round: number;
  readonly command: string;
  readonly ios: number;
  readonly seconds: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  readonly cpuSeconds: number;
  /** The kernel's part of cpuSeconds (syscalls, socket copies); absent in results from before it was recorded. */
  readonly systemCpuSeconds?: number;
  /** CPU seconds per 100K I/Os or per GiB, as the workload's `cpuPer` says. */
  readonly cpuPerUnit: number;
  readonly peakRssKiB: number;
  /** Measured (ours) or by Little's law, queue depth / IOPS (libiscsi's tools report none). */
  readonly meanLatencyUs: number;
  readonly latency?: LatencySummary;
  /** CPU seconds tgtd spent in the window. */
  readonly tgtdCpuSeconds?: number;
  /** Share of the machine's CPU capacity that other processes used in the window, percent. */
  readonly otherCpuPercent?: number;
  /** CPU seconds in interrupts and softirqs in the window (loopback TCP, charged to no process). */
  readonly irqCpuSeconds?: number;
  /** Bytes of I/O buffers our worker held (ours only). */
  readonly bufferBytes?: number;
}

export interface SideSummary {
  readonly iops: Spread;
  readonly bytesPerSecond: Spread;
  readonly cpuPerUnit: Spread;
  readonly meanLatencyUs: Spread;
  readonly peakRssKiB: Spread;
  readonly p50Us?: Spread;
  readonly p99Us?: Spread;
  readonly otherCpuPercent: Spread;
}

export interface WorkloadOutcome {
  readonly workload: WorkloadDef;
  readonly tool: ReferenceTool;
  readonly libiscsi: { readonly runs: readonly RunFigures[]; readonly summary: SideSummary };
  readonly ours: { readonly runs: readonly RunFigures[]; readonly summary: SideSummary };
  /** ours / libiscsi, medians of the workload's figure (IOPS and throughput give the same ratio). */
  readonly ratio: number;
  /** ours / libiscsi, CPU per unit of work (below 1 is better for us). */
  readonly cpuRatio: number;
  /** ours / libiscsi, mean latency. */
  readonly latencyRatio: number;
}

export interface LocalPoint {
  readonly ioBytes: number;
  readonly local: { readonly runs: readonly { readonly round: number; readonly iops: number; readonly command: string }[]; readonly iops: Spread };
  readonly libiscsi: { readonly runs: readonly RunFigures[]; readonly iops: Spread };
  readonly ours: { readonly runs: readonly RunFigures[]; readonly iops: Spread };
  /** iSCSI IOPS over local IOPS, medians. */
  readonly oursOverLocal: number;
  readonly libiscsiOverLocal: number;
}

export interface LocalComparison {
  readonly file: string;
  readonly fileBytes: number;
  readonly queueDepth: number;
  readonly direct: boolean;
  /** Whether O_DIRECT reads of the file worked here (the comparison uses buffered reads either way). */
  readonly directIoPossible: boolean;
  readonly points: readonly LocalPoint[];
}

export interface GoalOutcome {
  readonly goal: string;
  readonly workload: string;
  readonly measured: number;
  readonly limit: number;
  readonly comparison: ">=" | "<=" | "<";
  readonly met: boolean;
  readonly detail: string;
}

export type NbdServerName = "qemu-nbd" | "iscsi-ts";

/** One NBD workload through both NBD servers (src/bench/nbd.ts), with its direct runs beside. */
export interface NbdOutcome {
  readonly workload: WorkloadDef;
  readonly qemuNbd: { readonly runs: readonly RunFigures[]; readonly summary: SideSummary };
  readonly bridge: { readonly runs: readonly RunFigures[]; readonly summary: SideSummary };
  /** bridge / qemu-nbd, medians of IOPS. */
  readonly ratio: number;
  /** bridge / qemu-nbd, CPU per unit of work of the server process. */
  readonly cpuRatio: number;
  /** The same invocation's direct runs of this workload (libiscsi's tool and our worker), if any. */
  readonly direct: WorkloadOutcome | undefined;
}

export interface NbdComparison {
  readonly servers: { readonly qemuNbd: string; readonly bridge: string };
  /** fio's size= (the span of offsets): both servers see the same I/O pattern. */
  readonly fioSizeBytes: number;
  readonly outcomes: readonly NbdOutcome[];
}

export interface BenchSettings {
  readonly rounds: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly quick: boolean;
  readonly profile: boolean;
  readonly workloads: readonly string[];
  readonly localSizes: readonly number[];
  readonly localQueueDepth: number;
  /** The NBD part ran (absent in older results). */
  readonly nbd?: boolean;
  readonly quietPercent: number;
  readonly quietWaitSeconds: number;
}

export interface BenchResults {
  readonly schema: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineInfo;
  /** The commit measured (dirty: src/ had uncommitted changes); absent in older results. */
  readonly source?: { readonly commit: string; readonly dirty: boolean } | undefined;
  /** Load averages when the run ended (machine.loadAverage has them at its start). */
  readonly loadAverageAtEnd: readonly number[];
  readonly settings: BenchSettings;
  readonly target: { readonly tgtdParams: Readonly<Record<string, string>>; readonly negotiated: Readonly<Record<string, number | string | boolean>> };
  readonly workloads: readonly WorkloadOutcome[];
  readonly local: LocalComparison | undefined;
  /** The NBD hop: qemu-nbd and iscsi nbd through fio's nbd engine; absent when not run and in older results. */
  readonly nbd?: NbdComparison | undefined;
  readonly goals: readonly GoalOutcome[];
  readonly profiles: readonly ProfileSummary[];
  /** Runs that failed (the suite went on without them). */
  readonly failures: readonly string[];
  /** Runs that had to start while other work kept the machine busy. */
  readonly noisyRuns: readonly string[];
}

const GiB = 1024 ** 3;

export function cpuPerUnit(cpuSeconds: number, ios: number, ioBytes: number, per: WorkloadDef["cpuPer"]): number {
  if (!(ios > 0)) return Number.NaN;
  return per === "gib" ? cpuSeconds / ((ios * ioBytes) / GiB) : (cpuSeconds / ios) * 100_000;
}

export function summarize(runs: readonly RunFigures[]): SideSummary {
  const of = (pick: (r: RunFigures) => number): Spread => spread(runs.map(pick));
  const withLatency = runs.filter((r) => r.latency !== undefined);
  return {
    iops: of((r) => r.iops),
    bytesPerSecond: of((r) => r.bytesPerSecond),
    cpuPerUnit: of((r) => r.cpuPerUnit),
    meanLatencyUs: of((r) => r.meanLatencyUs),
    peakRssKiB: of((r) => r.peakRssKiB),
    otherCpuPercent: spread(runs.flatMap((r) => (r.otherCpuPercent === undefined ? [] : [r.otherCpuPercent]))),
    ...(withLatency.length === 0
      ? {}
      : { p50Us: spread(withLatency.map((r) => r.latency!.p50Us)), p99Us: spread(withLatency.map((r) => r.latency!.p99Us)) }),
  };
}

export function outcome(workload: WorkloadDef, libRuns: readonly RunFigures[], ourRuns: readonly RunFigures[]): WorkloadOutcome {
  const lib = summarize(libRuns);
  const ours = summarize(ourRuns);
  return {
    workload,
    tool: workload.reference,
    libiscsi: { runs: libRuns, summary: lib },
    ours: { runs: ourRuns, summary: ours },
    ratio: ratio(ours.iops.median, lib.iops.median),
    cpuRatio: ratio(ours.cpuPerUnit.median, lib.cpuPerUnit.median),
    latencyRatio: ratio(ours.meanLatencyUs.median, lib.meanLatencyUs.median),
  };
}

/** The goals, each judged on the figures of this run (a goal whose workload did not run is left out). */
export function judgeGoals(outcomes: readonly WorkloadOutcome[]): GoalOutcome[] {
  const byId = new Map(outcomes.map((o) => [o.workload.id, o]));
  const goals: GoalOutcome[] = [];
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
  const ratioGoal = (id: string, goal: string, what: string): void => {
    const o = byId.get(id);
    if (o === undefined) return;
    goals.push({
      goal,
      workload: id,
      measured: o.ratio,
      limit: 1,
      comparison: ">=",
      met: o.ratio >= 1,
      detail: `${fmt(o.ratio)}x ${o.tool}'s ${what}`,
    });
  };
  ratioGoal("randread-4k-qd32", "4 KiB random read QD32: >= 1.0x libiscsi IOPS", "IOPS");
  ratioGoal("seqread-1m-qd16", "1 MiB sequential read QD16: >= 1.0x libiscsi throughput", "throughput");
  ratioGoal("randwrite-4k-qd32", "4 KiB random write QD32: >= 1.0x qemu-img bench", "IOPS");
  ratioGoal("seqwrite-1m-qd16", "1 MiB sequential write QD16: >= 1.0x qemu-img bench", "throughput");
  // Issue 11's per-I/O goals: QD1 latency at most libiscsi's; CPU per I/O at most 1.0x at 4 KiB
  // QD32, at most 1.2x at QD1, and at most 1.0x for 1 MiB reads.
  const latencyGoal = (id: string, goal: string): void => {
    const o = byId.get(id);
    if (o === undefined) return;
    const poll = o.workload.busyPollUs === undefined ? "" : `; busyPollUs ${o.workload.busyPollUs}`;
    goals.push({
      goal,
      workload: id,
      measured: o.latencyRatio,
      limit: 1.0,
      comparison: "<=",
      met: o.latencyRatio <= 1.0,
      detail: `mean ${o.ours.summary.meanLatencyUs.median.toFixed(1)} us vs ${o.libiscsi.summary.meanLatencyUs.median.toFixed(1)} us (iscsi-perf, 1/IOPS): ${fmt(o.latencyRatio)}x${poll}`,
    });
  };
  latencyGoal("randread-4k-qd1", "QD1 latency <= 1.0x libiscsi's");
  // The same QD1 goals with busy polling on (opt-in): what the option buys, beside the default.
  latencyGoal("randread-4k-qd1-poll", "QD1 latency <= 1.0x libiscsi's, with busy polling (opt-in)");
  const cpuGoal = (id: string, limit: number, goal: string): void => {
    const o = byId.get(id);
    if (o === undefined || !Number.isFinite(o.cpuRatio)) return;
    goals.push({
      goal,
      workload: id,
      measured: o.cpuRatio,
      limit,
      comparison: "<=",
      met: o.cpuRatio <= limit,
      detail: `${fmt(o.cpuRatio)}x ${o.tool}'s CPU per I/O`,
    });
  };
  cpuGoal("randread-4k-qd32", 1.0, "CPU per I/O at 4 KiB random read QD32 <= 1.0x libiscsi's");
  cpuGoal("randread-4k-qd1", 1.2, "CPU per I/O at 4 KiB random read QD1 <= 1.2x libiscsi's");
  cpuGoal("randread-4k-qd1-poll", 1.2, "CPU per I/O at 4 KiB random read QD1 <= 1.2x libiscsi's, with busy polling (opt-in)");
  cpuGoal("seqread-1m-qd16", 1.0, "CPU per I/O at 1 MiB sequential read QD16 <= 1.0x libiscsi's");
  const mem = byId.get("seqread-1m-qd128");
  if (mem !== undefined) {
    const peakMiB = mem.ours.summary.peakRssKiB.max / 1024;
    const bufferMiB = Math.max(0, ...mem.ours.runs.map((r) => r.bufferBytes ?? 0)) / (1024 * 1024);
    goals.push({
      goal: "peak RSS < 150 MiB at QD128 with 1 MiB I/Os",
      workload: mem.workload.id,
      measured: peakMiB,
      limit: 150,
      comparison: "<",
      met: peakMiB < 150,
      detail: `highest VmHWM over the rounds ${peakMiB.toFixed(0)} MiB, of which ${bufferMiB.toFixed(0)} MiB is the worker's read buffer (libiscsi's iscsi-perf: ${(mem.libiscsi.summary.peakRssKiB.max / 1024).toFixed(0)} MiB)`,
    });
  }
  return goals;
}

