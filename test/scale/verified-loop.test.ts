/**
 * The scale tests' own tools, against an in-memory LUN: the verified loop must catch what it is
 * there to catch (a wrong read-back, a lost or misplaced write), and the percentiles must be the
 * nearest-rank ones the figures claim.
 */
import { describe, expect, it } from "vitest";
import { IscsiError, type Lun } from "../../src/node/index.js";
import { percentile } from "./figures.js";
import { BLOCK, describeBlock, fillBlock, type Region, VerifiedLoop } from "./verified-loop.js";

const REGION: Region = { startLba: 16, slots: 8, slotBlocks: 2 };
const REGION_BYTES = REGION.slots * REGION.slotBlocks * BLOCK;

/** A turn of the event loop, as a socket's answer takes: the loop must not starve the caller. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A LUN in memory; `failWrite` says which write (1-based) fails, `corruptReads` flips a byte of each read. */
function memoryLun(options: { readonly failWrite?: number; readonly corruptReads?: boolean } = {}): { lun: Lun; disk: Uint8Array } {
  const disk = new Uint8Array((REGION.startLba + REGION.slots * REGION.slotBlocks) * BLOCK);
  let writes = 0;
  const lun = {
    async write(lba: number, data: Uint8Array): Promise<void> {
      await nextTurn();
      if (++writes === options.failWrite) {
        disk.set(data.subarray(0, BLOCK), lba * BLOCK); // half of the slot reached the medium
        throw new IscsiError("ISCSI_ERR_SESSION_CLOSED", "the session could not be re-established");
      }
      disk.set(data, lba * BLOCK);
    },
    async read(lba: number, blocks: number, io: { readonly into?: Uint8Array } = {}): Promise<Uint8Array> {
      await nextTurn();
      const out = io.into ?? new Uint8Array(blocks * BLOCK);
      out.set(disk.subarray(lba * BLOCK, (lba + blocks) * BLOCK));
      if (options.corruptReads === true) out[BLOCK + 40] = (out[BLOCK + 40] as number) ^ 1;
      return out;
    },
  };
  return { lun: lun as unknown as Lun, disk };
}

async function runUntil(loop: VerifiedLoop, done: () => boolean): Promise<void> {
  loop.start();
  while (!done() && !loop.failed) await nextTurn();
  await loop.stop();
}

const regionOf = (disk: Uint8Array): Uint8Array => disk.subarray(REGION.startLba * BLOCK, REGION.startLba * BLOCK + REGION_BYTES);

describe("the verified loop", () => {
  it("writes every slot, reads each back right, and finds the region as acknowledged", async () => {
    const { lun, disk } = memoryLun();
    const loop = new VerifiedLoop(7, lun, REGION, 2);
    await runUntil(loop, () => loop.ops.length >= 4 * REGION.slots * 2);
    expect(loop.failures).toEqual([]);
    expect(loop.slotCounts).toEqual({ written: REGION.slots, unacknowledged: 0 });
    expect(loop.checkRegion(regionOf(disk))).toEqual([]);
    expect(await loop.verifyThroughSession()).toEqual([]);
  });

  it("reports a block holding zeros, an older generation or another session's data where a write was acknowledged", async () => {
    const { lun, disk } = memoryLun();
    const loop = new VerifiedLoop(7, lun, REGION, 1);
    await runUntil(loop, () => loop.ops.length >= 2 * REGION.slots * 2);
    const region = regionOf(disk);
    const lbaOf = (slot: number, block: number): number => REGION.startLba + slot * REGION.slotBlocks + block;

    const zeroed = region.slice();
    zeroed.fill(0, 3 * 2 * BLOCK + BLOCK, 3 * 2 * BLOCK + 2 * BLOCK);
    expect(loop.checkRegion(zeroed)).toEqual([`session 7, LBA ${lbaOf(3, 1)}: holds zeros, expected generation 2`]);

    const stale = region.slice();
    fillBlock(stale.subarray(5 * 2 * BLOCK, 5 * 2 * BLOCK + BLOCK), 7, lbaOf(5, 0), 1);
    expect(loop.checkRegion(stale)).toEqual([`session 7, LBA ${lbaOf(5, 0)}: holds stamp of session 7, LBA ${lbaOf(5, 0)}, generation 1, expected generation 2`]);

    const foreign = region.slice();
    fillBlock(foreign.subarray(0, BLOCK), 8, lbaOf(0, 0), 2);
    expect(loop.checkRegion(foreign)).toHaveLength(1);
    expect(loop.checkRegion(foreign)[0]).toMatch(/holds stamp of session 8/);
  });

  it("accepts either generation in a slot whose last write failed unacknowledged, and stops at the failure", async () => {
    const { lun, disk } = memoryLun({ failWrite: REGION.slots + 3 });
    const loop = new VerifiedLoop(3, lun, REGION, 1);
    await runUntil(loop, () => false);
    expect(loop.failures).toHaveLength(1);
    expect((loop.failures[0]?.error as IscsiError).code).toBe("ISCSI_ERR_SESSION_CLOSED");
    expect(loop.slotCounts).toEqual({ written: REGION.slots, unacknowledged: 1 });
    // Slot 2 holds generation 2 in its first block and 1 in its second: each block is one of the two.
    expect(describeBlock(regionOf(disk).subarray(2 * 2 * BLOCK, 2 * 2 * BLOCK + BLOCK))).toMatch(/generation 2$/);
    expect(loop.checkRegion(regionOf(disk))).toEqual([]);
  });

  it("counts a read-back that differs from what was just written as a mismatch and stops", async () => {
    const { lun } = memoryLun({ corruptReads: true });
    const loop = new VerifiedLoop(1, lun, REGION, 1);
    await runUntil(loop, () => false);
    expect(loop.mismatches).toEqual([
      `session 1, LBA ${REGION.startLba + 1}: read back stamp of session 1, LBA ${REGION.startLba + 1}, generation 1 right after writing generation 1 (first difference at byte 40 of the block)`,
    ]);
    expect(loop.failed).toBe(true);
  });
});

describe("percentile", () => {
  it("takes the nearest rank, so p99 of 200 values is the 198th smallest", () => {
    const values = Array.from({ length: 200 }, (_, i) => 200 - i);
    expect(percentile(values, 50)).toBe(100);
    expect(percentile(values, 99)).toBe(198);
    expect(percentile(values, 100)).toBe(200);
    expect(percentile([], 99)).toBeNaN();
  });
});
