/**
 * A closed-loop block workload engine: `queueDepth` loops, each with a buffer of its own, issue
 * one read or write at a time against a block target and record each latency in a bounded
 * histogram. Addresses are random (uniform over I/O-sized slots, from a seeded generator) or
 * sequential (one shared cursor, as fio's iodepth does). The engine knows nothing of iSCSI or
 * Node: the target and the clock are passed in, so `iscsi perf` in the CLI can drive a Lun with
 * it and tests can drive a fake with a simulated clock.
 *
 * The measured window opens at the first completion after the warm-up (Node compiles the hot
 * path during the first few thousand I/Os) and closes at the first completion past its length
 * or its count; I/Os completing outside it are not counted. `onWindowStart`/`onWindowEnd` fire
 * synchronously at those two completions, so a caller can sample CPU time at exactly the
 * window's edges.
 */
import { ConfigError } from "../core/errors.js";
import { LatencyHistogram, type LatencySummary } from "./histogram.js";

export type AccessPattern = "random" | "sequential";
export type Direction = "read" | "write";

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
  /** Run this long before the measured window opens (0: it opens at the start). */
  readonly warmupMs: number;
  readonly stop: StopCondition;
  /** Seed of the random address generator (random pattern only). */
  readonly seed?: number;
  /** First block of the region used (0 unless told). */
  readonly startLba?: number;
  /** Blocks of the region used (the whole target from startLba unless told). */
  readonly regionBlocks?: number;
  /**
   * Reads land in one buffer shared by every slot, a sink as libiscsi's iscsi-perf has (it keeps
   * no data); otherwise each slot reads into its own buffer, as an application would. Writes
   * always have a buffer per slot.
   */
  readonly sharedReadBuffer?: boolean;
}

/** What the engine drives: a LUN, or a fake in tests. */
export interface BlockTarget {
  readonly blockSize: number;
  /** Number of blocks. */
  readonly blocks: number;
  read(lba: number, blocks: number, into: Uint8Array): Promise<unknown>;
  write(lba: number, data: Uint8Array): Promise<unknown>;
}

export interface WorkloadHooks {
  /** Milliseconds from a monotonic clock. */
  readonly now: () => number;
  readonly onWindowStart?: () => void;
  readonly onWindowEnd?: () => void;
}

export interface WorkloadResult {
  /** I/Os completed inside the measured window. */
  readonly ios: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  /** Latency of the I/Os completed inside the window. */
  readonly latency: LatencySummary;
  /** I/Os completed before the window opened. */
  readonly warmupIos: number;
}

/**
 * A small seeded generator (SplitMix32-style mixing): reproducible addresses without
 * Math.random, and cheap enough for a million draws a second.
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

  /** A uniform integer in [0, n) for n up to 2^53. */
  below(n: number): number {
    const high = this.next32() >>> 5; // 27 bits
    const low = this.next32() >>> 6; // 26 bits
    return Math.floor(((high * 67108864 + low) / 9007199254740992) * n);
  }
}

export function validateSpec(spec: WorkloadSpec, target: Pick<BlockTarget, "blockSize" | "blocks">): { ioBlocks: number; start: number; region: number } {
  if (!Number.isInteger(target.blockSize) || target.blockSize <= 0) throw new ConfigError(`the target's block size ${target.blockSize} is not a positive integer`);
  if (!Number.isSafeInteger(spec.ioBytes) || spec.ioBytes <= 0 || spec.ioBytes % target.blockSize !== 0) {
    throw new ConfigError(`I/O size ${spec.ioBytes} is not a whole number of ${target.blockSize}-byte blocks`);
  }
  if (!Number.isInteger(spec.queueDepth) || spec.queueDepth < 1 || spec.queueDepth > 65536) {
    throw new ConfigError(`queue depth ${spec.queueDepth} is not an integer from 1 to 65536`);
  }
  if (!(spec.warmupMs >= 0)) throw new ConfigError(`warm-up ${spec.warmupMs} ms is negative`);
  if (spec.stop.kind === "duration" ? !(spec.stop.ms > 0) : !(Number.isSafeInteger(spec.stop.ios) && spec.stop.ios > 0)) {
    throw new ConfigError(`the stop condition ${JSON.stringify(spec.stop)} is not a positive duration or count`);
  }
  const ioBlocks = spec.ioBytes / target.blockSize;
  const start = spec.startLba ?? 0;
  const region = spec.regionBlocks ?? target.blocks - start;
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(region) || start + region > target.blocks) {
    throw new ConfigError(`region of ${region} blocks at LBA ${start} does not fit a target of ${target.blocks} blocks`);
  }
  if (region < ioBlocks) throw new ConfigError(`region of ${region} blocks is smaller than one ${spec.ioBytes}-byte I/O`);
  return { ioBlocks, start, region };
}

