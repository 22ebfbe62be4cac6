import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../errors.js";
import { hexOf } from "../hex.js";
import { MAX_UNMAP_DESCRIPTORS, buildUnmapParameterList, parseUnmapParameterList } from "./unmap.js";
import { U64_MAX, u64Result } from "./wire.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");

describe("UNMAP parameter list", () => {
  it("is the bytes libiscsi sends for one descriptor", () => {
    // fixtures/libiscsi-cdbs.hex: UNMAP of LBA 0, 1 block.
    expect(hexOf(buildUnmapParameterList([{ lba: 0, blocks: 1 }]))).toBe(h("0016 0010 00000000  0000000000000000 00000001 00000000"));
  });

  it("counts UNMAP DATA LENGTH from byte 2 and the descriptor length from byte 8", () => {
    const list = buildUnmapParameterList([{ lba: 0x0102030405060708n, blocks: 0x090a0b0c }, { lba: 5, blocks: 6 }]);
    expect(list.length).toBe(40);
    expect(hexOf(list.subarray(0, 4))).toBe("00260020");
    expect(hexOf(list.subarray(8, 24))).toBe(h("0102030405060708 090a0b0c 00000000"));
  });

  it("round-trips through the target-side parser", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ lba: fc.bigInt({ min: 0n, max: U64_MAX }), blocks: fc.integer({ min: 0, max: 2 ** 32 - 1 }) }), { maxLength: 30 }),
        (descriptors) => {
          expect(parseUnmapParameterList(buildUnmapParameterList(descriptors))).toEqual({
            kind: "unmap-parameters",
            descriptors: descriptors.map((d) => ({ lba: u64Result(d.lba), blocks: d.blocks })),
          });
        },
      ),
    );
  });

  it("holds at most 4095 descriptors, what a 16-bit PARAMETER LIST LENGTH allows", () => {
    expect(MAX_UNMAP_DESCRIPTORS).toBe(4095);
    const many = new Array(MAX_UNMAP_DESCRIPTORS).fill({ lba: 0, blocks: 1 });
    expect(buildUnmapParameterList(many).length).toBe(65528);
    expect(() => buildUnmapParameterList([...many, { lba: 0, blocks: 1 }])).toThrow(LocalProtocolError);
  });

  it("parses an empty list as nothing to unmap and a 1-7 byte list as a PARAMETER LIST LENGTH ERROR", () => {
    expect(parseUnmapParameterList(new Uint8Array(0))).toEqual({ kind: "unmap-parameters", descriptors: [] });
    expect(parseUnmapParameterList(new Uint8Array(7))).toMatchObject({ kind: "invalid", asc: 0x1a, ascq: 0 });
  });

  it("refuses a descriptor length beyond the data and ignores a trailing partial descriptor", () => {
    const list = buildUnmapParameterList([{ lba: 1, blocks: 2 }]);
    expect(parseUnmapParameterList(list.subarray(0, 20))).toMatchObject({ kind: "invalid", asc: 0x1a, field: 2 });
    const odd = Uint8Array.from(list);
    odd[3] = 20;
    const withTail = new Uint8Array(28);
    withTail.set(odd);
    expect(parseUnmapParameterList(withTail)).toEqual({ kind: "unmap-parameters", descriptors: [{ lba: 1, blocks: 2 }] });
  });
});
