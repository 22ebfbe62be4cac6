import { describe, expect, it } from "vitest";
import { TimeoutError, TransportError } from "../core/errors.js";
import { SeededRandom } from "./random.js";
import { type BlockDevice, describeReport, VerifyWorkload } from "./verify-workload.js";

const BLOCK = 512;

/** A disk in memory whose behaviour a test can make faulty. */
class MemoryDisk implements BlockDevice {
  readonly blockSize = BLOCK;
  readonly data: Uint8Array;
  /** Called before each write lands; returns what to do with it. */
  writeFault: (lba: number, blocks: number) => "ok" | "fail-before" | "fail-after" | "lie" | "misdirect" | "hang" | "throw-plain" = () => "ok";
  private readonly random = new SeededRandom(5);

  constructor(readonly blocks: number) {
    this.data = new Uint8Array(blocks * BLOCK);
  }

  private async tick(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.random.int(0, 1)));
  }

  async write(lba: number, data: Uint8Array): Promise<void> {
    await this.tick();
    const fault = this.writeFault(lba, data.length / BLOCK);
    switch (fault) {
      case "ok":
        this.data.set(data, lba * BLOCK);
        return;
      case "fail-before":
        throw new TransportError("connection lost before the write");
      case "fail-after":
        this.data.set(data, lba * BLOCK);
        throw new TimeoutError("status lost after the write");
      case "lie":
        return;
      case "misdirect":
        this.data.set(data, (lba + 1) * BLOCK);
        return;
      case "hang":
        return new Promise<void>(() => undefined);
      case "throw-plain":
        throw new TypeError("not a library error");
    }
  }

  async read(lba: number, blocks: number): Promise<Uint8Array> {
    await this.tick();
    return this.data.slice(lba * BLOCK, (lba + blocks) * BLOCK);
  }
}

async function runOn(disk: MemoryDisk, options: { ms?: number; qd?: number; settleTimeoutMs?: number } = {}) {
  const workload = new VerifyWorkload({ device: disk, queueDepth: options.qd ?? 4, region: { start: 0, blocks: 256 }, seed: 3, settleTimeoutMs: options.settleTimeoutMs ?? 5_000 });
  return workload.run(options.ms ?? 300);
}

describe("VerifyWorkload", () => {
  it("finds nothing wrong on a sound disk, and reads back every acknowledged block", async () => {
    const report = await runOn(new MemoryDisk(1024));
    expect(report.ok, describeReport(report)).toBe(true);
    expect(report.writes).toBeGreaterThan(20);
    expect(report.acknowledged).toBe(report.writes);
    expect(report.reads).toBeGreaterThan(0);
    expect(report.ackedBlocks).toBeGreaterThan(50);
    expect(report).toMatchObject({ lost: 0, corrupt: 0, pending: 0, failed: 0, readMismatches: 0 });
  });

  it("counts failed writes by code, and accepts a failed write that reached the disk anyway", async () => {
    const disk = new MemoryDisk(1024);
    let n = 0;
    disk.writeFault = () => (++n % 5 === 0 ? "fail-before" : n % 7 === 0 ? "fail-after" : "ok");
    const report = await runOn(disk);
    expect(report.ok, report.problems.join("\n")).toBe(true);
    expect(report.failedByCode["ISCSI_ERR_TRANSPORT"]).toBeGreaterThan(0);
    expect(report.failedByCode["ISCSI_ERR_TIMEOUT"]).toBeGreaterThan(0);
    expect(report.failed + report.acknowledged).toBe(report.writes);
    expect(report.failedWritesLanded).toBeGreaterThan(0);
  });

  it("reports acknowledged writes that never reached the disk as lost", async () => {
    const lying = new MemoryDisk(64);
    lying.writeFault = () => "lie";
    const all = await new VerifyWorkload({ device: lying, queueDepth: 2, region: { start: 0, blocks: 64 }, seed: 1 }).run(100);
    expect(all.ok).toBe(false);
    expect(all.lost).toBeGreaterThan(0);
    expect(all.readMismatches).toBeGreaterThan(0);
    expect(all.problems[0]).toMatch(/holds blank data; expected generation \d+ \(acknowledged\)/);
  });

  it("reports a block written to the wrong LBA as corrupt", async () => {
    const disk = new MemoryDisk(1024);
    let n = 0;
    disk.writeFault = () => (++n >= 10 ? "misdirect" : "ok");
    const report = await new VerifyWorkload({ device: disk, queueDepth: 1, region: { start: 0, blocks: 512 }, seed: 9, readFraction: 0 }).run(100);
    expect(report.ok).toBe(false);
    expect(report.problems.join("\n")).toMatch(/holds the block written to LBA \d+/);
  });

  it("reports a bit flipped on the disk as corrupt", async () => {
    const disk = new MemoryDisk(1024);
    let target = -1;
    const workload = new VerifyWorkload({
      device: disk,
      queueDepth: 2,
      region: { start: 0, blocks: 64 },
      seed: 2,
      readFraction: 0,
      // Corrupt a stamped block after the last write, before the read-back.
      verifyDevice: async () => {
        for (let lba = 0; lba < 64 && target < 0; lba++) if (disk.data[lba * BLOCK] === 0x49) target = lba;
        disk.data[target * BLOCK + 200] = (disk.data[target * BLOCK + 200] as number) ^ 0x10;
        return disk;
      },
    });
    workload.start();
    await workload.whenAcknowledged(30);
    const report = await workload.stop();
    expect(report.corrupt).toBe(1);
    expect(report.problems.join("\n")).toMatch(new RegExp(`LBA ${target}: corrupt block \\(checksum`));
  });

  it("reports a write that is never answered as pending", async () => {
    const disk = new MemoryDisk(1024);
    let n = 0;
    disk.writeFault = () => (++n === 5 ? "hang" : "ok");
    const report = await runOn(disk, { ms: 100, settleTimeoutMs: 200 });
    expect(report.pending).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatch(/1 I\/O\(s\) still had no answer 200 ms after the run stopped/);
  });

  it("flags a rejection that is not a library error", async () => {
    const disk = new MemoryDisk(1024);
    let n = 0;
    disk.writeFault = () => (++n === 3 ? "throw-plain" : "ok");
    const report = await runOn(disk, { ms: 100 });
    expect(report.unexpectedErrors).toBe(1);
    expect(report.failedByCode["NOT_ISCSI:TypeError"]).toBe(1);
    expect(report.ok).toBe(false);
  });

  it("keeps each worker to its own stripe, so no two writes to one LBA are ever in flight", async () => {
    const disk = new MemoryDisk(1024);
    const inFlight = new Set<number>();
    let overlaps = 0;
    const write = disk.write.bind(disk);
    disk.write = async (lba, data) => {
      const blocks = data.length / BLOCK;
      for (let i = 0; i < blocks; i++) {
        if (inFlight.has(lba + i)) overlaps++;
        inFlight.add(lba + i);
      }
      try {
        await write(lba, data);
      } finally {
        for (let i = 0; i < blocks; i++) inFlight.delete(lba + i);
      }
    };
    const report = await runOn(disk, { qd: 8 });
    expect(report.writes).toBeGreaterThan(50);
    expect(overlaps).toBe(0);
  });

  it("refuses a region that cannot be split into stripes", () => {
    expect(() => new VerifyWorkload({ device: new MemoryDisk(16), queueDepth: 4, region: { start: 10, blocks: 8 } })).toThrow(/does not fit/);
    expect(() => new VerifyWorkload({ device: new MemoryDisk(16), queueDepth: 0 })).toThrow(/queue depth/);
  });
});
