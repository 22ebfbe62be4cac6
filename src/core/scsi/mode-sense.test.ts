import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { hexOf } from "../hex.js";
import { ModePageCode, decodeControlPage, encodeCachingPage, encodeControlPage, encodeModePage } from "./mode-pages.js";
import { buildModeSense10Data, buildModeSense6Data, findModePage, parseModeSense10Data, parseModeSense6Data } from "./mode-sense.js";
import { U64_MAX, u64Result } from "./wire.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");

describe("MODE SENSE(6) data", () => {
  it("builds the header, a short block descriptor and the pages as tgtd does for the control page", () => {
    const data = buildModeSense6Data({
      dpoFua: true,
      blockDescriptors: [{ blocks: 0, blockLength: 512 }],
      pages: [encodeControlPage({ gltsd: true, queueAlgorithmModifier: 1, extendedSelfTestCompletionTime: 0x200 })],
    });
    expect(hexOf(data)).toBe(h("17 00 10 08  00 00 00 00 00 00 02 00  0a 0a 02 10 00 00 00 00 00 00 02 00"));
  });

  it("round-trips header fields, descriptors and pages", () => {
    fc.assert(
      fc.property(
        fc.record({
          mediumType: fc.integer({ min: 0, max: 255 }),
          writeProtect: fc.boolean(),
          dpoFua: fc.boolean(),
          blockDescriptors: fc.array(fc.record({ blocks: fc.integer({ min: 0, max: 2 ** 32 - 1 }), blockLength: fc.integer({ min: 0, max: 0xffffff }) }), { maxLength: 3 }),
          pageData: fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 4 }),
        }),
        (d) => {
          const pages = d.pageData.map((parameters, i) => encodeModePage({ pageCode: i + 1, parameters }));
          const parsed = parseModeSense6Data(buildModeSense6Data({ ...d, pages }));
          expect(parsed).toMatchObject({ variant: 6, mediumType: d.mediumType, writeProtect: d.writeProtect, dpoFua: d.dpoFua, blockDescriptors: d.blockDescriptors, truncated: false, longLba: false });
          expect(parsed.pages.map((p) => Array.from(p.parameters))).toEqual(d.pageData.map((p) => Array.from(p)));
        },
      ),
    );
  });

  it("reports a block count beyond 32 bits as 0xFFFFFFFF in a short descriptor", () => {
    const data = buildModeSense6Data({ blockDescriptors: [{ blocks: 2n ** 40n, blockLength: 4096 }], pages: [] });
    expect(parseModeSense6Data(data).blockDescriptors).toEqual([{ blocks: 0xffffffff, blockLength: 4096 }]);
  });

  it("refuses data that does not fit the one-byte MODE DATA LENGTH", () => {
    expect(() => buildModeSense6Data({ pages: [new Uint8Array(253)] })).toThrow(LocalProtocolError);
    expect(buildModeSense6Data({ pages: [new Uint8Array(252)] }).length).toBe(256);
  });

  it("says truncated and keeps whole pages when the allocation length cut the data", () => {
    const data = buildModeSense6Data({ pages: [encodeCachingPage({ wce: true }), encodeControlPage({})] });
    const parsed = parseModeSense6Data(data.subarray(0, 30));
    expect(parsed.truncated).toBe(true);
    expect(parsed.pages.map((p) => p.pageCode)).toEqual([ModePageCode.Caching]);
  });

  it("refuses a malformed header", () => {
    expect(() => parseModeSense6Data(Uint8Array.of(3, 0, 0))).toThrow(RemoteProtocolError);
    expect(() => parseModeSense6Data(Uint8Array.of(2, 0, 0, 0))).toThrow(/shorter than its own header/);
    expect(() => parseModeSense6Data(Uint8Array.of(11, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0))).toThrow(/not a multiple of 8/);
    expect(() => parseModeSense6Data(Uint8Array.of(3, 0, 0, 8))).toThrow(/runs past MODE DATA LENGTH/);
  });
});

describe("MODE SENSE(10) data", () => {
  it("builds the 8-byte header and 16-byte long LBA descriptors", () => {
    const data = buildModeSense10Data({ longLba: true, writeProtect: true, blockDescriptors: [{ blocks: 0x0102030405060708n, blockLength: 4096 }], pages: [] });
    expect(hexOf(data)).toBe(h("00 16 00 80 01 00 00 10  01 02 03 04 05 06 07 08 00 00 00 00 00 00 10 00"));
  });

  it("round-trips short and long descriptors and pages", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.bigInt({ min: 0n, max: U64_MAX }), { maxLength: 3 }),
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 3 }),
        (longLba, counts, pageData) => {
          const blockDescriptors = counts.map((c) => ({ blocks: longLba ? c : c & 0xffffffffn, blockLength: 512 }));
          const pages = pageData.map((parameters, i) => encodeModePage({ pageCode: i + 1, subpage: 1, parameters }));
          const parsed = parseModeSense10Data(buildModeSense10Data({ longLba, blockDescriptors, pages }));
          expect(parsed.longLba).toBe(longLba);
          expect(parsed.blockDescriptors).toEqual(blockDescriptors.map((b) => ({ blocks: u64Result(b.blocks), blockLength: 512 })));
          expect(parsed.pages.map((p) => [p.pageCode, p.subpage, p.parameters.length])).toEqual(pageData.map((p, i) => [i + 1, 1, p.length]));
        },
      ),
    );
  });

  it("finds a page by code and subpage", () => {
    const parsed = parseModeSense10Data(buildModeSense10Data({ pages: [encodeCachingPage({}), encodeControlPage({ dSense: true })] }));
    const control = findModePage(parsed, ModePageCode.Control);
    expect(control && decodeControlPage(control).dSense).toBe(true);
    expect(findModePage(parsed, ModePageCode.Control, 1)).toBeUndefined();
  });
});
