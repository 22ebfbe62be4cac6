import { ConfigError, IscsiError, ScsiError, SessionClosedError, TimeoutError } from "../core/errors.js";
import { LogoutReason, TaskManagementFunction, TaskManagementResponseCode } from "../core/pdu/opcodes.js";
import { describePdu } from "../core/pdu/describe.js";
import type { AsyncEventInfo, CommandResult } from "../core/session/command.js";
import type { RecoveryRecord } from "../core/session/recovery.js";
import type { RenegotiationChange } from "../core/text/renegotiation.js";
import type { SessionParameters } from "../core/text/parameters.js";
import { buildReportLunsCdb } from "../core/scsi/cdb.js";
import { parseReportLunsData } from "../core/scsi/report-luns.js";
import { scsiCommandName } from "../core/scsi/opcodes.js";
import { isRepeatable } from "../core/scsi/repeatable.js";
import { ScsiStatus, SenseKey, scsiStatusName } from "../core/scsi/status.js";
import { decodeSense, describeSense } from "../core/scsi/sense.js";
import { TaskManagementError } from "../core/errors.js";
import { formatPortal, SessionDriver, type TransferCall } from "./driver.js";
import { Emitter } from "./events.js";
import type { ClientHost, Portal } from "./host.js";
import { sleep } from "./time.js";
import { type AbortSignalLike, abortedError, throwIfAborted, whileListening } from "./abort.js";
import { tmfName, tmfResponseName } from "../core/session/control.js";
import { Lun } from "./lun.js";
import {
  buildProposal,
  checkSessionOptions,
  optionsFromUrl,
  type SessionOptions,
  toChapCredentials,
  toPortal,
} from "./options.js";

export interface ExecuteOptions {
  /** Bytes expected from the target: a length (a buffer is allocated) or the caller's buffer. */
  readonly dataIn?: number | Uint8Array;
  /** Bytes to send. */
  readonly dataOut?: Uint8Array;
  /** Resolve with the result even when the status is not GOOD, instead of rejecting. */
  readonly allowStatus?: boolean;
  /** Whether the command may be repeated after a reconnect; by default decided by its opcode (isRepeatable). */
  readonly retry?: "safe" | "never";
  /** Escalate after this long without an answer (see SessionOptions.commandTimeoutMs); default that option. */
  readonly timeoutMs?: number;
  /**
   * The whole time the call may take, UNIT ATTENTION retries and re-issues after reconnects
   * included (see SessionOptions.commandBudgetMs); default that option.
   */
  readonly budgetMs?: number;
  /** Called with the command's Initiator Task Tag once it is queued (for ABORT TASK). */
  readonly onTag?: (tag: number) => void;
  /**
   * Aborts the command: before it is sent, nothing is sent; once sent, an ABORT TASK (RFC 7143
   * §11.5.1) asks the target to drop it, and the call rejects with an AbortedError when the
   * target confirms. A command the target finished first keeps its result: an abort never hides
   * a write that was done.
   */
  readonly signal?: AbortSignalLike;
  /**
   * Whether a GOOD status with fewer bytes moved than asked is a ShortTransferError ("fail") or a
   * result whose `bytesIn` says how many came ("allow"). By default READ, WRITE and the other
   * commands whose CDB names the blocks to move fail; INQUIRY and other allocation-length
   * commands allow it.
   */
  readonly shortTransfer?: "fail" | "allow";
}

/** One connection of a session, as `IscsiSession.connections` gives it. */
export interface ConnectionInfo {
  readonly cid: number;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  readonly maxRecvDataSegmentLength: number;
  readonly maxSendDataSegmentLength: number;
  /** SCSI commands sent on this connection (a command sent again counts again). */
  readonly commands: number;
  /** Data-In payload bytes received (SCSI data only: no headers, no sense). */
  readonly bytesIn: number;
  /** Data-Out payload bytes sent (immediate, unsolicited and solicited data). */
  readonly bytesOut: number;
  /** SCSI commands sent on this connection and not yet answered. */
  readonly outstanding: number;
}

export interface ScsiResult extends CommandResult {
  /** The Data-In bytes received (a view of the buffer, `bytesIn` long). */
  readonly data: Uint8Array;
}

