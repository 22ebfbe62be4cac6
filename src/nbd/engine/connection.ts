/**
 * One NBD connection, server side, sans-I/O: bytes in (`receive`), bytes out (`pollTransmit`),
 * events out (`nextEvent`), time in (`handleTimeout(now)`, `pollTimeout()`), and the outcome of
 * each request in (`complete(id, outcome)`). It never blocks and never touches a socket, a timer
 * or a disk: the host maps each "request" event onto storage and hands the outcome back.
 *
 * It speaks the fixed newstyle handshake (NetworkBlockDevice/nbd doc/proto.md), honouring plain
 * newstyle clients too, and refuses oldstyle: NBD_OPT_EXPORT_NAME, ABORT, LIST, INFO, GO,
 * STRUCTURED_REPLY, LIST_META_CONTEXT and SET_META_CONTEXT (`base:allocation`); anything else is
 * answered NBD_REP_ERR_UNSUP. In transmission it answers with simple replies, or structured ones
 * once negotiated (READ data as one NBD_REPLY_TYPE_OFFSET_DATA chunk, errors as
 * NBD_REPLY_TYPE_ERROR with a message, BLOCK_STATUS as one NBD_REPLY_TYPE_BLOCK_STATUS chunk).
 */
import { LocalProtocolError } from "../../core/errors.js";
import { IntMap } from "../../core/int-map.js";
import {
  BASE_ALLOCATION,
  Command,
  CommandFlag,
  Info,
  NBD_EXTENDED_REQUEST_MAGIC,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_REQUEST_MAGIC,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  NbdErrno,
  Option,
  Reply,
  SAFE_PAYLOAD,
  commandName,
  errnoName,
  optionName,
} from "./constants.js";
import { ByteQueue } from "./byte-queue.js";
import { type NbdExport, checkExport, transmissionFlags } from "./export.js";
import { decodeString, parseInfoRequest, parseMetaContextRequest, resolveMetaContextQueries } from "./options.js";
import { type NbdCommand, checkRequest } from "./requests.js";
import {
  type Cookie,
  OPTION_HEADER_LENGTH,
  type RequestHeader,
  REQUEST_HEADER_LENGTH,
  decodeOptionHeader,
  decodeRequestHeader,
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoString,
  encodeMetaContextData,
  encodeNoneChunk,
  encodeOffsetDataHeader,
  encodeOptionReply,
  encodeServerReplyData,
  encodeSimpleReply,
  isOptionMagic,
} from "./wire.js";

export interface NbdServerConfig {
  /** What is served; the first export also answers the default (empty) name. */
  readonly exports: readonly NbdExport[];
  /** From connect to transmission; 30 s unless told. */
  readonly handshakeTimeoutMs?: number;
  /** Options one connection may send before it is dropped as abusive; 1024 unless told. */
  readonly maxOptions?: number;
  /** Option data accepted; longer options are answered NBD_REP_ERR_TOO_BIG and the connection dropped. 64 KiB unless told. */
  readonly maxOptionLength?: number;
  /** Requests handed out and not completed, above which no further request is read; 256 unless told. */
  readonly maxInFlightRequests?: number;
  /** READ and WRITE bytes in flight above which no further request is read; 128 MiB unless told. */
  readonly maxInFlightBytes?: number;
  /**
   * Gives the buffer a WRITE payload is copied into when it spans several received chunks (one
   * inside a chunk is passed on as a view of it); a fresh zeroed array unless told. The host may
   * hand out reusable buffers and take them back once the write is done.
   */
  readonly allocatePayload?: (length: number) => Uint8Array;
}

/** Connection states; the legal moves between them are in TRANSITIONS. */
export type NbdState = "greeting" | "options" | "transmission" | "closing" | "closed";

const TRANSITIONS: Readonly<Record<NbdState, readonly NbdState[]>> = {
  // Waiting for the client's 32-bit flags after our greeting.
  greeting: ["options", "closed"],
  options: ["transmission", "closing", "closed"],
  transmission: ["closing", "closed"],
  // NBD_CMD_DISC or NBD_OPT_ABORT received: no more input; finish what is in flight.
  closing: ["closed"],
  closed: [],
};

