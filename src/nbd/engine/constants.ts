/**
 * The numbers of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md): magics, handshake and
 * transmission flags, options, option replies, information types, commands, command flags,
 * structured reply types and error values. Names follow the document so a reader can grep it.
 */

/** 'NBDMAGIC', the first 8 bytes the server sends. */
export const NBDMAGIC = 0x4e42444d41474943n;
/** 'IHAVEOPT': the newstyle greeting's second magic, and the prefix of every option. */
export const IHAVEOPT = 0x49484156454f5054n;
/** The oldstyle greeting's second magic (cliserv_magic): we never send it. */
export const CLISERV_MAGIC = 0x00420281861253n;
/** Prefix of every option reply. */
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;

export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
/** Extended headers' request magic: only valid once NBD_OPT_EXTENDED_HEADERS succeeded (never here). */
export const NBD_EXTENDED_REQUEST_MAGIC = 0x21e41c71;

/** Handshake flags (server, 16 bits). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;

/** Client flags (32 bits). */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

/** Transmission flags (16 bits). */
export const TransmissionFlag = {
  HasFlags: 1 << 0,
  ReadOnly: 1 << 1,
  SendFlush: 1 << 2,
  SendFua: 1 << 3,
  Rotational: 1 << 4,
  SendTrim: 1 << 5,
  SendWriteZeroes: 1 << 6,
  SendDf: 1 << 7,
  CanMultiConn: 1 << 8,
  SendResize: 1 << 9,
  SendCache: 1 << 10,
  SendFastZero: 1 << 11,
} as const;

/** Options (NBD_OPT_*). */
export const Option = {
  ExportName: 1,
  Abort: 2,
  List: 3,
  PeekExport: 4,
  StartTls: 5,
  Info: 6,
  Go: 7,
  StructuredReply: 8,
  ListMetaContext: 9,
  SetMetaContext: 10,
  ExtendedHeaders: 11,
} as const;

const OPTION_NAMES: Readonly<Record<number, string>> = {
  1: "NBD_OPT_EXPORT_NAME",
  2: "NBD_OPT_ABORT",
  3: "NBD_OPT_LIST",
  4: "NBD_OPT_PEEK_EXPORT",
  5: "NBD_OPT_STARTTLS",
  6: "NBD_OPT_INFO",
  7: "NBD_OPT_GO",
  8: "NBD_OPT_STRUCTURED_REPLY",
  9: "NBD_OPT_LIST_META_CONTEXT",
  10: "NBD_OPT_SET_META_CONTEXT",
  11: "NBD_OPT_EXTENDED_HEADERS",
};

export function optionName(option: number): string {
  return OPTION_NAMES[option] ?? `option ${option}`;
}

/** Option reply types (NBD_REP_*); errors have bit 31 set. */
export const Reply = {
  Ack: 1,
  Server: 2,
  Info: 3,
  MetaContext: 4,
  ErrUnsup: 0x8000_0001,
  ErrPolicy: 0x8000_0002,
  ErrInvalid: 0x8000_0003,
  ErrPlatform: 0x8000_0004,
  ErrTlsReqd: 0x8000_0005,
  ErrUnknown: 0x8000_0006,
  ErrShutdown: 0x8000_0007,
  ErrBlockSizeReqd: 0x8000_0008,
  ErrTooBig: 0x8000_0009,
} as const;

/** Information types of NBD_REP_INFO (NBD_INFO_*). */
export const Info = {
  Export: 0,
  Name: 1,
  Description: 2,
  BlockSize: 3,
} as const;

/** Commands (NBD_CMD_*). */
export const Command = {
  Read: 0,
  Write: 1,
  Disc: 2,
  Flush: 3,
  Trim: 4,
  Cache: 5,
  WriteZeroes: 6,
  BlockStatus: 7,
} as const;

const COMMAND_NAMES: Readonly<Record<number, string>> = {
  0: "NBD_CMD_READ",
  1: "NBD_CMD_WRITE",
  2: "NBD_CMD_DISC",
  3: "NBD_CMD_FLUSH",
  4: "NBD_CMD_TRIM",
  5: "NBD_CMD_CACHE",
  6: "NBD_CMD_WRITE_ZEROES",
  7: "NBD_CMD_BLOCK_STATUS",
};

export function commandName(type: number): string {
  return COMMAND_NAMES[type] ?? `command ${type}`;
}

/** Command flags (NBD_CMD_FLAG_*). */
export const CommandFlag = {
  Fua: 1 << 0,
  NoHole: 1 << 1,
  Df: 1 << 2,
  ReqOne: 1 << 3,
  FastZero: 1 << 4,
  PayloadLen: 1 << 5,
} as const;

/** Structured reply flags and types. */
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const ReplyType = {
  None: 0,
  OffsetData: 1,
  OffsetHole: 2,
  BlockStatus: 5,
  Error: 0x8001,
  ErrorOffset: 0x8002,
} as const;

/** Error values of replies: the protocol's own list, not the host's errno. */
export const NbdErrno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type NbdErrno = (typeof NbdErrno)[keyof typeof NbdErrno];

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  5: "EIO",
  12: "ENOMEM",
  22: "EINVAL",
  28: "ENOSPC",
  75: "EOVERFLOW",
  95: "ENOTSUP",
  108: "ESHUTDOWN",
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `error ${errno}`;
}

/** `base:allocation` (the one context the document defines) and its flags. */
export const BASE_ALLOCATION = "base:allocation";
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;

/** Strings (export names, messages, queries) MUST be no longer than this. */
export const MAX_STRING_LENGTH = 4096;
/** The payload every server SHOULD accept without calling it a denial of service (2^25). */
export const SAFE_PAYLOAD = 1 << 25;
