/**
 * SPC-4 §6.4.2, Table 143 (the T10 version descriptor list): what the VERSION DESCRIPTOR fields
 * of standard INQUIRY data claim. Codes come in blocks of 32 per standard: the block's first code
 * claims the standard with no version, the others a revision or an approved edition.
 */

/** The first code of each standard's block, by name (architecture, command sets, transports). */
const STANDARDS: Readonly<Record<number, string>> = {
  0x0020: "SAM",
  0x0040: "SAM-2",
  0x0060: "SAM-3",
  0x0080: "SAM-4",
  0x00a0: "SAM-5",
  0x00c0: "SAM-6",
  0x0120: "SPC",
  0x0140: "MMC",
  0x0160: "SCC",
  0x0180: "SBC",
  0x01a0: "SMC",
  0x01c0: "SES",
  0x01e0: "SCC-2",
  0x0200: "SSC",
  0x0220: "RBC",
  0x0240: "MMC-2",
  0x0260: "SPC-2",
  0x0280: "OCRW",
  0x02a0: "MMC-3",
  0x02e0: "SMC-2",
  0x0300: "SPC-3",
  0x0320: "SBC-2",
  0x0340: "OSD",
  0x0360: "SSC-2",
  0x0380: "BCC",
  0x03a0: "MMC-4",
  0x03c0: "ADC",
  0x03e0: "SES-2",
  0x0400: "SSC-3",
  0x0420: "MMC-5",
  0x0440: "OSD-2",
  0x0460: "SPC-4",
  0x0480: "SMC-3",
  0x04a0: "ADC-2",
  0x04c0: "SBC-3",
  0x04e0: "MMC-6",
  0x0500: "ADC-3",
  0x0520: "SSC-4",
  0x0560: "OSD-3",
  0x0580: "SES-3",
  0x05a0: "SSC-5",
  0x05c0: "SPC-5",
  0x05e0: "SFSC",
  0x0600: "SBC-4",
  0x08c0: "FCP",
  0x08e0: "SBP-2",
  0x0900: "FCP-2",
  0x0920: "SST",
  0x0940: "SRP",
  0x0960: "iSCSI",
  0x0980: "SBP-3",
  0x0a00: "FCP-3",
  0x0a40: "FCP-4",
  0x0aa0: "SPI",
  0x0ae0: "SPI-2",
  0x0b00: "SPI-3",
  0x0b40: "SPI-4",
  0x0b60: "SPI-5",
  0x0be0: "SAS",
  0x0c00: "SAS-1.1",
  0x0c20: "SAS-2",
  0x0c40: "SAS-2.1",
  0x0c60: "SAS-3",
  0x1ea0: "SAT",
  0x1ec0: "SAT-2",
  0x1ee0: "SAT-3",
};

/** Revisions and editions that targets commonly claim (tgtd, LIO, the embedded target). */
const EDITIONS: Readonly<Record<number, string>> = {
  0x003c: "SAM ANSI INCITS 270-1996",
  0x005c: "SAM-2 ANSI INCITS 366-2003",
  0x0076: "SAM-3 T10/1561-D revision 14",
  0x0077: "SAM-3 ANSI INCITS 402-2005",
  0x008b: "SAM-4 T10/1683-D revision 14",
  0x0090: "SAM-4 ANSI INCITS 447-2008",
  0x00a2: "SAM-5 T10/2104-D revision 4",
  0x013c: "SPC ANSI INCITS 301-1997",
  0x019c: "SBC ANSI INCITS 306-1998",
  0x0277: "SPC-2 ANSI INCITS 351-2001",
  0x0301: "SPC-3 T10/1416-D revision 7",
  0x0307: "SPC-3 T10/1416-D revision 21",
  0x030f: "SPC-3 T10/1416-D revision 22",
  0x0312: "SPC-3 T10/1416-D revision 23",
  0x0314: "SPC-3 ANSI INCITS 408-2005",
  0x0322: "SBC-2 T10/1417-D revision 5a",
  0x0324: "SBC-2 T10/1417-D revision 15",
  0x033b: "SBC-2 T10/1417-D revision 16",
  0x033d: "SBC-2 ANSI INCITS 405-2005",
  0x0461: "SPC-4 T10/BSR INCITS 513 revision 16",
  0x0462: "SPC-4 T10/BSR INCITS 513 revision 18",
  0x0463: "SPC-4 T10/BSR INCITS 513 revision 23",
  0x0466: "SPC-4 T10/BSR INCITS 513 revision 36",
  0x04c3: "SBC-3 T10/BSR INCITS 514 revision 35",
};

/**
 * The name of a version descriptor: "SPC-4" for a standard with no version claimed, the edition
 * when it is one we know ("SPC-3 T10/1416-D revision 23"), else the standard and the code
 * ("SBC-3 (0x04c5)"); undefined for a code outside every known block.
 */
export function versionDescriptorName(code: number): string | undefined {
  const edition = EDITIONS[code];
  if (edition !== undefined) return edition;
  const base = code & ~0x1f;
  const standard = STANDARDS[base];
  if (standard === undefined) return undefined;
  return base === code ? standard : `${standard} (0x${code.toString(16).padStart(4, "0")})`;
}