export type NbdEndReason = "disconnect" | "abort" | "protocol-error" | "unknown-export" | "timeout" | "shutdown" | "connection-lost";

export interface NbdRequest {
  /** The engine's handle for `complete`. */
  readonly id: number;
  readonly command: NbdCommand;
  readonly offset: number;
  readonly length: number;
  readonly fua: boolean;
  /** WRITE_ZEROES: the range must stay allocated. */
  readonly noHole: boolean;
  /** BLOCK_STATUS: one extent, not longer than the request. */
  readonly reqOne: boolean;
  /** WRITE's payload (a view of the received bytes, or their one copy). */
  readonly data: Uint8Array | undefined;
}

export type NbdEvent =
  | {
      readonly type: "negotiated";
      readonly export: NbdExport;
      readonly via: "go" | "export-name";
      readonly structuredReplies: boolean;
      readonly metaContexts: readonly string[];
      readonly fixedNewstyle: boolean;
    }
  | { readonly type: "request"; readonly request: NbdRequest }
  /** An option or request answered with an error (not the routine NBD_REP_ERR_UNSUP). */
  | { readonly type: "refused"; readonly what: string; readonly message: string }
  /** The connection is over: send what pollTransmit still gives, then close the socket. */
  | { readonly type: "end"; readonly reason: NbdEndReason; readonly message: string };

/** An extent of a BLOCK_STATUS answer: bytes, and base:allocation flags (NBD_STATE_HOLE, NBD_STATE_ZERO). */
export interface NbdExtent {
  readonly length: number;
  readonly flags: number;
}

export type NbdOutcome =
  | { readonly ok: true; readonly data?: Uint8Array; readonly extents?: readonly NbdExtent[] }
  | { readonly ok: false; readonly errno: NbdErrno; readonly message?: string };

export interface NbdConnectionStats {
  readonly requests: number;
  readonly refused: number;
  readonly failed: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

interface Pending {
  readonly cookie: Cookie;
  readonly request: NbdRequest;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_OPTIONS = 1024;
const DEFAULT_MAX_OPTION_LENGTH = 64 * 1024;
const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 256;
const DEFAULT_MAX_IN_FLIGHT_BYTES = 128 * 1024 * 1024;
/** The context id base:allocation gets from NBD_OPT_SET_META_CONTEXT. */
const BASE_ALLOCATION_ID = 1;

export class NbdServerConnection {
  private stateValue: NbdState = "greeting";
  private readonly queue = new ByteQueue();
  private readonly events: NbdEvent[] = [];
  private transmit: Uint8Array[] = [];
  private readonly exports: readonly NbdExport[];
  private readonly handshakeDeadline: number;
  private readonly maxOptions: number;
  private readonly maxOptionLength: number;
  private readonly maxInFlightRequests: number;
  private readonly maxInFlightBytes: number;
  private readonly allocatePayload: ((length: number) => Uint8Array) | undefined;
  private fixedNewstyle = false;
  private noZeroes = false;
  private structured = false;
  /** Contexts selected by the last NBD_OPT_SET_META_CONTEXT, and for which export. */
  private metaContexts: { readonly exportName: string; readonly contexts: readonly string[] } | undefined;
  private options = 0;
  private selected: NbdExport | undefined;
  private blockStatus = false;
  /** A WRITE whose payload is still arriving. */
  private pendingWrite: { readonly header: RequestHeader } | undefined;
  /** Payload bytes of a refused WRITE still to drop. */
  private discard = 0;
  /** By request id: an IntMap, as every per-request map (core/int-map.ts). */
  private readonly inFlight = new IntMap<Pending>();
  private inFlightByteCount = 0;
  private nextId = 1;
  private shuttingDown = false;
  private endReason: { readonly reason: NbdEndReason; readonly message: string } | undefined;
  private readonly counters = { requests: 0, refused: 0, failed: 0, bytesRead: 0, bytesWritten: 0 };

