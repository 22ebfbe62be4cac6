/**
 * A session that runs on a worker thread, with the API of the client's `IscsiSession`: its
 * calls run the worker's own IscsiSession (the same client and core as on any thread) and
 * answer here, errors rebuilt with their class and code; its events are the worker session's,
 * forwarded. What `IscsiSession` answers synchronously is answered from here: the negotiated
 * parameters and the recoveries as the worker last told them (at login and at each recovery
 * event), the connections' counters from shared memory the worker updates with each batch of
 * answers (./counters.ts), so they are at least as new as the last answer received.
 */
import { Emitter } from "../../client/events.js";
import { ConfigError } from "../../core/errors.js";
import type { ConnectionInfo, Portal, ScsiResult, SessionEvents } from "../index.js";
import type { RecoveryRecord, SessionApi, SessionParameters, WorkerExecuteOptions } from "./api.js";
import { isShared, movable, outgoing, prefix } from "./buffers.js";
import type { ConnectionCounters } from "./counters.js";
import type { Staging } from "./staging.js";
import { fromWireError } from "./errors.js";
import type { SessionEndpoint, WorkerLink } from "./link.js";
import { WorkerLun } from "./lun.js";
import type { Transfer } from "./outbox.js";
import type { ExecuteReply, OpenedSession, SessionMethod, SessionState, WireEvent } from "./protocol.js";
import type { IscsiError, SessionClosedError } from "../../core/errors.js";

export class WorkerSession extends Emitter<SessionEvents> implements SessionApi, SessionEndpoint {
  readonly targetName: string;
  readonly portal: Portal;
  readonly initiatorName: string;
  private state: SessionState;
  private readonly luns = new Map<number, WorkerLun>();
  private ended = false;

  /** @internal use pool.openSession() */
  constructor(
    /** @internal */ readonly link: WorkerLink,
    /** @internal the session's number on its worker */ readonly id: number,
    opened: OpenedSession,
    private readonly counters: ConnectionCounters,
    /** @internal slots for small reads and writes of plain buffers (./staging.ts) */ readonly staging: Staging,
    private readonly trace: ((line: string) => void) | undefined,
  ) {
    super();
    this.targetName = opened.targetName;
    this.portal = opened.portal;
    this.initiatorName = opened.initiatorName;
    this.state = { params: opened.params, isid: opened.isid, tsih: opened.tsih, recoveries: opened.recoveries };
  }

  /** The worker thread this session runs on (0 to workers - 1). */
  get worker(): number {
    return this.link.index;
  }

  /** The negotiated session parameters (RFC 7143 §13), as of the login or the last recovery. */
  get params(): SessionParameters {
    return this.state.params;
  }

  /** Each connection and its counters (see IscsiSession.connections), read from shared memory. */
  get connections(): readonly ConnectionInfo[] {
    return this.counters.read();
  }

  get recoveries(): readonly RecoveryRecord[] {
    return this.state.recoveries;
  }

  get isid(): number {
    return this.state.isid;
  }

  get tsih(): number {
    return this.state.tsih;
  }

  /** A handle on one logical unit. */
  lun(number: number): WorkerLun {
    // As IscsiSession.lun: a bad number is the caller's mistake, refused at once.
    if (!Number.isInteger(number) || number < 0 || number > 16383) throw new ConfigError(`LUN ${number} is out of range (0-16383)`);
    let lun = this.luns.get(number);
    if (lun === undefined) {
      lun = new WorkerLun(this, number);
      this.luns.set(number, lun);
    }
    return lun;
  }

