/**
 * The login machines. InitiatorLogin after a valid start() is fed Login Responses framed from the
 * input; TargetLogin is fed Login Requests. With the "fix-up" config bit the responses carry the
 * initiator's ISID and ITT, so inputs get past the first checks into the stages, CHAP and
 * negotiation.
 */
import fc from "fast-check";
import { crc32c } from "../../src/core/digest/crc32c.js";
import { ISID, makeInitiator, makeTarget } from "../../src/core/login/login.test-util.js";
import type { InitiatorLogin } from "../../src/core/login/initiator.js";
import type { TargetLogin } from "../../src/core/login/target.js";
import { decodePdu } from "../../src/core/pdu/decode.js";
import { Framer } from "../../src/core/pdu/framer.js";
import { Opcode } from "../../src/core/pdu/opcodes.js";
import type { LoginRequestPdu, LoginResponsePdu } from "../../src/core/pdu/types.js";
import { nodeHash } from "../../src/node/deps.js";
import { corpus, once } from "../corpus.js";
import { concat } from "../mutate.js";
import { encodeStream, split, textBytes, withConfig } from "../stream.js";
import { type FuzzTarget, proportional } from "../target.js";
import { arbPairs } from "./keys.js";

/** RFC 7143 §13.12: login PDUs carry at most 8192 bytes of data. */
const LOGIN_SEGMENT = 8192;
const MAX_PDUS = 64;
const TARGET_NAME = "iqn.2026-11.test:disk";

/** Frames the payload as a PDU stream (no digests during login) and yields decoded PDUs of `opcode`. */
function* loginPdus<P>(payload: Uint8Array, opcode: number): Generator<P> {
  const framer = new Framer({ maxDataSegmentLength: LOGIN_SEGMENT, headerDigest: false, dataDigest: false }, crc32c);
  framer.push(payload);
  for (let i = 0; i < MAX_PDUS; i++) {
    const frame = framer.next();
    if (frame === undefined) return;
    const pdu = decodePdu(frame);
    if (pdu.opcode === opcode) yield pdu as P;
  }
}

const arbStage = fc.constantFrom(0 as const, 1 as const, 3 as const);

function arbResponse(): fc.Arbitrary<LoginResponsePdu> {
  return fc
    .record({
      transit: fc.boolean(),
      currentStage: arbStage,
      nextStage: arbStage,
      tsih: fc.oneof(fc.constant(0x10), fc.integer({ min: 0, max: 0xffff })),
      statSN: fc.integer({ min: 0, max: 0xffff_ffff }),
      expCmdSN: fc.integer({ min: 0, max: 3 }),
      status: fc.oneof({ weight: 8, arbitrary: fc.constant([0, 0] as const) }, { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 12 })) }),
      pairs: arbPairs,
    })
    .map(
      (r): LoginResponsePdu => ({
        opcode: Opcode.LoginResponse,
        transit: r.transit,
        continue: false,
        currentStage: r.currentStage,
        nextStage: r.transit ? r.nextStage : 0,
        versionMax: 0,
        versionActive: 0,
        isid: ISID,
        tsih: r.tsih,
        initiatorTaskTag: 0,
        statSN: r.statSN,
        expCmdSN: r.expCmdSN,
        maxCmdSN: r.expCmdSN + 8,
        statusClass: r.status[0],
        statusDetail: r.status[1],
        data: textBytes(r.pairs),
      }),
    );
}

