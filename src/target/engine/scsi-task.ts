/**
 * The iSCSI side of one SCSI command (RFC 7143 §3.2.4): it carries the command's write data
 * (through a WriteTransfer and R2Ts), its storage requests, and its ending: Data-In with status
 * (S bit) when the data went well, Data-In then a SCSI Response otherwise, with residuals
 * (§11.4.5) computed from what the CDB moved and what the initiator expected.
 *
 * A task ends exactly once: `finish` (the SCSI layer is done), `abort` (task management, logout
 * or a lost connection: nothing is sent, RFC 7143 §11.5.1), or `terminate` (another initiator's
 * reset: TASK ABORTED status, as the Control mode page's TAS=1 says).
 */
import { LocalProtocolError } from "../../core/errors.js";
import type { DataInPdu, DataOutPdu, R2TPdu, ScsiResponsePdu } from "../../core/pdu/types.js";
import { Opcode, type TaskAttribute } from "../../core/pdu/opcodes.js";
import { ScsiStatus } from "../../core/scsi/status.js";
import type { TargetConnection } from "./connection.js";
import { type DataInOptions, resendDataIn, sendDataIn } from "./data-in.js";
import type { UnitTicket } from "./scsi/logical-unit.js";
import type { ScsiPort, ScsiRequest, ScsiResult } from "./scsi/port.js";
import type { StorageOperation, StorageOutcome } from "./storage.js";
import type { DataOutOutcome, WriteTransfer } from "./write-transfer.js";
import { type Resumable, resume } from "./reassign.js";

/** What a task needs from its session. */
export interface TaskHost {
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly maxBurstLength: number;
  allocateTargetTransferTag(): number;
  storage(task: ScsiTask, operation: StorageOperation, then: (outcome: StorageOutcome) => void): void;
  /** The task is over: forget it, free its window slot, release its unit. */
  taskDone(task: ScsiTask): void;
  countR2T(): void;
  /** ERL 1: an R2T asking again for data that arrived damaged. */
  countRecoveryR2T(): void;
  countData(read: number, written: number): void;
  /** The SCSI layer threw (a bug, or a builder refusing a value): the task fails with CHECK CONDITION. */
  internalError(task: ScsiTask, error: unknown): ScsiResult;
}

export type TaskState = "received" | "running" | "draining" | "done";

export class ScsiTask implements ScsiPort {
  readonly itt: number;
  readonly cmdSN: number;
  readonly immediate: boolean;
  readonly request: ScsiRequest;
  readonly attribute: TaskAttribute;
  /** RFC 7143 §6.1.2 connection allegiance: R2Ts, Data-In and status go on this connection. */
  #connection: TargetConnection;
  readonly transfer: WriteTransfer | undefined;
  readonly #host: TaskHost;
  #state: TaskState = "received";
  #ended = false;
  #released = false;
  /** Took a slot of the command window (non-immediate and delivered). */
  counted = false;
  ticket: UnitTicket | undefined;
  #inStorage = 0;
  #wantData: { readonly length: number; readonly then: (data: Uint8Array) => void } | undefined;
  #pending: ScsiResult | undefined;
  /** ERL 2: its connection is gone and it waits for a TASK REASSIGN (RFC 7143 §6.2.2). */
  #orphaned = false;
  /** ERL 2: what it ended with while orphaned, sent once it is reassigned. */
  #held: Resumable | undefined;

  constructor(
    fields: { itt: number; cmdSN: number; immediate: boolean; request: ScsiRequest; attribute: TaskAttribute },
    connection: TargetConnection,
    transfer: WriteTransfer | undefined,
    host: TaskHost,
  ) {
    this.itt = fields.itt;
    this.cmdSN = fields.cmdSN;
    this.immediate = fields.immediate;
    this.request = fields.request;
    this.attribute = fields.attribute;
    this.#connection = connection;
    this.transfer = transfer;
    this.#host = host;
  }

  get state(): TaskState {
    return this.#state;
  }

  get connection(): TargetConnection {
    return this.#connection;
  }

  /** ERL 2: its connection was lost; it waits for reassignment. */
  get orphaned(): boolean {
    return this.#orphaned;
  }

  /**
   * ERL 2 (RFC 7143 §6.2.2): the connection this task is allegiant to was lost. The task goes on
   * (storage runs, data already received is kept) and what it ends with is held until a TASK
   * REASSIGN moves it to another connection.
   */
  orphan(): void {
    this.#orphaned = true;
  }

