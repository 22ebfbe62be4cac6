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
 *
 * A mixed workload draws each I/O's direction from a generator of its own (so the addresses of a
 * seed stay what they were), a read with probability readPercent, as fio's rwmixread does; reads
 * and writes are counted and timed apart. With `intervalMs` the window is also cut into
 * intervals (./intervals.ts), each reported as it ends: at the completion that passes its end,
 * or, when nothing completes (a stalled target), by a timer, so a stall shows on time.
 */
import { ConfigError } from "../core/errors.js";
import { LatencyHistogram, type LatencyStats, type Log2Bucket } from "./histogram.js";
import { IntervalMeter, type IntervalReport } from "./intervals.js";

export type AccessPattern = "random" | "sequential";
export type Direction = "read" | "write";
/** A direction, or both drawn at random for each I/O. */
export type WorkloadDirection = Direction | "mixed";
const PATTERNS: readonly AccessPattern[] = ["random", "sequential"];
const DIRECTIONS: readonly WorkloadDirection[] = ["read", "write", "mixed"];

/** When the measured window closes. */
export type StopCondition =
  | { readonly kind: "duration"; readonly ms: number }
  | { readonly kind: "count"; readonly ios: number };

export interface WorkloadSpec {
  readonly pattern: AccessPattern;
  readonly direction: WorkloadDirection;
  /** For a mixed workload: the share of I/Os that are reads, 0 to 100 (default 50, as fio's). */
  readonly readPercent?: number;
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
  /** Cut the window into intervals this long, each given to onInterval as it ends. */
  readonly intervalMs?: number;
  readonly onInterval?: (report: IntervalReport) => void;
  /**
   * Calls `fire` after `delayMs` and returns a cancel (default setTimeout): wakes the engine at an
   * interval's end when no completion does.
   */
  readonly wake?: (delayMs: number, fire: () => void) => () => void;
}