function arbRequest(): fc.Arbitrary<LoginRequestPdu> {
  return fc
    .record({
      transit: fc.boolean(),
      currentStage: arbStage,
      nextStage: arbStage,
      isid: fc.oneof(fc.constant(ISID), fc.integer({ min: 0, max: 0xffff_ffff_ffff })),
      tsih: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
      cmdSN: fc.integer({ min: 0, max: 0xffff_ffff }),
      first: fc.boolean(),
      pairs: arbPairs,
    })
    .map(
      (r): LoginRequestPdu => ({
        opcode: Opcode.LoginRequest,
        transit: r.transit,
        continue: false,
        currentStage: r.currentStage,
        nextStage: r.transit ? r.nextStage : 0,
        versionMax: 0,
        versionMin: 0,
        isid: r.isid,
        tsih: r.tsih,
        initiatorTaskTag: 1,
        cid: 0,
        cmdSN: r.cmdSN,
        expStatSN: 0,
        data: textBytes(
          r.first
            ? [["InitiatorName", "iqn.2026-11.test:initiator"], ["TargetName", TARGET_NAME], ["SessionType", "Normal"], ["AuthMethod", "None,CHAP"], ...r.pairs]
            : r.pairs,
        ),
      }),
    );
}

/** Config bits: 0-1 authentication (none, CHAP, mutual CHAP, discovery), 2 fix ISID/ITT, 3 MD5 only. */
function initiatorFor(config: number): InitiatorLogin {
  const mode = config & 3;
  return makeInitiator(nodeHash, {
    auth: mode === 1 ? "chap" : mode === 2 ? "mutual" : "none",
    ...(mode === 3 ? { sessionType: "Discovery" as const, targetName: undefined } : {}),
    ...((config & 8) !== 0 ? { algorithms: [5] } : {}),
  });
}

export const initiatorLoginTarget: FuzzTarget = {
  name: "login-initiator",
  description: "InitiatorLogin after start(), fed the Login Responses framed from the input",
  arbitrary: withConfig(fc.integer({ min: 0, max: 255 }).map((c) => c | 4), () => fc.array(arbResponse(), { minLength: 1, maxLength: 5 }).map((r) => encodeStream(r))),
  seeds: once(() => [
    ...corpus("login-responses").map((s) => concat([Uint8Array.of(0x04), s])),
    ...corpus("login-responses").map((s) => concat([Uint8Array.of(0x05), s])),
    ...corpus("pdus", (n) => n.startsWith("LoginResponse")).map((s) => concat([Uint8Array.of(0x04), s])),
  ]),
  allocationLimit: (input) => proportional(input, 8),
  run(input) {
    const { config, payload } = split(input);
    const login = initiatorFor(config);
    login.start();
    for (const response of loginPdus<LoginResponsePdu>(payload, Opcode.LoginResponse)) {
      const fixed = (config & 4) !== 0 ? { ...response, isid: ISID, initiatorTaskTag: 0 } : response;
      if (login.receive(fixed).kind !== "send") return;
    }
  },
};

/** Config bits: 0-1 the target's authentication (None, CHAP, CHAP or None, CHAP MD5 only). */
function targetFor(config: number): TargetLogin {
  const mode = config & 3;
  return makeTarget(nodeHash, {
    authMethods: mode === 0 ? ["None"] : mode === 2 ? ["CHAP", "None"] : ["CHAP"],
    ...(mode === 3 ? { chapAlgorithms: [5] } : {}),
  });
}

export const targetLoginTarget: FuzzTarget = {
  name: "login-target",
  description: "TargetLogin fed the Login Requests framed from the input",
  arbitrary: withConfig(fc.integer({ min: 0, max: 255 }), () => fc.array(arbRequest(), { minLength: 1, maxLength: 5 }).map((r) => encodeStream(r))),
  seeds: once(() => [
    ...corpus("login-requests").flatMap((s) => [concat([Uint8Array.of(0), s]), concat([Uint8Array.of(2), s])]),
    ...corpus("pdus", (n) => n.startsWith("LoginRequest")).map((s) => concat([Uint8Array.of(0), s])),
  ]),
  allocationLimit: (input) => proportional(input, 8),
  run(input) {
    const { config, payload } = split(input);
    const login = targetFor(config);
    for (const request of loginPdus<LoginRequestPdu>(payload, Opcode.LoginRequest)) {
      if (login.receive(request).kind !== "send") return;
    }
  },
};
