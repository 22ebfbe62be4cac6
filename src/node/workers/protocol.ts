/**
 * The messages between the caller's thread and a worker. Each side posts arrays of them (one
 * postMessage per turn of its event loop, see ./outbox.ts), so a queue depth of reads costs a
 * few messages, not one each. Buffers ride in them as Uint8Arrays: SharedArrayBuffer-backed
 * ones are the same memory on both sides, others are moved by the transfer list.
 *
 * Session options hold what cloning cannot carry: a `trace` function (the worker sends the
 * lines back), an AbortSignal (the caller's thread sends an abort), and CHAP `Secret`s (their
 * bytes cross, to be wrapped in a Secret again on the worker; they never appear in a message
 * that is logged or in an error).
 */
import { Secret } from "../../core/auth/secret.js";
import type { ChapOptions, SessionOptions } from "../index.js";
import type { ScsiResult } from "../index.js";
import type { Capacity, Portal, SessionEvents } from "../index.js";
import type { RecoveryRecord, SessionParameters } from "./api.js";
import type { WireError } from "./errors.js";

/** The LUN methods that carry no caller's buffer to place: their arguments and results are cloned. */
export const LUN_METHODS = [
  "testUnitReady",
  "inquiry",
  "vpdRaw",
  "vpd",
  "blockLimits",
  "provisioning",
  "readCapacity",
  "maxTransferSize",
  "flush",
  "unmap",
  "writeSame",
  "compareAndWrite",
  "modeSense",
] as const;
export type LunMethod = (typeof LUN_METHODS)[number];

export const SESSION_METHODS = ["reportLuns", "ping", "abortTask", "lunReset", "abortTaskSet", "clearTaskSet", "targetReset", "logout"] as const;
export type SessionMethod = (typeof SESSION_METHODS)[number];

/** CHAP options with the secrets as bytes. */
export interface WireChap {
  readonly username: string;
  readonly secret: Uint8Array;
  readonly targetUsername?: string;
  readonly targetSecret?: Uint8Array;
  readonly algorithms?: ChapOptions["algorithms"];
}

export type WireOptions = Omit<Partial<SessionOptions>, "chap" | "trace" | "signal"> & { readonly chap?: WireChap };

/** Sent with an operation that has an AbortSignal: `aborted` when it was aborted before it left. */
export interface Abortable {
  readonly abortable?: boolean;
  readonly aborted?: boolean;
}

export type Request =
  | ({
      readonly t: "open";
      readonly id: number;
      readonly session: number;
      readonly target: string | WireOptions;
      readonly overrides: WireOptions;
      readonly trace: boolean;
      readonly counters: SharedArrayBuffer;
      /** The session's staging area (./staging.ts) and the size of its slots. */
      readonly staging: SharedArrayBuffer;
      readonly slotBytes: number;
    } & Abortable)
  | ({
      readonly t: "read";
      readonly id: number;
      readonly session: number;
      readonly lun: number;
      readonly lba: number;
      readonly blocks: number;
      /** Where to read: shared memory, or a buffer the caller transferred. Absent (and no slot): the worker allocates and transfers its buffer back. */
      readonly into?: Uint8Array;
      /** Where to read instead: this slot of the session's staging area. */
      readonly slot?: number;
      /** The caller's buffer's length when it stays behind (copied into when the data comes): checked before the read, as Lun.read checks it. */
      readonly intoLength?: number;
      readonly fua?: boolean;
      readonly timeoutMs?: number;
    } & Abortable)
  | ({
      readonly t: "write";
      readonly id: number;
      readonly session: number;
      readonly lun: number;
      readonly lba: number;
      /** The data: shared memory, or a buffer moved here. Absent: `length` bytes in staging slot `slot`. */
      readonly data?: Uint8Array;
      readonly slot?: number;
      readonly length?: number;
      readonly fua?: boolean;
      readonly timeoutMs?: number;
    } & Abortable)
  | ({
      readonly t: "execute";
      readonly id: number;
      readonly session: number;
      readonly lun: number;
      readonly cdb: Uint8Array;
      readonly dataIn?: number | Uint8Array;
      readonly dataOut?: Uint8Array;
      readonly allowStatus?: boolean;
      readonly retry?: "safe" | "never";
      readonly timeoutMs?: number;
      readonly budgetMs?: number;
      readonly shortTransfer?: "fail" | "allow";
      /** The caller wants the Initiator Task Tag (ExecuteOptions.onTag). */
      readonly tag?: boolean;
    } & Abortable)
  /** With a signal, the worker's own signal goes into the last argument (an options object). */
  | ({ readonly t: "lun"; readonly id: number; readonly session: number; readonly lun: number; readonly method: LunMethod; readonly args: readonly unknown[] } & Abortable)
  | { readonly t: "session"; readonly id: number; readonly session: number; readonly method: SessionMethod; readonly args: readonly unknown[] }
  /** Drops the connections without a logout (IscsiSession.close); no reply. */
  | { readonly t: "close"; readonly session: number }
  /** The caller's signal aborted the operation `id`; no reply of its own. */
  | { readonly t: "abort"; readonly id: number }
  /** Log every session out (closing those that will not), then answer: the pool is closing. */
  | { readonly t: "shutdown"; readonly id: number };