/** One direction's share of a run. */
export interface DirectionResult {
  readonly ios: number;
  readonly bytes: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  readonly latency: LatencyStats;
  readonly latencyBuckets: readonly Log2Bucket[];
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

/** The result with reads and writes apart and the latencies by range (the benchmark keeps the above). */
export interface DetailedWorkloadResult extends WorkloadResult {
  /** The window's latencies by power of two of a microsecond. */
  readonly latencyBuckets: readonly Log2Bucket[];
  readonly reads: DirectionResult;
  readonly writes: DirectionResult;
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
  const readPercent = spec.readPercent ?? 50;
  if (spec.direction === "mixed" && !(typeof readPercent === "number" && readPercent >= 0 && readPercent <= 100)) {
    throw new ConfigError(`read percentage ${JSON.stringify(spec.readPercent)} is not a number from 0 to 100`);
  }
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

function directionResult(ios: number, ioBytes: number, elapsedMs: number, histogram: LatencyHistogram): DirectionResult {
  const seconds = elapsedMs / 1000;
  const bytes = ios * ioBytes;
  return {
    ios,
    bytes,
    iops: seconds > 0 ? ios / seconds : 0,
    bytesPerSecond: seconds > 0 ? bytes / seconds : 0,
    latency: histogram.summary(),
    latencyBuckets: histogram.log2BucketsUs(),
  };
}

const defaultWake = (delayMs: number, fire: () => void): (() => void) => {
  const timer = setTimeout(fire, delayMs);
  return () => clearTimeout(timer);
};

/** Runs the workload to the end of its measured window; rejects with the first I/O error. */
export async function runWorkload(target: BlockTarget, spec: WorkloadSpec, hooks: WorkloadHooks = {}): Promise<DetailedWorkloadResult> {
  const { ioBlocks, start, region } = validateSpec(spec, target);
  const now = hooks.now ?? (() => performance.now());
  const { signal, cpuUsage } = hooks;
  const seed = spec.seed ?? 1;
  const slots = Math.floor(region / ioBlocks);
  const random = new AddressGenerator(seed);
  const readHistogram = new LatencyHistogram();
  const writeHistogram = new LatencyHistogram();
  const direction = spec.direction;
  // A generator of its own, so a mixed run's addresses are those of a pure run of the same seed.
  const mix = new AddressGenerator(Math.imul(seed, 0x2545f491) ^ 0x6a09e667);
  const readThreshold = ((spec.readPercent ?? 50) / 100) * 2 ** 32;
  const isWrite = direction === "mixed" ? () => mix.next32() >= readThreshold : direction === "write" ? () => true : () => false;
  const stop = spec.stop;
  const { onInterval } = hooks;
  const intervalMs = onInterval === undefined ? undefined : hooks.intervalMs;
  if (intervalMs !== undefined && !(intervalMs > 0 && Number.isFinite(intervalMs))) throw new ConfigError(`interval ${intervalMs} ms is not a positive duration`);
  const wake = hooks.wake ?? defaultWake;

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
  let reads = 0;
  let writes = 0;
  let inFlight = 0;
  let failure: { readonly error: unknown } | undefined;
  let meter: IntervalMeter | undefined;
  let cancelWake: (() => void) | undefined;

  const emit = (report: IntervalReport): void => onInterval?.(report);
  const tick = (): void => {
    cancelWake = undefined;
    if (closed || failure !== undefined || meter === undefined) return;
    try {
      meter.flushDue(now(), inFlight, emit);
    } catch (error) {
      // The loops see it at their next completion and stop, as after an I/O error.
      failure ??= { error };
      return;
    }
    // A timer may fire a little early: it is simply set again for what is still ahead. The last
    // interval needs none: the window's close ends it.
    const due = meter.nextDueAt;
    if (due !== undefined) cancelWake = wake(Math.max(1, due - now()), tick);
  };

  const openWindow = (at: number): void => {
    windowOpen = true;
    windowStart = at;
    cpuStart = cpuUsage?.();
    hooks.onWindowStart?.();
    if (intervalMs !== undefined) {
      meter = new IntervalMeter(at, intervalMs, stop.kind === "duration" ? stop.ms : Number.POSITIVE_INFINITY);
      if (meter.nextDueAt !== undefined) cancelWake = wake(intervalMs, tick);
    }
  };
  const closeWindow = (at: number): void => {
    closed = true;
    windowEnd = at;
    cpuEnd = cpuUsage?.();
    cancelWake?.();
    cancelWake = undefined;
    hooks.onWindowEnd?.();
    meter?.finish(at, inFlight, emit);
  };

  const began = now();
  const warmupEnd = began + (spec.warmupMs ?? 0);
  if (began >= warmupEnd) openWindow(began);

  const complete = (issuedAt: number, write: boolean): void => {
    if (closed) return;
    const at = now();
    if (!windowOpen) {
      inFlight -= 1;
      // The completion that ends the warm-up opens the window; its own latency straddles the edge.
      warmupIos += 1;
      if (at >= warmupEnd) openWindow(at);
      return;
    }
    const latencyMs = at - issuedAt;
    if (meter !== undefined) {
      // Intervals that ended before this completion are reported without it; it is still in
      // flight at their ends.
      if (meter.isDue(at)) meter.flushDue(at, inFlight, emit);
      meter.record(write, spec.ioBytes, latencyMs);
    }
    inFlight -= 1;
    ios += 1;
    if (write) {
      writes += 1;
      writeHistogram.recordMs(latencyMs);
    } else {
      reads += 1;
      readHistogram.recordMs(latencyMs);
    }
    if (stop.kind === "duration" ? at - windowStart >= stop.ms : ios >= stop.ios) closeWindow(at);
  };

  const shared = direction !== "write" && spec.sharedReadBuffer === true ? new Uint8Array(spec.ioBytes) : undefined;
  const loop = async (slot: number): Promise<void> => {
    const writeData = direction === "read" ? new Uint8Array(0) : writeBuffer(spec.ioBytes, seed, slot);
    // A mixed loop reads into a buffer apart from the data it writes, which so stays the same.
    // One options object per loop: nothing is allocated per I/O on the engine's side.
    const readOptions = { into: direction === "write" ? new Uint8Array(0) : (shared ?? new Uint8Array(spec.ioBytes)) };
    while (!closed && failure === undefined && signal?.aborted !== true) {
      const lba = nextLba();
      const write = isWrite();
      const issuedAt = now();
      inFlight += 1;
      try {
        await (write ? target.write(lba, writeData) : target.read(lba, ioBlocks, readOptions));
        complete(issuedAt, write);
      } catch (error) {
        // A hook's error lands here too: every loop stops, none is left issuing I/Os.
        failure ??= { error };
        return;
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: spec.queueDepth }, (_, slot) => loop(slot)));
  } finally {
    cancelWake?.();
  }
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
  // One direction's histogram is the run's; a mixed run's is the two merged.
  const all = direction === "read" ? readHistogram : direction === "write" ? writeHistogram : new LatencyHistogram();
  if (direction === "mixed") {
    all.merge(readHistogram);
    all.merge(writeHistogram);
  }
  return {
    ios,
    bytes,
    elapsedMs,
    iops: seconds > 0 ? ios / seconds : 0,
    bytesPerSecond: seconds > 0 ? bytes / seconds : 0,
    latency: all.summary(),
    latencyBuckets: all.log2BucketsUs(),
    reads: directionResult(reads, spec.ioBytes, elapsedMs, readHistogram),
    writes: directionResult(writes, spec.ioBytes, elapsedMs, writeHistogram),
    warmupIos,
    interrupted,
    ...(cpuStart !== undefined && cpuEnd !== undefined ? { cpu: cpuBetween(cpuStart, cpuEnd, elapsedMs) } : {}),
  };
}