export interface SessionEvents {
  "async-event": [event: AsyncEventInfo];
  "unit-attention": [lun: number, description: string];
  closed: [error: IscsiError | undefined];
  recovery: [phase: "started" | "recovered" | "gave-up", record: RecoveryRecord];
  /**
   * Connection recovery inside the session (ErrorRecoveryLevel 2, RFC 7143 §7.1.4): a lost
   * connection's tasks moving to a new or surviving connection by TASK REASSIGN; "fell-back"
   * when it could not, and the session is reinstated instead (then `recovery` follows).
   */
  "connection-recovery": [phase: "started" | "recovered" | "fell-back", cid: number, detail: string];
}

/**
 * A logged-in iSCSI session to one target: the library's main object. Open it with
 * `openSession(url or options)`; reach LUNs with `session.lun(n)`; end it with `logout()`.
 */
export class IscsiSession extends Emitter<SessionEvents> {
  readonly targetName: string;
  readonly portal: Portal;
  readonly initiatorName: string;
  private readonly luns = new Map<number, Lun>();
  private readonly unitAttentionRetries: number;
  private readonly commandTimeoutMs: number | undefined;
  private readonly commandBudgetMs: number | undefined;

  /** @internal use openSession() */
  constructor(
    readonly host: SessionDriver,
    options: SessionOptions,
  ) {
    super();
    this.targetName = options.targetName;
    this.portal = host.portal;
    this.initiatorName = host.config.initiatorName;
    this.unitAttentionRetries = options.unitAttentionRetries ?? 5;
    this.commandTimeoutMs = options.commandTimeoutMs;
    this.commandBudgetMs = options.commandBudgetMs;
    host.on("async-event", (event) => this.emit("async-event", event));
    host.on("session-closed", (error) => this.emit("closed", error));
    host.on("recovery", (phase, record) => this.emit("recovery", phase, record));
    host.on("connection-recovery", (phase, cid, detail) => this.emit("connection-recovery", phase, cid, detail));
  }

  /** The negotiated session parameters (RFC 7143 §13). */
  get params(): SessionParameters {
    return this.host.session.params;
  }

  /**
   * Each connection: its negotiated parameters, and what it has carried since it logged in
   * (SCSI commands sent, Data-In and Data-Out payload bytes, commands outstanding now). A
   * connection re-established by a recovery counts from zero again.
   */
  get connections(): readonly ConnectionInfo[] {
    return this.host.session.connectionList.map((c) => {
      const n = c.counters;
      return { cid: c.cid, ...c.params, commands: n.commands, bytesIn: n.bytesIn, bytesOut: n.bytesOut, outstanding: n.outstanding };
    });
  }

  /** Every recovery episode so far: cause, duration, attempts, commands retried and failed. */
  get recoveries(): readonly RecoveryRecord[] {
    return this.host.session.recoveries;
  }

  get isid(): number {
    return this.host.session.isid;
  }
  get tsih(): number {
    return this.host.session.tsih;
  }

  /** A handle on one logical unit. */
  lun(number: number): Lun {
    if (!Number.isInteger(number) || number < 0 || number > 16383) throw new ConfigError(`LUN ${number} is out of range (0-16383)`);
    let lun = this.luns.get(number);
    if (lun === undefined) {
      lun = new Lun(this, number);
      this.luns.set(number, lun);
    }
    return lun;
  }

  /** REPORT LUNS (SPC-4 §6.33), sent to LUN 0. */
  async reportLuns(): Promise<number[]> {
    let allocation = 4096;
    for (;;) {
      const result = await this.execute(0, buildReportLunsCdb({ allocationLength: allocation }), { dataIn: allocation });
      const parsed = parseReportLunsData(result.data);
      const needed = parsed.lunListLength + 8;
      if (parsed.truncated && needed > allocation && allocation < 1 << 20) {
        allocation = Math.min(needed, 1 << 20);
        continue;
      }
      return [...parsed.luns];
    }
  }

  /**
   * Sends any CDB to a LUN. Rejects with a ScsiError when the status is not GOOD (unless
   * `allowStatus`), retrying a few times on UNIT ATTENTION as initiators do.
   */
  execute(lun: number, cdb: Uint8Array, options: ExecuteOptions = {}): Promise<ScsiResult> {
    return this.attempts(lun, cdb, options, this.commandBudgetMs === undefined && options.budgetMs === undefined ? 0 : this.host.host.now(), undefined);
  }

