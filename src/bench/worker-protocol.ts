/**
 * What the suite and its iscsi-ts worker process say to each other: the request goes in as one
 * JSON argument, the report comes back as one JSON line on stdout. The worker is a process of
 * its own so that /proc measures its CPU time and memory exactly as it does libiscsi's tools.
 */
import { BenchError, tail } from "./errors.js";
import type { ProcMemory, Surroundings } from "./procstat.js";
import type { WorkloadResult, WorkloadSpec } from "../perf/engine.js";
import type { LatencySummary } from "../perf/histogram.js";

/**
 * The engine's result as the report carries it, field for field what the suite's results have
 * always held: the worker is never interrupted and measures its CPU from /proc.
 */
export type WorkerResult = Omit<WorkloadResult, "latency" | "interrupted" | "cpu"> & { readonly latency: LatencySummary };

export interface WorkerRequest {
  /** iscsi://host:port/iqn/lun */
  readonly url: string;
  readonly spec: WorkloadSpec;
  /** tgtd's pid, sampled with the machine at the window's edges to tell who else used the CPUs. */
  readonly tgtdPid?: number;
  /** Busy polling, in microseconds (SessionOptions.busyPollUs); absent: off, the library's default. */
  readonly busyPollUs?: number;
}

export interface WorkerReport {
  readonly blockSize: number;
  readonly blocks: number;
  readonly result: WorkerResult;
  /** utime+stime over the measured window, from /proc/self/stat at the window's edges. */
  readonly windowCpuTicks: number;
  /** The system (kernel) part of windowCpuTicks. */
  readonly windowSystemTicks: number;
  readonly clockTicksPerSecond: number;
  /** utime+stime from process start to the end of the window (start-up, login, warm-up included). */
  readonly totalCpuTicks: number;
  /** VmHWM and VmRSS at the end of the window. */
  readonly memory: ProcMemory;
  /** Bytes of I/O buffers the workload held (queue depth x I/O size). */
  readonly bufferBytes: number;
  /** The machine and tgtd at the window's start and end. */
  readonly surroundings: { readonly start: Surroundings; readonly end: Surroundings };
  /** What the session negotiated, for the record. */
  readonly negotiated: Readonly<Record<string, number | string | boolean>>;
}

/** Prefix of the report line, so stray output (a warning from Node) cannot be mistaken for it. */
export const REPORT_PREFIX = "BENCH-REPORT ";

export function parseWorkerReport(stdout: string, stderr: string): WorkerReport {
  const line = stdout.split("\n").find((l) => l.startsWith(REPORT_PREFIX));
  if (line === undefined) {
    throw new BenchError("BENCH_ERR_WORKER", `the iscsi-ts worker printed no report; stderr: ${tail(stderr) || "(empty)"}; stdout: ${tail(stdout) || "(empty)"}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(line.slice(REPORT_PREFIX.length));
  } catch (error) {
    throw new BenchError("BENCH_ERR_PARSE", `the iscsi-ts worker's report is not JSON: ${tail(line, 200)}`, { cause: error });
  }
  const report = value as Partial<WorkerReport> | null;
  if (
    report === null ||
    typeof report !== "object" ||
    typeof report.result?.ios !== "number" ||
    typeof report.windowCpuTicks !== "number" ||
    typeof report.memory?.hwmKiB !== "number"
  ) {
    throw new BenchError("BENCH_ERR_PARSE", `the iscsi-ts worker's report lacks result, windowCpuTicks or memory: ${tail(line, 200)}`);
  }
  return report as WorkerReport;
}
