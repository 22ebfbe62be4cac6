/**
 * Mode pages (SPC-4, mode parameters): the page list framing shared by MODE SENSE and MODE SELECT, and the
 * three pages a block device target serves and an initiator reads most: Caching (SBC-3, page
 * 0x08), Control (SPC-4, page 0x0A) and Informational Exceptions Control (SPC-4, page 0x1C).
 * Byte offsets in the page decoders count from the page's first byte (the PAGE CODE byte), as the
 * standards' tables do.
 */
import { writeU16, writeU32 } from "../bytes.js";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { FieldReader, checkUint, putFlag } from "./wire.js";

/** The PC field of MODE SENSE (SPC-4 MODE SENSE(6)). */
export const PageControl = {
  Current: 0,
  Changeable: 1,
  Default: 2,
  Saved: 3,
} as const;
export type PageControl = (typeof PageControl)[keyof typeof PageControl];

export const ModePageCode = {
  ReadWriteErrorRecovery: 0x01,
  DisconnectReconnect: 0x02,
  Caching: 0x08,
  Control: 0x0a,
  PowerCondition: 0x1a,
  InformationalExceptionsControl: 0x1c,
  /** With MODE SENSE: return all pages. */
  AllPages: 0x3f,
} as const;

/** SUBPAGE CODE 0xFF with page 0x3F: all pages and all subpages. */
export const ALL_SUBPAGES = 0xff;

/** One mode page as found in MODE SENSE data. */
export interface ModePage {
  readonly pageCode: number;
  /** 0 for a page_0 format page. */
  readonly subpage: number;
  /** SPF: sub_page format (4-byte header, 16-bit page length). */
  readonly subpageFormat: boolean;
  /** PS: the page can be saved. */
  readonly parametersSaveable: boolean;
  /** The whole page, header included (a view into the data it was parsed from). */
  readonly raw: Uint8Array;
  /** The mode parameters after the page header. */
  readonly parameters: Uint8Array;
}

/** What a page builder takes: code, optional subpage, the parameters after the header. */
export interface ModePageInput {
  readonly pageCode: number;
  readonly subpage?: number;
  readonly parametersSaveable?: boolean;
  readonly parameters: Uint8Array;
}

/**
 * Frames mode parameters as a page: page_0 format (2-byte header, at most 255 parameter bytes)
 * when `subpage` is 0 or absent, else sub_page format.
 */
export function encodeModePage(page: ModePageInput): Uint8Array {
  const code = checkUint("PAGE CODE", page.pageCode, 0x3e);
  const subpage = checkUint("SUBPAGE CODE", page.subpage ?? 0, 0xfe);
  const ps = page.parametersSaveable === true ? 0x80 : 0;
  if (subpage === 0) {
    checkUint("PAGE LENGTH (page_0 format)", page.parameters.length, 0xff);
    const out = new Uint8Array(2 + page.parameters.length);
    out[0] = ps | code;
    out[1] = page.parameters.length;
    out.set(page.parameters, 2);
    return out;
  }
  checkUint("PAGE LENGTH (sub_page format)", page.parameters.length, 0xffff);
  const out = new Uint8Array(4 + page.parameters.length);
  out[0] = ps | 0x40 | code;
  out[1] = subpage;
  writeU16(out, 2, page.parameters.length);
  out.set(page.parameters, 4);
  return out;
}

/**
 * Walks a list of mode pages. A page whose header or body runs past the end is left out and
 * `truncated` is set: the allocation length cut it.
 */
export function decodeModePages(bytes: Uint8Array, what: string): { pages: ModePage[]; truncated: boolean } {
  const r = new FieldReader(bytes, what);
  const pages: ModePage[] = [];
  let off = 0;
  while (off < bytes.length) {
    const spf = r.bit(off, 6);
    const headerLength = spf ? 4 : 2;
    if (!r.has(off, headerLength)) return { pages, truncated: true };
    const length = spf ? r.u16(off + 2) : r.u8(off + 1);
    if (!r.has(off + headerLength, length)) return { pages, truncated: true };
    pages.push({
      pageCode: r.bits(off, 0, 6),
      subpage: spf ? r.u8(off + 1) : 0,
      subpageFormat: spf,
      parametersSaveable: r.bit(off, 7),
      raw: r.slice(off, headerLength + length),
      parameters: r.slice(off + headerLength, length),
    });
    off += headerLength + length;
  }
  return { pages, truncated: false };
}

