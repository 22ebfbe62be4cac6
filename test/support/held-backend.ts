/**
 * A memory LUN whose reads wait while `holding`, until `release()`: a test can make the embedded
 * target keep a command, so that an abort (ABORT TASK, a signal) lands while the target has it.
 */
import { type BlockBackend, MemoryBackend } from "../../src/target/index.js";

export class HeldBackend implements BlockBackend {
  readonly inner = new MemoryBackend(16 * 1024 * 1024);
  readonly description = "held:16MiB";
  readonly size = this.inner.size;
  readonly thinProvisioned = false;
  readonly readOnly = false;
  holding = false;
  readsWaiting = 0;
  private waiters: Array<() => void> = [];

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.holding) {
      this.readsWaiting++;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.readsWaiting--;
    }
    return this.inner.read(offset, length);
  }
  release(): void {
    this.holding = false;
    for (const wake of this.waiters.splice(0)) wake();
  }
  write(offset: number, data: Uint8Array): void {
    this.inner.write(offset, data);
  }
  flush(): void {}
  unmap(offset: number, length: number): void {
    this.inner.unmap(offset, length);
  }
  writeSame(offset: number, length: number, block: Uint8Array): void {
    this.inner.writeSame(offset, length, block);
  }
  close(): void {}
}