  /**
   * The hot path of Lun.read and Lun.write: one READ or WRITE of a whole buffer, no signal, one
   * promise, no result object; resolves with `value`. Only when the status is not GOOD does the
   * command go on through `execute`'s handling (unit attention, BUSY, the ScsiError), from this
   * first result: nothing is sent twice.
   */
  transfer<T>(lun: number, cdb: Uint8Array, dataIn: Uint8Array | undefined, dataOut: Uint8Array | undefined, timeoutMs: number | undefined, value: T): Promise<T> {
    const budgetMs = this.commandBudgetMs;
    const started = budgetMs === undefined ? 0 : this.host.host.now();
    const call: TransferCall<T> = { lun, cdb, dataIn, dataOut, timeoutMs, started, value, otherwise: this.afterTransfer as TransferCall<T>["otherwise"] };
    return this.host.transfer(call, timeoutMs ?? this.commandTimeoutMs, budgetMs);
  }

  /** A transfer's status was not GOOD: `execute`'s handling goes on from that first result. */
  private readonly afterTransfer = async (first: CommandResult, call: TransferCall<unknown>): Promise<unknown> => {
    await this.attempts(call.lun, call.cdb, { dataIn: call.dataIn, dataOut: call.dataOut, retry: "safe", timeoutMs: call.timeoutMs }, call.started, first);
    return call.value;
  };

  /** `execute`'s attempts; `first`, when given, is the outcome of attempt 0, already sent. */
  private async attempts(lun: number, cdb: Uint8Array, options: ExecuteOptions, started: number, first: CommandResult | undefined): Promise<ScsiResult> {
    const dataIn = typeof options.dataIn === "number" ? new Uint8Array(options.dataIn) : options.dataIn;
    const retry = options.retry ?? (isRepeatable(cdb) ? "safe" : "never");
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
    const budgetMs = options.budgetMs ?? this.commandBudgetMs;
    for (let attempt = 0; ; attempt++) {
      let result: CommandResult;
      if (attempt === 0 && first !== undefined) {
        result = first;
      } else {
        // Each retry below gets what is left of the call's budget, not a budget of its own.
        const left = budgetMs === undefined ? undefined : Math.ceil(budgetMs - (this.host.host.now() - started));
        throwIfAborted(`${scsiCommandName(cdb)} on LUN ${lun} of ${this.targetName}`, options.signal);
        if (left !== undefined && left <= 0) {
          throw new TimeoutError(`${scsiCommandName(cdb)} on LUN ${lun} of ${this.targetName} did not complete within ${budgetMs} ms (${attempt} attempts)`, { kind: "command" });
        }
        result = options.signal === undefined
          ? await this.host.execute(lun, cdb, dataIn, options.dataOut, retry, timeoutMs, options.onTag, options.shortTransfer, left)
          : await this.executeAbortable(lun, cdb, dataIn, retry, timeoutMs, left, options, options.signal);
      }
      if (result.status === ScsiStatus.Good || options.allowStatus) {
        return {
          status: result.status,
          sense: result.sense,
          bytesIn: result.bytesIn,
          residualCount: result.residualCount,
          residualUnderflow: result.residualUnderflow,
          residualOverflow: result.residualOverflow,
          data: dataIn === undefined ? EMPTY : result.bytesIn === dataIn.length ? dataIn : dataIn.subarray(0, result.bytesIn),
        };
      }
      const sense = result.sense.length > 0 ? decodeSense(result.sense) : undefined;
      if (
        result.status === ScsiStatus.CheckCondition &&
        sense !== undefined &&
        sense.key === SenseKey.UnitAttention &&
        attempt < this.unitAttentionRetries
      ) {
        // SAM-5 §5.14: a unit attention reports an event (reset, capacity change) once per
        // I_T nexus; the command itself was not executed and is safe to send again.
        this.emit("unit-attention", lun, describeSense(sense));
        continue;
      }
      if (result.status === ScsiStatus.Busy || result.status === ScsiStatus.TaskSetFull) {
        if (attempt < this.unitAttentionRetries) {
          await sleep(this.host.host, 10 * (attempt + 1));
          continue;
        }
      }
      const what = `${scsiCommandName(cdb)} on LUN ${lun} of ${this.targetName}`;
      const detail = sense === undefined ? scsiStatusName(result.status) : describeSense(sense);
      throw new ScsiError(
        result.status,
        `${what} failed: ${detail}`,
        sense === undefined ? undefined : { key: sense.key, asc: sense.asc, ascq: sense.ascq, description: sense.description },
        result.sense.length > 0 ? result.sense : undefined,
      );
    }
  }

