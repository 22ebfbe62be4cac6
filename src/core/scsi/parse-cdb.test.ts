import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IscsiError, LocalProtocolError } from "../errors.js";
import {
  buildCompareAndWriteCdb,
  buildInquiryCdb,
  buildModeSense10Cdb,
  buildModeSense6Cdb,
  buildPersistentReserveInCdb,
  buildPersistentReserveOutCdb,
  buildPreventAllowMediumRemovalCdb,
  buildRead10Cdb,
  buildRead16Cdb,
  buildReadCapacity10Cdb,
  buildReadCapacity16Cdb,
  buildReportLunsCdb,
  buildRequestSenseCdb,
  buildStartStopUnitCdb,
  buildSynchronizeCache10Cdb,
  buildSynchronizeCache16Cdb,
  buildTestUnitReadyCdb,
  buildUnmapCdb,
  buildVerify10Cdb,
  buildVerify16Cdb,
  buildWrite10Cdb,
  buildWrite16Cdb,
  buildWriteSame10Cdb,
  buildWriteSame16Cdb,
} from "./cdb.js";
import { fromHex } from "../hex.js";
import type { PageControl } from "./mode-pages.js";
import { parseCdb } from "./parse-cdb.js";
import type { PrInServiceAction, PrOutServiceAction, PrType } from "./persistent-reservation.js";
import { U64_MAX, u64Result } from "./wire.js";

const lba32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const lba64 = fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.maxSafeNat());
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const flags = fc.record({ fua: fc.boolean(), dpo: fc.boolean(), group: fc.integer({ min: 0, max: 31 }), protect: fc.integer({ min: 0, max: 7 }) });
const asU64 = (v: number | bigint) => u64Result(BigInt(v));
const cdb = (hex: string): Uint8Array => fromHex("test CDB", hex.replace(/\s+/g, ""));

