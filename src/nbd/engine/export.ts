/**
 * What the engine serves: one export as the NBD client sees it (name, size, size constraints, what
 * it can do), checked against the protocol document's rules once, when the server is configured.
 */
import { ConfigError } from "../../core/errors.js";
import { MAX_STRING_LENGTH, TransmissionFlag } from "./constants.js";

export interface NbdExport {
  /** Its canonical name; the empty (default) name reaches the first export too. */
  readonly name: string;
  /** A line for humans (NBD_INFO_DESCRIPTION). */
  readonly description?: string;
  /** Bytes; a whole number of minimum blocks. */
  readonly size: number;
  /** Smallest addressable length and alignment (the LUN's logical block size). */
  readonly minimumBlockSize: number;
  /** The size below which I/O is inefficient. */
  readonly preferredBlockSize: number;
  /** The largest READ or WRITE payload accepted. */
  readonly maximumPayload: number;
  readonly readOnly: boolean;
  /** NBD_CMD_FLUSH and NBD_CMD_FLAG_FUA are honoured. */
  readonly flush: boolean;
  readonly trim: boolean;
  readonly writeZeroes: boolean;
  readonly cache: boolean;
  /** FLUSH and FUA on one connection cover writes completed on every other one. */
  readonly multiConn: boolean;
  readonly rotational: boolean;
}

const encoder = new TextEncoder();

/** UTF-8 byte length of a protocol string. */
export function stringBytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Throws a ConfigError unless `e` obeys the document's "Size constraints" and string rules. */
export function checkExport(e: NbdExport): void {
  const where = `NBD export "${e.name}"`;
  if (stringBytes(e.name).length > MAX_STRING_LENGTH || e.name.includes("\0")) throw new ConfigError(`${where}: a name is at most ${MAX_STRING_LENGTH} bytes, without NUL`);
  if (e.description !== undefined && stringBytes(e.description).length > MAX_STRING_LENGTH) throw new ConfigError(`${where}: the description is longer than ${MAX_STRING_LENGTH} bytes`);
  // "If advertised, this value MUST be a power of 2, MUST NOT be larger than 2^16".
  if (!isPowerOfTwo(e.minimumBlockSize) || e.minimumBlockSize > 65536) throw new ConfigError(`${where}: minimum block size ${e.minimumBlockSize} is not a power of 2 up to 65536`);
  // "MUST be a power of 2 at least as large as the maximum of the minimum block size and 2^9".
  if (!isPowerOfTwo(e.preferredBlockSize) || e.preferredBlockSize < Math.max(e.minimumBlockSize, 512)) {
    throw new ConfigError(`${where}: preferred block size ${e.preferredBlockSize} must be a power of 2 of at least max(minimum, 512)`);
  }
  // "MUST be at least as large as the preferred block size"; a whole number of minimum blocks so
  // that a maximal request is still aligned.
  if (!Number.isSafeInteger(e.maximumPayload) || e.maximumPayload < e.preferredBlockSize || e.maximumPayload > 0xffff_ffff || e.maximumPayload % e.minimumBlockSize !== 0) {
    throw new ConfigError(`${where}: maximum payload ${e.maximumPayload} must be a multiple of the minimum block size, at least the preferred block size, and fit in 32 bits`);
  }
  if (!Number.isSafeInteger(e.size) || e.size <= 0 || e.size % e.minimumBlockSize !== 0) {
    throw new ConfigError(`${where}: size ${e.size} must be a positive multiple of the minimum block size ${e.minimumBlockSize}`);
  }
}

/**
 * The transmission flags of `e` for a client that did (or did not) negotiate structured replies:
 * NBD_FLAG_SEND_DF "MUST [be left] clear if structured replies have not been negotiated".
 */
export function transmissionFlags(e: NbdExport, structuredReplies: boolean): number {
  let flags = TransmissionFlag.HasFlags;
  if (e.readOnly) flags |= TransmissionFlag.ReadOnly;
  if (e.flush) flags |= TransmissionFlag.SendFlush | TransmissionFlag.SendFua;
  if (e.rotational) flags |= TransmissionFlag.Rotational;
  if (e.trim && !e.readOnly) flags |= TransmissionFlag.SendTrim;
  if (e.writeZeroes && !e.readOnly) flags |= TransmissionFlag.SendWriteZeroes;
  // Every READ is answered with at most one content chunk, so "don't fragment" always holds.
  if (structuredReplies) flags |= TransmissionFlag.SendDf;
  if (e.multiConn) flags |= TransmissionFlag.CanMultiConn;
  if (e.cache) flags |= TransmissionFlag.SendCache;
  return flags;
}
