import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../errors.js";
import { decodePdu, UnknownOpcodeError } from "./decode.js";
import type { Frame } from "./framer.js";
import { Opcode } from "./opcodes.js";

function frame(opcode: number, totalAhsLength = 0): Frame {
  const bhs = new Uint8Array(48);
  bhs[0] = opcode;
  bhs[4] = totalAhsLength;
  return { opcode, bhs, ahs: new Uint8Array(totalAhsLength * 4), data: new Uint8Array(0), dataPlaced: false, dataDigestError: false };
}

describe("decodePdu tells an unknown opcode apart by class, not by message", () => {
  it("throws UnknownOpcodeError, a RemoteProtocolError, naming the opcode in a field", () => {
    const error = (() => {
      try {
        decodePdu(frame(0x1c));
      } catch (caught) {
        return caught;
      }
      throw new Error("test: decodePdu accepted opcode 0x1c");
    })();
    expect(error).toBeInstanceOf(UnknownOpcodeError);
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect((error as UnknownOpcodeError).opcode).toBe(0x1c);
    expect((error as UnknownOpcodeError).code).toBe("ISCSI_ERR_REMOTE_PROTOCOL");
  });

  it("refuses a known opcode with a bad field with a plain RemoteProtocolError", () => {
    // RFC 7143 §11.2.2: only the SCSI Command carries an AHS.
    expect(() => decodePdu(frame(Opcode.NopOut, 1))).toThrow(RemoteProtocolError);
    expect(() => decodePdu(frame(Opcode.NopOut, 1))).not.toThrow(UnknownOpcodeError);
  });
});
