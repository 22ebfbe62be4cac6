/**
 * A pool of worker threads that run iSCSI sessions, so that sessions use more than one core.
 * Each session lives on one worker (its connections with it: one core instance owns a whole
 * session); new sessions go to the worker with the fewest. What `openSession` returns has the
 * API of a session on this thread (SessionApi), so code that uses sessions does not change.
 *
 * `workers: 0` is the same API with no threads: sessions open on this thread (the plain
 * `IscsiSession`), so a program (or `iscsi perf --workers N`) has one code path for every N.
 */
import { availableParallelism } from "node:os";
import { ConfigError, LocalProtocolError } from "../../core/errors.js";
import { formatPortal, type IscsiSession, openSession, parseIscsiUrl, type SessionOptions } from "../index.js";
import type { LunApi, SessionApi } from "./api.js";
import { allocateShared } from "./buffers.js";
import { ConnectionCounters } from "./counters.js";
import { Staging } from "./staging.js";
import { type SessionEndpoint, WorkerLink } from "./link.js";
import { type OpenedSession, toWireOptions } from "./protocol.js";
import { WorkerSession } from "./session.js";

export interface WorkerPoolOptions {
  /** Worker threads; default the machine's available parallelism. 0: sessions run on this thread. */
  readonly workers?: number;
  /** How long `close()` lets each worker log its sessions out before ending it; default 10 s. */
  readonly closeTimeoutMs?: number;
  /**
   * Shared memory per session for small reads and writes of plain buffers (./staging.ts): default
   * 1 MiB in slots of 16 KiB, enough for a queue depth of 64 such I/Os; 0 turns it off.
   */
  readonly stagingBytes?: number;
  readonly stagingSlotBytes?: number;
}

export interface WorkerPool {
  /** The number of worker threads (0: sessions run on the caller's thread). */
  readonly workers: number;
  /** Sessions open on each worker, in worker order (one entry, this thread's, when workers is 0). */
  readonly loads: readonly number[];
  /** Opens and logs in a session on the least loaded worker: as openSession, on another thread. */
  openSession(target: string | SessionOptions, overrides?: Partial<SessionOptions>): Promise<SessionApi>;
  /** Opens a session and returns the LUN the URL names (`lun.session.logout()` ends it). */
  openLun(url: string, overrides?: Partial<SessionOptions>): Promise<LunApi>;
  /**
   * Bytes in shared memory: reads into them and writes from them reach the worker without a
   * copy or a move (any SharedArrayBuffer-backed Uint8Array does; this is the short way).
   */
  allocate(bytes: number): Uint8Array;
  /** Logs every session of the pool out (dropping those that will not), then ends the workers. */
  close(): Promise<void>;
  /** `await using pool = createWorkerPool(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

export function createWorkerPool(options: WorkerPoolOptions = {}): WorkerPool {
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 0 || workers > 256) throw new ConfigError(`workers is ${String(workers)}: it must be a whole number from 0 to 256`);
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
  if (!Number.isInteger(closeTimeoutMs) || closeTimeoutMs < 1) throw new ConfigError(`closeTimeoutMs is ${String(closeTimeoutMs)}: it must be a whole number 1 or more`);
  const stagingBytes = options.stagingBytes ?? 1024 * 1024;
  const slotBytes = options.stagingSlotBytes ?? 16 * 1024;
  if (!Number.isSafeInteger(stagingBytes) || stagingBytes < 0) throw new ConfigError(`stagingBytes is ${String(stagingBytes)}: it must be a whole number 0 or more`);
  if (!Number.isSafeInteger(slotBytes) || slotBytes < 512) throw new ConfigError(`stagingSlotBytes is ${String(slotBytes)}: it must be a whole number 512 or more`);
  return workers === 0 ? new ThisThreadPool() : new ThreadPool(workers, closeTimeoutMs, stagingBytes, slotBytes);
}

function allocate(bytes: number): Uint8Array {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new ConfigError(`cannot allocate ${String(bytes)} bytes: a whole number 0 or more is needed`);
  return allocateShared(bytes);
}

/** The URL's LUN, refused as openLun refuses it when the URL names none. */
function lunOf(url: string): number {
  const parsed = parseIscsiUrl(url, { requireTarget: true });
  if (parsed.lun === undefined) throw new ConfigError(`the URL ${formatPortal({ host: parsed.host, port: parsed.port })}/${parsed.targetName ?? ""} names no LUN`);
  return parsed.lun;
}

class ThreadPool implements WorkerPool {
  private readonly links: WorkerLink[];
  private closed: Promise<void> | undefined;
  private turn = 0;