  /**
   * Sends any CDB to a LUN (see IscsiSession.execute). A `dataIn` buffer and `dataOut` cross as
   * ./buffers.ts says; `onTag` is called here when the worker learns the tag.
   */
  async execute(lun: number, cdb: Uint8Array, options: WorkerExecuteOptions = {}): Promise<ScsiResult> {
    const { dataIn, dataOut, onTag, signal, transfer: move, ...flags } = options;
    const transfers: ArrayBuffer[] = [];
    const placement = dataIn === undefined ? "none" : typeof dataIn === "number" ? "allocated" : isShared(dataIn) ? "shared" : movable(dataIn, move) ? "moved" : "copied";
    if (placement === "moved") transfers.push((dataIn as Uint8Array).buffer as ArrayBuffer);
    const sentIn = placement === "copied" ? (dataIn as Uint8Array).length : dataIn;
    const out = dataOut === undefined ? undefined : outgoing(dataOut, move);
    if (out?.transfer !== undefined) transfers.push(out.transfer as ArrayBuffer);
    const reply = await this.link.call(
      {
        t: "execute",
        id: this.link.id(),
        session: this.id,
        lun,
        // A CDB is a few bytes; posting a view would clone the whole buffer it is part of.
        cdb: cdb.slice(),
        ...(sentIn === undefined ? {} : { dataIn: sentIn }),
        ...(out === undefined ? {} : { dataOut: out.view }),
        ...flags,
        ...(onTag === undefined ? {} : { tag: true }),
        ...(signal === undefined ? {} : { abortable: true, aborted: signal.aborted }),
      },
      transfers as Transfer,
      { onTag, signal },
    );
    const result = reply.value as ExecuteReply;
    let data: Uint8Array;
    if (placement === "none") data = EMPTY;
    else if (placement === "shared") data = prefix(dataIn as Uint8Array, result.bytesIn);
    else if (placement === "copied") {
      // The caller's plain buffer stayed here: the one copy, out of the worker's buffer.
      (dataIn as Uint8Array).set(reply.data as Uint8Array);
      data = prefix(dataIn as Uint8Array, result.bytesIn);
    } else data = reply.data as Uint8Array;
    return { ...result, data };
  }

  reportLuns(): Promise<number[]> {
    return this.call("reportLuns") as Promise<number[]>;
  }

  /** NOP-Out ping; resolves with the round trip in milliseconds (measured on the worker). */
  ping(): Promise<number> {
    return this.call("ping") as Promise<number>;
  }

  abortTask(tag: number): Promise<number> {
    return this.call("abortTask", tag) as Promise<number>;
  }

  async lunReset(lun: number): Promise<void> {
    await this.call("lunReset", lun);
  }
  async abortTaskSet(lun: number): Promise<void> {
    await this.call("abortTaskSet", lun);
  }
  async clearTaskSet(lun: number): Promise<void> {
    await this.call("clearTaskSet", lun);
  }
  async targetReset(kind: "warm" | "cold" = "warm"): Promise<void> {
    await this.call("targetReset", kind);
  }

  /** Logs out (RFC 7143 §11.14) and closes the connections. */
  async logout(): Promise<void> {
    await this.call("logout");
  }

  /** Drops the connections without logging out. */
  close(): void {
    this.link.send({ t: "close", session: this.id });
  }

  /** `await using session = await pool.openSession(...)`: logs out at the end of the scope, or drops the connections if the logout fails. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.logout().catch(() => this.close());
  }

  private async call(method: SessionMethod, ...args: unknown[]): Promise<unknown> {
    return (await this.link.call({ t: "session", id: this.link.id(), session: this.id, method, args })).value;
  }

  /** @internal */
  receiveEvent(event: WireEvent, state: SessionState | undefined): void {
    if (state !== undefined) this.state = state;
    switch (event.name) {
      case "async-event":
        this.emitSafely("async-event", ...event.args);
        return;
      case "unit-attention":
        this.emitSafely("unit-attention", ...event.args);
        return;
      case "recovery":
        this.emitSafely("recovery", ...event.args);
        return;
      case "closed":
        this.end(event.error === undefined ? undefined : (fromWireError(event.error) as IscsiError));
        return;
    }
  }

  /** @internal */
  receiveTrace(line: string): void {
    this.trace?.(line);
  }

  /** @internal */
  lost(error: SessionClosedError): void {
    this.end(error);
  }

  private end(error: IscsiError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.link.detach(this.id);
    this.emitSafely("closed", error);
  }

  /** As the client's driver does: a listener that throws becomes an uncaught exception, after the others ran. */
  private emitSafely<K extends keyof SessionEvents>(name: K, ...args: SessionEvents[K]): void {
    try {
      this.emit(name, ...args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

const EMPTY = new Uint8Array(0);