function pageReader(page: ModePage, code: number, name: string, minParameters: number): FieldReader {
  if (page.pageCode !== code || page.subpage !== 0) {
    throw new LocalProtocolError(
      `${name} decoder given page 0x${page.pageCode.toString(16)}/0x${page.subpage.toString(16)}`,
    );
  }
  if (page.parameters.length < minParameters) {
    throw new RemoteProtocolError(
      `${name} mode page: PAGE LENGTH ${page.parameters.length}, needs at least ${minParameters}`,
    );
  }
  return new FieldReader(page.raw, `${name} mode page`);
}

// ---------------------------------------------------------------- Caching (SBC-3, page 0x08)

export interface CachingPage {
  /** IC: use the number of cache segments rather than the segment size. */
  readonly ic: boolean;
  readonly abpf: boolean;
  readonly cap: boolean;
  readonly disc: boolean;
  readonly size: boolean;
  /** WCE: write cache enabled (GOOD may precede the write reaching the medium). */
  readonly wce: boolean;
  readonly mf: boolean;
  /** RCD: read cache disabled. */
  readonly rcd: boolean;
  readonly demandReadRetentionPriority: number;
  readonly writeRetentionPriority: number;
  readonly disablePrefetchTransferLength: number;
  readonly minimumPrefetch: number;
  readonly maximumPrefetch: number;
  readonly maximumPrefetchCeiling: number;
  /** The fields after byte 11 are absent from the 10-byte page of older devices (SCSI-2). */
  readonly fsw: boolean | undefined;
  readonly lbcss: boolean | undefined;
  /** DRA: disable read-ahead. */
  readonly dra: boolean | undefined;
  readonly nvDis: boolean | undefined;
  readonly numberOfCacheSegments: number | undefined;
  readonly cacheSegmentSize: number | undefined;
}

/** SBC-3: the caching page's PAGE LENGTH. */
const CACHING_PAGE_LENGTH = 0x12;

export function decodeCachingPage(page: ModePage): CachingPage {
  const r = pageReader(page, ModePageCode.Caching, "Caching", 10);
  const long = page.parameters.length >= 14;
  return {
    ic: r.bit(2, 7),
    abpf: r.bit(2, 6),
    cap: r.bit(2, 5),
    disc: r.bit(2, 4),
    size: r.bit(2, 3),
    wce: r.bit(2, 2),
    mf: r.bit(2, 1),
    rcd: r.bit(2, 0),
    demandReadRetentionPriority: r.bits(3, 4, 4),
    writeRetentionPriority: r.bits(3, 0, 4),
    disablePrefetchTransferLength: r.u16(4),
    minimumPrefetch: r.u16(6),
    maximumPrefetch: r.u16(8),
    maximumPrefetchCeiling: r.u16(10),
    fsw: long ? r.bit(12, 7) : undefined,
    lbcss: long ? r.bit(12, 6) : undefined,
    dra: long ? r.bit(12, 5) : undefined,
    nvDis: long ? r.bit(12, 0) : undefined,
    numberOfCacheSegments: long ? r.u8(13) : undefined,
    cacheSegmentSize: long ? r.u16(14) : undefined,
  };
}

/**
 * Builds the 20-byte caching page. Fields left out are zero, so the same builder gives the
 * changeable-values mask (PC = 1): set to true/all-ones exactly what MODE SELECT may change.
 */
