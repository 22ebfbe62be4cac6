/**
 * The measured window cut into intervals of equal length, as fio's and libiscsi's iscsi-perf
 * status lines cut a run: what completed in each, split into reads and writes, with each
 * interval's own latency percentiles.
 *
 * Interval k is (k * length, (k + 1) * length] from the window's opening, and an I/O belongs to
 * the interval its completion falls in (closed at the end, so a run stopped after a count on a
 * boundary ends with a whole interval, not an empty one), so the intervals of a run add up exactly to the run (no
 * I/O counted twice or lost at an edge), and every interval but the last is exactly `length`
 * long whatever the timing of the completions. The last ends with the window: a run of 10 s in
 * 1 s intervals has ten, the tenth taking in the completion that closed the window a moment after
 * 10 s, rather than an eleventh of a few microseconds whose rate would mean nothing.
 *
 * An interval with no completion in it (a target that stalled) is reported with zeros: a stall
 * is exactly what someone watching the intervals wants to see.
 */
import { LatencyHistogram, type LatencyStats } from "./histogram.js";

export interface DirectionInterval {
  readonly ios: number;
  readonly bytes: number;
  readonly latency: LatencyStats;
}

export interface IntervalReport {
  /** 0 for the first interval of the window. */
  readonly index: number;
  /** Milliseconds from the window's opening. */
  readonly startMs: number;
  readonly endMs: number;
  /** Reads and writes together. */
  readonly all: DirectionInterval;
  readonly reads: DirectionInterval;
  readonly writes: DirectionInterval;
  /** I/Os issued and not yet completed at the interval's end. */
  readonly inFlight: number;
}

/** I/Os per second and bytes per second of one interval (0 for an interval of no length). */
export function intervalRates(report: Pick<IntervalReport, "startMs" | "endMs">, d: Pick<DirectionInterval, "ios" | "bytes">): { iops: number; bytesPerSecond: number } {
  const seconds = (report.endMs - report.startMs) / 1000;
  return seconds > 0 ? { iops: d.ios / seconds, bytesPerSecond: d.bytes / seconds } : { iops: 0, bytesPerSecond: 0 };
}

class Tally {
  ios = 0;
  bytes = 0;
  readonly histogram = new LatencyHistogram();

  take(): DirectionInterval {
    const taken = { ios: this.ios, bytes: this.bytes, latency: this.histogram.summary() };
    this.ios = 0;
    this.bytes = 0;
    this.histogram.reset();
    return taken;
  }
}

export class IntervalMeter {
  private index = 0;
  private readonly all = new Tally();
  private readonly reads = new Tally();
  private readonly writes = new Tally();

  /**
   * @param windowStart the window's opening, on the clock the completions are timed with
   * @param lengthMs each interval's length
   * @param lastEndMs where the window is due to close (a duration stop), from its opening: the
   *   interval holding it is closed by `finish`, never by a completion or a tick
   */
  constructor(
    private readonly windowStart: number,
    readonly lengthMs: number,
    private readonly lastEndMs = Number.POSITIVE_INFINITY,
  ) {
    if (!(lengthMs > 0) || !Number.isFinite(lengthMs)) throw new RangeError(`interval length ${lengthMs} ms is not a positive duration`);
  }

  /**
   * The clock time after which the current interval is due, or undefined when it is the last
   * one, which only `finish` closes.
   */
  get nextDueAt(): number | undefined {
    const end = (this.index + 1) * this.lengthMs;
    return end < this.lastEndMs ? this.windowStart + end : undefined;
  }

  /** Whether an interval has ended by `at` and is still to be reported. */
  isDue(at: number): boolean {
    const end = (this.index + 1) * this.lengthMs;
    return end < this.lastEndMs && at > this.windowStart + end;
  }

  /** Counts one I/O that completed (after flushDue for its completion time). */
  record(write: boolean, bytes: number, latencyMs: number): void {
    const tally = write ? this.writes : this.reads;
    tally.ios += 1;
    tally.bytes += bytes;
    tally.histogram.recordMs(latencyMs);
    this.all.ios += 1;
    this.all.bytes += bytes;
    this.all.histogram.recordMs(latencyMs);
  }

  /** Reports every interval that ended by `at` (several, with zeros, after a stall). */
  flushDue(at: number, inFlight: number, emit: (report: IntervalReport) => void): void {
    while (this.isDue(at)) this.emitUntil((this.index + 1) * this.lengthMs, inFlight, emit);
  }

  /** Reports what is left, up to the window's close at `at`: the last interval, however long. */
  finish(at: number, inFlight: number, emit: (report: IntervalReport) => void): void {
    this.flushDue(at, inFlight, emit);
    this.emitUntil(Math.max(at - this.windowStart, this.index * this.lengthMs), inFlight, emit);
  }

  private emitUntil(endMs: number, inFlight: number, emit: (report: IntervalReport) => void): void {
    const report: IntervalReport = {
      index: this.index,
      startMs: this.index * this.lengthMs,
      endMs,
      all: this.all.take(),
      reads: this.reads.take(),
      writes: this.writes.take(),
      inFlight,
    };
    this.index += 1;
    emit(report);
  }
}
