/**
 * A simulated block target with a simulated clock, for driving the workload engine without a
 * LUN: each I/O completes `latencyMs` after it was issued, in order of completion time, and the
 * clock jumps to each completion. One completion is delivered per macrotask, so the engine has
 * issued its next I/O before time moves on, as it would against a real target.
 */
import type { BlockTarget } from "./engine.js";

export interface SimulatedIo {
  readonly kind: "read" | "write";
  readonly lba: number;
  readonly blocks: number;
  readonly issuedAt: number;
  readonly buffer: Uint8Array;
  /** A copy of what a write carried when it was issued. */
  readonly data?: Uint8Array;
}

export class SimulatedTarget implements BlockTarget {
  now = 0;
  readonly ios: SimulatedIo[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly pending: { at: number; seq: number; settle: () => void }[] = [];
  private seq = 0;
  private pumping = false;
  /** Fail the I/O with this index (0-based) instead of completing it. */
  failAt: number | undefined;

  constructor(
    readonly blockSize: number,
    readonly blocks: number,
    private readonly latencyMs: (io: SimulatedIo) => number,
  ) {}

  clock = (): number => this.now;

  read(lba: number, blocks: number, options: { readonly into: Uint8Array }): Promise<unknown> {
    if (options.into.length !== blocks * this.blockSize) throw new RangeError(`read of ${blocks} blocks into ${options.into.length} bytes`);
    return this.submit({ kind: "read", lba, blocks, issuedAt: this.now, buffer: options.into });
  }

  write(lba: number, data: Uint8Array): Promise<unknown> {
    return this.submit({ kind: "write", lba, blocks: data.length / this.blockSize, issuedAt: this.now, buffer: data, data: data.slice() });
  }

  private submit(io: SimulatedIo): Promise<unknown> {
    const index = this.ios.length;
    this.ios.push(io);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve, reject) => {
      const fail = this.failAt === index;
      this.pending.push({
        at: this.now + this.latencyMs(io),
        seq: this.seq++,
        settle: () => {
          this.inFlight -= 1;
          if (fail) reject(new RangeError(`simulated failure of I/O ${index}`));
          else resolve(undefined);
        },
      });
      this.pump();
    });
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      this.pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.pending.shift();
      if (next === undefined) return;
      this.now = Math.max(this.now, next.at);
      next.settle();
      if (this.pending.length > 0) this.pump();
    });
  }
}