  constructor(
    readonly workers: number,
    private readonly closeTimeoutMs: number,
    private readonly stagingBytes: number,
    private readonly slotBytes: number,
  ) {
    this.links = Array.from({ length: workers }, (_, index) => new WorkerLink(index));
  }

  get loads(): readonly number[] {
    return this.links.map((link) => link.load);
  }

  /** The worker with the fewest sessions; among equals, the next in turn. */
  private pick(): WorkerLink {
    let best: WorkerLink | undefined;
    for (let i = 0; i < this.links.length; i++) {
      const link = this.links[(this.turn + i) % this.links.length] as WorkerLink;
      if (best === undefined || link.load < best.load) best = link;
    }
    this.turn = ((best as WorkerLink).index + 1) % this.links.length;
    return best as WorkerLink;
  }

  async openSession(target: string | SessionOptions, overrides: Partial<SessionOptions> = {}): Promise<SessionApi> {
    if (this.closed !== undefined) throw new LocalProtocolError("the worker pool is closed");
    const own = typeof target === "string" ? undefined : target;
    const trace = overrides.trace ?? own?.trace;
    const signal = overrides.signal ?? own?.signal;
    const link = this.pick();
    const id = link.id();
    const counters = new ConnectionCounters();
    const staging = Staging.create(this.stagingBytes, this.slotBytes);
    // Until the session exists here, its login's trace lines go straight to the caller's function;
    // attached now, the opening also counts in the worker's load.
    let session: WorkerSession | undefined;
    const opening: SessionEndpoint = {
      receiveTrace: (line) => trace?.(line),
      receiveEvent: (event, state) => session?.receiveEvent(event, state),
      lost: (error) => session?.lost(error),
    };
    link.attach(id, opening);
    try {
      const reply = await link.call(
        {
          t: "open",
          id: link.id(),
          session: id,
          target: typeof target === "string" ? target : toWireOptions(target),
          overrides: toWireOptions(overrides),
          trace: trace !== undefined,
          counters: counters.memory,
          staging: staging.memory,
          slotBytes: staging.slotBytes,
          ...(signal === undefined ? {} : { abortable: true, aborted: signal.aborted }),
        },
        undefined,
        { signal },
      );
      session = new WorkerSession(link, id, reply.value as OpenedSession, counters, staging, trace);
      link.attach(id, session);
      return session;
    } catch (error) {
      link.detach(id);
      throw error;
    }
  }

  async openLun(url: string, overrides: Partial<SessionOptions> = {}): Promise<LunApi> {
    const lun = lunOf(url);
    return (await this.openSession(url, overrides)).lun(lun);
  }

  allocate(bytes: number): Uint8Array {
    return allocate(bytes);
  }

  close(): Promise<void> {
    this.closed ??= Promise.all(this.links.map((link) => link.shutdown(this.closeTimeoutMs))).then(() => undefined);
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** `workers: 0`: the pool's API over sessions on this thread. */
class ThisThreadPool implements WorkerPool {
  readonly workers = 0;
  private readonly sessions = new Set<IscsiSession>();
  private closed: Promise<void> | undefined;

  get loads(): readonly number[] {
    return [this.sessions.size];
  }

  async openSession(target: string | SessionOptions, overrides: Partial<SessionOptions> = {}): Promise<SessionApi> {
    if (this.closed !== undefined) throw new LocalProtocolError("the worker pool is closed");
    const session = await openSession(target, overrides);
    this.sessions.add(session);
    session.once("closed", () => this.sessions.delete(session));
    return session;
  }

  async openLun(url: string, overrides: Partial<SessionOptions> = {}): Promise<LunApi> {
    const lun = lunOf(url);
    return (await this.openSession(url, overrides)).lun(lun);
  }

  allocate(bytes: number): Uint8Array {
    return allocate(bytes);
  }

  close(): Promise<void> {
    this.closed ??= Promise.allSettled([...this.sessions].map((session) => session[Symbol.asyncDispose]())).then(() => undefined);
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
