import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../errors.js";
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
import { hexOf } from "../hex.js";
import { PageControl } from "./mode-pages.js";
import { PrInServiceAction, PrOutServiceAction, PrType } from "./persistent-reservation.js";

/** Hex with spaces for readability in the expectations below. */
const h = (spaced: string): string => spaced.replace(/\s+/g, "");

describe("CDB builders lay out bytes as SPC-4 and SBC-3 specify", () => {
  it("builds TEST UNIT READY as six zero bytes", () => {
    expect(hexOf(buildTestUnitReadyCdb())).toBe(h("00 00 00 00 00 00"));
  });

  it("builds REQUEST SENSE with DESC and the allocation length in byte 4", () => {
    expect(hexOf(buildRequestSenseCdb({ descriptor: true, allocationLength: 252 }))).toBe(h("03 01 00 00 fc 00"));
    expect(hexOf(buildRequestSenseCdb())).toBe(h("03 00 00 00 fc 00"));
  });

  it("builds standard INQUIRY and VPD INQUIRY as libiscsi sends them", () => {
    // Captured from libiscsi's iscsi-inq (see fixtures/libiscsi-cdbs.hex).
    expect(hexOf(buildInquiryCdb({ allocationLength: 64 }))).toBe(h("12 00 00 00 40 00"));
    expect(hexOf(buildInquiryCdb({ vpdPage: 0x80, allocationLength: 64 }))).toBe(h("12 01 80 00 40 00"));
    expect(hexOf(buildInquiryCdb({ vpdPage: 0x00, allocationLength: 0x1234 }))).toBe(h("12 01 00 12 34 00"));
  });

  it("builds REPORT LUNS with SELECT REPORT in byte 2 and a 32-bit allocation length in bytes 6-9", () => {
    expect(hexOf(buildReportLunsCdb({ allocationLength: 32 }))).toBe(h("a0 00 00 00 00 00 00 00 00 20 00 00"));
    expect(hexOf(buildReportLunsCdb({ selectReport: 2, allocationLength: 0x01020304 }))).toBe(
      h("a0 00 02 00 00 00 01 02 03 04 00 00"),
    );
  });

  it("builds READ CAPACITY(10) and READ CAPACITY(16) (SERVICE ACTION IN 0x9E/0x10)", () => {
    expect(hexOf(buildReadCapacity10Cdb())).toBe(h("25 00 00 00 00 00 00 00 00 00"));
    expect(hexOf(buildReadCapacity16Cdb())).toBe(h("9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00"));
    expect(hexOf(buildReadCapacity16Cdb({ allocationLength: 12 }))).toBe(h("9e 10 00 00 00 00 00 00 00 00 00 00 00 0c 00 00"));
  });

  it("builds READ(10) with DPO and FUA in byte 1, LBA in bytes 2-5, group in 6, length in 7-8", () => {
    expect(hexOf(buildRead10Cdb({ lba: 0x01020304, blocks: 0x0506, fua: true, dpo: true, group: 3 }))).toBe(
      h("28 18 01 02 03 04 03 05 06 00"),
    );
    expect(hexOf(buildRead10Cdb({ lba: 0, blocks: 1 }))).toBe(h("28 00 00 00 00 00 00 00 01 00"));
  });

  it("builds WRITE(10) with WRPROTECT in the top three bits of byte 1", () => {
    expect(hexOf(buildWrite10Cdb({ lba: 0xffc8, blocks: 0x39 }))).toBe(h("2a 00 00 00 ff c8 00 00 39 00"));
    expect(hexOf(buildWrite10Cdb({ lba: 1, blocks: 2, protect: 5, fua: true }))).toBe(h("2a a8 00 00 00 01 00 00 02 00"));
  });

  it("builds READ(16) and WRITE(16) with a 64-bit LBA in bytes 2-9 and a 32-bit length in 10-13", () => {
    expect(hexOf(buildRead16Cdb({ lba: 0x0102030405060708n, blocks: 0x090a0b0c, fua: true }))).toBe(
      h("88 08 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00"),
    );
    expect(hexOf(buildRead16Cdb({ lba: 0xffffffffffffffffn, blocks: 1 }))).toBe(
      h("88 00 ff ff ff ff ff ff ff ff 00 00 00 01 00 00"),
    );
    expect(hexOf(buildWrite16Cdb({ lba: 2 ** 40, blocks: 8, dpo: true, group: 0x1f }))).toBe(
      h("8a 10 00 00 01 00 00 00 00 00 00 00 00 08 1f 00"),
    );
  });

  it("builds VERIFY(10) and VERIFY(16) with BYTCHK in bits 2-1 of byte 1", () => {
    expect(hexOf(buildVerify10Cdb({ lba: 9, blocks: 2, byteCheck: 1, dpo: true }))).toBe(h("2f 12 00 00 00 09 00 00 02 00"));
    expect(hexOf(buildVerify16Cdb({ lba: 9n, blocks: 2, byteCheck: 3 }))).toBe(
      h("8f 06 00 00 00 00 00 00 00 09 00 00 00 02 00 00"),
    );
  });

  it("builds WRITE SAME(10) and WRITE SAME(16) with ANCHOR, UNMAP and NDOB bits", () => {
    expect(hexOf(buildWriteSame10Cdb({ lba: 0x10, blocks: 0x20, unmap: true }))).toBe(h("41 08 00 00 00 10 00 00 20 00"));
    expect(hexOf(buildWriteSame16Cdb({ lba: 0x10, blocks: 0x20, unmap: true, anchor: true, ndob: true }))).toBe(
      h("93 19 00 00 00 00 00 00 00 10 00 00 00 20 00 00"),
    );
    expect(hexOf(buildWriteSame16Cdb({ lba: 0, blocks: 0, ndob: true }))).toBe(h("93 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00"));
  });

  it("builds UNMAP with ANCHOR in byte 1 and the parameter list length in bytes 7-8", () => {
    expect(hexOf(buildUnmapCdb({ parameterListLength: 24 }))).toBe(h("42 00 00 00 00 00 00 00 18 00"));
    expect(hexOf(buildUnmapCdb({ parameterListLength: 0x1008, anchor: true, group: 2 }))).toBe(h("42 01 00 00 00 00 02 10 08 00"));
  });

  it("builds SYNCHRONIZE CACHE(10) and (16) with IMMED in bit 1 of byte 1", () => {
    expect(hexOf(buildSynchronizeCache10Cdb())).toBe(h("35 00 00 00 00 00 00 00 00 00"));
    expect(hexOf(buildSynchronizeCache10Cdb({ immed: true, lba: 5, blocks: 7 }))).toBe(h("35 02 00 00 00 05 00 00 07 00"));
    expect(hexOf(buildSynchronizeCache16Cdb({ immed: true, lba: 0x100000000n, blocks: 0x10000 }))).toBe(
      h("91 02 00 00 00 01 00 00 00 00 00 01 00 00 00 00"),
    );
  });

  it("builds COMPARE AND WRITE with the block count in byte 13", () => {
    expect(hexOf(buildCompareAndWriteCdb({ lba: 0x10, blocks: 1, fua: true }))).toBe(
      h("89 08 00 00 00 00 00 00 00 10 00 00 00 01 00 00"),
    );
  });

  it("builds MODE SENSE(6) and MODE SENSE(10) with DBD, PC, page, subpage and allocation length", () => {
    expect(hexOf(buildModeSense6Cdb({ page: 0x3f, allocationLength: 255 }))).toBe(h("1a 00 3f 00 ff 00"));
    expect(
      hexOf(buildModeSense6Cdb({ dbd: true, pageControl: PageControl.Changeable, page: 0x08, allocationLength: 0xff })),
    ).toBe(h("1a 08 48 00 ff 00"));
    expect(
      hexOf(buildModeSense10Cdb({ llbaa: true, dbd: true, page: 0x3f, subpage: 0xff, pageControl: PageControl.Saved, allocationLength: 0x1000 })),
    ).toBe(h("5a 18 ff ff 00 00 00 10 00 00"));
  });

  it("builds PERSISTENT RESERVE IN and OUT as libiscsi sends them", () => {
    expect(hexOf(buildPersistentReserveInCdb({ serviceAction: PrInServiceAction.ReadKeys, allocationLength: 0x4000 }))).toBe(
      h("5e 00 00 00 00 00 00 40 00 00"),
    );
    expect(
      hexOf(buildPersistentReserveOutCdb({ serviceAction: PrOutServiceAction.RegisterAndIgnoreExistingKey })),
    ).toBe(h("5f 06 00 00 00 00 00 00 18 00"));
    expect(
      hexOf(buildPersistentReserveOutCdb({ serviceAction: PrOutServiceAction.Preempt, type: PrType.ExclusiveAccess })),
    ).toBe(h("5f 04 03 00 00 00 00 00 18 00"));
  });

  it("builds START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL", () => {
    expect(hexOf(buildStartStopUnitCdb({ start: true, loadEject: true, immed: true }))).toBe(h("1b 01 00 00 03 00"));
    expect(hexOf(buildStartStopUnitCdb({ start: false, powerCondition: 3, noFlush: true, powerConditionModifier: 2 }))).toBe(
      h("1b 00 00 02 34 00"),
    );
    expect(hexOf(buildPreventAllowMediumRemovalCdb({ prevent: 1 }))).toBe(h("1e 00 00 00 01 00"));
  });

  it("returns a fresh array from each call", () => {
    const a = buildTestUnitReadyCdb();
    a[0] = 0xff;
    expect(buildTestUnitReadyCdb()[0]).toBe(0);
  });
});

