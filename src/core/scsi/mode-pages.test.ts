import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import {
  ModePageCode,
  decodeCachingPage,
  decodeControlPage,
  decodeInformationalExceptionsPage,
  decodeModePages,
  encodeCachingPage,
  encodeControlPage,
  encodeInformationalExceptionsPage,
  encodeModePage,
} from "./mode-pages.js";
import { hexOf } from "../hex.js";
import type { ModePage } from "./mode-pages.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");
const only = (bytes: Uint8Array): ModePage => {
  const { pages } = decodeModePages(bytes, "test");
  expect(pages).toHaveLength(1);
  return pages[0]!;
};

describe("mode page framing", () => {
  it("uses the 2-byte page_0 header without a subpage and the 4-byte sub_page header with one", () => {
    expect(hexOf(encodeModePage({ pageCode: 0x19, parametersSaveable: true, parameters: Uint8Array.of(1, 2) }))).toBe("99020102");
    expect(hexOf(encodeModePage({ pageCode: 0x0a, subpage: 1, parameters: new Uint8Array(28) }))).toBe("4a01001c" + "00".repeat(28));
    expect(() => encodeModePage({ pageCode: 0x3f, parameters: new Uint8Array(0) })).toThrow(LocalProtocolError);
    expect(() => encodeModePage({ pageCode: 1, parameters: new Uint8Array(256) })).toThrow(LocalProtocolError);
  });

  it("walks a list of pages of both formats", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            pageCode: fc.integer({ min: 0, max: 0x3e }),
            subpage: fc.integer({ min: 0, max: 0xfe }),
            parametersSaveable: fc.boolean(),
            parameters: fc.uint8Array({ maxLength: 40 }),
          }),
          { maxLength: 6 },
        ),
        (inputs) => {
          const encoded = inputs.map(encodeModePage);
          const all = new Uint8Array(encoded.reduce((n, e) => n + e.length, 0));
          encoded.reduce((off, e) => (all.set(e, off), off + e.length), 0);
          const { pages, truncated } = decodeModePages(all, "test");
          expect(truncated).toBe(false);
          expect(pages.map((p) => ({ pageCode: p.pageCode, subpage: p.subpage, parametersSaveable: p.parametersSaveable, parameters: Array.from(p.parameters), spf: p.subpageFormat }))).toEqual(
            inputs.map((i) => ({ ...i, parameters: Array.from(i.parameters), spf: i.subpage !== 0 })),
          );
        },
      ),
    );
  });

  it("leaves out a page the data cuts and says truncated", () => {
    const bytes = Uint8Array.from([...encodeModePage({ pageCode: 1, parameters: new Uint8Array(10) }), ...encodeModePage({ pageCode: 2, parameters: new Uint8Array(14) })]);
    for (const cut of [13, 15, 20]) {
      const { pages, truncated } = decodeModePages(bytes.subarray(0, cut), "test");
      expect(pages.map((p) => p.pageCode)).toEqual([1]);
      expect(truncated).toBe(true);
    }
  });
});

