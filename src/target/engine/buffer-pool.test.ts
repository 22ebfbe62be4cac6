import { describe, expect, it } from "vitest";
import { BufferPool } from "./buffer-pool.js";
import { TargetPair, pattern } from "./pair.test-util.js";
import { buildRead10Cdb, buildWrite10Cdb } from "../../core/scsi/cdb.js";

describe("BufferPool", () => {
  it("hands back a buffer given back, by exact size, within its bounds", () => {
    const pool = new BufferPool(10_000, 2);
    const a = pool.take(4096);
    pool.give(a);
    expect(pool.pooledBytes).toBe(4096);
    expect(pool.take(4096)).toBe(a);
    expect(pool.take(4096)).not.toBe(a);
    pool.give(a);
    pool.give(new Uint8Array(4096));
    // Over the byte bound: not kept.
    pool.give(new Uint8Array(4096));
    expect(pool.pooledBytes).toBe(8192);
    // Views of part of a buffer are never kept.
    pool.give(new Uint8Array(100).subarray(10, 20));
    expect(pool.pooledBytes).toBe(8192);
  });

  it("keeps nothing when off", () => {
    const pool = new BufferPool(0);
    pool.give(new Uint8Array(512));
    expect(pool.pooledBytes).toBe(0);
  });
});

describe("write buffers used again", () => {
  it("never mixes one command's data into another's", () => {
    const pair = new TargetPair({ target: { policy: { initialR2T: false, immediateData: true, firstBurstLength: 4096, maxBurstLength: 8192 } } });
    const side = pair.initiator().login();
    // Many writes of the same sizes: buffers come back from the pool with the last command's bytes.
    for (let i = 0; i < 40; i++) {
      const blocks = [8, 16, 8, 33][i % 4] as number;
      const data = pattern(blocks * 512, i);
      expect(side.run({ cdb: buildWrite10Cdb({ lba: i * 40, blocks }), dataOut: data }).status).toBe(0);
      const back = new Uint8Array(data.length);
      expect(side.run({ cdb: buildRead10Cdb({ lba: i * 40, blocks }), dataIn: back }).status).toBe(0);
      expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    }
  });
});
