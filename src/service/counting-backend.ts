/**
 * An NBD backend that counts what passes through it, for `iscsi status`: requests by kind, bytes,
 * failures, requests in flight, and latency (mean and maximum). It adds nothing else.
 */
import type { NbdBackend } from "../nbd/backend.js";
import type { NbdExtent } from "../nbd/engine/connection.js";
import type { NbdExport } from "../nbd/engine/export.js";

export interface IoCounters {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  flushes: number;
  trims: number;
  writeZeroes: number;
  failed: number;
  inFlight: number;
  /** Mean and maximum time from request to completion, in milliseconds. */
  latencyMeanMs: number;
  latencyMaxMs: number;
}

export class CountingBackend implements NbdBackend {
  readonly counters: IoCounters = { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, flushes: 0, trims: 0, writeZeroes: 0, failed: 0, inFlight: 0, latencyMeanMs: 0, latencyMaxMs: 0 };
  private completed = 0;
  private latencySum = 0;

  constructor(
    private readonly inner: NbdBackend,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get export(): NbdExport {
    return this.inner.export;
  }

  private async count<T>(body: () => Promise<T>, done: () => void): Promise<T> {
    const started = this.now();
    this.counters.inFlight++;
    try {
      const value = await body();
      done();
      return value;
    } catch (error) {
      this.counters.failed++;
      throw error;
    } finally {
      this.counters.inFlight--;
      const took = this.now() - started;
      this.completed++;
      this.latencySum += took;
      this.counters.latencyMeanMs = this.latencySum / this.completed;
      if (took > this.counters.latencyMaxMs) this.counters.latencyMaxMs = took;
    }
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.count(
      () => this.inner.read(offset, length),
      () => {
        this.counters.reads++;
        this.counters.bytesRead += length;
      },
    );
  }

  write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    return this.count(
      () => this.inner.write(offset, data, fua),
      () => {
        this.counters.writes++;
        this.counters.bytesWritten += data.length;
      },
    );
  }

  flush(): Promise<void> {
    return this.count(
      () => this.inner.flush(),
      () => this.counters.flushes++,
    );
  }

  trim(offset: number, length: number, fua: boolean): Promise<void> {
    return this.count(
      () => this.inner.trim(offset, length, fua),
      () => this.counters.trims++,
    );
  }

  writeZeroes(offset: number, length: number, noHole: boolean, fua: boolean): Promise<void> {
    return this.count(
      () => this.inner.writeZeroes(offset, length, noHole, fua),
      () => this.counters.writeZeroes++,
    );
  }

  cache(offset: number, length: number): Promise<void> {
    return this.inner.cache(offset, length);
  }

  blockStatus(offset: number, length: number): Promise<readonly NbdExtent[]> {
    return this.inner.blockStatus(offset, length);
  }
}
