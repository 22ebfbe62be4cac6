/**
 * The workload engine behind `iscsi perf`, usable on its own (the benchmark suite runs it side by
 * side with libiscsi's iscsi-perf): `runWorkload(lun, spec)` keeps `queueDepth` commands of
 * `blockSize` bytes in flight against a range of the LUN for `durationMs`, and returns IOPS,
 * throughput, latency percentiles from a fixed-size histogram (memory does not grow with the
 * number of commands) and the CPU time the process used.
 *
 * Each of the `queueDepth` workers owns one buffer and issues its next command as soon as the
 * previous one completes, as fio's and iscsi-perf's loops do. Random offsets come from a seeded
 * xorshift generator, so a run's sequence of offsets is reproducible.
 */
import { CliError } from "../errors.js";
import { LatencyHistogram } from "./histogram.js";

export type Workload = "randread" | "randwrite" | "read" | "write";
export const WORKLOADS: readonly Workload[] = ["randread", "randwrite", "read", "write"];

export interface WorkloadSpec {
  readonly rw: Workload;
  /** Bytes per command; a multiple of the LUN's block size. */
  readonly blockSize: number;
  readonly queueDepth: number;
  readonly durationMs: number;
  /** The region used: `size` bytes from byte `offset` (default: the whole LUN). */
  readonly offset?: number;
  readonly size?: number;
  /** Seed of the offset generator (default 1). */
  readonly seed?: number;
  /** Stop after this many commands even if time remains (tests, smoke runs). */
  readonly maxCommands?: number;
}

/** What the engine needs of a LUN: the library's Lun has it. */
export interface WorkloadTarget {
  readCapacity(): Promise<{ readonly blocks: number | bigint; readonly blockSize: number }>;
  read(lba: number, blocks: number, options: { readonly into: Uint8Array }): Promise<Uint8Array>;
  write(lba: number, data: Uint8Array): Promise<void>;
}

export interface WorkloadEnvironment {
  /** Milliseconds from a monotonic clock (default performance.now). */
  readonly now?: () => number;
  /** Process CPU time in microseconds (default process.cpuUsage). */
  readonly cpuUsage?: () => { readonly user: number; readonly system: number };
  /** Stops issuing commands; the result covers what completed (`interrupted` is set). */
  readonly signal?: AbortSignal;
  /** Called about once a second with the figures so far (for a live display). */
  readonly onTick?: (soFar: { readonly commands: number; readonly bytes: number; readonly elapsedMs: number }) => void;
}