  /** One attempt of a command under a signal: an abort sends ABORT TASK for its tag. */
  private async executeAbortable(
    lun: number,
    cdb: Uint8Array,
    dataIn: Uint8Array | undefined,
    retry: "safe" | "never",
    timeoutMs: number | undefined,
    left: number | undefined,
    options: ExecuteOptions,
    signal: AbortSignalLike,
  ): Promise<CommandResult> {
    let tag: number | undefined;
    const onTag = (t: number): void => {
      tag = t;
      options.onTag?.(t);
    };
    const onAbort = (): void => {
      // The outcome reaches the caller through the command itself: AbortedError when the
      // target dropped it, its own result when it had finished first.
      if (tag !== undefined) this.abortTask(tag).catch(() => undefined);
    };
    try {
      return await whileListening(signal, onAbort, this.host.execute(lun, cdb, dataIn, options.dataOut, retry, timeoutMs, onTag, options.shortTransfer, left));
    } catch (error) {
      if (signal.aborted && error instanceof IscsiError && error.code === "ISCSI_ERR_ABORTED") {
        throw abortedError(`${scsiCommandName(cdb)} on LUN ${lun} of ${this.targetName}`, signal);
      }
      throw error;
    }
  }

  /**
   * NOP-Out ping; resolves with the round trip in milliseconds. While the session is being
   * re-established it waits for it (as commands do), and fails if recovery gives up.
   */
  async ping(): Promise<number> {
    if (this.host.session.recovering) await this.untilRecovered();
    return (await this.host.ping()).roundTripMs;
  }

