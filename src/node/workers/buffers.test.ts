import { describe, expect, it } from "vitest";
import { allocateShared, isShared, movable, outgoing, prefix } from "./buffers.js";

describe("how a caller's buffer crosses to a worker", () => {
  it("sends shared memory as it is: no copy and nothing moved", () => {
    const data = allocateShared(4096);
    const out = outgoing(data, false);
    expect(out.view).toBe(data);
    expect(out.transfer).toBeUndefined();
    expect(isShared(data)).toBe(true);
  });

  it("moves a plain buffer's ArrayBuffer when the caller allows it", () => {
    const data = new Uint8Array(4096);
    const out = outgoing(data, true);
    expect(out.view).toBe(data);
    expect(out.transfer).toBe(data.buffer);
  });

  it("copies just the view of a plain buffer otherwise, into a buffer of its own to move", () => {
    const big = new Uint8Array(1 << 20).fill(7);
    const view = big.subarray(4096, 8192);
    const out = outgoing(view, false);
    expect(out.view).not.toBe(view);
    expect(out.view.buffer.byteLength).toBe(4096);
    expect(out.transfer).toBe(out.view.buffer);
    expect([...out.view.subarray(0, 4)]).toEqual([7, 7, 7, 7]);
  });

  it("copies a slice of Node's Buffer pool even with transfer: moving it would take other Buffers' memory", () => {
    const pooled = Buffer.from("a small buffer from the pool");
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
    expect(movable(pooled, true)).toBe(false);
    expect(outgoing(pooled, true).view).not.toBe(pooled);
  });

  it("returns the caller's array itself when the data fills it, else the front of it", () => {
    const into = new Uint8Array(8);
    expect(prefix(into, 8)).toBe(into);
    expect(prefix(into, 4).buffer).toBe(into.buffer);
    expect(prefix(into, 4).length).toBe(4);
  });
});
