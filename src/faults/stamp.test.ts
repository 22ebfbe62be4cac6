import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readStamp, stampBlock, stampBlocks } from "./stamp.js";

const arbStamp = fc.record({
  runId: fc.integer({ min: 0, max: 0xffff_ffff }),
  worker: fc.integer({ min: 0, max: 0xffff }),
  lba: fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  generation: fc.integer({ min: 1, max: 0xffff_ffff }),
  writeId: fc.integer({ min: 0, max: 0xffff_ffff }),
});

describe("block stamps", () => {
  it("read back what was stamped, for any stamp and block size", () => {
    fc.assert(
      fc.property(arbStamp, fc.constantFrom(64, 512, 4096), (stamp, size) => {
        const block = new Uint8Array(size);
        stampBlock(block, stamp);
        expect(readStamp(block)).toEqual({ kind: "stamped", stamp });
      }),
    );
  });

  it("turn any single flipped bit into a corrupt or foreign block", () => {
    fc.assert(
      fc.property(arbStamp, fc.nat(512 * 8 - 1), (stamp, bit) => {
        const block = new Uint8Array(512);
        stampBlock(block, stamp);
        block[bit >> 3] = (block[bit >> 3] as number) ^ (1 << (bit & 7));
        expect(["corrupt", "foreign"]).toContain(readStamp(block).kind);
      }),
    );
  });

  it("differ between LBAs and generations everywhere, so a misplaced block is told apart", () => {
    const a = stampBlocks(512, 2, { runId: 1, worker: 0, lba: 100, generation: 3, writeId: 9 });
    const b = stampBlocks(512, 1, { runId: 1, worker: 0, lba: 101, generation: 4, writeId: 9 });
    let same = 0;
    for (let i = 32; i < 508; i++) if (a[512 + i] === b[i]) same++;
    expect(same).toBeLessThan(20);
    expect(readStamp(a.subarray(512))).toMatchObject({ kind: "stamped", stamp: { lba: 101, generation: 3 } });
  });

  it("tell a zeroed block from someone else's data", () => {
    expect(readStamp(new Uint8Array(512))).toEqual({ kind: "blank" });
    expect(readStamp(new Uint8Array(512).fill(0xaa))).toEqual({ kind: "foreign" });
  });

  it("refuse blocks too small to carry a stamp", () => {
    expect(() => stampBlock(new Uint8Array(32), { runId: 1, worker: 0, lba: 0, generation: 1, writeId: 1 })).toThrow(/at least 64 bytes/);
  });
});
