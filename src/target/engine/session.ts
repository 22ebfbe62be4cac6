/**
 * A target session (RFC 7143 §3.4): its connections, the session-wide command window with
 * ordered delivery, the SCSI tasks by Initiator Task Tag, text exchanges, task management and
 * logout. Connections hand it every full-feature PDU; it answers on the connection a command came
 * on (RFC 7143 §6.1.2 connection allegiance), while Data-Out is looked up session-wide.
 */
import { DigestError, type IscsiError, RemoteProtocolError, SessionClosedError } from "../../core/errors.js";
import { readU32 } from "../../core/bytes.js";
import { IntMap } from "../../core/int-map.js";
import type { Frame } from "../../core/pdu/framer.js";
import {
  LogoutReason,
  LogoutResponseCode,
  Opcode,
  RESERVED_TAG,
  RejectReason,
  TaskAttribute,
  TaskManagementResponseCode,
  opcodeName,
} from "../../core/pdu/opcodes.js";
import type {
  DataOutPdu,
  InitiatorPdu,
  LogoutRequestPdu,
  NopOutPdu,
  ScsiCommandPdu,
  TaskManagementRequestPdu,
  TextRequestPdu,
} from "../../core/pdu/types.js";
import type { SessionParameters, TargetPolicy } from "../../core/text/parameters.js";
import { CommandWindow } from "./command-window.js";
import type { ResolvedTarget } from "./config.js";
import type { FullFeatureHandler, TargetConnection } from "./connection.js";
import type { SessionCloseReason, SessionSummary } from "./events.js";
import type { LogicalUnit } from "./scsi/logical-unit.js";
import type { ScsiResult } from "./scsi/port.js";
import { Sense, checkCondition } from "./scsi/results.js";
import { ScsiTask, type TaskHost } from "./scsi-task.js";
import type { StorageOperation, StorageOutcome } from "./storage.js";
import { TextExchanges, type TextContext } from "./text.js";
import { handleTaskManagement, type TmfHooks, type TmfSession } from "./tmf.js";
import type { DiscoveredTarget } from "../../core/discovery/send-targets.js";
import { Retention, RetentionBudget } from "./retention.js";
import { answerSnack, type SnackHost } from "./snack.js";
import { type WriteLimits, WriteTransfer } from "./write-transfer.js";
import { resume } from "./reassign.js";
import { Orphans } from "./orphans.js";

/** What a session needs from the engine. */
export interface SessionOwner {
  readonly maxTransferBytes: number;
  /** A buffer for a write's data, `length` bytes, not necessarily zeroed (the engine's pool). */
  writeBuffer(length: number): Uint8Array;
  /** A write buffer nothing uses any more, for the pool. */
  recycleWriteBuffer(buffer: Uint8Array): void;
  readonly unitAttentionOnNewNexus: boolean;
  /** ErrorRecoveryLevel >= 1: the bytes a session may keep for SNACKs. */
  readonly retentionBytes: number;
  /** Runs the SCSI layer for one command. */
  execute(session: TargetSession, unit: LogicalUnit | undefined, task: ScsiTask): void;
  /** Whether a command must hold its unit alone (COMPARE AND WRITE). */
  exclusive(task: ScsiTask): boolean;
  storage(unit: LogicalUnit, operation: StorageOperation, then: (outcome: StorageOutcome) => void): void;
  discoveredTargets(connection: TargetConnection): readonly DiscoveredTarget[];
  /** Other sessions of the same target, for resets that reach every I_T nexus. */
  otherSessions(session: TargetSession): readonly TargetSession[];
  sessionEnded(session: TargetSession, reason: SessionCloseReason): void;
  protocolError(connection: TargetConnection, error: IscsiError): void;
  internalError(task: ScsiTask, error: unknown): ScsiResult;
  countCommand(): void;
  countR2T(): void;
  countData(read: number, written: number): void;
  countReject(): void;
  countTaskManagement(): void;
  /** ERL 1: a data digest error recovered without dropping the connection. */
  countDataDigestError(): void;
  countRecoveryR2T(): void;
  /** ERL 1: a Data, R2T or Status SNACK answered with `pdus` PDUs sent again. */
  countSnack(pdus: number): void;
  /** ERL 1: a DataACK SNACK taken. */
  countDataAck(): void;
  /** ERL 1: read data or a response not kept for want of retention budget. */
  countRetentionSkip(): void;
  /** ERL 1 could not be honoured (the retention budget was full): what happens instead. */
  erlFallback(connection: TargetConnection, detail: string): void;
}

/** A PDU waiting for its CmdSN's turn. */
type Sequenced =
  | { readonly kind: "scsi"; readonly task: ScsiTask }
  | { readonly kind: "nop"; readonly connection: TargetConnection; readonly frame: Frame; readonly pdu: NopOutPdu }
  | { readonly kind: "tmf"; readonly connection: TargetConnection; readonly frame: Frame; readonly pdu: TaskManagementRequestPdu }
  | { readonly kind: "text"; readonly connection: TargetConnection; readonly frame: Frame; readonly pdu: TextRequestPdu }
  | { readonly kind: "logout"; readonly connection: TargetConnection; readonly frame: Frame; readonly pdu: LogoutRequestPdu };

