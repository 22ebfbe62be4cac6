/**
 * A simulated block target with a simulated clock, for driving the workload engine without a
 * LUN: each I/O completes `latencyMs` after it was issued, in order of completion time, and the
 * clock jumps to each completion. One completion is delivered per macrotask, so the engine has
 * issued its next I/O before time moves on, as it would against a real target.
 */
import type { BlockTarget } from "./workload.js";

export interface SimulatedIo {
  readonly kind: "read" | "write";
  readonly lba: number;
  readonly blocks: number;
  readonly issuedAt: number;
  readonly buffer: Uint8Array;
}

export class SimulatedTarget implements BlockTarget {
  now = 0;
  readonly ios: SimulatedIo[] = [];
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

  read(lba: number, blocks: number, into: Uint8Array): Promise<unknown> {
    return this.submit({ kind: "read", lba, blocks, issuedAt: this.now, buffer: into });
  }

  write(lba: number, data: Uint8Array): Promise<unknown> {
    return this.submit({ kind: "write", lba, blocks: data.length / this.blockSize, issuedAt: this.now, buffer: data });
  }

  private submit(io: SimulatedIo): Promise<unknown> {
    const index = this.ios.length;
    this.ios.push(io);
    return new Promise((resolve, reject) => {
      const fail = this.failAt === index;
      this.pending.push({
        at: this.now + this.latencyMs(io),
        seq: this.seq++,
        settle: () => (fail ? reject(new RangeError(`simulated failure of I/O ${index}`)) : resolve(undefined)),
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