describe("Caching mode page (0x08)", () => {
  it("builds the same 20 bytes tgtd sends with the write cache on", () => {
    const page = encodeCachingPage({ wce: true, disc: true, disablePrefetchTransferLength: 0xffff, maximumPrefetch: 0xffff, maximumPrefetchCeiling: 0xffff, fsw: true, numberOfCacheSegments: 20 });
    expect(hexOf(page)).toBe(h("08 12 14 00 ff ff 00 00 ff ff ff ff 80 14 00 00 00 00 00 00"));
  });

  it("round-trips every field", () => {
    const bit = fc.boolean();
    const u16 = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(
        fc.record({
          ic: bit, abpf: bit, cap: bit, disc: bit, size: bit, wce: bit, mf: bit, rcd: bit,
          demandReadRetentionPriority: fc.integer({ min: 0, max: 15 }),
          writeRetentionPriority: fc.integer({ min: 0, max: 15 }),
          disablePrefetchTransferLength: u16, minimumPrefetch: u16, maximumPrefetch: u16, maximumPrefetchCeiling: u16,
          fsw: bit, lbcss: bit, dra: bit, nvDis: bit,
          numberOfCacheSegments: fc.integer({ min: 0, max: 255 }),
          cacheSegmentSize: u16,
        }),
        (f) => {
          expect(decodeCachingPage(only(encodeCachingPage(f)))).toEqual(f);
        },
      ),
    );
  });

  it("reads the 10-byte SCSI-2 page with the later fields undefined, and refuses a shorter one", () => {
    const old = only(encodeModePage({ pageCode: 8, parameters: Uint8Array.of(0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0) }));
    expect(decodeCachingPage(old)).toMatchObject({ wce: true, rcd: false, dra: undefined, cacheSegmentSize: undefined });
    expect(() => decodeCachingPage(only(encodeModePage({ pageCode: 8, parameters: new Uint8Array(9) })))).toThrow(RemoteProtocolError);
  });

  it("refuses to decode another page as the caching page", () => {
    expect(() => decodeCachingPage(only(encodeControlPage({})))).toThrow(LocalProtocolError);
  });
});

describe("Control mode page (0x0A)", () => {
  it("builds the same 12 bytes tgtd sends", () => {
    expect(hexOf(encodeControlPage({ gltsd: true, queueAlgorithmModifier: 1, extendedSelfTestCompletionTime: 0x200 }))).toBe(h("0a 0a 02 10 00 00 00 00 00 00 02 00"));
  });

  it("puts D_SENSE, SWP and TAS where SPC-4 has them", () => {
    expect(hexOf(encodeControlPage({ dSense: true, swp: true, tas: true, tst: 1, qerr: 1, busyTimeoutPeriod: 0xffff }))).toBe(h("0a 0a 24 02 08 40 00 00 ff ff 00 00"));
  });

  it("round-trips every field", () => {
    const bit = fc.boolean();
    fc.assert(
      fc.property(
        fc.record({
          tst: fc.integer({ min: 0, max: 7 }), tmfOnly: bit, dpicz: bit, dSense: bit, gltsd: bit, rlec: bit,
          queueAlgorithmModifier: fc.integer({ min: 0, max: 15 }), nuar: bit, qerr: fc.integer({ min: 0, max: 3 }),
          rac: bit, uaInterlockControl: fc.integer({ min: 0, max: 3 }), swp: bit,
          ato: bit, tas: bit, atmpe: bit, rwwp: bit, autoloadMode: fc.integer({ min: 0, max: 7 }),
          busyTimeoutPeriod: fc.integer({ min: 0, max: 0xffff }),
          extendedSelfTestCompletionTime: fc.integer({ min: 0, max: 0xffff }),
        }),
        (f) => {
          expect(decodeControlPage(only(encodeControlPage(f)))).toEqual(f);
        },
      ),
    );
  });
});

describe("Informational Exceptions Control mode page (0x1C)", () => {
  it("builds the same 12 bytes tgtd sends (DEXCPT set)", () => {
    expect(hexOf(encodeInformationalExceptionsPage({ dexcpt: true }))).toBe(h("1c 0a 08 00 00 00 00 00 00 00 00 00"));
  });

  it("round-trips every field", () => {
    const bit = fc.boolean();
    const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
    fc.assert(
      fc.property(
        fc.record({ perf: bit, ebf: bit, ewasc: bit, dexcpt: bit, test: bit, ebackerr: bit, logerr: bit, mrie: fc.integer({ min: 0, max: 15 }), intervalTimer: u32, reportCount: u32 }),
        (f) => {
          const page = only(encodeInformationalExceptionsPage(f, { parametersSaveable: true }));
          expect(page.pageCode).toBe(ModePageCode.InformationalExceptionsControl);
          expect(page.parametersSaveable).toBe(true);
          expect(decodeInformationalExceptionsPage(page)).toEqual(f);
        },
      ),
    );
  });
});
