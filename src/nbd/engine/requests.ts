/**
 * Transmission-phase requests: which commands exist, what a valid request of each looks like
 * against the export and what was negotiated, and the error value the protocol document names
 * for each way of being invalid. Every length is bounded here, before any byte is buffered.
 */
import { Command, CommandFlag, NbdErrno, commandName } from "./constants.js";
import type { NbdExport } from "./export.js";
import type { RequestHeader } from "./wire.js";

export type NbdCommand = "read" | "write" | "flush" | "trim" | "cache" | "write-zeroes" | "block-status";

const COMMANDS: Readonly<Record<number, NbdCommand>> = {
  [Command.Read]: "read",
  [Command.Write]: "write",
  [Command.Flush]: "flush",
  [Command.Trim]: "trim",
  [Command.Cache]: "cache",
  [Command.WriteZeroes]: "write-zeroes",
  [Command.BlockStatus]: "block-status",
};

export function commandOf(type: number): NbdCommand | undefined {
  return COMMANDS[type];
}

const TITLES: Readonly<Record<NbdCommand, string>> = {
  read: "NBD_CMD_READ",
  write: "NBD_CMD_WRITE",
  flush: "NBD_CMD_FLUSH",
  trim: "NBD_CMD_TRIM",
  cache: "NBD_CMD_CACHE",
  "write-zeroes": "NBD_CMD_WRITE_ZEROES",
  "block-status": "NBD_CMD_BLOCK_STATUS",
};

/** The document's name of a command: NBD_CMD_READ, ... */
export function commandTitle(command: NbdCommand): string {
  return TITLES[command];
}

/** What the check needs to know beyond the header. */
export interface RequestContext {
  readonly export: NbdExport;
  readonly structuredReplies: boolean;
  /** base:allocation was selected for this export. */
  readonly blockStatus: boolean;
  readonly shuttingDown: boolean;
}

export type Verdict = { readonly ok: true; readonly command: NbdCommand } | { readonly ok: false; readonly errno: NbdErrno; readonly message: string };

function refuse(errno: NbdErrno, message: string): Verdict {
  return { ok: false, errno, message };
}

/** The flags a command may carry, given what was advertised. */
function allowedFlags(command: NbdCommand, ctx: RequestContext): number {
  // "This flag is valid for all commands, provided NBD_FLAG_SEND_FUA has been negotiated".
  let allowed = ctx.export.flush ? CommandFlag.Fua : 0;
  if (command === "write-zeroes") allowed |= CommandFlag.NoHole;
  if (command === "read" && ctx.structuredReplies) allowed |= CommandFlag.Df;
  if (command === "block-status") allowed |= CommandFlag.ReqOne;
  return allowed;
}

/**
 * The verdict on one request (not NBD_CMD_DISC). Past the end: ENOSPC for WRITE and
 * WRITE_ZEROES, EINVAL for the others; not aligned to the minimum block size: EINVAL; over the
 * maximum payload: EOVERFLOW for a READ under structured replies (which "MAY" reject large reads
 * up front with it), EINVAL otherwise.
 */
export function checkRequest(h: RequestHeader, ctx: RequestContext): Verdict {
  const command = commandOf(h.type);
  const name = commandName(h.type);
  if (command === undefined) return refuse(NbdErrno.EINVAL, `unknown command ${h.type}`);
  if (ctx.shuttingDown) return refuse(NbdErrno.ESHUTDOWN, "the server is shutting down");
  const e = ctx.export;
  const stray = h.flags & ~allowedFlags(command, ctx);
  if (stray !== 0) return refuse(NbdErrno.EINVAL, `${name} with flags 0x${stray.toString(16)} it may not carry`);
  const writes = command === "write" || command === "trim" || command === "write-zeroes";
  if (writes && e.readOnly) return refuse(NbdErrno.EPERM, `${name} on a read-only export`);
  if (command === "trim" && !e.trim) return refuse(NbdErrno.EINVAL, `${name} was not advertised (the LUN cannot unmap)`);
  if (command === "write-zeroes" && !e.writeZeroes) return refuse(NbdErrno.EINVAL, `${name} was not advertised`);
  if (command === "cache" && !e.cache) return refuse(NbdErrno.EINVAL, `${name} was not advertised`);
  if (command === "flush") {
    if (!e.flush) return refuse(NbdErrno.EINVAL, `${name} was not advertised`);
    if (h.offset !== 0 || h.length !== 0) return refuse(NbdErrno.EINVAL, `${name} with a non-zero offset or length`);
    return { ok: true, command };
  }
  if (command === "block-status") {
    if (!ctx.blockStatus) return refuse(NbdErrno.EINVAL, `${name} without base:allocation selected (NBD_OPT_SET_META_CONTEXT)`);
    if (h.length === 0) return refuse(NbdErrno.EINVAL, `${name} of length 0`);
  }
  if (h.offset + h.length > e.size) {
    const errno = command === "write" || command === "write-zeroes" ? NbdErrno.ENOSPC : NbdErrno.EINVAL;
    const at = Number.isFinite(h.offset) ? `offset ${h.offset} + length ${h.length}` : `an offset past 2^53`;
    return refuse(errno, `${name} past the end of the export: ${at} > size ${e.size}`);
  }
  if (h.offset % e.minimumBlockSize !== 0 || h.length % e.minimumBlockSize !== 0) {
    return refuse(NbdErrno.EINVAL, `${name} at offset ${h.offset}, length ${h.length} is not aligned to the ${e.minimumBlockSize}-byte minimum block size`);
  }
  if ((command === "read" || command === "write") && h.length > e.maximumPayload) {
    const errno = command === "read" && ctx.structuredReplies ? NbdErrno.EOVERFLOW : NbdErrno.EINVAL;
    return refuse(errno, `${name} of ${h.length} bytes is over the maximum payload of ${e.maximumPayload}`);
  }
  return { ok: true, command };
}