describe("parseCdb reads back what the builders wrote", () => {
  it("round-trips READ(10) and WRITE(10)", () => {
    fc.assert(
      fc.property(lba32, u16, flags, fc.boolean(), (lba, blocks, f, write) => {
        const built = (write ? buildWrite10Cdb : buildRead10Cdb)({ lba, blocks, ...f });
        expect(parseCdb(built)).toEqual({ kind: write ? "write" : "read", variant: 10, opcode: built[0], control: 0, lba, blocks, ...f });
      }),
    );
  });

  it("round-trips READ(16) and WRITE(16), giving the LBA as a number below 2^53 and a bigint above", () => {
    fc.assert(
      fc.property(lba64, u32, flags, fc.boolean(), (lba, blocks, f, write) => {
        const built = (write ? buildWrite16Cdb : buildRead16Cdb)({ lba, blocks, ...f });
        const parsed = parseCdb(built);
        expect(parsed).toEqual({ kind: write ? "write" : "read", variant: 16, opcode: built[0], control: 0, lba: asU64(lba), blocks, ...f });
        if (parsed.kind === "read" || parsed.kind === "write") {
          expect(typeof parsed.lba).toBe(BigInt(lba) <= BigInt(Number.MAX_SAFE_INTEGER) ? "number" : "bigint");
        }
      }),
    );
  });

  it("round-trips VERIFY(10) and VERIFY(16)", () => {
    const byteCheck = fc.constantFrom(0 as const, 1 as const, 3 as const);
    fc.assert(
      fc.property(lba32, u16, byteCheck, fc.boolean(), (lba, blocks, bc, dpo) => {
        expect(parseCdb(buildVerify10Cdb({ lba, blocks, byteCheck: bc, dpo }))).toMatchObject({ kind: "verify", variant: 10, lba, blocks, byteCheck: bc, dpo });
      }),
    );
    fc.assert(
      fc.property(lba64, u32, byteCheck, (lba, blocks, bc) => {
        expect(parseCdb(buildVerify16Cdb({ lba, blocks, byteCheck: bc }))).toMatchObject({ kind: "verify", variant: 16, lba: asU64(lba), blocks, byteCheck: bc });
      }),
    );
  });

  it("round-trips WRITE SAME(10) and WRITE SAME(16) with UNMAP, ANCHOR and NDOB", () => {
    const ws = fc.record({ unmap: fc.boolean(), anchor: fc.boolean(), ndob: fc.boolean() }).map((w) => ({ ...w, anchor: w.anchor && w.unmap }));
    fc.assert(
      fc.property(lba64, u32, ws, (lba, blocks, w) => {
        expect(parseCdb(buildWriteSame16Cdb({ lba, blocks, ...w }))).toMatchObject({ kind: "write-same", variant: 16, lba: asU64(lba), blocks, ...w });
      }),
    );
    fc.assert(
      fc.property(lba32, u16, ws, (lba, blocks, w) => {
        const parsed = parseCdb(buildWriteSame10Cdb({ lba, blocks, unmap: w.unmap, anchor: w.anchor }));
        expect(parsed).toMatchObject({ kind: "write-same", variant: 10, lba, blocks, unmap: w.unmap, anchor: w.anchor, ndob: false });
      }),
    );
  });

  it("round-trips SYNCHRONIZE CACHE(10) and (16)", () => {
    fc.assert(
      fc.property(lba32, u16, fc.boolean(), (lba, blocks, immed) => {
        expect(parseCdb(buildSynchronizeCache10Cdb({ lba, blocks, immed }))).toMatchObject({ kind: "synchronize-cache", variant: 10, lba, blocks, immed });
      }),
    );
    fc.assert(
      fc.property(lba64, u32, fc.boolean(), (lba, blocks, immed) => {
        expect(parseCdb(buildSynchronizeCache16Cdb({ lba, blocks, immed }))).toMatchObject({ kind: "synchronize-cache", variant: 16, lba: asU64(lba), blocks, immed });
      }),
    );
  });

  it("round-trips COMPARE AND WRITE", () => {
    fc.assert(
      fc.property(lba64, fc.integer({ min: 0, max: 255 }), flags, (lba, blocks, f) => {
        expect(parseCdb(buildCompareAndWriteCdb({ lba, blocks, ...f }))).toEqual({ kind: "compare-and-write", opcode: 0x89, control: 0, lba: asU64(lba), blocks, ...f });
      }),
    );
  });

  it("round-trips INQUIRY, standard and EVPD", () => {
    fc.assert(
      fc.property(fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }), u16, (vpdPage, allocationLength) => {
        expect(parseCdb(buildInquiryCdb({ vpdPage, allocationLength }))).toEqual({
          kind: "inquiry",
          opcode: 0x12,
          control: 0,
          evpd: vpdPage !== undefined,
          page: vpdPage ?? 0,
          allocationLength,
        });
      }),
    );
  });

  it("round-trips MODE SENSE(6) and MODE SENSE(10)", () => {
    const ms = fc.record({
      dbd: fc.boolean(),
      pageControl: fc.integer({ min: 0, max: 3 }).map((v) => v as PageControl),
      page: fc.integer({ min: 0, max: 0x3f }),
      subpage: fc.integer({ min: 0, max: 0xff }),
    });
    fc.assert(
      fc.property(ms, fc.integer({ min: 0, max: 255 }), (m, allocationLength) => {
        expect(parseCdb(buildModeSense6Cdb({ ...m, allocationLength }))).toEqual({ kind: "mode-sense", variant: 6, opcode: 0x1a, control: 0, llbaa: false, ...m, allocationLength });
      }),
    );
    fc.assert(
      fc.property(ms, u16, fc.boolean(), (m, allocationLength, llbaa) => {
        expect(parseCdb(buildModeSense10Cdb({ ...m, allocationLength, llbaa }))).toEqual({ kind: "mode-sense", variant: 10, opcode: 0x5a, control: 0, llbaa, ...m, allocationLength });
      }),
    );
  });

  it("round-trips PERSISTENT RESERVE IN and OUT", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), u16, (sa, allocationLength) => {
        expect(parseCdb(buildPersistentReserveInCdb({ serviceAction: sa as PrInServiceAction, allocationLength }))).toEqual({
          kind: "persistent-reserve-in",
          opcode: 0x5e,
          control: 0,
          serviceAction: sa,
          allocationLength,
        });
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.constantFrom(1, 3, 5, 6, 7, 8), u32, (sa, type, parameterListLength) => {
        const built = buildPersistentReserveOutCdb({ serviceAction: sa as PrOutServiceAction, type: type as PrType, parameterListLength });
        expect(parseCdb(built)).toEqual({ kind: "persistent-reserve-out", opcode: 0x5f, control: 0, serviceAction: sa, scope: 0, type, parameterListLength });
      }),
    );
  });

  it("round-trips the commands without data fields", () => {
    expect(parseCdb(buildTestUnitReadyCdb())).toEqual({ kind: "test-unit-ready", opcode: 0, control: 0 });
    expect(parseCdb(buildReadCapacity10Cdb())).toEqual({ kind: "read-capacity-10", opcode: 0x25, control: 0 });
    expect(parseCdb(buildReadCapacity16Cdb({ allocationLength: 32 }))).toEqual({ kind: "read-capacity-16", opcode: 0x9e, control: 0, allocationLength: 32 });
    expect(parseCdb(buildReportLunsCdb({ selectReport: 2, allocationLength: 1024 }))).toEqual({ kind: "report-luns", opcode: 0xa0, control: 0, selectReport: 2, allocationLength: 1024 });
    expect(parseCdb(buildRequestSenseCdb({ descriptor: true, allocationLength: 96 }))).toEqual({ kind: "request-sense", opcode: 3, control: 0, descriptor: true, allocationLength: 96 });
    expect(parseCdb(buildUnmapCdb({ parameterListLength: 40, anchor: true, group: 4 }))).toEqual({ kind: "unmap", opcode: 0x42, control: 0, anchor: true, group: 4, parameterListLength: 40 });
    expect(parseCdb(buildStartStopUnitCdb({ start: true, loadEject: true, immed: true, noFlush: true, powerCondition: 2, powerConditionModifier: 1 }))).toEqual({
      kind: "start-stop-unit",
      opcode: 0x1b,
      control: 0,
      immed: true,
      powerConditionModifier: 1,
      powerCondition: 2,
      noFlush: true,
      loadEject: true,
      start: true,
    });
    expect(parseCdb(buildPreventAllowMediumRemovalCdb({ prevent: 3 }))).toEqual({ kind: "prevent-allow-medium-removal", opcode: 0x1e, control: 0, prevent: 3 });
  });
});