export interface LatencySummary {
  readonly min: number;
  readonly mean: number;
  readonly stddev: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export interface WorkloadResult {
  readonly rw: Workload;
  readonly blockSize: number;
  readonly queueDepth: number;
  /** The region: first byte and length. */
  readonly offset: number;
  readonly size: number;
  readonly commands: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  /** Command latency in microseconds, from issue to completion. */
  readonly latencyUs: LatencySummary;
  /** CPU used by this process during the run; percent is of one core (200 = two cores busy). */
  readonly cpu: { readonly userSeconds: number; readonly systemSeconds: number; readonly percentOfOneCore: number };
  readonly interrupted: boolean;
}

export function isWriteWorkload(rw: Workload): boolean {
  return rw === "write" || rw === "randwrite";
}

/** xorshift32: fast, seedable, good enough to spread offsets; never 0 once seeded non-zero. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function check(spec: WorkloadSpec, lunBlockSize: number, lunBytes: number): { offset: number; size: number } {
  const usage = (message: string): CliError => new CliError("ISCSI_CLI_USAGE", message);
  if (!WORKLOADS.includes(spec.rw)) throw usage(`unknown workload "${String(spec.rw)}" (one of ${WORKLOADS.join(", ")})`);
  if (!Number.isSafeInteger(spec.blockSize) || spec.blockSize < lunBlockSize || spec.blockSize % lunBlockSize !== 0) {
    throw usage(`block size ${spec.blockSize} is not a multiple of the LUN's ${lunBlockSize}-byte blocks`);
  }
  if (!Number.isSafeInteger(spec.queueDepth) || spec.queueDepth < 1) throw usage(`queue depth ${spec.queueDepth} must be at least 1`);
  if (!(spec.durationMs > 0)) throw usage(`duration ${spec.durationMs} ms must be positive`);
  const offset = spec.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % lunBlockSize !== 0) throw usage(`offset ${offset} is not a multiple of the LUN's ${lunBlockSize}-byte blocks`);
  const size = spec.size ?? lunBytes - offset;
  if (offset + size > lunBytes) throw new CliError("ISCSI_CLI_OUT_OF_RANGE", `the region of ${size} bytes at offset ${offset} reaches past the end of the LUN (${lunBytes} bytes)`);
  if (size < spec.blockSize) throw usage(`the region (${size} bytes) is smaller than one ${spec.blockSize}-byte command`);
  return { offset, size };
}

export async function runWorkload(lun: WorkloadTarget, spec: WorkloadSpec, env: WorkloadEnvironment = {}): Promise<WorkloadResult> {
  const now = env.now ?? (() => performance.now());
  const cpuUsage = env.cpuUsage ?? (() => process.cpuUsage());
  const capacity = await lun.readCapacity();
  const lunBytes = Number(capacity.blocks) * capacity.blockSize;
  const { offset, size } = check(spec, capacity.blockSize, lunBytes);
  const blocksPerCommand = spec.blockSize / capacity.blockSize;
  const firstLba = offset / capacity.blockSize;
  const slots = Math.floor(size / spec.blockSize);
  const random = spec.rw === "randread" || spec.rw === "randwrite";
  const writing = isWriteWorkload(spec.rw);
  const nextRandom = xorshift(spec.seed ?? 1);
  let sequentialSlot = 0;
  const nextLba = (): number => {
    // Random slots: a 32-bit draw scaled, so every slot of up to 2^32 is reachable.
    const slot = random ? Math.floor((nextRandom() / 0x1_0000_0000) * slots) : sequentialSlot++ % slots;
    return firstLba + slot * blocksPerCommand;
  };

  const histogram = new LatencyHistogram();
  let commands = 0;
  let issued = 0;
  let failure: unknown;
  const maxCommands = spec.maxCommands ?? Number.POSITIVE_INFINITY;
  const cpuStart = cpuUsage();
  const started = now();
  const deadline = started + spec.durationMs;
  let lastTick = started;

  const worker = async (index: number): Promise<void> => {
    const buffer = new Uint8Array(spec.blockSize);
    if (writing) {
      // Data that is neither zeros nor the same in every block, so a target cannot shortcut it.
      const fill = xorshift((spec.seed ?? 1) + index * 7919);
      const view = new DataView(buffer.buffer);
      for (let i = 0; i + 4 <= buffer.length; i += 4) view.setUint32(i, fill());
    }
    for (;;) {
      if (failure !== undefined || env.signal?.aborted || issued >= maxCommands) return;
      const t0 = now();
      if (t0 >= deadline) return;
      issued++;
      const lba = nextLba();
      if (writing) await lun.write(lba, buffer);
      else await lun.read(lba, blocksPerCommand, { into: buffer });
      const t1 = now();
      histogram.record((t1 - t0) * 1e6);
      commands++;
      if (env.onTick !== undefined && t1 - lastTick >= 1000) {
        lastTick = t1;
        env.onTick({ commands, bytes: commands * spec.blockSize, elapsedMs: t1 - started });
      }
    }
  };

  await Promise.all(
    Array.from({ length: spec.queueDepth }, (_, i) =>
      worker(i).catch((error: unknown) => {
        failure ??= error;
      }),
    ),
  );
  const elapsedMs = now() - started;
  const cpuEnd = cpuUsage();
  if (failure !== undefined) throw failure;

  const seconds = elapsedMs / 1000;
  const bytes = commands * spec.blockSize;
  const us = (ns: number): number => Math.round(ns / 10) / 100;
  const userSeconds = (cpuEnd.user - cpuStart.user) / 1e6;
  const systemSeconds = (cpuEnd.system - cpuStart.system) / 1e6;
  return {
    rw: spec.rw,
    blockSize: spec.blockSize,
    queueDepth: spec.queueDepth,
    offset,
    size,
    commands,
    bytes,
    elapsedMs,
    iops: seconds > 0 ? commands / seconds : 0,
    bytesPerSecond: seconds > 0 ? bytes / seconds : 0,
    latencyUs: {
      min: us(histogram.min),
      mean: us(histogram.mean),
      stddev: us(histogram.stddev),
      p50: us(histogram.percentile(50)),
      p90: us(histogram.percentile(90)),
      p99: us(histogram.percentile(99)),
      p999: us(histogram.percentile(99.9)),
      max: us(histogram.max),
    },
    cpu: {
      userSeconds,
      systemSeconds,
      percentOfOneCore: seconds > 0 ? ((userSeconds + systemSeconds) / seconds) * 100 : 0,
    },
    interrupted: env.signal?.aborted === true,
  };
}