  /**
   * ERL 2: TASK REASSIGN moved the task to `connection` (RFC 7143 §11.5.1). A task that ended
   * meanwhile sends its data from `expDataSN` and its status; a write still running asks again,
   * with R2Ts, for the data it has not got; anything else simply answers here when it ends.
   */
  reassign(connection: TargetConnection, expDataSN: number): void {
    this.#connection = connection;
    this.#orphaned = false;
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      resume(connection, this.#host, held, expDataSN, this.#host.maxBurstLength);
      return;
    }
    const transfer = this.transfer;
    if (this.#ended || transfer === undefined) return;
    transfer.reassigned();
    const pending = this.#pending;
    if (pending !== undefined) {
      if (transfer.quiet) {
        this.#pending = undefined;
        this.#respond(pending);
      }
      return;
    }
    this.#solicit();
    this.#checkData();
  }

  /** True once finished, aborted or terminated. */
  get ended(): boolean {
    return this.#ended;
  }

  /** A storage operation is running for it: its outcome is still to come. */
  get busy(): boolean {
    return this.#inStorage > 0;
  }

  /** Delivered in CmdSN order: the SCSI layer may start. */
  markRunning(): void {
    this.#state = "running";
  }

  // ---------------------------------------------------------------- ScsiPort

  receiveData(length: number, then: (data: Uint8Array) => void): void {
    if (this.#ended) return;
    const transfer = this.transfer;
    if (transfer === undefined) throw new LocalProtocolError(`receiveData on task 0x${this.itt.toString(16)}, which has no write data`);
    this.#wantData = { length, then };
    transfer.solicit(length);
    this.#solicit();
    this.#checkData();
  }

  storage(operation: StorageOperation, then: (outcome: StorageOutcome) => void): void {
    if (this.#ended) return;
    this.#inStorage++;
    this.#host.storage(this, operation, (outcome) => {
      this.#inStorage--;
      if (this.#ended) {
        // Aborted meanwhile: the unit was held for this operation; let it go now.
        if (this.#inStorage === 0) this.#release();
        return;
      }
      this.#guard(() => then(outcome));
    });
  }

  finish(result: ScsiResult): void {
    if (this.#ended) return;
    const transfer = this.transfer;
    if (transfer !== undefined && !transfer.quiet) {
      // RFC 7143 §11.17.1 (and §3.2.4.2): status goes out only after the last Data-Out the
      // initiator is still sending for this command; it keeps coming whatever we decided.
      transfer.abandon();
      this.#pending = result;
      this.#state = "draining";
      return;
    }
    this.#respond(result);
  }

  /** Runs SCSI-layer code for this task, turning a throw into CHECK CONDITION. */
  run(body: () => void): void {
    this.#guard(body);
  }

  #guard(body: () => void): void {
    try {
      body();
    } catch (error) {
      if (this.#ended) return;
      this.finish(this.#host.internalError(this, error));
    }
  }

  // ---------------------------------------------------------------- write data

  /**
   * A Data-Out for this task (validated by the transfer; a protocol error throws). `damaged`: its
   * data digest failed (ERL 1): its range is asked for again once its sequence ends.
   */
  dataOut(pdu: DataOutPdu, placed: boolean, damaged = false): void {
    const transfer = this.transfer as WriteTransfer;
    const outcome: DataOutOutcome = transfer.accept(pdu, placed, damaged);
    if (this.#ended) return;
    if (outcome === "sequence-done") {
      if (this.#pending !== undefined) {
        if (transfer.quiet) {
          const result = this.#pending;
          this.#pending = undefined;
          this.#respond(result);
        }
        return;
      }
      this.#solicit();
    }
    this.#checkData();
  }

  #solicit(): void {
    const transfer = this.transfer;
    if (transfer === undefined || this.#ended || this.#pending !== undefined) return;
    const plans = transfer.planR2Ts(() => this.#host.allocateTargetTransferTag());
    for (const plan of plans) {
      const r2t: R2TPdu = {
        opcode: Opcode.R2T,
        lun: this.request.lun,
        initiatorTaskTag: this.itt,
        targetTransferTag: plan.targetTransferTag,
        // RFC 7143 §11.8: an R2T carries the next StatSN without consuming it.
        statSN: this.#connection.statSN,
        expCmdSN: this.#host.expCmdSN,
        maxCmdSN: this.#host.maxCmdSN,
        r2tSN: plan.r2tSN,
        bufferOffset: plan.offset,
        desiredDataTransferLength: plan.length,
      };
      this.#host.countR2T();
      if (plan.recovery) this.#host.countRecoveryR2T();
      this.#connection.send(r2t);
    }
  }

  #checkData(): void {
    const want = this.#wantData;
    const transfer = this.transfer;
    if (want === undefined || transfer === undefined || !transfer.complete || this.#ended) return;
    this.#wantData = undefined;
    const buffer = transfer.buffer;
    this.#guard(() => want.then(buffer.subarray(0, want.length)));
  }

  // ---------------------------------------------------------------- endings

  /** Ends the task without a word to the initiator (it aborted it, or it is gone). */
  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#state = "done";
    this.transfer?.abandon();
    // A storage operation still running holds the unit until it completes (see `storage`).
    if (this.#inStorage === 0) this.#release();
  }

  /** Tells the session the task is over, once. */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#host.taskDone(this);
  }

  /**
   * Ends the task with TASK ABORTED status (SAM-5 §5.6, TAS=1): another I_T nexus cleared the
   * task set or reset the unit, and this initiator must hear about its command.
   */
  terminate(): void {
    if (this.#ended) return;
    if (this.transfer !== undefined && !this.transfer.quiet) {
      // Its data is still coming: nothing can be said before it ends, so end quietly.
      this.abort();
      return;
    }
    const busy = this.#inStorage > 0;
    this.#respond({ status: ScsiStatus.TaskAborted }, busy);
  }

  /**
   * Ends the task at once with `result`, whatever data is still on its way (the session drops
   * the rest): its write data broke the protocol and cannot be completed at ERL 0.
   */
  fail(result: ScsiResult): void {
    if (this.#ended) return;
    this.transfer?.abandon();
    this.#respond(result, this.#inStorage > 0);
  }

  #respond(result: ScsiResult, holdUnit = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#state = "done";
    const host = this.#host;
    // Free the window slot first, so the status below carries the MaxCmdSN it opened.
    if (!holdUnit) this.#release();
    const connection = this.#connection;
    const request = this.request;
    if (connection.closed) {
      if (this.#orphaned) this.#held = this.#resumable(result);
      return;
    }
    const expected = request.expectedLength;
    const data = request.read ? result.data : undefined;
    const spdtl = result.data?.length ?? result.writeLength ?? 0;
    const residualUnderflow = spdtl < expected;
    const residualOverflow = spdtl > expected;
    const residualCount = residualUnderflow ? expected - spdtl : residualOverflow ? spdtl - expected : 0;
    const sent = data === undefined ? undefined : data.subarray(0, Math.min(data.length, expected));
    let dataPdus = 0;
    const good = result.status === ScsiStatus.Good && (result.sense === undefined || result.sense.length === 0);
    if (sent !== undefined && sent.length > 0) {
      host.countData(sent.length, 0);
      const options: DataInOptions = {
        lun: request.lun,
        initiatorTaskTag: this.itt,
        statSN: connection.statSN,
        expCmdSN: host.expCmdSN,
        maxCmdSN: host.maxCmdSN,
        maxSegment: connection.params.maxSendDataSegmentLength,
        maxBurst: host.maxBurstLength,
        // RFC 7143 §11.7.1: status rides on the last Data-In only when there is no sense to send.
        status: good ? { status: result.status, statSN: connection.takeStatSN(), residualOverflow, residualUnderflow, residualCount } : undefined,
      };
      const send = (pdu: DataInPdu): void => connection.send(pdu);
      // ERL >= 1: a copy is kept for Data SNACKs and the PDUs are made from it (see retention.ts).
      const kept = connection.retention?.keepRead(this.itt, sent, options, () => host.allocateTargetTransferTag());
      dataPdus =
        kept === undefined
          ? sendDataIn(send, sent, options)
          : resendDataIn(send, kept.length, (offset, end) => kept.slice(offset, end), kept.options, 0, kept.count);
      if (good) return;
    }
    if (result.status === ScsiStatus.Good && result.writeLength !== undefined) host.countData(0, Math.min(result.writeLength, expected));
    const response: ScsiResponsePdu = {
      opcode: Opcode.ScsiResponse,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow,
      residualUnderflow,
      response: 0,
      status: result.status,
      initiatorTaskTag: this.itt,
      snackTag: 0,
      statSN: connection.takeStatSN(),
      expCmdSN: host.expCmdSN,
      maxCmdSN: host.maxCmdSN,
      // RFC 7143 §11.4.8: the number of R2T and Data-In PDUs sent for the command.
      expDataSN: dataPdus + (this.transfer?.r2tCount ?? 0),
      bidiReadResidualCount: 0,
      residualCount,
      sense: result.sense ?? EMPTY,
      responseData: EMPTY,
    };
    connection.send(response);
  }

  /** ERL 2: the result to hold for reassignment; read data is copied (it views the backend's memory). */
  #resumable(result: ScsiResult): Resumable {
    const request = this.request;
    const expected = request.expectedLength;
    const spdtl = result.data?.length ?? result.writeLength ?? 0;
    const data = request.read && result.data !== undefined ? result.data.slice(0, Math.min(result.data.length, expected)) : undefined;
    return {
      itt: this.itt,
      lun: request.lun,
      // Nothing was sent yet: the layout is the one the new connection will use.
      data: data === undefined ? undefined : { length: data.length, slice: (o, e) => data.subarray(o, e), maxSegment: Number.MAX_SAFE_INTEGER, maxBurst: this.#host.maxBurstLength },
      status: result.status,
      sense: result.sense ?? EMPTY,
      residualOverflow: spdtl > expected,
      residualUnderflow: spdtl < expected,
      residualCount: spdtl < expected ? expected - spdtl : spdtl > expected ? spdtl - expected : 0,
      r2tCount: this.transfer?.r2tCount ?? 0,
    };
  }
}

const EMPTY = new Uint8Array(0);