  constructor(config: NbdServerConfig, now: number) {
    if (config.exports.length === 0) throw new LocalProtocolError("an NBD server needs at least one export");
    for (const e of config.exports) checkExport(e);
    this.exports = config.exports;
    this.handshakeDeadline = now + (config.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.maxOptions = config.maxOptions ?? DEFAULT_MAX_OPTIONS;
    this.maxOptionLength = config.maxOptionLength ?? DEFAULT_MAX_OPTION_LENGTH;
    this.maxInFlightRequests = config.maxInFlightRequests ?? DEFAULT_MAX_IN_FLIGHT_REQUESTS;
    this.maxInFlightBytes = config.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES;
    this.allocatePayload = config.allocatePayload;
    this.transmit.push(encodeGreeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES));
  }

  get state(): NbdState {
    return this.stateValue;
  }

  /** The export chosen by NBD_OPT_GO or NBD_OPT_EXPORT_NAME. */
  get export(): NbdExport | undefined {
    return this.selected;
  }

  get structuredReplies(): boolean {
    return this.structured;
  }

  /** Requests handed out and not yet completed. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** READ and WRITE bytes of the requests in flight (for the host's backpressure). */
  get inFlightBytes(): number {
    return this.inFlightByteCount;
  }

  get stats(): NbdConnectionStats {
    return { ...this.counters };
  }

  /** Bytes from the client. */
  receive(bytes: Uint8Array): void {
    if (this.stateValue === "closing" || this.stateValue === "closed") return;
    this.queue.push(bytes);
    this.parse();
  }

  /**
   * Too much is in flight: no further request is read until some complete. The host should stop
   * reading the socket meanwhile, so what is held here stays bounded.
   */
  get saturated(): boolean {
    return this.inFlight.size >= this.maxInFlightRequests || this.inFlightByteCount >= this.maxInFlightBytes;
  }

  private parse(): void {
    for (;;) {
      const progressed =
        this.stateValue === "greeting" ? this.readClientFlags() : this.stateValue === "options" ? this.readOption() : this.stateValue === "transmission" ? this.readRequest() : false;
      if (!progressed) break;
    }
  }

  nextEvent(): NbdEvent | undefined {
    return this.events.shift();
  }

  /** Everything to send, in order (headers and payload views); empty when there is nothing. */
  pollTransmit(): Uint8Array[] {
    const out = this.transmit;
    this.transmit = [];
    return out;
  }

  /** The handshake's deadline while it runs. */
  pollTimeout(): number | undefined {
    return this.stateValue === "greeting" || this.stateValue === "options" ? this.handshakeDeadline : undefined;
  }

  handleTimeout(now: number): void {
    const deadline = this.pollTimeout();
    if (deadline === undefined || now < deadline) return;
    const phase = this.stateValue === "greeting" ? "sent no client flags" : "did not finish option haggling";
    this.close("timeout", `the client ${phase} within the handshake time limit`);
  }

  /**
   * The server is stopping. A connection still negotiating ends at once (it has nothing in
   * flight, and the server is going away); in transmission, requests from now on get
   * NBD_ESHUTDOWN, and once nothing is in flight the connection ends (the host then closes it).
   */
  shutdown(): void {
    this.shuttingDown = true;
    if (this.stateValue === "greeting" || this.stateValue === "options") this.close("shutdown", "the server is shutting down");
    this.maybeFinish();
  }

  /** The socket is gone: nothing more is sent; outcomes still to come are dropped. */
  connectionLost(): void {
    if (this.stateValue === "closed") return;
    if (this.stateValue === "closing" && this.endReason !== undefined) {
      // Gone after NBD_CMD_DISC or NBD_OPT_ABORT, as it should: the end it asked for.
      const { reason, message } = this.endReason;
      this.close(reason, message);
      this.transmit = [];
      return;
    }
    const what =
      this.stateValue === "greeting"
        ? "before sending its flags (an oldstyle client expecting the old greeting leaves here)"
        : this.stateValue === "options"
          ? "during option haggling"
          : this.stateValue === "closing"
            ? "after disconnecting"
            : `without NBD_CMD_DISC, ${this.inFlight.size} request(s) in flight`;
    this.close("connection-lost", `the client left ${what}`);
    this.transmit = [];
  }

