/**
 * fast-check arbitraries for every PDU type, shared by the codec's tests and by anyone fuzzing a
 * layer above it. Every generated PDU is valid: `encodePdu` accepts it and `decodePdu` of its
 * frame deep-equals it (so no CDB shorter than 16 bytes, no S bit without F, no T with C, ...).
 *
 * `arbPdu` and the per-opcode constants use data segments of up to 64 bytes; call
 * `pduArbitraries({ maxDataLength })` for other sizes.
 */
import fc from "fast-check";
import { Opcode } from "./opcodes.js";
import type {
  AsyncMessagePdu,
  DataInPdu,
  DataOutPdu,
  InitiatorPdu,
  LoginRequestPdu,
  LoginResponsePdu,
  LogoutRequestPdu,
  LogoutResponsePdu,
  NopInPdu,
  NopOutPdu,
  Pdu,
  R2TPdu,
  RejectPdu,
  ScsiCommandPdu,
  ScsiResponsePdu,
  SnackRequestPdu,
  TargetPdu,
  TaskManagementRequestPdu,
  TaskManagementResponsePdu,
  TextRequestPdu,
  TextResponsePdu,
} from "./types.js";

export interface PduArbitraryOptions {
  /** Largest data segment generated (default 64). */
  readonly maxDataLength?: number;
}

export interface PduArbitraries {
  readonly nopOut: fc.Arbitrary<NopOutPdu>;
  readonly scsiCommand: fc.Arbitrary<ScsiCommandPdu>;
  readonly taskManagementRequest: fc.Arbitrary<TaskManagementRequestPdu>;
  readonly loginRequest: fc.Arbitrary<LoginRequestPdu>;
  readonly textRequest: fc.Arbitrary<TextRequestPdu>;
  readonly dataOut: fc.Arbitrary<DataOutPdu>;
  readonly logoutRequest: fc.Arbitrary<LogoutRequestPdu>;
  readonly snackRequest: fc.Arbitrary<SnackRequestPdu>;
  readonly nopIn: fc.Arbitrary<NopInPdu>;
  readonly scsiResponse: fc.Arbitrary<ScsiResponsePdu>;
  readonly taskManagementResponse: fc.Arbitrary<TaskManagementResponsePdu>;
  readonly loginResponse: fc.Arbitrary<LoginResponsePdu>;
  readonly textResponse: fc.Arbitrary<TextResponsePdu>;
  readonly dataIn: fc.Arbitrary<DataInPdu>;
  readonly logoutResponse: fc.Arbitrary<LogoutResponsePdu>;
  readonly r2t: fc.Arbitrary<R2TPdu>;
  readonly asyncMessage: fc.Arbitrary<AsyncMessagePdu>;
  readonly reject: fc.Arbitrary<RejectPdu>;
  readonly initiatorPdu: fc.Arbitrary<InitiatorPdu>;
  readonly targetPdu: fc.Arbitrary<TargetPdu>;
  readonly pdu: fc.Arbitrary<Pdu>;
}

/** Unsigned 32-bit numbers, biased toward the edges where wrap and sign bugs live. */
export const arbU32: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff) },
);
export const arbU16: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xffff });
export const arbU8: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xff });
/** LUNs both encodings cover: peripheral (< 256) and flat (256-16383). */
export const arbLun: fc.Arbitrary<number> = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 256, max: 0x3fff }));
export const arbIsid: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xffff_ffff_ffff });
const arbLoginStage = fc.constantFrom(0 as const, 1 as const, 3 as const);

/** Plain objects (fast-check's records have a null prototype by default, which strict equality tells apart). */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

export function arbData(maxLength = 64): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ maxLength });
}

/** CDBs of 16 bytes (no AHS) mostly, up to 260 (an Extended CDB AHS of up to 1008 bytes fits with the bidi AHS). */
export const arbCdb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 17, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 41, maxLength: 260 }) },
);

