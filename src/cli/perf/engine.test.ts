import { describe, expect, it } from "vitest";
import { ScsiError } from "../../core/errors.js";
import { runWorkload, type WorkloadTarget } from "./engine.js";

/** A LUN in memory whose every command takes `latencyMs` of a simulated clock. */
class FakeLun implements WorkloadTarget {
  now = 0;
  inFlight = 0;
  maxInFlight = 0;
  readonly reads: number[] = [];
  readonly writes: { lba: number; data: Uint8Array }[] = [];
  failAt: number | undefined;

  constructor(
    readonly blocks: number,
    readonly blockSize = 512,
    readonly latencyMs = 0.5,
  ) {}

  async readCapacity() {
    return { blocks: this.blocks, blockSize: this.blockSize };
  }

  private async command(): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    // Let the other workers issue theirs before this one completes.
    for (let i = 0; i < 3; i++) await Promise.resolve();
    this.now += this.latencyMs;
    this.inFlight--;
    if (this.failAt !== undefined && this.reads.length + this.writes.length >= this.failAt) {
      throw new ScsiError(2, "READ(10) on LUN 1 failed: MEDIUM ERROR");
    }
  }

  async read(lba: number, blocks: number, options: { readonly into: Uint8Array }): Promise<Uint8Array> {
    expect(options.into.length).toBe(blocks * this.blockSize);
    this.reads.push(lba);
    await this.command();
    return options.into;
  }

  async write(lba: number, data: Uint8Array): Promise<void> {
    this.writes.push({ lba, data: data.slice() });
    await this.command();
  }
}

const env = (lun: FakeLun) => ({ now: () => lun.now, cpuUsage: () => ({ user: 0, system: 0 }) });

describe("runWorkload", () => {
  it("keeps queueDepth commands in flight", async () => {
    const lun = new FakeLun(1 << 20);
    await runWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 16, durationMs: 50 }, env(lun));
    expect(lun.maxInFlight).toBe(16);
  });

  it("runs until the time is up and measures each command's latency", async () => {
    const lun = new FakeLun(1 << 20, 512, 0.5);
    const r = await runWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 100 }, env(lun));
    expect(r.commands).toBe(200);
    expect(r.bytes).toBe(200 * 4096);
    expect(r.elapsedMs).toBe(100);
    expect(r.iops).toBe(2000);
    expect(r.bytesPerSecond).toBe(2000 * 4096);
    expect(r.latencyUs.p50).toBeCloseTo(500, 0);
    expect(r.latencyUs.min).toBe(500);
    expect(r.latencyUs.max).toBe(500);
    expect(r.interrupted).toBe(false);
  });

  it("draws random offsets aligned to the command size, inside the region, reproducibly", async () => {
    const run = async (seed: number) => {
      const lun = new FakeLun(1 << 20);
      await runWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 4, durationMs: 1e9, maxCommands: 500, offset: 1 << 20, size: 8 << 20, seed }, env(lun));
      return lun.reads;
    };
    const a = await run(7);
    expect(a).toHaveLength(500);
    for (const lba of a) {
      expect(lba % 8).toBe(0);
      expect(lba).toBeGreaterThanOrEqual(2048);
      expect(lba + 8).toBeLessThanOrEqual(2048 + 16384);
    }
    expect(new Set(a).size).toBeGreaterThan(400);
    expect(await run(7)).toEqual(a);
    expect(await run(8)).not.toEqual(a);
  });

  it("reads sequentially from the start of the region and wraps at its end", async () => {
    const lun = new FakeLun(1 << 20);
    await runWorkload(lun, { rw: "read", blockSize: 1 << 20, queueDepth: 1, durationMs: 1e9, maxCommands: 5, size: 3 << 20 }, env(lun));
    expect(lun.reads).toEqual([0, 2048, 4096, 0, 2048]);
  });

  it("writes whole commands of data that is neither zero nor the same in every block", async () => {
    const lun = new FakeLun(1 << 20);
    const r = await runWorkload(lun, { rw: "randwrite", blockSize: 8192, queueDepth: 2, durationMs: 1e9, maxCommands: 10 }, env(lun));
    expect(r.commands).toBe(10);
    const first = lun.writes[0]?.data ?? new Uint8Array(0);
    expect(first.length).toBe(8192);
    expect(first.some((b) => b !== 0)).toBe(true);
    expect(first.subarray(0, 512)).not.toEqual(first.subarray(512, 1024));
  });

  it("reports the CPU time used, as a share of one core", async () => {
    const lun = new FakeLun(1 << 20, 512, 1);
    let calls = 0;
    const cpuUsage = () => (calls++ === 0 ? { user: 1_000_000, system: 500_000 } : { user: 1_400_000, system: 600_000 });
    const r = await runWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 1000 }, { now: () => lun.now, cpuUsage });
    expect(r.cpu.userSeconds).toBeCloseTo(0.4);
    expect(r.cpu.systemSeconds).toBeCloseTo(0.1);
    expect(r.cpu.percentOfOneCore).toBeCloseTo(50);
  });

  it("stops early when the signal aborts and says so", async () => {
    const lun = new FakeLun(1 << 20);
    const controller = new AbortController();
    const originalRead = lun.read.bind(lun);
    lun.read = async (lba, blocks, options) => {
      if (lun.reads.length === 20) controller.abort();
      return originalRead(lba, blocks, options);
    };
    const r = await runWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 1e9 }, { ...env(lun), signal: controller.signal });
    expect(r.interrupted).toBe(true);
    expect(r.commands).toBe(21);
  });

  it("fails with the first command's error", async () => {
    const lun = new FakeLun(1 << 20);
    lun.failAt = 10;
    await expect(runWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 4, durationMs: 1e9 }, env(lun))).rejects.toThrow(/MEDIUM ERROR/);
  });

  it("refuses a command size that is not a whole number of blocks, and a region past the end", async () => {
    const lun = new FakeLun(1000, 4096);
    await expect(runWorkload(lun, { rw: "randread", blockSize: 512, queueDepth: 1, durationMs: 10 }, env(lun))).rejects.toThrow(/not a multiple of the LUN's 4096-byte blocks/);
    await expect(runWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 1, durationMs: 10, size: 8192, offset: 1000 * 4096 }, env(lun))).rejects.toMatchObject({
      code: "ISCSI_CLI_OUT_OF_RANGE",
    });
    await expect(runWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 0, durationMs: 10 }, env(lun))).rejects.toThrow(/queue depth/);
  });
});