  /** The outcome of request `id`. */
  complete(id: number, outcome: NbdOutcome): void {
    const pending = this.inFlight.get(id);
    if (pending === undefined) throw new LocalProtocolError(`NBD request ${id} is not in flight`);
    this.inFlight.delete(id);
    const { request, cookie } = pending;
    if (request.command === "read" || request.command === "write") this.inFlightByteCount -= request.length;
    if (this.stateValue === "closed") return;
    if (!outcome.ok) {
      this.counters.failed++;
      this.requestError(cookie, outcome.errno, outcome.message ?? `${request.command} failed: ${errnoName(outcome.errno)}`);
    } else if (request.command === "read") {
      this.replyRead(cookie, request, outcome.data);
    } else if (request.command === "block-status") {
      this.replyBlockStatus(cookie, request, outcome.extents);
    } else {
      if (request.command === "write") this.counters.bytesWritten += request.length;
      this.transmit.push(encodeSimpleReply(0, cookie));
    }
    this.maybeFinish();
    // Requests held back while the connection was saturated can be read now.
    if (this.stateValue === "transmission" && this.queue.length > 0) this.parse();
  }

  // ------------------------------------------------------------------ states

  private moveTo(next: NbdState): void {
    if (!TRANSITIONS[this.stateValue].includes(next)) throw new LocalProtocolError(`NBD connection cannot go from ${this.stateValue} to ${next}`);
    this.stateValue = next;
  }

  private close(reason: NbdEndReason, message: string): void {
    if (this.stateValue === "closed") return;
    this.moveTo("closed");
    this.queue.clear();
    this.endReason = { reason, message };
    this.events.push({ type: "end", reason, message });
  }

  /** Ends a closing connection, or a shutting-down one, once nothing is in flight. */
  private maybeFinish(): void {
    if (this.inFlight.size > 0) return;
    if (this.stateValue === "closing") {
      const pending = this.endReason ?? { reason: "disconnect" as const, message: "the client disconnected" };
      this.endReason = undefined;
      this.close(pending.reason, pending.message);
    } else if (this.shuttingDown && this.stateValue === "transmission" && this.pendingWrite === undefined && this.discard === 0) {
      this.close("shutdown", "the server is shutting down");
    }
  }

  /** NBD_CMD_DISC or NBD_OPT_ABORT: stop reading, finish what is in flight, then end. */
  private beginClosing(reason: NbdEndReason, message: string): void {
    this.moveTo("closing");
    this.queue.clear();
    this.endReason = { reason, message };
    this.maybeFinish();
  }

  private refused(what: string, message: string): void {
    this.events.push({ type: "refused", what, message });
  }

  // ------------------------------------------------------------------ handshake

  private readClientFlags(): boolean {
    if (this.queue.length < 4) return false;
    const bytes = this.queue.take(4);
    const flags = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
    if (flags === NBD_REQUEST_MAGIC) {
      this.close("protocol-error", "the client sent an NBD request instead of its flags: an oldstyle client? this server speaks the fixed newstyle handshake only");
      return false;
    }
    if ((flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) !== 0) {
      // "the server MUST drop the TCP connection if the client sets an unknown flag".
      this.close("protocol-error", `the client sent unknown flags 0x${flags.toString(16).padStart(8, "0")}: not an NBD newstyle client`);
      return false;
    }
    // A plain newstyle client (no FIXED_NEWSTYLE bit) is honoured as the document allows.
    this.fixedNewstyle = (flags & NBD_FLAG_C_FIXED_NEWSTYLE) !== 0;
    this.noZeroes = (flags & NBD_FLAG_C_NO_ZEROES) !== 0;
    this.moveTo("options");
    return true;
  }

  private readOption(): boolean {
    if (this.queue.length < OPTION_HEADER_LENGTH) return false;
    // The header is consumed only once the option's data has arrived.
    const header = decodeOptionHeader(this.queue.peek(OPTION_HEADER_LENGTH));
    if (!isOptionMagic(header.magic)) {
      this.close("protocol-error", `expected an option (IHAVEOPT), got 0x${header.magic.toString(16).padStart(16, "0")}: not an NBD client`);
      return false;
    }
    if (header.length > this.maxOptionLength) {
      this.transmit.push(encodeOptionReply(header.option, Reply.ErrTooBig, encodeServerText(`option data of ${header.length} bytes is over this server's limit of ${this.maxOptionLength}`)));
      this.close("protocol-error", `${optionName(header.option)} with ${header.length} bytes of data (limit ${this.maxOptionLength})`);
      return false;
    }
    if (this.queue.length < OPTION_HEADER_LENGTH + header.length) return false;
    if (++this.options > this.maxOptions) {
      this.close("protocol-error", `more than ${this.maxOptions} options without choosing an export`);
      return false;
    }
    this.queue.skip(OPTION_HEADER_LENGTH);
    const data = this.queue.take(header.length);
    this.handleOption(header.option, data);
    return this.stateValue === "options" || this.stateValue === "transmission";
  }

