/**
 * The local baseline for the iSCSI-over-local comparison: fio reading the very file tgtd serves,
 * at the same block size and queue depth, through the page cache (direct=0), as tgtd's rdwr
 * backing store reads it. `invalidate=0` matters: fio otherwise drops the file's cached pages
 * before each job, and the local side would then be reading the disk while tgtd reads memory.
 */
import { BenchError, tail } from "./errors.js";
import { runOk } from "./process.js";

export interface FioOptions {
  readonly file: string;
  readonly ioBytes: number;
  readonly queueDepth: number;
  readonly seconds: number;
  /** Seconds run before fio starts counting. */
  readonly rampSeconds: number;
  /** O_DIRECT: false reads through the page cache. */
  readonly direct: boolean;
}

export interface FioRun {
  readonly command: string;
  readonly iops: number;
  readonly bytesPerSecond: number;
  readonly meanLatencyUs: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** fio's own CPU accounting (usr+sys percent of the job's runtime), in seconds. */
  readonly cpuSeconds: number;
}

export function fioArgs(options: FioOptions): string[] {
  return [
    "--name=local",
    `--filename=${options.file}`,
    "--rw=randread",
    `--bs=${options.ioBytes}`,
    `--iodepth=${options.queueDepth}`,
    "--ioengine=libaio",
    `--direct=${options.direct ? 1 : 0}`,
    "--invalidate=0",
    `--ramp_time=${options.rampSeconds}`,
    `--runtime=${options.seconds}`,
    "--time_based",
    "--output-format=json",
  ];
}

interface FioJson {
  readonly jobs?: ReadonlyArray<{
    readonly job_runtime?: number;
    readonly usr_cpu?: number;
    readonly sys_cpu?: number;
    readonly read?: {
      readonly iops?: number;
      readonly bw_bytes?: number;
      readonly clat_ns?: { readonly mean?: number; readonly percentile?: Readonly<Record<string, number>> };
    };
  }>;
}

/** Reads fio's JSON output (which may follow warnings on the same stream). */
export function parseFioJson(stdout: string, command = "fio"): Omit<FioRun, "command"> {
  const start = stdout.indexOf("{");
  let parsed: FioJson;
  try {
    parsed = JSON.parse(start < 0 ? stdout : stdout.slice(start)) as FioJson;
  } catch (error) {
    throw new BenchError("BENCH_ERR_PARSE", `${command}: output is not JSON: ${tail(stdout, 200)}`, { cause: error });
  }
  const job = parsed.jobs?.[0];
  const read = job?.read;
  if (job === undefined || read?.iops === undefined || read.bw_bytes === undefined) {
    throw new BenchError("BENCH_ERR_PARSE", `${command}: JSON has no jobs[0].read.iops/bw_bytes`);
  }
  const pct = read.clat_ns?.percentile ?? {};
  const runtimeS = (job.job_runtime ?? 0) / 1000;
  return {
    iops: read.iops,
    bytesPerSecond: read.bw_bytes,
    meanLatencyUs: (read.clat_ns?.mean ?? 0) / 1000,
    p50Us: (pct["50.000000"] ?? 0) / 1000,
    p99Us: (pct["99.000000"] ?? 0) / 1000,
    cpuSeconds: (((job.usr_cpu ?? 0) + (job.sys_cpu ?? 0)) / 100) * runtimeS,
  };
}

export async function runFio(options: FioOptions): Promise<FioRun> {
  const args = fioArgs(options);
  const result = await runOk("fio", args, { timeoutMs: (options.seconds + options.rampSeconds + 30) * 1000 });
  const command = `fio ${args.join(" ")}`;
  return { command, ...parseFioJson(result.stdout, command) };
}

/** Whether O_DIRECT reads of `file` work here (some file systems refuse them). */
export async function directIoWorks(file: string): Promise<boolean> {
  try {
    await runOk("fio", fioArgs({ file, ioBytes: 4096, queueDepth: 1, seconds: 1, rampSeconds: 0, direct: true }), { timeoutMs: 30_000 });
    return true;
  } catch {
    return false;
  }
}
