import { describe, expect, it } from "vitest";
import { BufferPool } from "./buffer-pool.js";
import { ByteQueue } from "./engine/byte-queue.js";

describe("BufferPool", () => {
  it("hands a released buffer out again for the same size, and a new one for another size", () => {
    const pool = new BufferPool();
    const a = pool.take(4096);
    expect(a.length).toBe(4096);
    pool.release(a);
    expect(pool.bytes).toBe(4096);
    expect(pool.take(8192)).not.toBe(a);
    expect(pool.take(4096)).toBe(a);
    expect(pool.bytes).toBe(0);
  });

  it("never hands out the same buffer twice without a release in between", () => {
    const pool = new BufferPool();
    const taken = new Set(Array.from({ length: 64 }, () => pool.take(512)));
    expect(taken.size).toBe(64);
    for (const b of taken) pool.release(b);
    const again = Array.from({ length: 64 }, () => pool.take(512));
    expect(new Set(again).size).toBe(64);
    expect(again.every((b) => taken.has(b))).toBe(true);
  });

  it("keeps no more than its byte limit, no buffer over its size limit, and no view of a larger buffer", () => {
    const pool = new BufferPool(8192, 4096);
    for (let i = 0; i < 4; i++) pool.release(new Uint8Array(4096));
    expect(pool.bytes).toBe(8192);
    const small = new BufferPool();
    small.release(new Uint8Array(8 * 1024 * 1024));
    small.release(new Uint8Array(8192).subarray(0, 4096));
    expect(small.bytes).toBe(0);
  });
});

describe("ByteQueue.take with an allocator", () => {
  it("copies a run that spans chunks into the allocated buffer, and gives a view for a run inside one chunk", () => {
    const queue = new ByteQueue();
    queue.push(Uint8Array.of(1, 2, 3));
    queue.push(Uint8Array.of(4, 5, 6));
    const target = new Uint8Array(4).fill(0xee);
    let asked = 0;
    const got = queue.take(4, (n) => {
      asked = n;
      return target;
    });
    expect(got).toBe(target);
    expect([asked, ...got]).toEqual([4, 1, 2, 3, 4]);
    const view = queue.take(2, () => {
      throw new Error("a run inside one chunk is not copied");
    });
    expect([...view]).toEqual([5, 6]);
  });
});