describe("parseCdb decodes what the builders do not make", () => {
  it("reads READ(6) with a 21-bit LBA and TRANSFER LENGTH 0 as 256 blocks", () => {
    expect(parseCdb(cdb("08 1f ff ff 00 00"))).toMatchObject({ kind: "read", variant: 6, lba: 0x1fffff, blocks: 256, fua: false });
    expect(parseCdb(cdb("0a 00 01 00 08 04"))).toMatchObject({ kind: "write", variant: 6, lba: 0x100, blocks: 8, control: 4 });
  });

  it("reads READ(12) and WRITE(12) with 32-bit lengths", () => {
    expect(parseCdb(cdb("a8 08 00 00 00 10 00 01 00 00 05 00"))).toMatchObject({ kind: "read", variant: 12, lba: 16, blocks: 0x10000, fua: true, group: 5 });
    expect(parseCdb(cdb("aa 10 00 00 00 10 00 00 00 02 00 00"))).toMatchObject({ kind: "write", variant: 12, lba: 16, blocks: 2, dpo: true });
  });

  it("takes the CONTROL byte from the command's own length and ignores iSCSI's zero padding", () => {
    const padded = new Uint8Array(16);
    padded.set(cdb("12 00 00 00 24 04"));
    padded[15] = 0xff;
    expect(parseCdb(padded)).toMatchObject({ kind: "inquiry", allocationLength: 36, control: 4 });
  });

  it("reports a service action it does not know as unknown, with the service action", () => {
    expect(parseCdb(cdb("9e 12 00 00 00 00 00 00 00 00 00 00 00 20 00 00"))).toEqual({ kind: "unknown", opcode: 0x9e, serviceAction: 0x12, name: "GET LBA STATUS" });
    expect(parseCdb(cdb("a3 0c 80 00 00 00 ff ff 00 00 00 00"))).toMatchObject({ kind: "unknown", opcode: 0xa3, serviceAction: 0x0c });
    expect(parseCdb(cdb("7f 00 00 00 00 00 00 18 00 09 " + "00".repeat(22)))).toMatchObject({ kind: "unknown", opcode: 0x7f, serviceAction: 9 });
  });

  it("reports vendor-specific and unknown opcodes as unknown", () => {
    expect(parseCdb(cdb("c0 00 00 00 00 00"))).toEqual({ kind: "unknown", opcode: 0xc0, serviceAction: undefined, name: "opcode 0xc0" });
    expect(parseCdb(cdb("04 00 00 00 00 00"))).toMatchObject({ kind: "unknown", opcode: 0x04 });
  });

  it("throws LocalProtocolError for an empty CDB, the caller's mistake", () => {
    expect(() => parseCdb(new Uint8Array(0))).toThrow(LocalProtocolError);
  });
});