/** SAM-5 unit attention conditions waiting for this I_T nexus, per LUN (ASC, ASCQ). */
export type PendingUnitAttention = Array<{ readonly asc: number; readonly ascq: number }>;

/** A waiting PDU with its own copy of the received bytes (its frame and data segment). */
function detached(item: Exclude<Sequenced, { kind: "scsi" }>): Sequenced {
  const f = item.frame;
  const frame: Frame = { ...f, bhs: f.bhs.slice(), ahs: f.ahs.slice(), data: f.data.slice() };
  switch (item.kind) {
    case "nop":
      return { ...item, frame, pdu: { ...item.pdu, data: item.pdu.data.slice() } };
    case "text":
      return { ...item, frame, pdu: { ...item.pdu, data: item.pdu.data.slice() } };
    case "tmf":
    case "logout":
      return { ...item, frame };
  }
}

/** How many aborted tags we remember, to drop their late Data-Out quietly. */
const TOMBSTONES = 1024;


export class TargetSession implements FullFeatureHandler, TaskHost, TmfSession {
  readonly tsih: number;
  readonly isid: number;
  readonly initiatorName: string;
  readonly target: ResolvedTarget | undefined;
  readonly params: SessionParameters;
  readonly policy: TargetPolicy;
  readonly units: ReadonlyMap<number, LogicalUnit>;
  readonly #owner: SessionOwner;
  readonly #window: CommandWindow<Sequenced>;
  readonly #connections = new Map<number, TargetConnection>();
  // Per-command maps are IntMaps, not Maps: see core/int-map.ts (young collections promoted every
  // task through a Map's rebuilt tables).
  readonly #tasks = new IntMap<ScsiTask>();
  readonly #tombstones = new Set<number>();
  readonly #texts: TextExchanges;
  /** Immediate data the framer placed, per connection, until its command is processed. */
  readonly #placed = new IntMap<{ readonly bhs: Uint8Array; readonly buffer: Uint8Array }>();
  readonly #unitAttention = new Map<number, PendingUnitAttention>();
  /** ErrorRecoveryLevel >= 1: what the session's connections may keep for SNACKs. */
  readonly #retentionBudget: RetentionBudget | undefined;
  #nextTag = 1;
  #closed = false;
  #logout: { readonly connection: TargetConnection; readonly pdu: LogoutRequestPdu; readonly waiting: Set<ScsiTask> } | undefined;
  /** ERL 2: tasks of lost connections until reassigned or Time2Retain passes (orphans.ts). */
  readonly #orphans = new Orphans();
  /** The session's write limits (its parameters do not change once it is logged in), for every write command. */
  readonly #writeLimits: WriteLimits;
  /** The latest time the session was told (some closes come without one). */
  #now = 0;

