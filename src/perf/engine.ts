/**
 * The closed-loop block workload engine behind `iscsi perf`, `iscsi demo` and the benchmark
 * suite's worker: `queueDepth` loops each issue one read or write at a time against a block
 * target and record each latency in a bounded histogram (./histogram.ts), so memory does not
 * grow with the number of I/Os. Addresses are random (uniform over I/O-sized slots of the
 * region, from a seeded generator, so a run's addresses are reproducible) or sequential (one
 * shared cursor that wraps at the region's end, as fio's iodepth does).
 *
 * The engine knows nothing of iSCSI: the target, the clock and the CPU counter are passed in, so
 * tests drive a simulated target with a simulated clock.
 *
 * The measured window opens at the start, or after a warm-up at the first completion past it
 * (Node compiles the hot path during the first few thousand I/Os), and closes at the first
 * completion past its length or its count; I/Os completing outside it are not counted.
 * `onWindowStart`/`onWindowEnd` fire synchronously at those two completions, so a caller can
 * sample /proc at exactly the window's edges; CPU time from `cpuUsage` is taken there too.
 * An abort signal stops the loops: the window then closes once the I/Os in flight are done.
 * The first I/O error (or a hook's) stops every loop and the run rejects with it, once the
 * I/Os in flight have settled.
 */
import { ConfigError } from "../core/errors.js";
import { LatencyHistogram, type LatencyStats } from "./histogram.js";

export type AccessPattern = "random" | "sequential";
export type Direction = "read" | "write";
const PATTERNS: readonly AccessPattern[] = ["random", "sequential"];
const DIRECTIONS: readonly Direction[] = ["read", "write"];

/** When the measured window closes. */
export type StopCondition =
  | { readonly kind: "duration"; readonly ms: number }
  | { readonly kind: "count"; readonly ios: number };

export interface WorkloadSpec {
  readonly pattern: AccessPattern;
  readonly direction: Direction;
  /** Bytes per I/O: a whole number of the target's blocks. */
  readonly ioBytes: number;
  readonly queueDepth: number;
  /** Run this long before the measured window opens (default 0: it opens at the start). */
  readonly warmupMs?: number;
  readonly stop: StopCondition;
  /** Seed of the address generator and of the written data (default 1). */
  readonly seed?: number;
  /** First block of the region used (default 0). */
  readonly startLba?: number;
  /** Blocks of the region used (default: the rest of the target from startLba). */
  readonly regionBlocks?: number;
  /**
   * Reads land in one buffer shared by every loop, a sink as libiscsi's iscsi-perf has (it keeps
   * no data); otherwise each loop reads into its own buffer, as an application would. Writes
   * always have a buffer per loop.
   */
  readonly sharedReadBuffer?: boolean;
}

/** What the engine drives: a LUN (see blockTargetOf), or a fake in tests. */
export interface BlockTarget {
  readonly blockSize: number;
  /** Number of blocks. */
  readonly blocks: number;
  read(lba: number, blocks: number, options: { readonly into: Uint8Array }): Promise<unknown>;
  write(lba: number, data: Uint8Array): Promise<unknown>;
}

/** What blockTargetOf needs of a LUN: the library's Lun has it. */
export interface LunLike {
  readCapacity(): Promise<{ readonly blocks: number | bigint; readonly blockSize: number }>;
  read(lba: number, blocks: number, options: { readonly into: Uint8Array }): Promise<unknown>;
  write(lba: number, data: Uint8Array): Promise<unknown>;
}

/** Process CPU time in microseconds, as process.cpuUsage() gives it. */
export interface CpuTimes {
  readonly user: number;
  readonly system: number;
}

export interface WorkloadHooks {
  /** Milliseconds from a monotonic clock (default performance.now). */
  readonly now?: () => number;
  /** Sampled at the window's edges; the result has `cpu` only when this is given. */
  readonly cpuUsage?: () => CpuTimes;
  /** Stops issuing I/Os; the result covers what completed, with `interrupted` set. */
  readonly signal?: AbortSignal;
  readonly onWindowStart?: () => void;
  readonly onWindowEnd?: () => void;
}

export interface CpuSummary {
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** Of one core: 200 means two cores busy for the whole window. */
  readonly percentOfOneCore: number;
}