/** What a session on the worker is, as the caller's thread mirrors it. */
export interface SessionState {
  readonly params: SessionParameters;
  readonly isid: number;
  readonly tsih: number;
  readonly recoveries: readonly RecoveryRecord[];
}

/** The open's answer; the connections come through shared memory (./counters.ts), written before it. */
export interface OpenedSession extends SessionState {
  readonly targetName: string;
  readonly portal: Portal;
  readonly initiatorName: string;
}

export type ExecuteReply = Omit<ScsiResult, "data">;

export type Reply =
  | {
      readonly t: "ok";
      readonly id: number;
      readonly value?: unknown;
      /** Data read into a buffer that crossed by transfer (the worker's, or the caller's moved one). */
      readonly data?: Uint8Array;
      /** The LUN's capacity when the worker learned it or learned it again. */
      readonly capacity?: Capacity;
    }
  | { readonly t: "error"; readonly id: number; readonly error: WireError; readonly capacity?: Capacity }
  | { readonly t: "tag"; readonly id: number; readonly tag: number }
  | { readonly t: "event"; readonly session: number; readonly event: WireEvent; readonly state?: SessionState }
  | { readonly t: "trace"; readonly session: number; readonly line: string };

/** A session event with its error (for `closed`) written as a WireError. */
export type WireEvent =
  | { readonly name: "async-event"; readonly args: SessionEvents["async-event"] }
  | { readonly name: "unit-attention"; readonly args: SessionEvents["unit-attention"] }
  | { readonly name: "recovery"; readonly args: SessionEvents["recovery"] }
  | { readonly name: "closed"; readonly error: WireError | undefined };

/** Session options as they can cross: functions and the signal left out, secrets as bytes. */
export function toWireOptions(options: Partial<SessionOptions>): WireOptions {
  const { chap, trace: _trace, signal: _signal, ...rest } = options;
  if (chap === undefined) return rest;
  const bytes = (secret: string | Secret): Uint8Array => (typeof secret === "string" ? Secret.fromString(secret) : secret).reveal().slice();
  return {
    ...rest,
    chap: {
      username: chap.username,
      secret: bytes(chap.secret),
      ...(chap.targetUsername === undefined ? {} : { targetUsername: chap.targetUsername }),
      ...(chap.targetSecret === undefined ? {} : { targetSecret: bytes(chap.targetSecret) }),
      ...(chap.algorithms === undefined ? {} : { algorithms: chap.algorithms }),
    },
  };
}

/** Session options again on the worker, with a Secret around each secret's bytes. */
export function fromWireOptions(options: WireOptions): Partial<SessionOptions> {
  const { chap, ...rest } = options;
  if (chap === undefined) return rest;
  return {
    ...rest,
    chap: {
      username: chap.username,
      secret: Secret.fromBytes(chap.secret),
      ...(chap.targetUsername === undefined ? {} : { targetUsername: chap.targetUsername }),
      ...(chap.targetSecret === undefined ? {} : { targetSecret: Secret.fromBytes(chap.targetSecret) }),
      ...(chap.algorithms === undefined ? {} : { algorithms: chap.algorithms }),
    },
  };
}