export function encodeCachingPage(f: Partial<CachingPage>, opts: { readonly parametersSaveable?: boolean } = {}): Uint8Array {
  const p = new Uint8Array(CACHING_PAGE_LENGTH);
  // p[i] is page byte i + 2.
  putFlag(p, 0, 7, f.ic);
  putFlag(p, 0, 6, f.abpf);
  putFlag(p, 0, 5, f.cap);
  putFlag(p, 0, 4, f.disc);
  putFlag(p, 0, 3, f.size);
  putFlag(p, 0, 2, f.wce);
  putFlag(p, 0, 1, f.mf);
  putFlag(p, 0, 0, f.rcd);
  p[1] =
    (checkUint("DEMAND READ RETENTION PRIORITY", f.demandReadRetentionPriority ?? 0, 15) << 4) |
    checkUint("WRITE RETENTION PRIORITY", f.writeRetentionPriority ?? 0, 15);
  writeU16(p, 2, checkUint("DISABLE PRE-FETCH TRANSFER LENGTH", f.disablePrefetchTransferLength ?? 0, 0xffff));
  writeU16(p, 4, checkUint("MINIMUM PRE-FETCH", f.minimumPrefetch ?? 0, 0xffff));
  writeU16(p, 6, checkUint("MAXIMUM PRE-FETCH", f.maximumPrefetch ?? 0, 0xffff));
  writeU16(p, 8, checkUint("MAXIMUM PRE-FETCH CEILING", f.maximumPrefetchCeiling ?? 0, 0xffff));
  putFlag(p, 10, 7, f.fsw);
  putFlag(p, 10, 6, f.lbcss);
  putFlag(p, 10, 5, f.dra);
  putFlag(p, 10, 0, f.nvDis);
  p[11] = checkUint("NUMBER OF CACHE SEGMENTS", f.numberOfCacheSegments ?? 0, 0xff);
  writeU16(p, 12, checkUint("CACHE SEGMENT SIZE", f.cacheSegmentSize ?? 0, 0xffff));
  return encodeModePage({ pageCode: ModePageCode.Caching, parametersSaveable: opts.parametersSaveable, parameters: p });
}

// ---------------------------------------------------------------- Control (SPC-4, page 0x0A)

export interface ControlPage {
  /** TST: 0 one task set for all I_T nexuses, 1 one per I_T nexus. */
  readonly tst: number;
  readonly tmfOnly: boolean;
  readonly dpicz: boolean;
  /** D_SENSE: return descriptor-format sense data. */
  readonly dSense: boolean;
  readonly gltsd: boolean;
  readonly rlec: boolean;
  /** 0 restricted reordering, 1 unrestricted. */
  readonly queueAlgorithmModifier: number;
  readonly nuar: boolean;
  /** QERR: what happens to other tasks when one ends in CHECK CONDITION. */
  readonly qerr: number;
  readonly rac: boolean;
  readonly uaInterlockControl: number;
  /** SWP: software write protect. */
  readonly swp: boolean;
  readonly ato: boolean;
  /** TAS: aborted tasks of other I_T nexuses end with TASK ABORTED status. */
  readonly tas: boolean;
  readonly atmpe: boolean;
  readonly rwwp: boolean;
  readonly autoloadMode: number;
  /** In units of 100 ms; 0xFFFF unlimited. */
  readonly busyTimeoutPeriod: number;
  /** In seconds. */
  readonly extendedSelfTestCompletionTime: number;
}

const CONTROL_PAGE_LENGTH = 0x0a;

export function decodeControlPage(page: ModePage): ControlPage {
  const r = pageReader(page, ModePageCode.Control, "Control", CONTROL_PAGE_LENGTH);
  return {
    tst: r.bits(2, 5, 3),
    tmfOnly: r.bit(2, 4),
    dpicz: r.bit(2, 3),
    dSense: r.bit(2, 2),
    gltsd: r.bit(2, 1),
    rlec: r.bit(2, 0),
    queueAlgorithmModifier: r.bits(3, 4, 4),
    nuar: r.bit(3, 3),
    qerr: r.bits(3, 1, 2),
    rac: r.bit(4, 6),
    uaInterlockControl: r.bits(4, 4, 2),
    swp: r.bit(4, 3),
    ato: r.bit(5, 7),
    tas: r.bit(5, 6),
    atmpe: r.bit(5, 5),
    rwwp: r.bit(5, 4),
    autoloadMode: r.bits(5, 0, 3),
    busyTimeoutPeriod: r.u16(8),
    extendedSelfTestCompletionTime: r.u16(10),
  };
}

