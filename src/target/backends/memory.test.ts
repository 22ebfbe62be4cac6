import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryBackend } from "./memory.js";
import { NullBackend } from "./null.js";
import { nodeIsZero } from "./open.js";
import { formatSize, parseBackendSpec, parseSize } from "./spec.js";

describe("MemoryBackend", () => {
  it("costs nothing until written, and nothing for zeros written", () => {
    const mem = new MemoryBackend(256 * 1024 * 1024);
    expect(mem.allocatedBytes).toBe(0);
    mem.write(1_000_000, new Uint8Array(300_000));
    expect(mem.allocatedBytes).toBe(0);
    mem.write(1_000_000, Uint8Array.of(1));
    expect(mem.allocatedBytes).toBe(64 * 1024);
  });

  it("reads back what was written across chunk boundaries, zeros elsewhere", () => {
    const mem = new MemoryBackend(1024 * 1024, { chunkSize: 4096 });
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => (i % 251) + 1);
    mem.write(3000, data);
    expect(mem.read(3000, 10_000)).toEqual(data);
    expect(mem.read(0, 3000).every((b) => b === 0)).toBe(true);
    expect(mem.read(2990, 20)).toEqual(new Uint8Array([...new Uint8Array(10), ...data.subarray(0, 10)]));
  });

  it("returns reads inside one chunk as a view, without copying", () => {
    const mem = new MemoryBackend(1024 * 1024, { chunkSize: 4096 });
    mem.write(4096, Uint8Array.of(5, 6, 7));
    const view = mem.read(4097, 2);
    mem.write(4097, Uint8Array.of(8));
    expect([...view]).toEqual([8, 7]);
  });

  it("returns any read inside one region as a view of the store (a 1 MiB read is not copied)", () => {
    const mem = new MemoryBackend(4 * 1024 * 1024);
    mem.write(1024 * 1024, new Uint8Array(1024 * 1024).fill(9));
    const view = mem.read(1024 * 1024, 1024 * 1024);
    mem.write(1024 * 1024 + 70_000, Uint8Array.of(1));
    expect(view[70_000]).toBe(1);
    expect(view[70_001]).toBe(9);
    // Unallocated memory reads as shared zeros.
    expect(mem.read(3 * 1024 * 1024, 1024 * 1024).every((b) => b === 0)).toBe(true);
  });

  it("creates a petabyte store at no cost, and writes anywhere in it", () => {
    const mem = new MemoryBackend(2 ** 50);
    mem.write(2 ** 50 - 4096, new Uint8Array(4096).fill(7));
    expect(mem.read(2 ** 50 - 4096, 4096).every((b) => b === 7)).toBe(true);
    expect(mem.allocatedBytes).toBe(64 * 1024);
  });

  it("assembles reads across regions and keeps regions sparse", () => {
    const mem = new MemoryBackend(64 * 1024, { chunkSize: 1024, regionSize: 8192 });
    const data = Uint8Array.from({ length: 20_000 }, (_, i) => (i % 13) + 1);
    mem.write(5000, data);
    expect(mem.read(5000, 20_000)).toEqual(data);
    expect(mem.allocatedBytes).toBe(21 * 1024);
    mem.unmap(0, 64 * 1024);
    expect(mem.allocatedBytes).toBe(0);
    expect(mem.read(0, 64 * 1024).every((b) => b === 0)).toBe(true);
    expect(mem.map(0, 64 * 1024)).toEqual([{ offset: 0, length: 64 * 1024, mapped: false }]);
  });

  it("tests for zeros the same with the Node host's memcmp as with the word loop", () => {
    const big = new Uint8Array(700_001);
    expect(nodeIsZero(big)).toBe(true);
    expect(nodeIsZero(big.subarray(3))).toBe(true);
    big[699_999] = 1;
    expect(nodeIsZero(big)).toBe(false);
    expect(nodeIsZero(big.subarray(3, 600_000))).toBe(true);
    const mem = new MemoryBackend(1024 * 1024, { isZero: nodeIsZero });
    mem.write(0, new Uint8Array(300_000));
    expect(mem.allocatedBytes).toBe(0);
    mem.write(0, big.subarray(600_000));
    expect(mem.allocatedBytes).toBe(64 * 1024);
  });

  it("gives whole chunks back on unmap and zeroes partial ones", () => {
    const mem = new MemoryBackend(64 * 1024, { chunkSize: 4096 });
    mem.write(0, new Uint8Array(64 * 1024).fill(3));
    mem.unmap(2048, 4096 * 3);
    expect(mem.allocatedBytes).toBe(64 * 1024 - 2 * 4096);
    expect(mem.read(2040, 8).every((b) => b === 3)).toBe(true);
    expect(mem.read(2048, 4096 * 3).every((b) => b === 0)).toBe(true);
    expect(mem.read(2048 + 4096 * 3, 8).every((b) => b === 3)).toBe(true);
  });

  it("repeats a block with writeSame, starting each block over", () => {
    const mem = new MemoryBackend(1024 * 1024, { chunkSize: 4096 });
    const block = Uint8Array.from({ length: 512 }, (_, i) => i & 0xff);
    mem.writeSame(1024, 512 * 20, block);
    for (let i = 0; i < 20; i++) expect(mem.read(1024 + i * 512, 512)).toEqual(block);
    expect(mem.read(1024 + 20 * 512, 512).every((b) => b === 0)).toBe(true);
  });

  it("maps allocated chunks as mapped and the rest as deallocated, merging neighbours", () => {
    const mem = new MemoryBackend(64 * 1024, { chunkSize: 4096 });
    mem.write(4096 * 2, Uint8Array.of(1));
    mem.write(4096 * 3 + 10, Uint8Array.of(1));
    expect(mem.map(100, 6 * 4096)).toEqual([
      { offset: 100, length: 2 * 4096 - 100, mapped: false },
      { offset: 2 * 4096, length: 2 * 4096, mapped: true },
      { offset: 4 * 4096, length: 2 * 4096 + 100, mapped: false },
    ]);
  });

  it("refuses ranges outside its size", () => {
    const mem = new MemoryBackend(4096);
    expect(() => mem.read(4000, 100)).toThrow(/outside its 4096 bytes/);
    expect(() => mem.write(-1, new Uint8Array(1))).toThrow(/outside/);
  });

  it("behaves like a flat array under any sequence of writes and unmaps (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ unmap: fc.boolean(), offset: fc.integer({ min: 0, max: 30_000 }), length: fc.integer({ min: 0, max: 3000 }), value: fc.integer({ min: 0, max: 255 }) }),
          { maxLength: 30 },
        ),
        (ops) => {
          const size = 33_000;
          const mem = new MemoryBackend(size, { chunkSize: 1024, regionSize: 4096 });
          const flat = new Uint8Array(size);
          for (const op of ops) {
            if (op.unmap) {
              mem.unmap(op.offset, op.length);
              flat.fill(0, op.offset, op.offset + op.length);
            } else {
              mem.write(op.offset, new Uint8Array(op.length).fill(op.value));
              flat.fill(op.value, op.offset, op.offset + op.length);
            }
          }
          expect(Buffer.from(mem.read(0, size)).equals(Buffer.from(flat))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("NullBackend", () => {
  it("reads zeros whatever was written", () => {
    const nul = new NullBackend(1 << 30);
    nul.write(0, new Uint8Array(4096).fill(1));
    expect(nul.read(0, 4096).every((b) => b === 0)).toBe(true);
    expect(nul.read(0, 4 * 1024 * 1024).length).toBe(4 * 1024 * 1024);
  });
});

describe("backend specifications", () => {
  it("parses sizes with binary suffixes", () => {
    expect(parseSize("512")).toBe(512);
    expect(parseSize("64M")).toBe(64 * 2 ** 20);
    expect(parseSize("1.5G")).toBe(1.5 * 2 ** 30);
    expect(parseSize("1TiB")).toBe(2 ** 40);
    expect(() => parseSize("12Q")).toThrow(/not a size/);
    expect(() => parseSize("0")).toThrow(/positive/);
    expect(formatSize(256 * 2 ** 20)).toBe("256MiB");
  });

  it("parses mem:, null:, file: and bare paths", () => {
    expect(parseBackendSpec("mem:256M")).toEqual({ kind: "mem", size: 256 * 2 ** 20 });
    expect(parseBackendSpec("null:1T")).toEqual({ kind: "null", size: 2 ** 40 });
    expect(parseBackendSpec("file:/tmp/x.img")).toEqual({ kind: "file", path: "/tmp/x.img" });
    expect(parseBackendSpec("/dev/sdb")).toEqual({ kind: "file", path: "/dev/sdb" });
    expect(() => parseBackendSpec("nbd:foo")).toThrow(/not a backend/);
  });
});