  private reply(option: number, type: number, data?: Uint8Array): void {
    this.transmit.push(encodeOptionReply(option, type, data));
  }

  private optionError(option: number, type: number, message: string, report = true): void {
    this.reply(option, type, encodeServerText(message));
    if (report) this.refused(optionName(option), message);
  }

  private handleOption(option: number, data: Uint8Array): void {
    switch (option) {
      case Option.ExportName:
        return this.exportName(data);
      case Option.Abort:
        // "The server MUST reply with NBD_REP_ACK"; any data is ignored.
        this.reply(option, Reply.Ack);
        return this.beginClosing("abort", "the client ended the handshake (NBD_OPT_ABORT)");
      case Option.List:
        if (data.length !== 0) return this.optionError(option, Reply.ErrInvalid, "NBD_OPT_LIST carries no data");
        for (const e of this.exports) this.reply(option, Reply.Server, encodeServerReplyData(e.name));
        return this.reply(option, Reply.Ack);
      case Option.StartTls:
        return this.optionError(option, Reply.ErrUnsup, "TLS is not supported: reach this server over loopback, a Unix socket, or an SSH tunnel", false);
      case Option.Info:
      case Option.Go:
        return this.infoOrGo(option, data);
      case Option.StructuredReply:
        if (data.length !== 0) return this.optionError(option, Reply.ErrInvalid, "NBD_OPT_STRUCTURED_REPLY carries no data");
        this.structured = true;
        return this.reply(option, Reply.Ack);
      case Option.ListMetaContext:
      case Option.SetMetaContext:
        return this.metaContext(option, data);
      default:
        // Extended headers, PEEK_EXPORT and anything newer: "MUST reply with NBD_REP_ERR_UNSUP".
        return this.optionError(option, Reply.ErrUnsup, `${optionName(option)} is not supported`, false);
    }
  }

  private find(name: string): NbdExport | undefined {
    if (name === "") return this.exports[0];
    return this.exports.find((e) => e.name === name);
  }

  private unknownExport(name: string): string {
    return `no export named "${name}"; this server has ${this.exports.map((e) => `"${e.name}"`).join(", ")} (or the default, empty name)`;
  }

  private exportName(data: Uint8Array): void {
    const name = decodeString(data, "the export name");
    const e = name.ok ? this.find(name.value) : undefined;
    if (e === undefined) {
      // This option cannot be answered with an error: "the server MUST terminate the session".
      const message = name.ok ? this.unknownExport(name.value) : name.reason;
      this.refused("NBD_OPT_EXPORT_NAME", message);
      this.close("unknown-export", message);
      return;
    }
    this.transmit.push(encodeExportNameReply(e.size, transmissionFlags(e, this.structured), this.noZeroes));
    this.enterTransmission(e, "export-name");
  }

  private infoOrGo(option: number, data: Uint8Array): void {
    const parsed = parseInfoRequest(data);
    if (!parsed.ok) return this.optionError(option, Reply.ErrInvalid, `${optionName(option)}: ${parsed.reason}`);
    const e = this.find(parsed.value.name);
    if (e === undefined) return this.optionError(option, Reply.ErrUnknown, this.unknownExport(parsed.value.name));
    const asked = new Set(parsed.value.requests);
    this.reply(option, Reply.Info, encodeInfoExport(e.size, transmissionFlags(e, this.structured)));
    // The canonical name when asked, or when the client used the default name.
    if (asked.has(Info.Name) || parsed.value.name !== e.name) this.reply(option, Reply.Info, encodeInfoString(Info.Name, e.name));
    if (asked.has(Info.Description) && e.description !== undefined) this.reply(option, Reply.Info, encodeInfoString(Info.Description, e.description));
    // Sent unasked too: the constraints are not the defaults, and a client may always learn them.
    this.reply(option, Reply.Info, encodeInfoBlockSize(e.minimumBlockSize, e.preferredBlockSize, e.maximumPayload));
    this.reply(option, Reply.Ack);
    if (option === Option.Go) this.enterTransmission(e, "go");
  }