export function pduArbitraries(options: PduArbitraryOptions = {}): PduArbitraries {
  const data = arbData(options.maxDataLength ?? 64);

  const nopOut: fc.Arbitrary<NopOutPdu> = record({
    opcode: fc.constant(Opcode.NopOut),
    immediate: fc.boolean(),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    targetTransferTag: arbU32,
    cmdSN: arbU32,
    expStatSN: arbU32,
    data,
  });

  const scsiCommand: fc.Arbitrary<ScsiCommandPdu> = record({
    opcode: fc.constant(Opcode.ScsiCommand),
    immediate: fc.boolean(),
    final: fc.boolean(),
    read: fc.boolean(),
    write: fc.boolean(),
    attribute: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const, 4 as const),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    expectedDataTransferLength: arbU32,
    cmdSN: arbU32,
    expStatSN: arbU32,
    cdb: arbCdb,
    bidi: fc.option(arbU32, { nil: undefined, freq: 3 }),
    data,
  }).map(({ bidi, ...rest }): ScsiCommandPdu => (bidi === undefined ? rest : { ...rest, bidiReadDataLength: bidi }));

  const taskManagementRequest: fc.Arbitrary<TaskManagementRequestPdu> = record({
    opcode: fc.constant(Opcode.TaskManagementRequest),
    immediate: fc.boolean(),
    function: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const, 5 as const, 6 as const, 7 as const, 8 as const),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    referencedTaskTag: arbU32,
    cmdSN: arbU32,
    expStatSN: arbU32,
    refCmdSN: arbU32,
    expDataSN: arbU32,
  });

  const loginRequest: fc.Arbitrary<LoginRequestPdu> = record({
    opcode: fc.constant(Opcode.LoginRequest),
    transit: fc.boolean(),
    continue: fc.boolean(),
    currentStage: arbLoginStage,
    nextStage: arbLoginStage,
    versionMax: arbU8,
    versionMin: arbU8,
    isid: arbIsid,
    tsih: arbU16,
    initiatorTaskTag: arbU32,
    cid: arbU16,
    cmdSN: arbU32,
    expStatSN: arbU32,
    data,
  }).map((p) => (p.transit && p.continue ? { ...p, continue: false } : p));

  const textRequest: fc.Arbitrary<TextRequestPdu> = record({
    opcode: fc.constant(Opcode.TextRequest),
    immediate: fc.boolean(),
    final: fc.boolean(),
    continue: fc.boolean(),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    targetTransferTag: arbU32,
    cmdSN: arbU32,
    expStatSN: arbU32,
    data,
  }).map((p) => (p.final && p.continue ? { ...p, continue: false } : p));

  const dataOut: fc.Arbitrary<DataOutPdu> = record({
    opcode: fc.constant(Opcode.DataOut),
    final: fc.boolean(),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    targetTransferTag: arbU32,
    expStatSN: arbU32,
    dataSN: arbU32,
    bufferOffset: arbU32,
    data,
  });

  const logoutRequest: fc.Arbitrary<LogoutRequestPdu> = record({
    opcode: fc.constant(Opcode.LogoutRequest),
    immediate: fc.boolean(),
    reason: fc.constantFrom(0 as const, 1 as const, 2 as const),
    initiatorTaskTag: arbU32,
    cid: arbU16,
    cmdSN: arbU32,
    expStatSN: arbU32,
  });

  const snackRequest: fc.Arbitrary<SnackRequestPdu> = record({
    opcode: fc.constant(Opcode.SnackRequest),
    type: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    targetTransferTag: arbU32,
    expStatSN: arbU32,
    begRun: arbU32,
    runLength: arbU32,
  });

  const nopIn: fc.Arbitrary<NopInPdu> = record({
    opcode: fc.constant(Opcode.NopIn),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    targetTransferTag: arbU32,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    data,
  });

  const scsiResponse: fc.Arbitrary<ScsiResponsePdu> = record({
    opcode: fc.constant(Opcode.ScsiResponse),
    bidiReadResidualOverflow: fc.boolean(),
    bidiReadResidualUnderflow: fc.boolean(),
    residualOverflow: fc.boolean(),
    residualUnderflow: fc.boolean(),
    response: arbU8,
    status: arbU8,
    initiatorTaskTag: arbU32,
    snackTag: arbU32,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    expDataSN: arbU32,
    bidiReadResidualCount: arbU32,
    residualCount: arbU32,
    sense: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 1, maxLength: 96 })),
    responseData: fc.oneof({ weight: 3, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: data }),
  });

  const taskManagementResponse: fc.Arbitrary<TaskManagementResponsePdu> = record({
    opcode: fc.constant(Opcode.TaskManagementResponse),
    response: arbU8,
    initiatorTaskTag: arbU32,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
  });

  const loginResponse: fc.Arbitrary<LoginResponsePdu> = record({
    opcode: fc.constant(Opcode.LoginResponse),
    transit: fc.boolean(),
    continue: fc.boolean(),
    currentStage: arbLoginStage,
    nextStage: arbLoginStage,
    versionMax: arbU8,
    versionActive: arbU8,
    isid: arbIsid,
    tsih: arbU16,
    initiatorTaskTag: arbU32,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    statusClass: arbU8,
    statusDetail: arbU8,
    data,
  }).map((p) => (p.transit && p.continue ? { ...p, continue: false } : p));

  const textResponse: fc.Arbitrary<TextResponsePdu> = record({
    opcode: fc.constant(Opcode.TextResponse),
    final: fc.boolean(),
    continue: fc.boolean(),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    targetTransferTag: arbU32,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    data,
  }).map((p) => (p.final && p.continue ? { ...p, continue: false } : p));

  const dataIn: fc.Arbitrary<DataInPdu> = record({
    opcode: fc.constant(Opcode.DataIn),
    final: fc.boolean(),
    acknowledge: fc.boolean(),
    residualOverflow: fc.boolean(),
    residualUnderflow: fc.boolean(),
    hasStatus: fc.boolean(),
    status: arbU8,
    lun: arbLun,
    initiatorTaskTag: arbU32,
    targetTransferTag: arbU32,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    dataSN: arbU32,
    bufferOffset: arbU32,
    residualCount: arbU32,
    data,
  }).map((p) => (p.hasStatus && !p.final ? { ...p, hasStatus: false } : p));

  const logoutResponse: fc.Arbitrary<LogoutResponsePdu> = record({
    opcode: fc.constant(Opcode.LogoutResponse),
    response: arbU8,
    initiatorTaskTag: arbU32,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    time2Wait: arbU16,
    time2Retain: arbU16,
  });

  const r2t: fc.Arbitrary<R2TPdu> = record({
    opcode: fc.constant(Opcode.R2T),
    lun: arbLun,
    initiatorTaskTag: arbU32,
    targetTransferTag: arbU32,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    r2tSN: arbU32,
    bufferOffset: arbU32,
    desiredDataTransferLength: arbU32,
  });

  const asyncMessage: fc.Arbitrary<AsyncMessagePdu> = record({
    opcode: fc.constant(Opcode.AsyncMessage),
    lun: arbLun,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    asyncEvent: arbU8,
    asyncVCode: arbU8,
    parameter1: arbU16,
    parameter2: arbU16,
    parameter3: arbU16,
    data,
  });

  const reject: fc.Arbitrary<RejectPdu> = record({
    opcode: fc.constant(Opcode.Reject),
    reason: arbU8,
    statSN: arbU32,
    expCmdSN: arbU32,
    maxCmdSN: arbU32,
    dataSNOrR2TSN: arbU32,
    data,
  });

  const initiatorPdu: fc.Arbitrary<InitiatorPdu> = fc.oneof(
    nopOut,
    scsiCommand,
    taskManagementRequest,
    loginRequest,
    textRequest,
    dataOut,
    logoutRequest,
    snackRequest,
  );
  const targetPdu: fc.Arbitrary<TargetPdu> = fc.oneof(
    nopIn,
    scsiResponse,
    taskManagementResponse,
    loginResponse,
    textResponse,
    dataIn,
    logoutResponse,
    r2t,
    asyncMessage,
    reject,
  );
  const pdu: fc.Arbitrary<Pdu> = fc.oneof(initiatorPdu, targetPdu);

  return {
    nopOut,
    scsiCommand,
    taskManagementRequest,
    loginRequest,
    textRequest,
    dataOut,
    logoutRequest,
    snackRequest,
    nopIn,
    scsiResponse,
    taskManagementResponse,
    loginResponse,
    textResponse,
    dataIn,
    logoutResponse,
    r2t,
    asyncMessage,
    reject,
    initiatorPdu,
    targetPdu,
    pdu,
  };
}

const defaults = pduArbitraries();

export const arbNopOut = defaults.nopOut;
export const arbScsiCommand = defaults.scsiCommand;
export const arbTaskManagementRequest = defaults.taskManagementRequest;
export const arbLoginRequest = defaults.loginRequest;
export const arbTextRequest = defaults.textRequest;
export const arbDataOut = defaults.dataOut;
export const arbLogoutRequest = defaults.logoutRequest;
export const arbSnackRequest = defaults.snackRequest;
export const arbNopIn = defaults.nopIn;
export const arbScsiResponse = defaults.scsiResponse;
export const arbTaskManagementResponse = defaults.taskManagementResponse;
export const arbLoginResponse = defaults.loginResponse;
export const arbTextResponse = defaults.textResponse;
export const arbDataIn = defaults.dataIn;
export const arbLogoutResponse = defaults.logoutResponse;
export const arbR2T = defaults.r2t;
export const arbAsyncMessage = defaults.asyncMessage;
export const arbReject = defaults.reject;
export const arbInitiatorPdu = defaults.initiatorPdu;
export const arbTargetPdu = defaults.targetPdu;
/** Any valid PDU of any opcode, data segments up to 64 bytes. */
export const arbPdu = defaults.pdu;
