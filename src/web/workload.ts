/**
 * A small random-read workload: `depth` loops, each reading `bytes` at a random aligned address
 * and starting the next as soon as one completes, so `depth` reads are always in flight. Every
 * half second it reports IOPS and the mean and 99th-percentile latency of that interval.
 */
import type { Lun } from "../browser/index.js";
import type { Sample } from "./chart.js";

const INTERVAL_MS = 500;

export interface WorkloadOptions {
  readonly bytes: number;
  readonly depth: number;
  /** Called per interval with its figures. */
  readonly onSample: (sample: Sample) => void;
  /** Called per read with the block it read (for the LUN map). */
  readonly onRead: (lba: number) => void;
}

export class RandomReads {
  private running = false;
  private latencies: number[] = [];
  private total = 0;
  private startedAt = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private loops: Promise<void>[] = [];
  /** The first failure, which stops the workload. */
  failure: unknown;

  constructor(
    private readonly lun: Lun,
    private readonly blocks: number,
    private readonly blockSize: number,
    private readonly options: WorkloadOptions,
  ) {}

  get reads(): number {
    return this.total;
  }

  start(): void {
    this.running = true;
    this.startedAt = performance.now();
    let last = this.startedAt;
    this.timer = setInterval(() => {
      const now = performance.now();
      const sorted = this.latencies.sort((a, b) => a - b);
      this.latencies = [];
      const n = sorted.length;
      const mean = n === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / n;
      const p99 = n === 0 ? 0 : (sorted[Math.min(n - 1, Math.floor(n * 0.99))] as number);
      this.options.onSample({ t: (now - this.startedAt) / 1000, iops: (n * 1000) / (now - last), meanMs: mean, p99Ms: p99 });
      last = now;
    }, INTERVAL_MS);
    const perRead = Math.max(1, Math.floor(this.options.bytes / this.blockSize));
    const slots = Math.max(1, Math.floor(this.blocks / perRead));
    for (let i = 0; i < this.options.depth; i++) this.loops.push(this.loop(perRead, slots));
  }

  /** Stops issuing reads and resolves once those in flight are done. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearInterval(this.timer);
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async loop(perRead: number, slots: number): Promise<void> {
    // One buffer per loop, reused: the reads land in it, nothing is allocated per read.
    const into = new Uint8Array(perRead * this.blockSize);
    while (this.running) {
      const lba = Math.floor(Math.random() * slots) * perRead;
      const started = performance.now();
      try {
        await this.lun.read(lba, perRead, { into });
      } catch (error) {
        this.failure ??= error;
        this.running = false;
        return;
      }
      this.latencies.push(performance.now() - started);
      this.total++;
      this.options.onRead(lba);
    }
  }
}
