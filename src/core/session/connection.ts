import type { Crc32c } from "../digest/crc32c.js";
import { IscsiError, RemoteProtocolError } from "../errors.js";
import { decodePdu } from "../pdu/decode.js";
import { type DigestSettings, encodePdu } from "../pdu/encode.js";
import { type Frame, Framer } from "../pdu/framer.js";
import { DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, Opcode, opcodeName } from "../pdu/opcodes.js";
import type { InitiatorPdu, Pdu, TargetPdu } from "../pdu/types.js";
import { type ConnectionParameters, DEFAULT_CONNECTION_PARAMETERS } from "../text/parameters.js";
import { ConnectionCounters } from "./policy.js";
import { type CommandBatching, mayWait } from "./batching.js";
import { type ConnectionTrigger, connectionNext } from "./machine.js";
import { ConnectionState } from "./states.js";

/**
 * What a connection needs from its session. The session implements it; the connection never
 * sees tasks or the command window directly.
 */
export interface ConnectionOwner {
  /** Called for every PDU received in full feature phase or during login. */
  onPdu(connection: Connection, pdu: TargetPdu, frame: Frame, now: number): void;
  /** Called once when the connection fails or closes; `error` is undefined for an orderly close. */
  onClosed(connection: Connection, error: IscsiError | undefined, now: number): void;
  /** Where Data-In for a given BHS should be copied (the caller's buffer), if known. */
  placeData(bhs: Uint8Array, ahs: Uint8Array, dataSegmentLength: number): Uint8Array | undefined;
  /** Trace hook: every PDU sent or received, when tracing is on. */
  readonly trace: ((direction: "send" | "receive", cid: number, pdu: Pdu) => void) | undefined;
}

/**
 * One TCP connection of a session, sans I/O: bytes in through `receive`, bytes out through
 * `pollTransmit`. It owns the framer, the transmit queue, the connection state (RFC 7143 §8.1.3)
 * and the per-connection StatSN; everything else belongs to the session.
 */
export class Connection {
  readonly cid: number;
  private stateValue: ConnectionState = ConnectionState.Free;
  private paramsValue: ConnectionParameters = DEFAULT_CONNECTION_PARAMETERS;
  private readonly framer: Framer;
  private digests: DigestSettings;
  private tx: Uint8Array[] = [];
  /** The array handed out by the last pollTransmit, reused for the next batch. */
  private spare: Uint8Array[] = [];
  private txLength = 0;
  /** New SCSI Command PDUs in `tx`, and whether anything else is (batching.ts). */
  private txCommands = 0;
  private txOthers = false;
  /** The data segment length of the last PDU received if it was a Data-In, else 0 (headerReadLength). */
  private lastDataInLength = 0;
  /** The StatSN we expect next (RFC 7143 §4.2.2.2); 0 until login tells us. */
  expStatSN = 0;
  /** Commands, data bytes and queue depth of this connection (policy.ts); the data path counts. */
  readonly counters = new ConnectionCounters();
  /** ERL 1: StatSNs received past a hole (a damaged status asked for again), not yet acknowledged. */
  private readonly heldStatus = new Set<number>();

  /** Records a StatSN that came past a hole; false when too many are held (the hole is not filling). */
  statusHeld(statSN: number): boolean {
    if (this.heldStatus.size >= 1024) return false;
    this.heldStatus.add(statSN >>> 0);
    return true;
  }

  /** After ExpStatSN moved: steps over the StatSNs that had arrived past the hole. */
  advanceOverHeld(): void {
    while (this.heldStatus.size > 0 && this.heldStatus.delete(this.expStatSN)) this.expStatSN = (this.expStatSN + 1) >>> 0;
  }