export interface WorkloadResult {
  /** I/Os completed inside the measured window. */
  readonly ios: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  /** Latency, issue to completion, of the I/Os completed inside the window. */
  readonly latency: LatencyStats;
  /** I/Os completed before the window opened. */
  readonly warmupIos: number;
  /** The signal stopped the run before its window would have closed. */
  readonly interrupted: boolean;
  /** CPU this process used inside the window (when the hooks have cpuUsage). */
  readonly cpu?: CpuSummary;
}

/**
 * A small seeded generator (SplitMix32-style mixing): reproducible addresses and data without
 * Math.random, and cheap enough for millions of draws a second.
 */
export class AddressGenerator {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** A uniform integer in [0, n) for n up to 2^53: 53 random bits scaled, so every slot is reachable. */
  below(n: number): number {
    const high = this.next32() >>> 5; // 27 bits
    const low = this.next32() >>> 6; // 26 bits
    return Math.floor(((high * 67108864 + low) / 9007199254740992) * n);
  }
}

/** A LUN as the engine's target: its capacity read once, its read and write called directly. */
export async function blockTargetOf(lun: LunLike): Promise<BlockTarget> {
  const capacity = await lun.readCapacity();
  return {
    blockSize: capacity.blockSize,
    blocks: Number(capacity.blocks),
    read: (lba, blocks, options) => lun.read(lba, blocks, options),
    write: (lba, data) => lun.write(lba, data),
  };
}

export function validateSpec(spec: WorkloadSpec, target: Pick<BlockTarget, "blockSize" | "blocks">): { ioBlocks: number; start: number; region: number } {
  if (!PATTERNS.includes(spec.pattern)) throw new ConfigError(`access pattern ${JSON.stringify(spec.pattern)} is not one of ${PATTERNS.join(", ")}`);
  if (!DIRECTIONS.includes(spec.direction)) throw new ConfigError(`direction ${JSON.stringify(spec.direction)} is not one of ${DIRECTIONS.join(", ")}`);
  if (!Number.isSafeInteger(target.blockSize) || target.blockSize <= 0) throw new ConfigError(`the target's block size ${target.blockSize} is not a positive integer`);
  if (!Number.isSafeInteger(spec.ioBytes) || spec.ioBytes <= 0 || spec.ioBytes % target.blockSize !== 0) {
    throw new ConfigError(`I/O size ${spec.ioBytes} is not a whole number of ${target.blockSize}-byte blocks`);
  }
  if (!Number.isInteger(spec.queueDepth) || spec.queueDepth < 1 || spec.queueDepth > 65536) {
    throw new ConfigError(`queue depth ${spec.queueDepth} is not an integer from 1 to 65536`);
  }
  const warmupMs = spec.warmupMs ?? 0;
  if (!(warmupMs >= 0) || !Number.isFinite(warmupMs)) throw new ConfigError(`warm-up ${warmupMs} ms is not a finite duration of 0 or more`);
  const stop = spec.stop as StopCondition | undefined;
  const stopOk =
    stop?.kind === "duration" ? stop.ms > 0 && Number.isFinite(stop.ms) : stop?.kind === "count" ? Number.isSafeInteger(stop.ios) && stop.ios > 0 : false;
  if (!stopOk) throw new ConfigError(`the stop condition ${JSON.stringify(spec.stop)} is not a positive duration or count`);
  const ioBlocks = spec.ioBytes / target.blockSize;
  const start = spec.startLba ?? 0;
  const region = spec.regionBlocks ?? target.blocks - start;
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(region) || start + region > target.blocks) {
    throw new ConfigError(`region of ${region} blocks at LBA ${start} does not fit a target of ${target.blocks} blocks`);
  }
  if (region < ioBlocks) throw new ConfigError(`region of ${region} blocks is smaller than one ${spec.ioBytes}-byte I/O`);
  return { ioBlocks, start, region };
}

/**
 * Data that is neither zeros nor the same in every block or every loop, so a target cannot
 * shortcut it (zero detection, deduplication).
 */
function writeBuffer(bytes: number, seed: number, slot: number): Uint8Array {
  const buffer = new Uint8Array(bytes);
  const fill = new AddressGenerator(Math.imul(seed, 0x9e3779b1) ^ Math.imul(slot + 1, 0x85ebca6b));
  const view = new DataView(buffer.buffer);
  let i = 0;
  for (; i + 4 <= bytes; i += 4) view.setUint32(i, fill.next32());
  for (; i < bytes; i++) buffer[i] = fill.next32() & 0xff;
  return buffer;
}

