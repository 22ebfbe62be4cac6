/** RFC 7143 §11.2.1.2: opcodes. Initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f. */
export const Opcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagementRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  SnackRequest: 0x10,
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskManagementResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  DataIn: 0x25,
  LogoutResponse: 0x26,
  R2T: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

export const OPCODE_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(Opcode).map(([name, value]) => [value, name])),
);

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `0x${opcode.toString(16).padStart(2, "0")}`;
}

/** RFC 7143 §11.2: Basic Header Segment length. */
export const BHS_LENGTH = 48;
/** RFC 7143 §11.2.1.5: DataSegmentLength is a 24-bit field. */
export const MAX_DATA_SEGMENT_LENGTH_FIELD = 0xff_ffff;
/** RFC 7143 §13.12: the range MaxRecvDataSegmentLength may be declared in. */
export const MIN_RECV_DATA_SEGMENT_LENGTH = 512;
export const MAX_RECV_DATA_SEGMENT_LENGTH = 0xff_ffff;
/** RFC 7143 §13.12: the value assumed until one is declared (login phase included). */
export const DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH = 8192;
/** RFC 7143 §11.2.1.2: the reserved tag value. */
export const RESERVED_TAG = 0xffff_ffff;

/** RFC 7143 §11.5.1: task management function codes. */
export const TaskManagementFunction = {
  AbortTask: 1,
  AbortTaskSet: 2,
  ClearAca: 3,
  ClearTaskSet: 4,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
  TaskReassign: 8,
} as const;
export type TaskManagementFunction = (typeof TaskManagementFunction)[keyof typeof TaskManagementFunction];

/** RFC 7143 §11.6.1: task management responses. */
export const TaskManagementResponseCode = {
  FunctionComplete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  TaskStillAllegiant: 3,
  TaskAllegianceReassignmentNotSupported: 4,
  NotSupported: 5,
  AuthorizationFailed: 6,
  Rejected: 255,
} as const;

/** RFC 7143 §11.14.1: logout reason codes. */
export const LogoutReason = {
  CloseSession: 0,
  CloseConnection: 1,
  RemoveConnectionForRecovery: 2,
} as const;
export type LogoutReason = (typeof LogoutReason)[keyof typeof LogoutReason];

/** RFC 7143 §11.15.1: logout response codes. */
export const LogoutResponseCode = {
  Success: 0,
  CidNotFound: 1,
  RecoveryNotSupported: 2,
  CleanupFailed: 3,
} as const;

/** RFC 7143 §11.9.1: AsyncEvent codes. */
export const AsyncEvent = {
  ScsiAsyncEvent: 0,
  LogoutRequest: 1,
  DropConnection: 2,
  DropAllConnections: 3,
  Renegotiate: 4,
  VendorSpecific: 255,
} as const;

/** RFC 7143 §11.16.1: SNACK types. */
export const SnackType = {
  DataR2T: 0,
  Status: 1,
  DataAck: 2,
  RDataSnack: 3,
} as const;
export type SnackType = (typeof SnackType)[keyof typeof SnackType];

/** RFC 7143 §11.17.1: reject reasons. */
export const RejectReason = {
  DataDigestError: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  CommandNotSupported: 0x05,
  ImmediateCommandReject: 0x06,
  TaskInProgress: 0x07,
  InvalidDataAck: 0x08,
  InvalidPduField: 0x09,
  LongOperationReject: 0x0a,
  DeprecatedNegotiationReset: 0x0b,
  WaitingForLogout: 0x0c,
} as const;

/** RFC 7143 §11.3.1: task attributes (ATTR field of the SCSI Command PDU). */
export const TaskAttribute = {
  Untagged: 0,
  Simple: 1,
  Ordered: 2,
  HeadOfQueue: 3,
  Aca: 4,
} as const;
export type TaskAttribute = (typeof TaskAttribute)[keyof typeof TaskAttribute];

/** RFC 7143 §11.4.3: the Response field of a SCSI Response. */
export const ScsiResponseCode = {
  CommandCompleted: 0x00,
  TargetFailure: 0x01,
} as const;

/** RFC 7143 §11.12.3: login stages (CSG/NSG). */
export const LoginStage = {
  Security: 0,
  Operational: 1,
  FullFeature: 3,
} as const;
export type LoginStage = (typeof LoginStage)[keyof typeof LoginStage];

/** RFC 7143 §11.13.5: login status classes. */
export const LoginStatusClass = {
  Success: 0x00,
  Redirection: 0x01,
  InitiatorError: 0x02,
  TargetError: 0x03,
} as const;
