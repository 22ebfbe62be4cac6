/**
 * The caller's side of one worker: requests out in batches, answers matched to their promises,
 * events and trace lines handed to the session they belong to. The worker thread keeps the
 * process alive while it has a session open or a request outstanding, as the sockets of a
 * session on this thread would; an idle worker does not.
 */
import { Worker } from "node:worker_threads";
import type { AbortSignalLike } from "../../client/abort.js";
import { ConfigError, SessionClosedError } from "../../core/errors.js";
import { IntMap } from "../../core/int-map.js";
import type { Capacity } from "../index.js";
import { workerEntry, workerExecArgv } from "./entry.js";
import { fromWireError } from "./errors.js";
import { type MessageTarget, Outbox, type Transfer } from "./outbox.js";
import type { Reply, Request, SessionState, WireEvent } from "./protocol.js";

export type OkReply = Extract<Reply, { t: "ok" }>;

/** What a link tells the session proxies it carries. */
export interface SessionEndpoint {
  receiveEvent(event: WireEvent, state: SessionState | undefined): void;
  receiveTrace(line: string): void;
  /** The worker is gone: the session is too. */
  lost(error: SessionClosedError): void;
}

export interface CallOptions {
  readonly onTag?: (tag: number) => void;
  readonly onCapacity?: (capacity: Capacity) => void;
  /** The caller's signal: an abort is sent on, and an AbortedError gets the signal's reason as its cause. */
  readonly signal?: AbortSignalLike;
}

interface Pending {
  readonly resolve: (reply: OkReply) => void;
  readonly reject: (error: Error) => void;
  readonly options: CallOptions | undefined;
  readonly onAbort: (() => void) | undefined;
}

export class WorkerLink {
  private readonly worker: Worker;
  private readonly outbox: Outbox<Request>;
  /** By request id: an IntMap, as every per-request map (core/int-map.ts). */
  private readonly pending = new IntMap<Pending>();
  private readonly sessions = new Map<number, SessionEndpoint>();
  private nextId = 1;
  private held = true;
  private gone: SessionClosedError | undefined;
  private crash: unknown;
  private closing = false;
  private readonly exited: Promise<void>;

  constructor(readonly index: number) {
    const entry = workerEntry();
    this.worker = new Worker(entry.script, { eval: entry.eval, name: `iscsi-ts worker ${index}`, execArgv: workerExecArgv() });
    this.outbox = new Outbox<Request>(this.worker as unknown as MessageTarget, (request, error) => {
      // Only a caller's buffer can spoil a message (one that cannot be moved): refuse that call.
      if ("id" in request) this.settle(request.id)?.reject(new ConfigError(`cannot pass this buffer to worker thread ${index}: ${(error as Error).message}`, { cause: error }));
    });
    this.worker.on("message", (batch: readonly Reply[]) => {
      for (const reply of batch) this.receive(reply);
    });
    this.worker.on("error", (error) => (this.crash ??= error));
    this.exited = new Promise((resolve) => {
      this.worker.once("exit", (code) => {
        const why = this.closing ? `its worker pool was closed` : `worker thread ${index} ended (exit code ${code})`;
        this.lose(new SessionClosedError(`the session is closed: ${why}`, this.crash === undefined ? undefined : { cause: this.crash }));
        resolve();
      });
    });
    this.updateHold();
  }

  /** Sessions on this worker: the pool puts new ones on the least loaded. */
  get load(): number {
    return this.sessions.size;
  }

  /** A fresh id for a request or a session. */
  id(): number {
    return this.nextId++;
  }

  attach(session: number, endpoint: SessionEndpoint): void {
    this.sessions.set(session, endpoint);
    this.updateHold();
  }

  detach(session: number): void {
    this.sessions.delete(session);
    this.updateHold();
  }

  /** A request with no answer (close, abort). */
  send(request: Request, transfer?: Transfer): void {
    if (this.gone === undefined) this.outbox.send(request, transfer);
  }

  /**
   * A request and its answer: resolves with the worker's "ok", rejects with the worker's error
   * rebuilt here (same class and code). `request.id` must come from `id()`.
   */
  call(request: Request & { readonly id: number }, transfer?: Transfer, options?: CallOptions): Promise<OkReply> {
    if (this.gone !== undefined) return Promise.reject(this.gone);
    return new Promise<OkReply>((resolve, reject) => {
      const signal = options?.signal;
      const onAbort = signal === undefined ? undefined : (): void => this.send({ t: "abort", id: request.id });
      this.pending.set(request.id, { resolve, reject, options, onAbort });
      if (this.pending.size === 1) this.updateHold();
      if (onAbort !== undefined) signal?.addEventListener("abort", onAbort, { once: true });
      this.outbox.send(request, transfer);
    });
  }

  private receive(reply: Reply): void {
    switch (reply.t) {
      case "ok":
      case "error": {
        const pending = this.settle(reply.id);
        if (pending === undefined) return;
        if (reply.capacity !== undefined) pending.options?.onCapacity?.(reply.capacity);
        if (reply.t === "ok") pending.resolve(reply);
        else {
          const signal = pending.options?.signal;
          // Aborted by the caller's signal: its reason is the cause, as on the caller's own thread.
          const cause = signal?.aborted === true && reply.error.code === "ISCSI_ERR_ABORTED" ? signal.reason : undefined;
          pending.reject(fromWireError(reply.error, cause));
        }
        return;
      }
      case "tag":
        this.pending.get(reply.id)?.options?.onTag?.(reply.tag);
        return;
      case "event":
        this.sessions.get(reply.session)?.receiveEvent(reply.event, reply.state);
        return;
      case "trace":
        this.sessions.get(reply.session)?.receiveTrace(reply.line);
        return;
    }
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    if (pending === undefined) return undefined;
    this.pending.delete(id);
    if (pending.onAbort !== undefined) pending.options?.signal?.removeEventListener("abort", pending.onAbort);
    if (this.pending.size === 0) this.updateHold();
    return pending;
  }

  /** Holds the process open while a session or a request needs the worker. */
  private updateHold(): void {
    const busy = this.gone === undefined && (this.pending.size > 0 || this.sessions.size > 0);
    if (busy === this.held) return;
    this.held = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }

  private lose(error: SessionClosedError): void {
    if (this.gone !== undefined) return;
    this.gone = error;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(error);
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const session of sessions) session.lost(error);
  }

  /**
   * Logs out every session on the worker (dropping those that will not), then ends the thread.
   * A worker that does not answer within `graceMs` is ended regardless.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.gone === undefined) {
      this.closing = true;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([this.call({ t: "shutdown", id: this.id() }).catch(() => undefined), late]);
      clearTimeout(timer);
      await this.worker.terminate();
    }
    await this.exited;
  }
}