function cpuBetween(start: CpuTimes, end: CpuTimes, elapsedMs: number): CpuSummary {
  const userSeconds = (end.user - start.user) / 1e6;
  const systemSeconds = (end.system - start.system) / 1e6;
  return { userSeconds, systemSeconds, percentOfOneCore: elapsedMs > 0 ? ((userSeconds + systemSeconds) / (elapsedMs / 1000)) * 100 : 0 };
}

/** Runs the workload to the end of its measured window; rejects with the first I/O error. */
export async function runWorkload(target: BlockTarget, spec: WorkloadSpec, hooks: WorkloadHooks = {}): Promise<WorkloadResult> {
  const { ioBlocks, start, region } = validateSpec(spec, target);
  const now = hooks.now ?? (() => performance.now());
  const { signal, cpuUsage } = hooks;
  const seed = spec.seed ?? 1;
  const slots = Math.floor(region / ioBlocks);
  const random = new AddressGenerator(seed);
  const histogram = new LatencyHistogram();
  const write = spec.direction === "write";
  const stop = spec.stop;

  let cursor = 0;
  const nextLba =
    spec.pattern === "random"
      ? () => start + random.below(slots) * ioBlocks
      : () => {
          const lba = start + cursor * ioBlocks;
          cursor = cursor + 1 >= slots ? 0 : cursor + 1;
          return lba;
        };

  let windowOpen = false;
  let windowStart = Number.NaN;
  let windowEnd = Number.NaN;
  let closed = false;
  let cpuStart: CpuTimes | undefined;
  let cpuEnd: CpuTimes | undefined;
  let warmupIos = 0;
  let ios = 0;
  let failure: { readonly error: unknown } | undefined;

  const openWindow = (at: number): void => {
    windowOpen = true;
    windowStart = at;
    cpuStart = cpuUsage?.();
    hooks.onWindowStart?.();
  };
  const closeWindow = (at: number): void => {
    closed = true;
    windowEnd = at;
    cpuEnd = cpuUsage?.();
    hooks.onWindowEnd?.();
  };

  const began = now();
  const warmupEnd = began + (spec.warmupMs ?? 0);
  if (began >= warmupEnd) openWindow(began);

  const complete = (issuedAt: number): void => {
    if (closed) return;
    const at = now();
    if (!windowOpen) {
      // The completion that ends the warm-up opens the window; its own latency straddles the edge.
      warmupIos += 1;
      if (at >= warmupEnd) openWindow(at);
      return;
    }
    ios += 1;
    histogram.recordMs(at - issuedAt);
    if (stop.kind === "duration" ? at - windowStart >= stop.ms : ios >= stop.ios) closeWindow(at);
  };

  const shared = !write && spec.sharedReadBuffer === true ? new Uint8Array(spec.ioBytes) : undefined;
  const loop = async (slot: number): Promise<void> => {
    const buffer = write ? writeBuffer(spec.ioBytes, seed, slot) : (shared ?? new Uint8Array(spec.ioBytes));
    // One options object per loop: nothing is allocated per I/O on the engine's side.
    const readOptions = { into: buffer };
    while (!closed && failure === undefined && signal?.aborted !== true) {
      const lba = nextLba();
      const issuedAt = now();
      try {
        await (write ? target.write(lba, buffer) : target.read(lba, ioBlocks, readOptions));
        complete(issuedAt);
      } catch (error) {
        // A hook's error lands here too: every loop stops, none is left issuing I/Os.
        failure ??= { error };
        return;
      }
    }
  };

  await Promise.all(Array.from({ length: spec.queueDepth }, (_, slot) => loop(slot)));
  if (failure !== undefined) throw failure.error;
  const interrupted = !closed;
  if (!closed) {
    // Stopped by the signal: the window ends now that the I/Os in flight are done.
    const at = now();
    if (!windowOpen) openWindow(at);
    closeWindow(at);
  }
  const elapsedMs = windowEnd - windowStart;
  const seconds = elapsedMs / 1000;
  const bytes = ios * spec.ioBytes;
  return {
    ios,
    bytes,
    elapsedMs,
    iops: seconds > 0 ? ios / seconds : 0,
    bytesPerSecond: seconds > 0 ? bytes / seconds : 0,
    latency: histogram.summary(),
    warmupIos,
    interrupted,
    ...(cpuStart !== undefined && cpuEnd !== undefined ? { cpu: cpuBetween(cpuStart, cpuEnd, elapsedMs) } : {}),
  };
}
