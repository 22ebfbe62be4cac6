import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arbPdu } from "./arbitraries.test-util.js";
import { describePdu } from "./describe.js";
import { Opcode, opcodeName } from "./opcodes.js";
import type { DataInPdu, LoginRequestPdu, ScsiCommandPdu, TextResponsePdu } from "./types.js";

function text(...pairs: string[]): Uint8Array {
  const bytes: number[] = [];
  for (const pair of pairs) {
    for (let i = 0; i < pair.length; i++) bytes.push(pair.charCodeAt(i));
    bytes.push(0);
  }
  return Uint8Array.from(bytes);
}

const login: LoginRequestPdu = {
  opcode: Opcode.LoginRequest,
  transit: false,
  continue: false,
  currentStage: 0,
  nextStage: 1,
  versionMax: 0,
  versionMin: 0,
  isid: 0x400001370000,
  tsih: 0,
  initiatorTaskTag: 0,
  cid: 0,
  cmdSN: 1,
  expStatSN: 0,
  data: new Uint8Array(0),
};

describe("describePdu", () => {
  it("gives one line starting with the opcode name for every PDU", () => {
    fc.assert(
      fc.property(arbPdu, (pdu) => {
        const line = describePdu(pdu);
        expect(line.startsWith(opcodeName(pdu.opcode))).toBe(true);
        expect(line).not.toMatch(/[\n\r]/);
      }),
    );
  });

  it("shows a SCSI Command's flags, ITT, sequence numbers, CDB and length", () => {
    const command: ScsiCommandPdu = {
      opcode: Opcode.ScsiCommand,
      immediate: false,
      final: true,
      read: true,
      write: false,
      attribute: 1,
      lun: 2,
      initiatorTaskTag: 0x1f,
      expectedDataTransferLength: 4096,
      cmdSN: 10,
      expStatSN: 4,
      cdb: Uint8Array.from([0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]),
      data: new Uint8Array(0),
    };
    expect(describePdu(command)).toBe(
      "ScsiCommand [FR] attr=Simple ITT=0x0000001f LUN=2 EDTL=4096 CmdSN=10 ExpStatSN=4 CDB=28000000000800000800000000000000 len=0",
    );
  });

  it("shows status fields of a Data-In only when the S bit is set", () => {
    const base: DataInPdu = {
      opcode: Opcode.DataIn,
      final: true,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: false,
      hasStatus: false,
      status: 0,
      lun: 0,
      initiatorTaskTag: 1,
      targetTransferTag: 0xffff_ffff,
      statSN: 77,
      expCmdSN: 2,
      maxCmdSN: 9,
      dataSN: 3,
      bufferOffset: 8192,
      residualCount: 0,
      data: new Uint8Array(512),
    };
    expect(describePdu(base)).not.toContain("StatSN=77");
    expect(describePdu({ ...base, hasStatus: true })).toContain("[FS]");
    expect(describePdu({ ...base, hasStatus: true })).toContain("StatSN=77");
    expect(describePdu(base)).toContain("DataSN=3 offset=8192 len=512");
  });

  it("lists login keys and redacts CHAP_C, CHAP_R and secret or password values", () => {
    const line = describePdu({
      ...login,
      data: text("InitiatorName=iqn.2026-01.test:host", "CHAP_A=5", "CHAP_C=0x0123456789abcdef", "CHAP_R=0xfeedface", "X-Secret=hunter2", "MyPassword=pw"),
    });
    expect(line).toContain("InitiatorName=iqn.2026-01.test:host");
    expect(line).toContain("CHAP_A=5");
    expect(line).toContain("CHAP_C=<redacted 18 bytes>");
    expect(line).toContain("CHAP_R=<redacted 10 bytes>");
    expect(line).toContain("X-Secret=<redacted 7 bytes>");
    expect(line).toContain("MyPassword=<redacted 2 bytes>");
    for (const secret of ["0123456789abcdef", "feedface", "hunter2", "=pw"]) expect(line).not.toContain(secret);
  });

  it("shows an item without '=' (a key split across PDUs) by its length only", () => {
    const response: TextResponsePdu = {
      opcode: Opcode.TextResponse,
      final: true,
      continue: false,
      lun: 0,
      initiatorTaskTag: 1,
      targetTransferTag: 0xffff_ffff,
      statSN: 0,
      expCmdSN: 0,
      maxCmdSN: 0,
      data: text("abcdef0123", "TargetName=iqn.x"),
    };
    const line = describePdu(response);
    expect(line).toContain('<10 bytes without "=">');
    expect(line).not.toContain("abcdef0123");
    expect(line).toContain("TargetName=iqn.x");
  });

  it("escapes control and non-ASCII bytes in text values", () => {
    const line = describePdu({ ...login, data: Uint8Array.from([0x4b, 0x3d, 0x0a, 0xc3, 0xa9, 0]) });
    expect(line).toContain("K=\\x0a\\xc3\\xa9");
  });
});
