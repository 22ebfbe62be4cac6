/** The pattern generator and the comparison helpers (pure; no peer involved). */
import { readFile, writeFile } from "node:fs/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareFiles, fillPattern, firstDifference, patternBytes, verifyPatternFile, writePatternFile } from "./pattern.js";
import { useTempDir } from "./tmp.js";

describe("pattern data", () => {
  const tmp = useTempDir("iscsi-ts-pattern-");

  it("regenerates any range at any offset exactly as it appears in the whole", () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(4096), fc.nat(4096), (seed, start, length) => {
        const whole = patternBytes(0, start + length, seed);
        expect(firstDifference(patternBytes(start, length, seed), whole.subarray(start))).toBe(-1);
      }),
    );
  });

  it("differs between seeds and between positions, so misplaced data never matches", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), fc.nat(1 << 30), (a, b, offset) => {
        fc.pre(a !== b);
        const block = patternBytes(offset, 512, a);
        expect(firstDifference(block, patternBytes(offset, 512, b))).not.toBe(-1);
        expect(firstDifference(block, patternBytes(offset + 512, 512, a))).not.toBe(-1);
      }),
    );
  });

  it("is the same at offsets beyond 4 GiB computed from either side of a word boundary", () => {
    const far = 5 * 2 ** 32 + 3;
    const bytes = patternBytes(far, 9, 42);
    const shifted = new Uint8Array(7);
    fillPattern(shifted, far + 2, 42);
    expect(firstDifference(bytes.subarray(2), shifted)).toBe(-1);
  });

  it("finds the first differing byte of two arrays, or the shorter length for a prefix", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200_000 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (data, pick, delta) => {
        const at = pick % data.length;
        const changed = data.slice();
        changed[at] = ((data[at] ?? 0) + delta) & 0xff;
        expect(firstDifference(data, changed)).toBe(at);
        expect(firstDifference(data, data.slice())).toBe(-1);
        expect(firstDifference(data, data.subarray(0, at))).toBe(at);
      }),
      { numRuns: 50 },
    );
  });

  it("writes a pattern file that verifies, and names the offset of a single flipped byte", async () => {
    const path = tmp().file("p.img");
    const size = 3 * (1 << 20) + 123;
    await writePatternFile(path, size, 5);
    const bytes = await readFile(path);
    expect(bytes.length).toBe(size);
    expect(await verifyPatternFile(path, size, 5)).toBeUndefined();
    expect(await verifyPatternFile(path, size - 1000, 5, 1000)).toBeUndefined();
    expect(await verifyPatternFile(path, size, 6)).toMatchObject({ offset: 0 });

    const flipped = (1 << 20) + 4097;
    const copy = tmp().file("copy.img");
    const broken = Buffer.from(bytes);
    broken[flipped] = (broken[flipped] ?? 0) ^ 0x40;
    await writeFile(copy, broken);

    expect(await compareFiles(path, copy)).toEqual({ offset: flipped, expected: bytes[flipped], actual: broken[flipped] });
    expect(await verifyPatternFile(copy, size, 5)).toMatchObject({ offset: flipped });
    expect(await compareFiles(path, path)).toBeUndefined();
  });

  it("reports where the shorter of two files ends", async () => {
    const long = tmp().file("long.img");
    const short = tmp().file("short.img");
    await writePatternFile(long, 10_000, 1);
    await writePatternFile(short, 6_000, 1);
    const bytes = await readFile(long);

    expect(await compareFiles(long, short)).toEqual({ offset: 6_000, expected: bytes[6_000], actual: undefined });
    expect(await compareFiles(long, short, { length: 6_000 })).toBeUndefined();
  });
});
