/**
 * iSNSP numbers (RFC 4171 §5 and §6): the PDU header's version and flags, function IDs, response
 * status codes, attribute tags, and the bit fields some attributes carry. Names follow the RFC's.
 */

/** RFC 4171 §5.1: the only iSNSP version. */
export const ISNSP_VERSION = 0x0001;
/** RFC 4171 §5.1: the well-known port, TCP and UDP. */
export const ISNS_DEFAULT_PORT = 3205;
/** The header: version, function ID, PDU length, flags, transaction ID, sequence ID (2 bytes each). */
export const ISNSP_HEADER_BYTES = 12;
/** The PDU Length field is 16 bits: no PDU payload may be longer. */
export const ISNSP_MAX_PAYLOAD = 0xffff;

/** RFC 4171 §5.1.4: the Flags field (bit 16 of the RFC's numbering is the field's top bit). */
export const IsnsFlag = {
  /** Sender is the iSNS client. */
  Client: 0x8000,
  /** Sender is the iSNS server. */
  Server: 0x4000,
  /** An authentication block follows the payload. */
  AuthBlock: 0x2000,
  /** DevAttrReg only: replace the existing registration. */
  Replace: 0x1000,
  LastPdu: 0x0800,
  FirstPdu: 0x0400,
} as const;

/** RFC 4171 §6.1: function IDs of requests; a response's is the request's with the top bit set. */
export const IsnsFunction = {
  DevAttrReg: 0x0001,
  DevAttrQry: 0x0002,
  DevGetNext: 0x0003,
  DevDereg: 0x0004,
  SCNReg: 0x0005,
  SCNDereg: 0x0006,
  SCNEvent: 0x0007,
  SCN: 0x0008,
  DDReg: 0x0009,
  DDDereg: 0x000a,
  DDSReg: 0x000b,
  DDSDereg: 0x000c,
  ESI: 0x000d,
  Heartbeat: 0x000e,
} as const;
export type IsnsFunction = (typeof IsnsFunction)[keyof typeof IsnsFunction];

export const RESPONSE_BIT = 0x8000;

const FUNCTION_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(IsnsFunction).map(([name, id]) => [id, name]));

/** `DevAttrQry`, `DevAttrQryRsp`, or `function 0x0042` for one we do not know. */
export function functionName(id: number): string {
  const base = FUNCTION_NAMES.get(id & ~RESPONSE_BIT);
  if (base === undefined) return `function 0x${id.toString(16).padStart(4, "0")}`;
  return (id & RESPONSE_BIT) !== 0 ? `${base}Rsp` : base;
}

/** RFC 4171 §6.4: the status code that opens every response payload. */
export const IsnsStatus = {
  Successful: 0,
  UnknownError: 1,
  MessageFormatError: 2,
  InvalidRegistration: 3,
  InvalidQuery: 5,
  SourceUnknown: 6,
  SourceAbsent: 7,
  SourceUnauthorized: 8,
  NoSuchEntry: 9,
  VersionNotSupported: 10,
  InternalError: 11,
  Busy: 12,
  OptionNotUnderstood: 13,
  InvalidUpdate: 14,
  MessageNotSupported: 15,
  ScnEventRejected: 16,
  ScnRegistrationRejected: 17,
  AttributeNotImplemented: 18,
  FcDomainIdNotAvailable: 19,
  FcDomainIdNotAllocated: 20,
  EsiNotAvailable: 21,
  InvalidDeregistration: 22,
  RegistrationFeatureNotSupported: 23,
} as const;

const STATUS_TEXT: Readonly<Record<number, string>> = {
  0: "Successful",
  1: "Unknown Error",
  2: "Message Format Error",
  3: "Invalid Registration",
  5: "Invalid Query",
  6: "Source Unknown",
  7: "Source Absent",
  8: "Source Unauthorized",
  9: "No Such Entry",
  10: "Version Not Supported",
  11: "Internal Error",
  12: "Busy",
  13: "Option Not Understood",
  14: "Invalid Update",
  15: "Message (FUNCTION_ID) Not Supported",
  16: "SCN Event Rejected",
  17: "SCN Registration Rejected",
  18: "Attribute Not Implemented",
  19: "FC_DOMAIN_ID Not Available",
  20: "FC_DOMAIN_ID Not Allocated",
  21: "ESI Not Available",
  22: "Invalid Deregistration",
  23: "Registration Feature Not Supported",
};

/** The RFC's name of a status code, or `status N` for a reserved one. */
export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? `status ${status}`;
}

/** RFC 4171 §6.1: the attribute tags this client reads or writes. */
export const IsnsTag = {
  Delimiter: 0,
  EntityIdentifier: 1,
  EntityProtocol: 2,
  ManagementIpAddress: 3,
  Timestamp: 4,
  ProtocolVersionRange: 5,
  RegistrationPeriod: 6,
  EntityIndex: 7,
  PortalIpAddress: 16,
  PortalPort: 17,
  PortalSymbolicName: 18,
  EsiInterval: 19,
  EsiPort: 20,
  PortalIndex: 22,
  ScnPort: 23,
  IscsiName: 32,
  IscsiNodeType: 33,
  IscsiAlias: 34,
  IscsiScnBitmap: 35,
  IscsiNodeIndex: 36,
  IscsiAuthMethod: 42,
  PgIscsiName: 48,
  PgPortalIpAddress: 49,
  PgPortalPort: 50,
  PgTag: 51,
  PgIndex: 52,
} as const;

/** RFC 4171 §6.2.2: Entity Protocol values. */
export const EntityProtocol = { None: 1, Iscsi: 2, Ifcp: 3 } as const;

/** RFC 4171 §6.4.2: iSCSI Node Type, a bitmap (bit 31 of the RFC's numbering is the least significant). */
export const NodeType = { Target: 0x1, Initiator: 0x2, Control: 0x4 } as const;

/** RFC 4171 §6.4.4: the iSCSI Node SCN Bitmap. */
export const ScnBit = {
  DdMemberAdded: 0x01,
  DdMemberRemoved: 0x02,
  ObjectUpdated: 0x04,
  ObjectAdded: 0x08,
  ObjectRemoved: 0x10,
  ManagementRegistration: 0x20,
  TargetAndSelfOnly: 0x40,
  InitiatorAndSelfOnly: 0x80,
} as const;

/** RFC 4171 §6.3.2: in a Portal TCP/UDP Port value, this bit says UDP; the port is the low 16 bits. */
export const PORT_UDP_BIT = 0x10000;