  /** Resolves when a running recovery ends with the session back; rejects if it gives up. */
  private untilRecovered(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onRecovery = (phase: "started" | "recovered" | "gave-up", record: RecoveryRecord): void => {
        if (phase === "started") return;
        this.off("recovery", onRecovery);
        this.off("closed", onClosed);
        if (phase === "recovered") resolve();
        else reject(new SessionClosedError(`the session to ${this.targetName} could not be re-established (${record.detail})`));
      };
      const onClosed = (error: IscsiError | undefined): void => {
        this.off("recovery", onRecovery);
        this.off("closed", onClosed);
        reject(error ?? new SessionClosedError(`the session to ${this.targetName} was closed`));
      };
      this.on("recovery", onRecovery);
      this.on("closed", onClosed);
    });
  }

  /**
   * Renegotiates operational keys mid-session (RFC 7143 §6.2): a Text Request declaring, for
   * example, a new MaxRecvDataSegmentLength (§13.12) on one connection (the policy's pick unless
   * `cid` is given). Resolves with the target's answer once the connection uses the new values.
   */
  renegotiate(change: RenegotiationChange, cid?: number): Promise<ReadonlyArray<readonly [string, string]>> {
    return this.host.renegotiate(change, cid);
  }

  /** ABORT TASK for a command's tag (see ExecuteOptions.onTag). Resolves with the TMF response code. */
  abortTask(tag: number): Promise<number> {
    return this.host.taskManagement(TaskManagementFunction.AbortTask, { referencedTaskTag: tag });
  }

  /** LOGICAL UNIT RESET; rejects with a TaskManagementError unless the target completed it. */
  async lunReset(lun: number): Promise<void> {
    await this.tmf(TaskManagementFunction.LogicalUnitReset, lun);
  }
  async abortTaskSet(lun: number): Promise<void> {
    await this.tmf(TaskManagementFunction.AbortTaskSet, lun);
  }
  async clearTaskSet(lun: number): Promise<void> {
    await this.tmf(TaskManagementFunction.ClearTaskSet, lun);
  }
  async targetReset(kind: "warm" | "cold" = "warm"): Promise<void> {
    await this.tmf(kind === "warm" ? TaskManagementFunction.TargetWarmReset : TaskManagementFunction.TargetColdReset, 0);
  }

  private async tmf(fn: TaskManagementFunction, lun: number): Promise<void> {
    const response = await this.host.taskManagement(fn, { lun });
    if (response !== TaskManagementResponseCode.FunctionComplete) {
      throw new TaskManagementError(response, `${tmfName(fn)} on LUN ${lun} of ${this.targetName}: ${tmfResponseName(response)}`);
    }
  }

  /** Logs out (RFC 7143 §11.14) and closes the connections. */
  async logout(): Promise<void> {
    await this.host.logout(LogoutReason.CloseSession);
  }

  /** Drops the connections without logging out. */
  close(): void {
    this.host.close();
  }

  /** `await using session = await openSession(...)`: logs out at the end of the scope, or drops the connections if the logout fails. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.logout().catch(() => this.close());
  }
}

const EMPTY = new Uint8Array(0);

/** Opens and logs in a session from a URL (`iscsi://[user[%secret]@]host[:port]/iqn[/lun]`) or options. */
export async function openSessionOn(client: ClientHost, target: string | SessionOptions, overrides: Partial<SessionOptions> = {}): Promise<IscsiSession> {
  const options: SessionOptions = typeof target === "string" ? optionsFromUrl(target, overrides) : { ...target, ...overrides };
  // Every option is checked before connecting: a mistake rejects this call, nothing else.
  const initiatorName = checkSessionOptions(options, client.machineName());
  const proposal = buildProposal(options);
  const portal = toPortal(options.portal);
  const chap = toChapCredentials(options.chap);
  const trace = options.trace;
  const host = new SessionDriver(
    client,
    {
      initiatorName,
      ...(options.initiatorAlias === undefined ? {} : { initiatorAlias: options.initiatorAlias }),
      targetName: options.targetName,
      sessionType: "Normal",
      ...(chap === undefined ? {} : { chap }),
      proposal,
      ...(options.keepAlive === undefined ? {} : { keepAlive: options.keepAlive }),
      ...(options.loginTimeoutMs === undefined ? {} : { loginTimeoutMs: options.loginTimeoutMs }),
      ...(options.logoutTimeoutMs === undefined ? {} : { logoutTimeoutMs: options.logoutTimeoutMs }),
      ...(options.recovery === undefined ? {} : { recovery: options.recovery }),
      ...(options.taskManagementTimeoutMs === undefined ? {} : { taskManagementTimeoutMs: options.taskManagementTimeoutMs }),
      ...(options.connectionPolicy === undefined ? {} : { connectionPolicy: options.connectionPolicy }),
      ...(options.commandBatching === undefined ? {} : { commandBatching: options.commandBatching }),
      ...(trace === undefined ? {} : { trace: (direction, cid, pdu) => trace(`${direction === "send" ? ">>" : "<<"} [${cid}] ${describePdu(pdu)}`) }),
    },
    portal,
    {
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.busyPollUs === undefined ? {} : { busyPollUs: options.busyPollUs }),
    },
  );
  throwIfAborted(`the login to ${options.targetName}`, options.signal);
  const signal = options.signal;
  const abortLogin = (): void => {
    if (signal !== undefined) host.close(abortedError(`the login to ${options.targetName}`, signal));
  };
  try {
    await whileListening(signal, abortLogin, loginWaitingForTarget(host, options.waitForTargetMs ?? 0));
  } catch (error) {
    // Aborted between two tries, the next try meets the closed session: say it was the signal.
    throwIfAborted(`the login to ${options.targetName}`, signal);
    throw error;
  }
  const wanted = options.connections ?? 1;
  host.wantedConnections = wanted;
  const extra = Math.min(wanted, host.session.params.maxConnections) - 1;
  if (extra > 0) {
    const results = await whileListening(signal, abortLogin, Promise.allSettled(Array.from({ length: extra }, () => host.login())));
    throwIfAborted(`the login to ${options.targetName}`, signal);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined && host.session.connectionList.length === 1) {
      // The leading connection works; say why the others did not, but keep the session.
      options.trace?.(`note: could not add connections: ${(failed.reason as Error).message}`);
    }
  }
  return new IscsiSession(host, options);
}

/**
 * The leading login, tried again while the target cannot be reached (a host booting before its
 * network or its target is up) until `waitMs` has passed; a refusal by the target (wrong
 * secret, unknown IQN) is final at once.
 */
async function loginWaitingForTarget(host: SessionDriver, waitMs: number): Promise<void> {
  const deadline = host.host.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await host.login();
      return;
    } catch (error) {
      const transient = error instanceof IscsiError && (error.code === "ISCSI_ERR_TRANSPORT" || error.code === "ISCSI_ERR_TIMEOUT");
      const delay = Math.min(5_000, 250 * 2 ** attempt);
      if (!transient || host.host.now() + delay > deadline) throw error;
      await sleep(host.host, delay);
    }
  }
}

/** Opens a session and returns the LUN the URL names (`lun.session.logout()` ends it). */
export async function openLunOn(client: ClientHost, url: string, overrides: Partial<SessionOptions> = {}): Promise<Lun> {
  const options = optionsFromUrl(url, overrides);
  if (options.lun === undefined) throw new ConfigError(`the URL ${formatPortal(toPortal(options.portal))}/${options.targetName} names no LUN`);
  const session = await openSessionOn(client, options);
  return session.lun(options.lun);
}

