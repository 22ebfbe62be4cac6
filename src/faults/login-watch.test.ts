import { describe, expect, it } from "vitest";
import { crc32c } from "../core/digest/crc32c.js";
import { encodeToBytes } from "../core/pdu/frames.test-util.js";
import { Opcode } from "../core/pdu/opcodes.js";
import type { LoginRequestPdu, LoginResponsePdu, NopOutPdu } from "../core/pdu/types.js";
import { encodeText } from "../core/text/codec.js";
import { LoginWatch } from "./login-watch.js";
import { PduStream } from "./pdu-stream.js";

function request(keys: Array<[string, string]>, transit = true): LoginRequestPdu {
  return {
    opcode: Opcode.LoginRequest,
    transit,
    continue: false,
    currentStage: 1,
    nextStage: 3,
    versionMax: 0,
    versionMin: 0,
    isid: 0x80_00_00_00_00_01,
    tsih: 0,
    initiatorTaskTag: 1,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    data: encodeText(keys),
  };
}

function response(keys: Array<[string, string]>, fields: Partial<LoginResponsePdu> = {}): LoginResponsePdu {
  return {
    opcode: Opcode.LoginResponse,
    transit: true,
    continue: false,
    currentStage: 1,
    nextStage: 3,
    versionMax: 0,
    versionActive: 0,
    isid: 0x80_00_00_00_00_01,
    tsih: 7,
    initiatorTaskTag: 1,
    statSN: 1,
    expCmdSN: 1,
    maxCmdSN: 32,
    statusClass: 0,
    statusDetail: 0,
    data: encodeText(keys),
    ...fields,
  };
}

const PLAIN = { headerDigest: false, dataDigest: false, crc32c };

/** Feeds PDUs of one direction, in order, to a stream and the watch; returns the stream. */
function feed(watch: LoginWatch, stream: PduStream, bytes: Uint8Array): number[] {
  const ends: number[] = [];
  let at = 0;
  stream.push(bytes, (piece) => {
    watch.onPiece(piece);
    at += piece.bytes.length;
    if (piece.end) ends.push(at);
  });
  return ends;
}

describe("LoginWatch", () => {
  it("turns on the digests the final Login Response answered, from the next PDU on", () => {
    const watch = new LoginWatch();
    const toTarget = new PduStream(() => watch.digests);
    const toInitiator = new PduStream(() => watch.digests);
    feed(watch, toTarget, encodeToBytes(request([["HeaderDigest", "CRC32C,None"], ["DataDigest", "CRC32C,None"]]), PLAIN));
    expect(watch.phase).toBe("login");
    feed(watch, toInitiator, encodeToBytes(response([["HeaderDigest", "CRC32C"], ["DataDigest", "None"]]), PLAIN));
    expect(watch.phase).toBe("full-feature");
    expect(watch.digests).toEqual({ header: true, data: false });
    const nop: NopOutPdu = {
      opcode: Opcode.NopOut,
      immediate: true,
      lun: 0,
      initiatorTaskTag: 2,
      targetTransferTag: 0xffff_ffff,
      cmdSN: 1,
      expStatSN: 2,
      data: Uint8Array.of(9, 9, 9, 9, 9),
    };
    const ends = feed(watch, toTarget, encodeToBytes(nop, { headerDigest: true, dataDigest: false, crc32c }));
    expect(ends).toEqual([48 + 4 + 8]);
  });

  it("takes the answer to an offer made by the target, in the initiator's request", () => {
    const watch = new LoginWatch();
    const stream = new PduStream(() => watch.digests);
    feed(watch, stream, encodeToBytes(response([["DataDigest", "CRC32C,None"]], { transit: false }), PLAIN));
    feed(watch, stream, encodeToBytes(request([["DataDigest", "CRC32C"]]), PLAIN));
    expect(watch.phase).toBe("login");
    feed(watch, stream, encodeToBytes(response([]), PLAIN));
    expect(watch.digests).toEqual({ header: false, data: true });
  });

  it("stays in login after a response without transit to full feature, or with a failure status", () => {
    for (const fields of [{ transit: false }, { nextStage: 1 as const }, { statusClass: 2, statusDetail: 1, transit: false }]) {
      const watch = new LoginWatch();
      const stream = new PduStream(() => watch.digests);
      feed(watch, stream, encodeToBytes(response([["HeaderDigest", "CRC32C"]], fields), PLAIN));
      expect(watch.phase).toBe("login");
      expect(watch.digests).toEqual({ header: false, data: false });
    }
  });

  it("uses forced digests after login whatever was negotiated", () => {
    const watch = new LoginWatch({ header: true, data: true });
    const stream = new PduStream(() => watch.digests);
    feed(watch, stream, encodeToBytes(response([["HeaderDigest", "None"]]), PLAIN));
    expect(watch.digests).toEqual({ header: true, data: true });
  });

  it("reads keys from a login text that arrives in many small chunks", () => {
    const watch = new LoginWatch();
    const stream = new PduStream(() => watch.digests);
    const bytes = encodeToBytes(response([["MaxRecvDataSegmentLength", "262144"], ["HeaderDigest", "CRC32C"], ["DataDigest", "CRC32C"]]), PLAIN);
    for (let i = 0; i < bytes.length; i += 5) feed(watch, stream, bytes.subarray(i, i + 5));
    expect(watch.digests).toEqual({ header: true, data: true });
  });
});
