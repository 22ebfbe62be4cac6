/**
 * What a caller uses of a session and of a LUN, as interfaces: `IscsiSession` and `Lun` (a
 * session on this thread) and `WorkerSession` and `WorkerLun` (a session on a worker thread) all
 * fit them, so code written against `SessionApi`/`LunApi` runs the same whichever thread holds
 * the session. The checks at the end of this file make the compiler hold the client's classes to
 * these interfaces: a change to the client that breaks the sameness fails the build here.
 */
import type { AsyncEventInfo } from "../../core/session/command.js";
import type { RecoveryRecord } from "../../core/session/recovery.js";
import type { SessionParameters } from "../../core/text/parameters.js";
import type { InquiryData } from "../../core/scsi/inquiry.js";
import type { ModeSenseData } from "../../core/scsi/mode-sense.js";
import type { UnmapDescriptor } from "../../core/scsi/unmap.js";
import type { BlockLimitsPage, LogicalBlockProvisioningPage } from "../../core/scsi/vpd.js";
import type { IscsiError } from "../../core/errors.js";
import type { Capacity, ConnectionInfo, ExecuteOptions, IoOptions, IscsiSession, Lun, Portal, ScsiResult, SessionEvents } from "../index.js";

/**
 * How a buffer given to a session on a worker crosses the thread. A SharedArrayBuffer-backed
 * array never needs this: the worker works in the same memory. A plain one is copied once (into
 * a fresh buffer for a write, out of the worker's buffer for a read) unless `transfer` is set:
 * then its whole ArrayBuffer is moved to the worker and back, and the caller's array is
 * detached (length 0) from the call on; the data is reached through what the call returns.
 * A session on this thread ignores it: nothing crosses.
 */
export interface TransferOption {
  readonly transfer?: boolean;
}

export type ReadOptions = IoOptions & TransferOption & { readonly into?: Uint8Array };
export type WriteOptions = IoOptions & TransferOption;
export type WorkerExecuteOptions = ExecuteOptions & TransferOption;

type Listener<Args extends unknown[]> = (...args: Args) => void;

/** The session's events, as `IscsiSession` offers them (the subset of Node's EventEmitter it has). */
export interface SessionEventSource {
  on<K extends keyof SessionEvents>(name: K, listener: Listener<SessionEvents[K]>): this;
  once<K extends keyof SessionEvents>(name: K, listener: Listener<SessionEvents[K]>): this;
  off<K extends keyof SessionEvents>(name: K, listener: Listener<SessionEvents[K]>): this;
  addListener<K extends keyof SessionEvents>(name: K, listener: Listener<SessionEvents[K]>): this;
  removeListener<K extends keyof SessionEvents>(name: K, listener: Listener<SessionEvents[K]>): this;
  listenerCount(name: keyof SessionEvents): number;
}

/** A logged-in session, wherever it runs. */
export interface SessionApi extends SessionEventSource {
  readonly targetName: string;
  readonly portal: Portal;
  readonly initiatorName: string;
  readonly params: SessionParameters;
  readonly connections: readonly ConnectionInfo[];
  readonly recoveries: readonly RecoveryRecord[];
  readonly isid: number;
  readonly tsih: number;
  lun(number: number): LunApi;
  reportLuns(): Promise<number[]>;
  execute(lun: number, cdb: Uint8Array, options?: WorkerExecuteOptions): Promise<ScsiResult>;
  ping(): Promise<number>;
  abortTask(tag: number): Promise<number>;
  lunReset(lun: number): Promise<void>;
  abortTaskSet(lun: number): Promise<void>;
  clearTaskSet(lun: number): Promise<void>;
  targetReset(kind?: "warm" | "cold"): Promise<void>;
  logout(): Promise<void>;
  close(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** One logical unit of a session, wherever the session runs. */
export interface LunApi {
  readonly session: SessionApi;
  readonly number: number;
  readonly capacity: Capacity | undefined;
  execute(cdb: Uint8Array, options?: WorkerExecuteOptions): Promise<ScsiResult>;
  testUnitReady(): Promise<void>;
  inquiry(): Promise<InquiryData>;
  vpdRaw(page: number): Promise<Uint8Array>;
  vpd(page: number): Promise<unknown>;
  blockLimits(): Promise<BlockLimitsPage | undefined>;
  provisioning(): Promise<LogicalBlockProvisioningPage | undefined>;
  readCapacity(): Promise<Capacity>;
  maxTransferSize(): Promise<number>;
  read(lba: number, blocks: number, options?: ReadOptions): Promise<Uint8Array>;
  write(lba: number, data: Uint8Array, options?: WriteOptions): Promise<void>;
  flush(): Promise<void>;
  unmap(ranges: readonly UnmapDescriptor[] | UnmapDescriptor): Promise<void>;
  writeSame(lba: number, blocks: number, options?: { readonly pattern?: Uint8Array; readonly unmap?: boolean }): Promise<void>;
  compareAndWrite(lba: number, expected: Uint8Array, data: Uint8Array, options?: IoOptions): Promise<void>;
  modeSense(page?: number, subpage?: number): Promise<ModeSenseData>;
}

export type { AsyncEventInfo, IscsiError, RecoveryRecord, SessionParameters };

/** Compiles only while `A` fits `B`. */
type Fits<A extends B, B> = A;
/** The client's session on this thread is a SessionApi: the sameness is checked, not claimed. */
export type IscsiSessionFitsSessionApi = Fits<IscsiSession, SessionApi>;
export type LunFitsLunApi = Fits<Lun, LunApi>;