  private metaContext(option: number, data: Uint8Array): void {
    const set = option === Option.SetMetaContext;
    // "Issuing this command replaces all previously-set metadata contexts (including when this command fails)".
    if (set) this.metaContexts = undefined;
    if (set && !this.structured) return this.optionError(option, Reply.ErrInvalid, "NBD_OPT_SET_META_CONTEXT needs NBD_OPT_STRUCTURED_REPLY first");
    const parsed = parseMetaContextRequest(data);
    if (!parsed.ok) return this.optionError(option, Reply.ErrInvalid, `${optionName(option)}: ${parsed.reason}`);
    const e = this.find(parsed.value.name);
    if (e === undefined) return this.optionError(option, Reply.ErrUnknown, this.unknownExport(parsed.value.name));
    const contexts = resolveMetaContextQueries(parsed.value.queries, !set);
    if (!contexts.ok) return this.optionError(option, Reply.ErrInvalid, `${optionName(option)}: ${contexts.reason}`);
    // LIST's context ids are "reserved and SHOULD be set to zero".
    for (const name of contexts.value) this.reply(option, Reply.MetaContext, encodeMetaContextData(set ? BASE_ALLOCATION_ID : 0, name));
    if (set) this.metaContexts = { exportName: e.name, contexts: contexts.value };
    this.reply(option, Reply.Ack);
  }

  private enterTransmission(e: NbdExport, via: "go" | "export-name"): void {
    this.selected = e;
    const contexts = this.metaContexts !== undefined && this.metaContexts.exportName === e.name ? this.metaContexts.contexts : [];
    this.blockStatus = this.structured && contexts.includes(BASE_ALLOCATION);
    this.moveTo("transmission");
    this.events.push({ type: "negotiated", export: e, via, structuredReplies: this.structured, metaContexts: contexts, fixedNewstyle: this.fixedNewstyle });
  }

  // ------------------------------------------------------------------ transmission

  private readRequest(): boolean {
    if (this.discard > 0) {
      this.discard -= this.queue.skip(this.discard);
      if (this.discard > 0) return false;
      this.maybeFinish();
      return true;
    }
    if (this.pendingWrite !== undefined) {
      const { header } = this.pendingWrite;
      if (this.queue.length < header.length) return false;
      this.pendingWrite = undefined;
      this.start(header, "write", this.queue.take(header.length, this.allocatePayload));
      return true;
    }
    if (this.queue.length < REQUEST_HEADER_LENGTH || this.saturated) return false;
    const header = decodeRequestHeader(this.queue.take(REQUEST_HEADER_LENGTH));
    if (header.magic !== NBD_REQUEST_MAGIC) {
      const why = header.magic === NBD_EXTENDED_REQUEST_MAGIC ? " (an extended header, which was not negotiated)" : "";
      this.close("protocol-error", `bad request magic 0x${header.magic.toString(16).padStart(8, "0")}${why}: the stream cannot be followed any further`);
      return false;
    }
    if (header.type === Command.Disc) {
      this.beginClosing("disconnect", "the client disconnected (NBD_CMD_DISC)");
      return false;
    }
    const verdict = checkRequest(header, {
      export: this.selected as NbdExport,
      structuredReplies: this.structured,
      blockStatus: this.blockStatus,
      shuttingDown: this.shuttingDown,
    });
    const isWrite = header.type === Command.Write;
    if (!verdict.ok) {
      this.counters.refused++;
      if (isWrite) {
        // The payload follows whatever the verdict; drop it unread, within reason.
        const limit = Math.max(SAFE_PAYLOAD, (this.selected as NbdExport).maximumPayload);
        if (header.length > limit) {
          this.requestError(header.cookie, verdict.errno, verdict.message);
          this.refused(commandName(header.type), verdict.message);
          this.close("protocol-error", `NBD_CMD_WRITE of ${header.length} bytes is over ${limit}: not read`);
          return false;
        }
        this.discard = header.length;
      }
      this.requestError(header.cookie, verdict.errno, verdict.message);
      this.refused(commandName(header.type), `${errnoName(verdict.errno)}: ${verdict.message}`);
      return true;
    }
    if (verdict.command === "write") {
      this.pendingWrite = { header };
      return true;
    }
    this.start(header, verdict.command, undefined);
    return true;
  }