describe("parseCdb turns forbidden fields into INVALID FIELD IN CDB results", () => {
  const cases: [string, string, number, number | undefined][] = [
    ["INQUIRY with a page code but no EVPD", "12 00 80 00 40 00", 2, 7],
    ["INQUIRY with CMDDT set", "12 02 00 00 40 00", 1, 1],
    ["READ CAPACITY(10) with an LBA but no PMI", "25 00 00 00 00 01 00 00 00 00", 2, 7],
    ["READ CAPACITY(16) with an LBA but no PMI", "9e 10 00 00 00 00 00 00 00 01 00 00 00 20 00 00", 2, 7],
    ["WRITE SAME(16) with ANCHOR but not UNMAP", "93 10 00 00 00 00 00 00 00 00 00 00 00 01 00 00", 1, 4],
    ["WRITE SAME(10) with ANCHOR but not UNMAP", "41 10 00 00 00 00 00 00 01 00", 1, 4],
    ["VERIFY(10) with BYTCHK 10b", "2f 04 00 00 00 00 00 00 01 00", 1, 2],
    ["PERSISTENT RESERVE IN with service action 4", "5e 04 00 00 00 00 00 40 00 00", 1, 4],
    ["PERSISTENT RESERVE OUT with service action 9", "5f 09 00 00 00 00 00 00 18 00", 1, 4],
    ["PERSISTENT RESERVE OUT RESERVE with TYPE 2", "5f 01 02 00 00 00 00 00 18 00", 2, 3],
    ["PERSISTENT RESERVE OUT RELEASE with SCOPE 1", "5f 02 11 00 00 00 00 00 18 00", 2, 7],
    ["a READ(16) cut to 10 bytes", "88 00 00 00 00 00 00 00 00 00", 10, undefined],
  ];
  it.each(cases)("flags %s", (_name, hex, field, bit) => {
    const parsed = parseCdb(cdb(hex));
    expect(parsed).toMatchObject({ kind: "invalid", opcode: cdb(hex)[0], field, bit });
  });

  it("accepts READ CAPACITY with PMI and an LBA, and REGISTER whatever its TYPE", () => {
    expect(parseCdb(cdb("25 00 00 00 00 01 00 00 01 00")).kind).toBe("read-capacity-10");
    expect(parseCdb(cdb("5f 00 02 00 00 00 00 00 18 00"))).toMatchObject({ kind: "persistent-reserve-out", serviceAction: 0, type: 2 });
  });
});

describe("parseCdb on arbitrary bytes", () => {
  it("never throws and always names the opcode it saw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
        const parsed = parseCdb(bytes);
        expect(parsed.opcode).toBe(bytes[0]);
      }),
      { numRuns: 5000 },
    );
  });

  it("gives the same result for a CDB inside a larger buffer as for a copy", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), (bytes) => {
        const big = new Uint8Array(bytes.length + 16).fill(0xa5);
        big.set(bytes);
        let viewResult: unknown;
        let copyResult: unknown;
        try {
          viewResult = parseCdb(big.subarray(0, bytes.length));
        } catch (e) {
          expect(e).toBeInstanceOf(IscsiError);
          viewResult = e;
        }
        try {
          copyResult = parseCdb(Uint8Array.from(bytes));
        } catch (e) {
          copyResult = e;
        }
        expect(viewResult).toEqual(copyResult);
      }),
    );
  });
});
