import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../core/errors.js";
import { formatBytes, formatDuration, formatRate, parseCount, parseDuration, parseSize } from "./units.js";

describe("parseSize", () => {
  it("reads a bare number as bytes", () => {
    expect(parseSize("4096")).toBe(4096);
    expect(parseSize("0")).toBe(0);
  });

  it("reads k, M, G, T and P as powers of 1024 whatever their case", () => {
    expect(parseSize("4k")).toBe(4 * 1024);
    expect(parseSize("4K")).toBe(4 * 1024);
    expect(parseSize("1M")).toBe(1024 ** 2);
    expect(parseSize("1m")).toBe(1024 ** 2);
    expect(parseSize("2G")).toBe(2 * 1024 ** 3);
    expect(parseSize("1T")).toBe(1024 ** 4);
    expect(parseSize("1P")).toBe(1024 ** 5);
  });

  it("reads the IEC spellings KiB, MiB, GiB, TiB", () => {
    expect(parseSize("256MiB")).toBe(256 * 1024 ** 2);
    expect(parseSize("4KiB")).toBe(4096);
    expect(parseSize("1 GiB")).toBe(1024 ** 3);
    expect(parseSize("3TiB")).toBe(3 * 1024 ** 4);
  });

  it("reads kB, MB, GB, TB as powers of 1000, as dd does", () => {
    expect(parseSize("1kB")).toBe(1000);
    expect(parseSize("1MB")).toBe(1_000_000);
    expect(parseSize("5GB")).toBe(5_000_000_000);
    expect(parseSize("1TB")).toBe(1e12);
  });

  it("accepts a fraction when the product is a whole number of bytes", () => {
    expect(parseSize("1.5k")).toBe(1536);
    expect(parseSize("0.5M")).toBe(512 * 1024);
    expect(parseSize(".5k")).toBe(512);
  });

  it("refuses a fraction of a byte, naming the option", () => {
    expect(() => parseSize("1.1k", "--bs")).toThrow(/--bs "1.1k" is not a whole number of bytes/);
    expect(() => parseSize("0.5")).toThrow(ConfigError);
  });

  it("refuses text that is not a size, an unknown unit, a negative number and an overflow", () => {
    expect(() => parseSize("", "--bs")).toThrow(/--bs "" is not a size/);
    expect(() => parseSize("abc")).toThrow(/is not a size/);
    expect(() => parseSize("-4k")).toThrow(/is not a size/);
    expect(() => parseSize("4x", "--size")).toThrow(/--size "4x": unknown unit "x"/);
    expect(() => parseSize("100000P")).toThrow(/too large/);
  });

  it("round-trips every whole number of KiB, MiB and GiB", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 20 }), fc.constantFrom(["k", 1024], ["MiB", 1024 ** 2], ["G", 1024 ** 3]), (n, [unit, scale]) => {
        expect(parseSize(`${n}${unit as string}`)).toBe(n * (scale as number));
      }),
    );
  });
});

describe("parseDuration", () => {
  it("reads milliseconds, seconds, minutes and hours", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("10s")).toBe(10_000);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("250us")).toBeCloseTo(0.25);
  });

  it("reads a bare number as seconds, as sleep(1) does", () => {
    expect(parseDuration("3")).toBe(3000);
    expect(parseDuration("0.1")).toBeCloseTo(100);
  });

  it("refuses text that is not a duration, naming the option and the text", () => {
    expect(() => parseDuration("soon", "--timeout")).toThrow(/--timeout "soon" is not a duration/);
    expect(() => parseDuration("10 parsecs", "--time")).toThrow(/--time "10 parsecs"/);
    expect(() => parseDuration("-1s")).toThrow(ConfigError);
  });
});

describe("parseCount", () => {
  it("reads a whole number within the bounds", () => {
    expect(parseCount("0", "--lba")).toBe(0);
    expect(parseCount("32768", "--lba")).toBe(32768);
    expect(parseCount("5", "--qd", { min: 1, max: 1024 })).toBe(5);
  });

  it("refuses fractions, signs, words and values out of bounds, naming the option", () => {
    expect(() => parseCount("1.5", "--lba")).toThrow(/--lba "1.5" is not a whole number/);
    expect(() => parseCount("-1", "--count")).toThrow(/--count "-1"/);
    expect(() => parseCount("ten", "--blocks")).toThrow(/--blocks "ten"/);
    expect(() => parseCount("0", "--qd", { min: 1 })).toThrow(/--qd 0 is out of range \(1 to/);
  });
});

describe("formatBytes", () => {
  it("prints whole binary units without decimals", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(4096)).toBe("4 KiB");
    expect(formatBytes(16 * 1024 ** 2)).toBe("16 MiB");
    expect(formatBytes(1024 ** 4)).toBe("1 TiB");
  });

  it("prints fractions with at most three significant digits", () => {
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(1.25 * 1024 ** 3)).toBe("1.25 GiB");
    expect(formatBytes(123.456 * 1024 ** 2)).toBe("123 MiB");
  });

  it("moves to the next unit when rounding reaches 1024", () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe("1 MiB");
  });

  it("prints a bigint byte count", () => {
    expect(formatBytes(2n ** 60n)).toBe("1 EiB");
  });
});

describe("formatRate and formatDuration", () => {
  it("prints throughput in binary units per second, the family of formatBytes", () => {
    expect(formatRate(1.5 * 2 ** 20)).toBe("1.5 MiB/s");
    expect(formatRate(2.35 * 2 ** 30)).toBe("2.35 GiB/s");
    expect(formatRate(2048)).toBe("2.0 KiB/s");
    expect(formatRate(1_000_000)).toBe("976.6 KiB/s");
    expect(formatRate(999)).toBe("999 B/s");
  });

  it("prints durations from microseconds to hours", () => {
    expect(formatDuration(0.25)).toBe("250 µs");
    expect(formatDuration(12.34)).toBe("12.3 ms");
    expect(formatDuration(250)).toBe("250 ms");
    expect(formatDuration(4200)).toBe("4.20 s");
    expect(formatDuration(185_000)).toBe("3m05s");
    expect(formatDuration(3_720_000)).toBe("1h02m");
  });
});