  constructor(
    fields: {
      tsih: number;
      isid: number;
      initiatorName: string;
      target: ResolvedTarget | undefined;
      params: SessionParameters;
      policy: TargetPolicy;
      units: ReadonlyMap<number, LogicalUnit>;
      expCmdSN: number;
      queueDepth: number;
    },
    owner: SessionOwner,
  ) {
    this.tsih = fields.tsih;
    this.isid = fields.isid;
    this.initiatorName = fields.initiatorName;
    this.target = fields.target;
    this.params = fields.params;
    this.#writeLimits = {
      immediateData: fields.params.immediateData,
      initialR2T: fields.params.initialR2T,
      firstBurstLength: fields.params.firstBurstLength,
      maxBurstLength: fields.params.maxBurstLength,
      maxOutstandingR2T: fields.params.maxOutstandingR2T,
    };
    this.policy = fields.policy;
    this.units = fields.units;
    this.#owner = owner;
    this.#window = new CommandWindow<Sequenced>(fields.expCmdSN, fields.queueDepth);
    this.#texts = new TextExchanges(() => this.allocateTargetTransferTag());
    this.#retentionBudget = this.params.errorRecoveryLevel >= 1 ? new RetentionBudget(owner.retentionBytes) : undefined;
    if (owner.unitAttentionOnNewNexus) {
      // SAM-5: a new I_T nexus sees the power-on/reset unit attention on every logical unit.
      for (const lun of this.units.keys()) this.addUnitAttention(lun, 0x29, 0x00);
    }
  }

  get type(): "Normal" | "Discovery" {
    return this.params.sessionType;
  }

  get summary(): SessionSummary {
    return { tsih: this.tsih, isid: this.isid, initiatorName: this.initiatorName, targetName: this.target?.iqn, type: this.type };
  }

  get expCmdSN(): number {
    return this.#window.expCmdSN;
  }

  get maxCmdSN(): number {
    return this.#window.maxCmdSN;
  }

  get maxBurstLength(): number {
    return this.params.maxBurstLength;
  }

  get connections(): readonly TargetConnection[] {
    return [...this.#connections.values()];
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** SCSI tasks in the session (received, running or draining). */
  get taskCount(): number {
    return this.#tasks.size;
  }

  task(itt: number): ScsiTask | undefined {
    return this.#tasks.get(itt);
  }

  get tasks(): readonly ScsiTask[] {
    return [...this.#tasks.values()];
  }

  /** Commands waiting for a gap in CmdSN to fill. */
  get heldCommands(): number {
    return this.#window.heldCount;
  }

  addConnection(connection: TargetConnection): void {
    this.#connections.set(connection.cid, connection);
    this.#orphans.connectionJoined(connection.cid);
    const budget = this.#retentionBudget;
    if (budget !== undefined) {
      connection.keepForSnack(
        new Retention(budget, (what, first) => {
          this.#owner.countRetentionSkip();
          if (!first) return;
          this.#owner.erlFallback(connection, `${what}: the session's ErrorRecoveryLevel 1 retention budget (${budget.cap} bytes) is full; a SNACK for what is not kept drops the connection as at ErrorRecoveryLevel 0`);
        }),
      );
    }
  }

  /** Bytes kept for SNACKs by the session's connections (ERL >= 1). */
  get retainedBytes(): number {
    return this.#retentionBudget?.used ?? 0;
  }

  connectionByCid(cid: number): TargetConnection | undefined {
    return this.#connections.get(cid);
  }

  allocateTargetTransferTag(): number {
    const tag = this.#nextTag;
    // RFC 7143 §11.8.3: 0xffffffff is reserved; anything else identifies a transfer.
    this.#nextTag = this.#nextTag >= 0xffff_fffe ? 1 : this.#nextTag + 1;
    return tag;
  }

  // ---------------------------------------------------------------- PDUs in

  receive(connection: TargetConnection, pdu: InitiatorPdu, frame: Frame, now: number): void {
    if (now > this.#now) this.#now = now;
    const retention = connection.retention;
    // RFC 7143 §4.2.2.2: ExpStatSN acknowledges the status below it, and what it kept goes. A
    // SNACK's own ExpStatSN is left out: our initiator counts the very status it asks for again.
    if (retention !== undefined && pdu.opcode !== Opcode.SnackRequest) retention.acknowledge(pdu.expStatSN);
    switch (pdu.opcode) {
      case Opcode.DataOut:
        this.#dataOut(connection, pdu, frame);
        return;
      case Opcode.ScsiCommand:
        this.#command(connection, pdu, frame);
        return;
      case Opcode.NopOut:
        this.#sequence(connection, frame, pdu.immediate, pdu.cmdSN, { kind: "nop", connection, frame, pdu });
        return;
      case Opcode.TaskManagementRequest:
        this.#sequence(connection, frame, pdu.immediate, pdu.cmdSN, { kind: "tmf", connection, frame, pdu });
        return;
      case Opcode.TextRequest:
        this.#sequence(connection, frame, pdu.immediate, pdu.cmdSN, { kind: "text", connection, frame, pdu });
        return;
      case Opcode.LogoutRequest:
        this.#sequence(connection, frame, pdu.immediate, pdu.cmdSN, { kind: "logout", connection, frame, pdu });
        return;
      case Opcode.SnackRequest:
        if (retention === undefined) {
          // RFC 7143 §7.1.5: SNACK belongs to ErrorRecoveryLevel 1 and up.
          this.#reject(connection, frame, RejectReason.ProtocolError, new RemoteProtocolError("SNACK with ErrorRecoveryLevel=0"));
          return;
        }
        answerSnack(this.#snackHost(connection, frame), connection, retention, pdu);
        return;
      default:
        this.#reject(connection, frame, RejectReason.ProtocolError, new RemoteProtocolError(`unexpected opcode 0x${(pdu as InitiatorPdu).opcode.toString(16)} in full feature phase`));
    }
  }

  /**
   * RFC 7143 §7.8 at ErrorRecoveryLevel >= 1: a PDU whose data digest failed is rejected
   * (Data-Digest-Error) and discarded. A Data-Out's range is asked for again with a recovery R2T
   * once its sequence ends; a command with damaged immediate data is sent again by the initiator
   * (same ITT and CmdSN, §7.2.1), as are other PDUs. At ERL 0 the connection drops instead.
   */
  damaged(connection: TargetConnection, pdu: InitiatorPdu, frame: Frame, _now: number): boolean {
    if (this.params.errorRecoveryLevel < 1) return false;
    this.#owner.countDataDigestError();
    const itt = pdu.opcode === Opcode.SnackRequest ? RESERVED_TAG : pdu.initiatorTaskTag;
    const error = new DigestError("data", `${opcodeName(pdu.opcode)} (ITT 0x${itt.toString(16)}): data digest mismatch; rejected and discarded (ErrorRecoveryLevel ${this.params.errorRecoveryLevel})`);
    this.#reject(connection, frame, RejectReason.DataDigestError, error);
    if (pdu.opcode === Opcode.DataOut) {
      if (this.#tasks.get(itt)?.transfer !== undefined) this.#dataOut(connection, pdu, frame, true);
    } else if (pdu.opcode === Opcode.ScsiCommand) {
      // Its immediate data were placed in a buffer of their own: gone with the command. Its
      // unsolicited Data-Out, still coming, is dropped quietly until the command comes again.
      this.#placed.delete(connection.id);
      if (!this.#tasks.has(itt)) this.#tombstone(itt);
    }
    return true;
  }

  place(connection: TargetConnection, bhs: Uint8Array, length: number): Uint8Array | undefined {
    const opcode = bhs[0]! & 0x3f;
    if (opcode === Opcode.DataOut) {
      const transfer = this.#tasks.get(readU32(bhs, 16))?.transfer;
      const offset = readU32(bhs, 40);
      if (transfer === undefined || !transfer.expects(readU32(bhs, 20), offset, length)) return undefined;
      return transfer.buffer.subarray(offset, offset + length);
    }
    if (opcode === Opcode.ScsiCommand && (bhs[1]! & 0x20) !== 0 && this.type === "Normal") {
      // Immediate data of a write: straight into the buffer the backend write will use. The
      // Expected Data Transfer Length is bounded before anything is allocated.
      const expected = readU32(bhs, 20);
      if (length > expected || expected > this.#owner.maxTransferBytes) return undefined;
      const buffer = this.#owner.writeBuffer(expected);
      this.#placed.set(connection.id, { bhs, buffer });
      return buffer.subarray(0, length);
    }
    return undefined;
  }

  /** Non-SCSI commands with a CmdSN: delivered now if immediate, else in CmdSN order. */
  #sequence(connection: TargetConnection, frame: Frame, immediate: boolean, cmdSN: number, item: Sequenced): void {
    if (immediate) {
      this.#deliver(item, false);
      return;
    }
    // It may wait in the window past this receive: its own copy of the PDU's bytes (the host may
    // read into the same buffer again). These are rare PDUs (pings, text, task management, logout).
    this.#offer(connection, frame, cmdSN, item.kind === "scsi" ? item : detached(item));
  }

  #offer(connection: TargetConnection, frame: Frame, cmdSN: number, item: Sequenced): boolean {
    const admission = this.#window.offer(cmdSN, item);
    switch (admission) {
      case "deliver":
        this.#deliver(item, true);
        this.#drainWindow();
        return true;
      case "held":
        return true;
      case "outside-window":
      case "duplicate": {
        // RFC 7143 §4.2.2.1: a non-immediate command outside the window is silently ignored.
        const error = new RemoteProtocolError(
          `CmdSN ${cmdSN} ${admission === "duplicate" ? "repeats a command already queued" : `is outside the window [${this.expCmdSN}, ${this.maxCmdSN}]`}; ignored (ITT 0x${readU32(frame.bhs, 16).toString(16)})`,
        );
        this.#owner.protocolError(connection, error);
        return false;
      }
    }
  }

  #drainWindow(): void {
    for (;;) {
      const item = this.#window.next();
      if (item === undefined) return;
      this.#deliver(item, true);
    }
  }

  #deliver(item: Sequenced, counted: boolean): void {
    if (item.kind === "scsi") {
      item.task.counted = counted;
      this.#start(item.task);
      return;
    }
    try {
      if (!item.connection.closed) {
        switch (item.kind) {
          case "nop":
            this.#nopOut(item.connection, item.pdu);
            break;
          case "tmf":
            this.#owner.countTaskManagement();
            handleTaskManagement(this, this.#tmfHooks(), item.connection, item.pdu);
            break;
          case "text":
            this.#text(item.connection, item.pdu, item.frame);
            break;
          case "logout":
            this.#logoutRequest(item.connection, item.pdu, item.frame);
            break;
        }
      }
    } finally {
      if (counted) this.#window.finish();
    }
  }

  // ---------------------------------------------------------------- SCSI commands

  #command(connection: TargetConnection, pdu: ScsiCommandPdu, frame: Frame): void {
    const placed = this.#placed.get(connection.id);
    this.#placed.delete(connection.id);
    const itt = pdu.initiatorTaskTag;
    if (this.type === "Discovery") {
      // RFC 7143 §4.3: a discovery session carries Text and Logout only.
      this.#refuseCommand(connection, frame, pdu, RejectReason.CommandNotSupported, new RemoteProtocolError(`SCSI Command (ITT 0x${itt.toString(16)}) in a discovery session`));
      return;
    }
    if (pdu.immediate && this.#tasks.size >= 2 * this.#window.depth) {
      // RFC 7143 §11.17.1: too many immediate commands (they bypass the window, so this bounds them).
      this.#refuseCommand(connection, frame, pdu, RejectReason.ImmediateCommandReject, new RemoteProtocolError(`immediate SCSI Command (ITT 0x${itt.toString(16)}) beyond ${2 * this.#window.depth} tasks in progress`));
      return;
    }
    if (this.#tasks.has(itt)) {
      this.#refuseCommand(connection, frame, pdu, RejectReason.TaskInProgress, new RemoteProtocolError(`SCSI Command reuses ITT 0x${itt.toString(16)} of a task still in progress`));
      return;
    }
    let transfer: WriteTransfer | undefined;
    const expected = pdu.expectedDataTransferLength;
    try {
      if (pdu.write && expected > 0) {
        // Placed into that buffer (the frame's header may be a copy of the one the hook saw).
        const immediatePlaced = frame.dataPlaced && placed !== undefined && pdu.data.buffer === placed.buffer.buffer && pdu.data.byteOffset === placed.buffer.byteOffset;
        // A command never moves more than maxTransferBytes (the device server refuses longer
        // ones), so a longer Expected Data Transfer Length does not get a longer buffer.
        const buffer = immediatePlaced ? placed.buffer : this.#owner.writeBuffer(Math.min(expected, this.#owner.maxTransferBytes));
        transfer = new WriteTransfer(
          { itt, length: expected, final: pdu.final, immediate: pdu.data, immediatePlaced },
          buffer,
          this.#writeLimits,
        );
      } else if (pdu.data.length > 0 || !pdu.final) {
        throw new RemoteProtocolError(
          `SCSI Command (ITT 0x${itt.toString(16)}): ${pdu.data.length > 0 ? `${pdu.data.length} bytes of immediate data` : "F bit clear"} without the W bit and an Expected Data Transfer Length`,
        );
      }
    } catch (error) {
      if (!(error instanceof RemoteProtocolError)) throw error;
      this.#violation(connection, frame, RejectReason.ProtocolError, error);
      return;
    }
    const task = new ScsiTask(
      {
        itt,
        cmdSN: pdu.cmdSN,
        immediate: pdu.immediate,
        // The CDB is a view of the received bytes: keep a copy of our own.
        request: { lun: pdu.lun, cdb: pdu.cdb.slice(), expectedLength: expected, read: pdu.read, write: pdu.write },
        attribute: pdu.attribute,
      },
      connection,
      transfer,
      this,
    );
    this.#tasks.set(itt, task);
    this.#tombstones.delete(itt);
    this.#owner.countCommand();
    if (pdu.immediate) {
      this.#start(task);
      return;
    }
    if (!this.#offer(connection, frame, pdu.cmdSN, { kind: "scsi", task })) this.#tasks.delete(itt);
  }

  #start(task: ScsiTask): void {
    if (task.ended) {
      // Aborted while it waited for its CmdSN: it only frees its slot.
      if (task.counted) {
        task.counted = false;
        this.#window.finish();
      }
      return;
    }
    task.markRunning();
    const unit = this.units.get(task.request.lun);
    if (unit === undefined) {
      task.run(() => this.#owner.execute(this, undefined, task));
      return;
    }
    const headOfQueue = task.attribute === TaskAttribute.HeadOfQueue;
    const exclusive = task.attribute === TaskAttribute.Ordered || this.#owner.exclusive(task);
    // The task holds its ticket before it may start: a command that finishes at once releases it.
    task.ticket = unit.ticket(exclusive, () => task.run(() => this.#owner.execute(this, unit, task)));
    unit.enqueue(task.ticket, headOfQueue);
  }

  #dataOut(connection: TargetConnection, pdu: DataOutPdu, frame: Frame, damaged = false): void {
    const itt = pdu.initiatorTaskTag;
    const task = this.#tasks.get(itt);
    if (task === undefined) {
      // Data still in flight for a task that was aborted: dropped quietly (RFC 7143 §11.5.1).
      if (this.#tombstones.has(itt)) return;
      this.#reject(connection, frame, RejectReason.InvalidPduField, new RemoteProtocolError(`Data-Out for ITT 0x${itt.toString(16)}, which names no task`));
      return;
    }
    if (task.transfer === undefined) {
      this.#violation(connection, frame, RejectReason.ProtocolError, new RemoteProtocolError(`Data-Out for ITT 0x${itt.toString(16)}, a command without write data`));
      return;
    }
    try {
      task.dataOut(pdu, frame.dataPlaced, damaged);
    } catch (error) {
      if (!(error instanceof RemoteProtocolError)) throw error;
      // ErrorRecoveryLevel 0 cannot ask for the data again (no recovery R2T): the PDU is rejected
      // and the command ends with ABORTED COMMAND, DATA PHASE ERROR. The rest of its data, still
      // in flight, is dropped; the connection and the session go on.
      this.#reject(connection, frame, RejectReason.ProtocolError, error);
      if (this.#tasks.get(itt) === task) this.#tasks.delete(itt);
      this.#tombstone(itt);
      task.fail(checkCondition(Sense.DataPhaseError, {}, task.transfer.length));
    }
  }

  // ---------------------------------------------------------------- TaskHost

  storage(task: ScsiTask, operation: StorageOperation, then: (outcome: StorageOutcome) => void): void {
    const unit = this.units.get(task.request.lun);
    if (unit === undefined) throw new RemoteProtocolError(`storage for LUN ${task.request.lun}, which does not exist`);
    this.#owner.storage(unit, operation, then);
  }

  taskDone(task: ScsiTask): void {
    if (this.#tasks.get(task.itt) === task) this.#tasks.delete(task.itt);
    // Its write buffer goes back to the pool only when nothing can touch it any more: no Data-Out
    // is on its way (the framer places nothing more there) and no storage request holds it.
    const transfer = task.transfer;
    if (transfer !== undefined && transfer.quiet && !task.busy) this.#owner.recycleWriteBuffer(transfer.buffer);
    if (task.counted) {
      task.counted = false;
      this.#window.finish();
    }
    if (task.ticket !== undefined) this.units.get(task.request.lun)?.release(task.ticket);
    const logout = this.#logout;
    if (logout !== undefined && logout.waiting.delete(task) && logout.waiting.size === 0) this.#logoutRespond();
  }

  countR2T(): void {
    this.#owner.countR2T();
  }

  countRecoveryR2T(): void {
    this.#owner.countRecoveryR2T();
  }

  #snackHost(connection: TargetConnection, frame: Frame): SnackHost {
    return {
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      outstandingR2Ts: (on, itt) => {
        const task = this.#tasks.get(itt);
        if (task === undefined || task.ended || task.connection !== on || task.transfer === undefined) return undefined;
        return { lun: task.request.lun, r2ts: task.transfer.outstandingR2Ts() };
      },
      refuse: (reason, error) => this.#reject(connection, frame, reason, error),
      fallBack: (error) => {
        this.#owner.erlFallback(connection, error.message);
        connection.close(error, 0);
      },
      answered: (pdus) => this.#owner.countSnack(pdus),
      dataAcknowledged: () => this.#owner.countDataAck(),
    };
  }

  countData(read: number, written: number): void {
    this.#owner.countData(read, written);
  }

  internalError(task: ScsiTask, error: unknown): ScsiResult {
    return this.#owner.internalError(task, error);
  }

  // ---------------------------------------------------------------- unit attention (SAM-5 §5.14)

  addUnitAttention(lun: number, asc: number, ascq: number): void {
    if (!this.units.has(lun)) return;
    let list = this.#unitAttention.get(lun);
    if (list === undefined) {
      list = [];
      this.#unitAttention.set(lun, list);
    }
    if (!list.some((ua) => ua.asc === asc && ua.ascq === ascq)) list.push({ asc, ascq });
  }

  /** The pending unit attention conditions of this nexus for `lun` (the SCSI layer takes them). */
  unitAttention(lun: number): PendingUnitAttention | undefined {
    return this.#unitAttention.get(lun);
  }

  // ---------------------------------------------------------------- aborting

  /** Ends a task without a response, remembering its tag for late Data-Out. */
  abortTask(task: ScsiTask): void {
    if (this.#tasks.get(task.itt) === task) this.#tasks.delete(task.itt);
    // ERL 2: an aborted task (a LUN reset, Time2Retain) is no longer there to reassign.
    this.#orphans.forget(task);
    this.#tombstone(task.itt);
    task.abort();
  }

  #tombstone(itt: number): void {
    this.#tombstones.add(itt);
    if (this.#tombstones.size > TOMBSTONES) {
      const oldest = this.#tombstones.values().next().value as number;
      this.#tombstones.delete(oldest);
    }
  }

  /** Tasks on `lun` (all tasks when undefined), for task management. */
  tasksOn(lun: number | undefined): ScsiTask[] {
    return [...this.#tasks.values()].filter((t) => lun === undefined || t.request.lun === lun);
  }

  /** Another nexus reset the unit or cleared its task set: our tasks end with TASK ABORTED. */
  terminateTasks(lun: number | undefined): void {
    for (const task of this.tasksOn(lun)) {
      if (this.#tasks.get(task.itt) === task) this.#tasks.delete(task.itt);
      this.#tombstone(task.itt);
      task.terminate();
    }
  }

  considerReceived(cmdSN: number): boolean {
    if (!this.#window.skip(cmdSN)) return false;
    this.#drainWindow();
    return true;
  }

  #tmfHooks(): TmfHooks {
    const others = (): readonly TargetSession[] => this.#owner.otherSessions(this);
    return {
      terminateElsewhere: (lun) => {
        for (const other of others()) other.terminateTasks(lun);
      },
      unitAttentionElsewhere: (lun, asc, ascq) => {
        if (!this.#owner.unitAttentionOnNewNexus) return;
        for (const other of others()) {
          for (const unit of lun === undefined ? [...other.units.keys()] : [lun]) other.addUnitAttention(unit, asc, ascq);
        }
      },
      coldReset: () => {
        for (const other of others()) other.end("reset");
        this.end("reset");
      },
    };
  }

  // ---------------------------------------------------------------- NOP, text, logout

  #nopOut(connection: TargetConnection, pdu: NopOutPdu): void {
    // RFC 7143 §11.19: the answer to a ping carries its ITT and echoes its data.
    const max = connection.params.maxSendDataSegmentLength;
    connection.send({
      opcode: Opcode.NopIn,
      lun: pdu.lun,
      initiatorTaskTag: pdu.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: connection.takeStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      // A copy: the NOP-Out's bytes may be in a read buffer the host uses again before this is written.
      data: pdu.data.slice(0, Math.min(pdu.data.length, max)),
    });
  }

  #text(connection: TargetConnection, pdu: TextRequestPdu, frame: Frame): void {
    const context: TextContext = {
      sessionType: this.type,
      currentTarget: this.target?.iqn,
      policy: this.policy,
      targets: () => this.#owner.discoveredTargets(connection),
      updateSendLimit: (bytes) => connection.updateSendLimit(bytes),
    };
    let reply;
    try {
      reply = this.#texts.handle(pdu, connection.params.maxSendDataSegmentLength, context);
    } catch (error) {
      if (!(error instanceof RemoteProtocolError)) throw error;
      this.#reject(connection, frame, RejectReason.ProtocolError, error);
      return;
    }
    connection.send({
      opcode: Opcode.TextResponse,
      final: reply.final,
      continue: reply.continue,
      lun: pdu.lun,
      initiatorTaskTag: pdu.initiatorTaskTag,
      targetTransferTag: reply.targetTransferTag,
      statSN: connection.takeStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      data: reply.data,
    });
  }

  #logoutRequest(connection: TargetConnection, pdu: LogoutRequestPdu, frame: Frame): void {
    if (this.#logout !== undefined) {
      this.#reject(connection, frame, RejectReason.ProtocolError, new RemoteProtocolError("a second Logout Request while one is in progress"));
      return;
    }
    let affected: readonly TargetConnection[];
    switch (pdu.reason) {
      case LogoutReason.CloseSession:
        affected = this.connections;
        break;
      case LogoutReason.CloseConnection: {
        const target = this.#connections.get(pdu.cid);
        if (target === undefined) {
          this.#logoutResponse(connection, pdu, LogoutResponseCode.CidNotFound);
          return;
        }
        affected = [target];
        break;
      }
      case LogoutReason.RemoveConnectionForRecovery:
        this.#removeForRecovery(connection, pdu);
        return;
      default:
        this.#logoutResponse(connection, pdu, LogoutResponseCode.RecoveryNotSupported);
        return;
    }
    // Tasks that are in storage finish and answer first; the rest end now (ERL 0 keeps nothing).
    const waiting = new Set<ScsiTask>();
    for (const task of [...this.#tasks.values()]) {
      if (!affected.includes(task.connection)) continue;
      if (task.busy && task.state === "running") waiting.add(task);
      else this.abortTask(task);
    }
    this.#logout = { connection, pdu, waiting };
    if (waiting.size === 0) this.#logoutRespond();
  }

  /**
   * RFC 7143 §11.14.1 reason 2: the connection `pdu.cid` is removed for recovery; its tasks wait
   * for TASK REASSIGN (ERL 2). A CID already lost and still within Time2Retain is answered too.
   */
  #removeForRecovery(connection: TargetConnection, pdu: LogoutRequestPdu): void {
    // RFC 7143 §11.15.1: removing a connection for recovery needs ErrorRecoveryLevel 2.
    if (!this.recoverable) {
      this.#logoutResponse(connection, pdu, LogoutResponseCode.RecoveryNotSupported);
      return;
    }
    const removed = this.#connections.get(pdu.cid);
    if (removed === undefined && !this.#orphans.lostCid(pdu.cid)) {
      this.#logoutResponse(connection, pdu, LogoutResponseCode.CidNotFound);
      return;
    }
    this.#logoutResponse(connection, pdu, LogoutResponseCode.Success, true);
    if (removed === undefined) return;
    // The response goes out first when the connection removes itself (the host writes what is
    // queued before closing); its tasks then become orphans like those of a lost connection.
    removed.close(new SessionClosedError(`connection ${pdu.cid} removed for recovery (Logout reason 2)`), this.#now);
  }

  #logoutRespond(): void {
    const logout = this.#logout;
    if (logout === undefined) return;
    this.#logout = undefined;
    const { connection, pdu } = logout;
    this.#logoutResponse(connection, pdu, LogoutResponseCode.Success);
    if (pdu.reason === LogoutReason.CloseSession) {
      connection.markLoggedOut();
      this.end("logout");
      return;
    }
    const closing = this.#connections.get(pdu.cid);
    if (closing === connection) connection.markLoggedOut();
    // Logging out the only connection ends the session by logout, not by losing it.
    if (closing !== undefined && this.#connections.size === 1) {
      this.end("logout");
      return;
    }
    closing?.close(undefined, 0);
  }

  #logoutResponse(connection: TargetConnection, pdu: LogoutRequestPdu, response: number, recovery = false): void {
    connection.send({
      opcode: Opcode.LogoutResponse,
      response,
      initiatorTaskTag: pdu.initiatorTaskTag,
      statSN: connection.takeStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      // RFC 7143 §11.15.2-3: only a connection removed for recovery (ERL 2) has tasks kept; for
      // it, the negotiated DefaultTime2Wait and DefaultTime2Retain hold. Otherwise nothing is kept.
      time2Wait: recovery ? this.params.defaultTime2Wait : 0,
      time2Retain: recovery ? this.params.defaultTime2Retain : 0,
    });
  }

  // ---------------------------------------------------------------- errors

  /**
   * Refuses a command PDU with Reject. Its CmdSN counts as received (else the window would wait
   * for it forever): RFC 7143 §11.17.1 leaves the command un-executed, not un-numbered.
   */
  #refuseCommand(connection: TargetConnection, frame: Frame, pdu: ScsiCommandPdu, reason: number, error: RemoteProtocolError): void {
    this.#reject(connection, frame, reason, error);
    if (!pdu.immediate && this.#window.skip(pdu.cmdSN)) this.#drainWindow();
  }

  #reject(connection: TargetConnection, frame: Frame, reason: number, error: IscsiError): void {
    this.#owner.countReject();
    this.#owner.protocolError(connection, error);
    connection.reject(frame, reason);
  }

  /** A protocol error the session cannot recover from at ERL 0: Reject, then drop the connection. */
  #violation(connection: TargetConnection, frame: Frame, reason: number, error: RemoteProtocolError): void {
    this.#reject(connection, frame, reason, error);
    connection.close(error, 0);
  }

  // ---------------------------------------------------------------- lifecycle

  connectionClosed(connection: TargetConnection, now: number): void {
    if (now > this.#now) this.#now = now;
    // A connection replaced by a new login with its CID (RFC 7143 §6.3.4) is no longer in the map.
    if (this.#connections.get(connection.cid) === connection) this.#connections.delete(connection.cid);
    this.#placed.delete(connection.id);
    const recoverable = this.recoverable && !this.#closed;
    const until = this.#now + this.params.defaultTime2Retain * 1000;
    if (recoverable) {
      // RFC 7143 §6.2.2, §7.1.4 (ERL 2): the tasks of a lost connection wait, Time2Retain long, for
      // a TASK REASSIGN on another connection, and so does the status of those already answered
      // but not acknowledged (the initiator may not have it).
      this.#orphans.keep(connection, this.#tasks.values(), (itt) => this.#tasks.has(itt), until);
    } else {
      // RFC 7143 §7.1.5 (ERL 0, 1): tasks with allegiance to a lost connection are gone.
      for (const task of [...this.#tasks.values()]) if (task.connection === connection) this.abortTask(task);
    }
    const logout = this.#logout;
    if (logout !== undefined && logout.connection === connection) this.#logout = undefined;
    if (this.#connections.size === 0 && !this.#closed) {
      // ERL 2: the session outlives its last connection by Time2Retain, for a new one to log in
      // with its TSIH and take its tasks over (RFC 7143 §6.3.5 leaves it to session timeout).
      if (recoverable) this.#orphans.waitForConnection(until);
      else this.end("connections-lost");
    }
  }

  /**
   * ERL 2 with DefaultTime2Retain > 0 in a normal session: a lost connection's tasks are kept for
   * reassignment (RFC 7143 §6.2.2, §13.16: Time2Retain 0 means nothing is kept).
   */
  get recoverable(): boolean {
    return this.params.errorRecoveryLevel >= 2 && this.params.defaultTime2Retain > 0 && this.type === "Normal";
  }

  /** ERL 2: tasks waiting for reassignment. */
  get orphanCount(): number {
    return this.#orphans.size;
  }

  /** ERL 2: the earliest Time2Retain deadline. */
  pollTimeout(): number | undefined {
    return this.#orphans.pollTimeout();
  }

  /** ERL 2: past Time2Retain, lost tasks are gone and a session with no connection ends. */
  handleTimeout(now: number): void {
    if (now > this.#now) this.#now = now;
    const { tasks, sessionExpired } = this.#orphans.expire(now);
    for (const task of tasks) this.abortTask(task);
    if (sessionExpired && this.#connections.size === 0) this.end("connections-lost");
  }

  /**
   * TASK REASSIGN (RFC 7143 §11.5.1) on `connection`: the response code, and what to do once it
   * is sent (the task's data and status follow the Task Management Response).
   */
  reassignTask(connection: TargetConnection, pdu: TaskManagementRequestPdu): { readonly response: number; readonly then?: () => void } {
    if (!this.recoverable) return { response: TaskManagementResponseCode.TaskAllegianceReassignmentNotSupported };
    const { response, orphan } = this.#orphans.take(pdu, this.#tasks.get(pdu.referencedTaskTag));
    if (orphan === undefined) return { response };
    return {
      response,
      then: () => {
        if (orphan.kind === "task") orphan.task.reassign(connection, pdu.expDataSN);
        else resume(connection, this, orphan.resumable, pdu.expDataSN, this.maxBurstLength);
      },
    };
  }

  /** Ends the session: every task ends quietly, every connection closes. Idempotent. */
  end(reason: SessionCloseReason, error?: IscsiError): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const task of this.#orphans.clear()) this.abortTask(task);
    for (const task of [...this.#tasks.values()]) this.abortTask(task);
    for (const item of this.#window.clear()) if (item.kind === "scsi") this.abortTask(item.task);
    for (const connection of this.connections) connection.close(error, 0);
    this.#owner.sessionEnded(this, reason);
  }
}
