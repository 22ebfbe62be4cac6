/**
 * The iscsi-ts side: runs one workload in a worker process (worker.ts) and turns its report into
 * the same figures as a libiscsi run. The worker is started with the same Node and the same
 * loader flags as the suite, so the suite also runs from its TypeScript sources under tsx.
 */
import { fileURLToPath } from "node:url";
import { BenchError, tail } from "./errors.js";
import { contention, type Contention } from "./procstat.js";
import { describeExit, run } from "./process.js";
import { parseWorkerReport, type WorkerReport, type WorkerRequest } from "./worker-protocol.js";

export interface OurRun {
  readonly command: string;
  readonly ios: number;
  readonly seconds: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  readonly cpuSeconds: number;
  readonly systemCpuSeconds: number;
  readonly peakRssKiB: number;
  readonly meanLatencyUs: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly contention: Contention;
  readonly report: WorkerReport;
}

export interface ProfileRequest {
  readonly dir: string;
  readonly name: string;
}

/** worker.js beside this module (worker.ts when the suite runs from source). */
export function workerPath(): string {
  const self = fileURLToPath(import.meta.url);
  return self.replace(/ours\.(ts|js)$/, (_m, ext: string) => `worker.${ext}`);
}

export async function runOurs(request: WorkerRequest, options: { readonly profile?: ProfileRequest; readonly timeoutMs?: number } = {}): Promise<OurRun> {
  const profileArgs = options.profile === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.profile.dir}`, `--cpu-prof-name=${options.profile.name}`];
  const args = [...process.execArgv.filter((a) => !a.startsWith("--cpu-prof")), ...profileArgs, workerPath(), JSON.stringify(request)];
  const result = await run(process.execPath, args, { timeoutMs: options.timeoutMs ?? 120_000 });
  const command = `node worker ${request.spec.direction} ${request.spec.pattern} ${request.spec.ioBytes} B QD${request.spec.queueDepth}`;
  if (result.status.code !== 0 || result.timedOut) {
    const how = result.timedOut ? "timed out" : describeExit(result.status);
    throw new BenchError("BENCH_ERR_WORKER", `${command} ${how}; stderr: ${tail(result.stderr) || "(empty)"}`);
  }
  const report = parseWorkerReport(result.stdout, result.stderr);
  const r = report.result;
  if (!(r.ios > 0) || !(r.elapsedMs > 0)) throw new BenchError("BENCH_ERR_WORKER", `${command} completed no I/O in its window`);
  return {
    command,
    ios: r.ios,
    seconds: r.elapsedMs / 1000,
    iops: r.iops,
    bytesPerSecond: r.bytesPerSecond,
    cpuSeconds: report.windowCpuTicks / report.clockTicksPerSecond,
    systemCpuSeconds: report.windowSystemTicks / report.clockTicksPerSecond,
    peakRssKiB: report.memory.hwmKiB,
    meanLatencyUs: r.latency.meanUs,
    p50Us: r.latency.p50Us,
    p99Us: r.latency.p99Us,
    contention: contention(report.surroundings.start, report.surroundings.end, report.windowCpuTicks, report.clockTicksPerSecond),
    report,
  };
}