  private start(header: RequestHeader, command: NbdCommand, data: Uint8Array | undefined): void {
    const id = this.nextId++;
    const request: NbdRequest = {
      id,
      command,
      offset: header.offset,
      length: header.length,
      fua: (header.flags & CommandFlag.Fua) !== 0,
      noHole: (header.flags & CommandFlag.NoHole) !== 0,
      reqOne: (header.flags & CommandFlag.ReqOne) !== 0,
      data,
    };
    this.inFlight.set(id, { cookie: header.cookie, request });
    if (command === "read" || command === "write") this.inFlightByteCount += header.length;
    this.counters.requests++;
    this.events.push({ type: "request", request });
  }

  private requestError(cookie: Cookie, errno: number, message: string): void {
    // Structured replies carry the message; a simple reply only the error value (and "MUST NOT
    // send any payload" after it, so a failed READ sends no data either way).
    this.transmit.push(this.structured ? encodeErrorChunk(cookie, errno, message) : encodeSimpleReply(errno, cookie));
  }

  private replyRead(cookie: Cookie, request: NbdRequest, data: Uint8Array | undefined): void {
    if (data === undefined || data.length !== request.length) {
      throw new LocalProtocolError(`READ ${request.id} completed with ${data?.length ?? "no"} bytes for ${request.length}`);
    }
    this.counters.bytesRead += data.length;
    if (!this.structured) {
      this.transmit.push(encodeSimpleReply(0, cookie));
      if (data.length > 0) this.transmit.push(data);
      return;
    }
    if (data.length === 0) {
      this.transmit.push(encodeNoneChunk(cookie));
      return;
    }
    // The data is all here before the chunk goes out, so the content chunk can be the final one.
    this.transmit.push(encodeOffsetDataHeader(cookie, request.offset, data.length, true), data);
  }

  private replyBlockStatus(cookie: Cookie, request: NbdRequest, extents: readonly NbdExtent[] | undefined): void {
    const e = this.selected as NbdExport;
    const list = normalizeExtents(extents ?? [], request, e);
    if (list.length === 0) {
      this.counters.failed++;
      this.requestError(cookie, NbdErrno.EIO, "the LUN reported no extent for this range");
      return;
    }
    this.transmit.push(encodeBlockStatusChunk(cookie, BASE_ALLOCATION_ID, list));
  }
}

const textEncoder = new TextEncoder();

function encodeServerText(message: string): Uint8Array {
  // Error strings obey the 4096-byte string limit.
  const bytes = textEncoder.encode(message);
  return bytes.length <= 4096 ? bytes : bytes.subarray(0, 4096);
}

/**
 * Extents as the document wants them: consecutive from the request's offset, each non-zero,
 * equal neighbours merged, none past the request (REQ_ONE: exactly one), only the two
 * base:allocation flags. The host gives whole blocks (a LUN knows no finer), so lengths stay
 * multiples of the minimum block size, as the document asks.
 */
export function normalizeExtents(extents: readonly NbdExtent[], request: { readonly offset: number; readonly length: number; readonly reqOne: boolean }, e: NbdExport): NbdExtent[] {
  const end = Math.min(request.offset + request.length, e.size);
  const out: { length: number; flags: number }[] = [];
  let at = request.offset;
  for (const extent of extents) {
    if (at >= end) break;
    const length = Math.min(extent.length, end - at);
    if (!(length > 0)) break;
    const flags = extent.flags & (NBD_STATE_HOLE | NBD_STATE_ZERO);
    const last = out[out.length - 1];
    // 32-bit descriptor lengths: merge only while the sum fits.
    if (last !== undefined && last.flags === flags && last.length + length <= 0xffff_ffff - e.minimumBlockSize) last.length += length;
    else out.push({ length, flags });
    at += length;
  }
  return request.reqOne ? out.slice(0, 1) : out;
}