/** Runs the workload to the end of its measured window; rejects with the first I/O error. */
export async function runWorkload(target: BlockTarget, spec: WorkloadSpec, hooks: WorkloadHooks): Promise<WorkloadResult> {
  const { ioBlocks, start, region } = validateSpec(spec, target);
  const { now } = hooks;
  const slots = Math.floor(region / ioBlocks);
  const random = new AddressGenerator(spec.seed ?? 1);
  const histogram = new LatencyHistogram();
  const write = spec.direction === "write";

  let cursor = 0;
  const nextLba = spec.pattern === "random" ? () => start + random.below(slots) * ioBlocks : () => {
    const lba = start + cursor * ioBlocks;
    cursor = cursor + 1 >= slots ? 0 : cursor + 1;
    return lba;
  };

  const began = now();
  let windowOpen = spec.warmupMs <= 0;
  let windowStart = began;
  let windowEnd = Number.NaN;
  let closed = false;
  let warmupIos = 0;
  let ios = 0;
  let failure: unknown;
  const warmupEnd = began + spec.warmupMs;
  if (windowOpen) hooks.onWindowStart?.();

  const complete = (issuedAt: number): void => {
    if (closed) return;
    const at = now();
    if (!windowOpen) {
      warmupIos += 1;
      if (at >= warmupEnd) {
        windowOpen = true;
        windowStart = at;
        hooks.onWindowStart?.();
      }
      return;
    }
    ios += 1;
    histogram.recordMs(at - issuedAt);
    const done = spec.stop.kind === "duration" ? at - windowStart >= spec.stop.ms : ios >= spec.stop.ios;
    if (done) {
      closed = true;
      windowEnd = at;
      hooks.onWindowEnd?.();
    }
  };

  const shared = !write && spec.sharedReadBuffer === true ? new Uint8Array(spec.ioBytes) : undefined;
  const loop = async (slot: number): Promise<void> => {
    const buffer = shared ?? new Uint8Array(spec.ioBytes);
    // Written data differs per slot so a target cannot short-cut a block of zeros.
    if (write) buffer.fill(0x5a ^ (slot & 0xff));
    while (!closed && failure === undefined) {
      const lba = nextLba();
      const issuedAt = now();
      try {
        await (write ? target.write(lba, buffer) : target.read(lba, ioBlocks, buffer));
      } catch (error) {
        failure ??= error;
        return;
      }
      complete(issuedAt);
    }
  };

  await Promise.all(Array.from({ length: spec.queueDepth }, (_, slot) => loop(slot)));
  if (failure !== undefined) throw failure;
  const elapsedMs = windowEnd - windowStart;
  const seconds = elapsedMs / 1000;
  return {
    ios,
    bytes: ios * spec.ioBytes,
    elapsedMs,
    iops: seconds > 0 ? ios / seconds : 0,
    bytesPerSecond: seconds > 0 ? (ios * spec.ioBytes) / seconds : 0,
    latency: histogram.summary(),
    warmupIos,
  };
}