export function encodeControlPage(f: Partial<ControlPage>, opts: { readonly parametersSaveable?: boolean } = {}): Uint8Array {
  const p = new Uint8Array(CONTROL_PAGE_LENGTH);
  // p[i] is page byte i + 2.
  p[0] = checkUint("TST", f.tst ?? 0, 7) << 5;
  putFlag(p, 0, 4, f.tmfOnly);
  putFlag(p, 0, 3, f.dpicz);
  putFlag(p, 0, 2, f.dSense);
  putFlag(p, 0, 1, f.gltsd);
  putFlag(p, 0, 0, f.rlec);
  p[1] = (checkUint("QUEUE ALGORITHM MODIFIER", f.queueAlgorithmModifier ?? 0, 15) << 4) | (checkUint("QERR", f.qerr ?? 0, 3) << 1);
  putFlag(p, 1, 3, f.nuar);
  p[2] = checkUint("UA_INTLCK_CTRL", f.uaInterlockControl ?? 0, 3) << 4;
  putFlag(p, 2, 6, f.rac);
  putFlag(p, 2, 3, f.swp);
  p[3] = checkUint("AUTOLOAD MODE", f.autoloadMode ?? 0, 7);
  putFlag(p, 3, 7, f.ato);
  putFlag(p, 3, 6, f.tas);
  putFlag(p, 3, 5, f.atmpe);
  putFlag(p, 3, 4, f.rwwp);
  writeU16(p, 6, checkUint("BUSY TIMEOUT PERIOD", f.busyTimeoutPeriod ?? 0, 0xffff));
  writeU16(p, 8, checkUint("EXTENDED SELF-TEST COMPLETION TIME", f.extendedSelfTestCompletionTime ?? 0, 0xffff));
  return encodeModePage({ pageCode: ModePageCode.Control, parametersSaveable: opts.parametersSaveable, parameters: p });
}

// ---------------------------------------------------------------- Informational Exceptions Control (SPC-4, page 0x1C)

export interface InformationalExceptionsPage {
  readonly perf: boolean;
  readonly ebf: boolean;
  readonly ewasc: boolean;
  /** DEXCPT: informational exception operations disabled. */
  readonly dexcpt: boolean;
  readonly test: boolean;
  readonly ebackerr: boolean;
  readonly logerr: boolean;
  /** MRIE: method of reporting informational exceptions, 0..15. */
  readonly mrie: number;
  /** In units of 100 ms. */
  readonly intervalTimer: number;
  readonly reportCount: number;
}

const IE_PAGE_LENGTH = 0x0a;

export function decodeInformationalExceptionsPage(page: ModePage): InformationalExceptionsPage {
  const r = pageReader(page, ModePageCode.InformationalExceptionsControl, "Informational Exceptions Control", IE_PAGE_LENGTH);
  return {
    perf: r.bit(2, 7),
    ebf: r.bit(2, 5),
    ewasc: r.bit(2, 4),
    dexcpt: r.bit(2, 3),
    test: r.bit(2, 2),
    ebackerr: r.bit(2, 1),
    logerr: r.bit(2, 0),
    mrie: r.bits(3, 0, 4),
    intervalTimer: r.u32(4),
    reportCount: r.u32(8),
  };
}

export function encodeInformationalExceptionsPage(
  f: Partial<InformationalExceptionsPage>,
  opts: { readonly parametersSaveable?: boolean } = {},
): Uint8Array {
  const p = new Uint8Array(IE_PAGE_LENGTH);
  putFlag(p, 0, 7, f.perf);
  putFlag(p, 0, 5, f.ebf);
  putFlag(p, 0, 4, f.ewasc);
  putFlag(p, 0, 3, f.dexcpt);
  putFlag(p, 0, 2, f.test);
  putFlag(p, 0, 1, f.ebackerr);
  putFlag(p, 0, 0, f.logerr);
  p[1] = checkUint("MRIE", f.mrie ?? 0, 15);
  writeU32(p, 2, checkUint("INTERVAL TIMER", f.intervalTimer ?? 0, 0xffff_ffff));
  writeU32(p, 6, checkUint("REPORT COUNT", f.reportCount ?? 0, 0xffff_ffff));
  return encodeModePage({
    pageCode: ModePageCode.InformationalExceptionsControl,
    parametersSaveable: opts.parametersSaveable,
    parameters: p,
  });
}