  /**
   * Time of the last PDU received: any PDU is a sign of life. Only recorded here (the hot path
   * arms no timer): the keep-alive timers read it when they fire and move themselves on.
   */
  lastReceivedAt = 0;
  /** Internal keep-alive: the ITT of the NOP-Out ping outstanding, if one is. */
  pingOutstanding: number | undefined;
  /** When the outstanding keep-alive ping was sent. */
  pingSentAt = 0;
  private closedError: IscsiError | undefined;
  private closing = false;

  constructor(
    cid: number,
    private readonly owner: ConnectionOwner,
    crc32c: Crc32c,
    private readonly batching: CommandBatching | undefined = undefined,
  ) {
    this.cid = cid;
    this.digests = { headerDigest: false, dataDigest: false, crc32c };
    this.framer = new Framer(
      // RFC 7143 §13.12: during login, data segments are bounded by the default 8192.
      { maxDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, headerDigest: false, dataDigest: false },
      crc32c,
      (bhs, ahs, length) => this.owner.placeData(bhs, ahs, length),
    );
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get params(): ConnectionParameters {
    return this.paramsValue;
  }

  /** True once the connection has failed or closed: the host must close its transport. */
  get closed(): boolean {
    return this.closing;
  }

  get error(): IscsiError | undefined {
    return this.closedError;
  }

  /** Bytes queued for the transport and not yet taken by `pollTransmit`. */
  get pendingBytes(): number {
    return this.txLength;
  }

  /** Moves the connection by its table (machine.ts); a LocalProtocolError for an event it does not list. */
  handle(trigger: ConnectionTrigger): void {
    this.stateValue = connectionNext(this.stateValue, trigger, this.cid);
  }

  /**
   * Switches the framer and encoder to the negotiated values. RFC 7143 §13.1: digests start with
   * the first PDU after the final Login Response, which the pull-model framer has not read yet.
   */
  applyParameters(params: ConnectionParameters): void {
    this.paramsValue = params;
    this.digests = { headerDigest: params.headerDigest, dataDigest: params.dataDigest, crc32c: this.digests.crc32c };
    this.framer.configure({
      maxDataSegmentLength: params.maxRecvDataSegmentLength,
      headerDigest: params.headerDigest,
      dataDigest: params.dataDigest,
    });
  }

  /**
   * Queues a PDU for the transport. `mayWait` only for a new SCSI command (the newest CmdSN, which
   * the target cannot be waiting for): it may then wait for company (batching.ts). Anything else,
   * a command sent again with its CmdSN among them, sends the whole queue at the next write.
   */
  send(pdu: InitiatorPdu, mayWait = false): void {
    if (this.closing) return;
    this.owner.trace?.("send", this.cid, pdu);
    const pieces = encodePdu(pdu, this.digests);
    if (mayWait) this.txCommands++;
    else this.txOthers = true;
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] as Uint8Array;
      this.tx.push(piece);
      this.txLength += piece.length;
    }
  }

  /**
   * True while what is queued is only a few new commands that may wait for more (batching.ts).
   * The host asks the session (Session.transmitMayWait), which weighs every connection.
   */
  get mayWait(): boolean {
    return !this.closing && mayWait(this.batching, this.txCommands, this.txOthers, this.counters.outstanding);
  }

  /**
   * Everything queued for the transport since the last call, in order, or undefined if nothing
   * is. The host writes the pieces with one gathered write (writev/cork). The array is reused:
   * it is valid until the next call.
   */
  pollTransmit(): Uint8Array[] | undefined {
    if (this.tx.length === 0) return undefined;
    const out = this.tx;
    const next = this.spare;
    next.length = 0;
    this.tx = next;
    this.spare = out;
    this.txLength = 0;
    this.txCommands = 0;
    this.txOthers = false;
    return out;
  }

  /**
   * Bytes from the transport. Protocol errors close the connection (see `closed`); never throws
   * for them. With `transient`, the host will reuse `bytes`' memory after this call (a fixed
   * socket read buffer): the framer copies the little it still needs before returning.
   */
  receive(bytes: Uint8Array, now: number, transient = false): void {
    if (this.closing) return;
    this.lastReceivedAt = now;
    try {
      this.framer.push(bytes);
      for (;;) {
        if (this.closing) return;
        const frame = this.framer.next();
        if (frame === undefined) break;
        const pdu = decodePdu(frame);
        if (pdu.opcode < 0x20) {
          throw new RemoteProtocolError(`connection ${this.cid}: target sent an initiator opcode ${opcodeName(pdu.opcode)}`);
        }
        this.lastDataInLength = pdu.opcode === Opcode.DataIn ? frame.data.length : 0;
        this.owner.trace?.("receive", this.cid, pdu);
        this.owner.onPdu(this, pdu as TargetPdu, frame, now);
      }
      if (transient && !this.closing) this.framer.detach();
    } catch (error) {
      if (error instanceof IscsiError) {
        this.fail(error, now);
        return;
      }
      throw error;
    }
  }

  /**
   * How many bytes the host should read next when it should read just a PDU header, or 0 to read
   * as much as has come. After a Data-In whose data segment was at least `minimum` bytes, at a
   * PDU boundary, the next PDU is most likely another large Data-In: reading its header alone
   * lets its data go from the kernel straight into the caller's buffer (`directReadTarget`)
   * instead of into the host's read buffer and then, copied, into place.
   */
  headerReadLength(minimum: number): number {
    if (this.closing || this.lastDataInLength < minimum || !this.framer.atBoundary) return 0;
    return this.framer.plainHeaderLength;
  }

  /**
   * A view of the caller's buffer the host may read the next bytes straight into (at least
   * `minimum` bytes of a Data-In payload still to come), or undefined: then read into the host's
   * own buffer and call `receive`. After a direct read, call `receivedDirectly`.
   */
  directReadTarget(minimum: number): Uint8Array | undefined {
    if (this.closing) return undefined;
    const room = this.framer.directRoom();
    return room !== undefined && room.length >= minimum ? room : undefined;
  }

  /** `length` bytes landed in the view `directReadTarget` gave. */
  receivedDirectly(length: number, now: number): void {
    if (this.closing) return;
    this.lastReceivedAt = now;
    try {
      this.framer.filledDirectly(length);
    } catch (error) {
      if (error instanceof IscsiError) {
        this.fail(error, now);
        return;
      }
      throw error;
    }
    // The segment may now be complete; its trailer and the next PDU come through `receive`.
    this.receive(EMPTY_BYTES, now, true);
  }

  /**
   * Marks the connection failed with `error` (or closed cleanly when undefined). Idempotent.
   * The session is told once; the host sees `closed` and the session's connection-closed event.
   */
  fail(error: IscsiError | undefined, now: number): void {
    if (this.closing) return;
    this.closing = true;
    this.closedError = error;
    this.owner.onClosed(this, error, now);
  }

  /** True when the connection may carry full-feature PDUs. */
  get usable(): boolean {
    return !this.closing && this.stateValue === ConnectionState.LoggedIn;
  }
}

const EMPTY_BYTES = new Uint8Array(0);

/** True for target PDUs that carry a StatSN that is consumed (RFC 7143 §4.2.2.2, §11.19.3). */
export function consumesStatSN(pdu: TargetPdu): boolean {
  switch (pdu.opcode) {
    case Opcode.ScsiResponse:
    case Opcode.TaskManagementResponse:
    case Opcode.TextResponse:
    case Opcode.LogoutResponse:
    case Opcode.Reject:
    case Opcode.AsyncMessage:
    case Opcode.LoginResponse:
      return true;
    case Opcode.DataIn:
      return pdu.hasStatus;
    case Opcode.NopIn:
      // RFC 7143 §11.19.3: a NOP-In with ITT 0xffffffff does not advance StatSN.
      return pdu.initiatorTaskTag !== 0xffff_ffff;
    default:
      return false;
  }
}