describe("CDB builders refuse values that do not fit their fields", () => {
  const cases: [string, () => unknown][] = [
    ["an LBA above 2^32-1 in READ(10)", () => buildRead10Cdb({ lba: 2 ** 32, blocks: 1 })],
    ["a transfer length above 65535 in WRITE(10)", () => buildWrite10Cdb({ lba: 0, blocks: 65536 })],
    ["a negative LBA", () => buildRead10Cdb({ lba: -1, blocks: 1 })],
    ["a fractional block count", () => buildRead10Cdb({ lba: 0, blocks: 1.5 })],
    ["an unsafe number as a 64-bit LBA", () => buildRead16Cdb({ lba: 2 ** 53, blocks: 1 })],
    ["an LBA of 2^64 in READ(16)", () => buildRead16Cdb({ lba: 1n << 64n, blocks: 1 })],
    ["a negative bigint LBA", () => buildWrite16Cdb({ lba: -1n, blocks: 1 })],
    ["a transfer length of 2^32 in READ(16)", () => buildRead16Cdb({ lba: 0, blocks: 2 ** 32 })],
    ["RDPROTECT 8", () => buildRead10Cdb({ lba: 0, blocks: 1, protect: 8 })],
    ["GROUP NUMBER 32", () => buildWrite16Cdb({ lba: 0, blocks: 1, group: 32 })],
    ["256 blocks in COMPARE AND WRITE", () => buildCompareAndWriteCdb({ lba: 0, blocks: 256 })],
    ["ANCHOR without UNMAP in WRITE SAME(16)", () => buildWriteSame16Cdb({ lba: 0, blocks: 1, anchor: true })],
    ["ANCHOR without UNMAP in WRITE SAME(10)", () => buildWriteSame10Cdb({ lba: 0, blocks: 1, anchor: true })],
    ["an allocation length of 256 in MODE SENSE(6)", () => buildModeSense6Cdb({ page: 0, allocationLength: 256 })],
    ["page code 0x40 in MODE SENSE(10)", () => buildModeSense10Cdb({ page: 0x40, allocationLength: 1 })],
    ["an allocation length of 65536 in INQUIRY", () => buildInquiryCdb({ allocationLength: 65536 })],
    ["VPD page 0x100", () => buildInquiryCdb({ vpdPage: 0x100, allocationLength: 1 })],
    ["reservation type 2", () => buildPersistentReserveOutCdb({ serviceAction: PrOutServiceAction.Reserve, type: 2 as PrType })],
    ["BYTCHK 2", () => buildVerify10Cdb({ lba: 0, blocks: 1, byteCheck: 2 as 1 })],
    ["PREVENT 4", () => buildPreventAllowMediumRemovalCdb({ prevent: 4 })],
    ["a parameter list length of 65536 in UNMAP", () => buildUnmapCdb({ parameterListLength: 65536 })],
    ["NaN blocks", () => buildSynchronizeCache10Cdb({ blocks: Number.NaN })],
  ];
  it.each(cases)("throws LocalProtocolError for %s", (_name, build) => {
    expect(build).toThrow(LocalProtocolError);
  });

  it("accepts the largest values each field holds", () => {
    expect(hexOf(buildRead10Cdb({ lba: 2 ** 32 - 1, blocks: 65535 }))).toBe(h("28 00 ff ff ff ff 00 ff ff 00"));
    expect(hexOf(buildWrite16Cdb({ lba: Number.MAX_SAFE_INTEGER, blocks: 2 ** 32 - 1 }))).toBe(
      h("8a 00 00 1f ff ff ff ff ff ff ff ff ff ff 00 00"),
    );
    expect(buildCompareAndWriteCdb({ lba: 0, blocks: 255 })[13]).toBe(255);
  });

  it("names the field and the value in the message", () => {
    expect(() => buildRead10Cdb({ lba: 2 ** 32, blocks: 1 })).toThrow(/LBA \(10-byte CDB\).*4294967296/);
  });
});
