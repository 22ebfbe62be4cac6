/**
 * The NBD server on Node: a listener (TCP, loopback by default, or a Unix socket), one sans-I/O
 * engine per connection (engine/connection.ts), and the loop that moves bytes, time and request
 * outcomes between them and the exports' backends. Every protocol decision is the engine's.
 *
 * Many requests are in flight at once (each becomes a backend call at once; the iSCSI session's
 * command window paces them), replies go out as soon as their request completes, in one corked
 * write per turn of the event loop, and a connection's socket is paused while too much of its
 * work is in flight. On close, new requests are answered NBD_ESHUTDOWN and those in flight are
 * finished before the sockets close.
 */
import { EventEmitter } from "node:events";
import { chmod, lstat, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import * as net from "node:net";
import { ConfigError } from "../core/errors.js";
import type { NbdBackend } from "./backend.js";
import { errnoName, type NbdErrno } from "./engine/constants.js";
import { type NbdEndReason, type NbdEvent, type NbdOutcome, type NbdRequest, NbdServerConnection, type NbdConnectionStats } from "./engine/connection.js";
import type { NbdExport } from "./engine/export.js";
import { writeBatch } from "../node/socket-batch.js";
import { listenTcp } from "../node/listen.js";
import { BufferPool } from "./buffer-pool.js";
import { nbdErrnoOf, nbdMessageOf } from "./errno.js";
import { formatHostPort } from "../core/url.js";

export type NbdListen = { readonly host?: string; readonly port?: number } | { readonly socket: string };

export interface NbdServerOptions {
  /** 127.0.0.1:10809 unless told; port 0 picks a free one. */
  readonly listen?: NbdListen;
  /** The first also answers the default (empty) export name. */
  readonly backends: readonly NbdBackend[];
  /** Connect to transmission phase; 30 s unless told. */
  readonly handshakeTimeoutMs?: number;
  /** Requests one connection may have in flight before its socket is paused; 256 unless told. */
  readonly maxInFlightRequests?: number;
  /** READ and WRITE bytes one connection may have in flight before its socket is paused; 128 MiB unless told. */
  readonly maxInFlightBytes?: number;
  /** Milliseconds on a monotonic clock (performance.now unless told). */
  readonly now?: () => number;
}

/** A connection as events describe it. */
export interface NbdClientInfo {
  /** 1, 2, ... in the order clients connected. */
  readonly id: number;
  /** "127.0.0.1:54321", or "unix socket" */
  readonly remote: string;
}

export interface NbdServerEvents {
  "client-connected": [client: NbdClientInfo];
  "client-negotiated": [client: NbdClientInfo, details: { readonly export: NbdExport; readonly structuredReplies: boolean; readonly metaContexts: readonly string[]; readonly via: "go" | "export-name" }];
  /** An option or request answered with an error (a malformed or out-of-range request, an unknown export). */
  "client-refused": [client: NbdClientInfo, what: string, message: string];
  /** A request the backend failed; the client got `errno`. */
  "request-failed": [client: NbdClientInfo, request: NbdRequest, errno: NbdErrno, error: unknown];
  "client-closed": [client: NbdClientInfo, reason: NbdEndReason, message: string, stats: NbdConnectionStats];
}

export interface NbdCloseResult {
  /** Requests still in flight when the deadline passed (their clients were cut off). */
  readonly unfinished: number;
  /** Connections closed by force at the deadline. */
  readonly forced: number;
}

export const DEFAULT_NBD_PORT = 10809;

/** `nbd://host:port/name` or `nbd+unix:///name?socket=path` (libnbd's and QEMU's URI forms). */
export function nbdUri(address: { readonly host: string; readonly port: number } | { readonly socket: string }, name: string): string {
  const path = encodeURI(name).replace(/[?#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if ("socket" in address) return `nbd+unix:///${path}?socket=${encodeURI(address.socket)}`;
  return `nbd://${formatHostPort(address.host, address.port)}/${path}`;
}

export class NbdServer extends EventEmitter<NbdServerEvents> {
  private readonly clients = new Set<ClientConnection>();
  private nextClientId = 1;
  private closing: Promise<NbdCloseResult> | undefined;
  readonly exports: readonly NbdExport[];
  /** Buffers for WRITE payloads that arrive in several chunks, shared by every connection. */
  readonly payloadBuffers = new BufferPool();

  private constructor(
    private readonly listener: net.Server,
    readonly address: { readonly host: string; readonly port: number } | { readonly socket: string },
    private readonly options: NbdServerOptions,
    private readonly backends: ReadonlyMap<string, NbdBackend>,
  ) {
    super();
    this.exports = options.backends.map((b) => b.export);
    listener.on("connection", (socket) => this.accept(socket));
  }

  /** Listens and resolves once the listener is bound. */
  static async listen(options: NbdServerOptions): Promise<NbdServer> {
    if (options.backends.length === 0) throw new ConfigError("an NBD server needs at least one export");
    const backends = new Map<string, NbdBackend>();
    for (const b of options.backends) {
      if (backends.has(b.export.name)) throw new ConfigError(`two NBD exports are named "${b.export.name}"`);
      backends.set(b.export.name, b);
    }
    // The engine checks every export once here, so a bad one fails listen(), not a client.
    new NbdServerConnection({ exports: options.backends.map((b) => b.export) }, 0);
    const listen = options.listen ?? {};
    const listener = net.createServer({ noDelay: true });
    if ("socket" in listen) {
      await listenOnSocket(listener, listen.socket);
      // Only the owner may connect: the socket is the whole access control there is.
      await chmod(listen.socket, 0o600);
      return new NbdServer(listener, { socket: listen.socket }, options, backends);
    }
    const bound = await listenTcp(listener, listen.host ?? "127.0.0.1", listen.port ?? DEFAULT_NBD_PORT);
    return new NbdServer(listener, { host: bound.address, port: bound.port }, options, backends);
  }

  /** The URI of an export (the first unless told). */
  uri(name = this.exports[0]?.name ?? ""): string {
    return nbdUri(this.address, name);
  }

  /** Connections open now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Requests in flight on every connection. */
  get inFlight(): number {
    let n = 0;
    for (const c of this.clients) n += c.engine.inFlightCount;
    return n;
  }

  /**
   * Stops accepting, answers new requests NBD_ESHUTDOWN, lets those in flight finish and closes
   * each connection once it has none; at `deadlineMs` closes the rest by force. Connections
   * still negotiating are closed at once.
   */
  close(deadlineMs = 10_000): Promise<NbdCloseResult> {
    this.closing ??= this.shutdown(deadlineMs);
    return this.closing;
  }

  private async shutdown(deadlineMs: number): Promise<NbdCloseResult> {
    const listenerClosed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const c of this.clients) c.shutdown();
    // A connection is done once its last reply is handed to the kernel, which delivers it
    // after we exit too (nothing unread is left on our side to turn the close into a reset).
    const allDone = Promise.all([...this.clients].map((c) => c.done));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      timer = setTimeout(() => resolve("deadline"), deadlineMs);
    });
    const outcome = await Promise.race([allDone.then(() => "done" as const), deadline]);
    clearTimeout(timer);
    let unfinished = 0;
    let forced = 0;
    if (outcome === "deadline") {
      for (const c of this.clients) {
        if (c.isDone) continue;
        unfinished += c.engine.inFlightCount;
        forced++;
        c.destroy();
      }
      await Promise.all([...this.clients].map((c) => c.closed));
    }
    await listenerClosed;
    if ("socket" in this.address) await unlink(this.address.socket).catch(() => undefined);
    return { unfinished, forced };
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    const info: NbdClientInfo = {
      id: this.nextClientId++,
      remote: socket.remoteAddress === undefined ? "unix socket" : formatHostPort(socket.remoteAddress, socket.remotePort ?? 0),
    };
    const client = new ClientConnection(socket, info, this, this.options, this.backends);
    this.clients.add(client);
    void client.closed.then(() => this.clients.delete(client));
    this.emit("client-connected", info);
    client.start();
  }
}

const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 256;
const DEFAULT_MAX_IN_FLIGHT_BYTES = 128 * 1024 * 1024;
/** Replies waiting in the socket's buffer above which no more requests are read. */
const MAX_PENDING_WRITE_BYTES = 64 * 1024 * 1024;
/** Reply batches up to this size are copied into one Buffer and written at once. */
const COALESCE_BYTES = 64 * 1024;
/** After "end", how long the client gets to read our last bytes before the socket is destroyed. */
const END_GRACE_MS = 2_000;

/** One accepted connection: its socket, its engine, the loop between them. */
class ClientConnection {
  readonly engine: NbdServerConnection;
  /** The socket is closed. */
  readonly closed: Promise<void>;
  /** Everything this connection will send has been handed to the kernel (or the socket is closed). */
  readonly done: Promise<void>;
  private resolveClosed!: () => void;
  private resolveDone!: () => void;
  private doneValue = false;
  private pumpScheduled = false;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private ended = false;
  private backend: NbdBackend | undefined;
  /** READ payloads whose replies the next pump sends (returned to the backend once written). */
  private readPayloads: Uint8Array[] = [];
  /**
   * WRITE payloads copied into pooled buffers, returned once their write succeeded (a Set, not a
   * WeakSet: every entry is removed when its write ends, and ephemerons cost the GC more).
   */
  private readonly pooledPayloads = new Set<Uint8Array>();
  private readonly now: () => number;

  constructor(
    private readonly socket: net.Socket,
    private readonly info: NbdClientInfo,
    private readonly server: NbdServer,
    options: NbdServerOptions,
    private readonly backends: ReadonlyMap<string, NbdBackend>,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.engine = new NbdServerConnection(
      {
        exports: [...backends.values()].map((b) => b.export),
        maxInFlightRequests: options.maxInFlightRequests ?? DEFAULT_MAX_IN_FLIGHT_REQUESTS,
        maxInFlightBytes: options.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES,
        allocatePayload: (length) => this.takePayloadBuffer(length),
        ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      },
      this.now(),
    );
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.done = new Promise((resolve) => {
      this.resolveDone = () => {
        this.doneValue = true;
        resolve();
      };
    });
  }

  get isDone(): boolean {
    return this.doneValue;
  }

  start(): void {
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on("data", (chunk: Buffer) => {
      this.engine.receive(chunk);
      this.pump();
    });
    socket.on("drain", () => this.pump());
    socket.on("error", () => undefined);
    socket.on("end", () => {
      // The client half-closed: whatever it sent is in; a well-behaved client sent NBD_CMD_DISC.
      this.engine.connectionLost();
      this.pump();
    });
    socket.on("close", () => {
      clearTimeout(this.handshakeTimer);
      this.engine.connectionLost();
      this.pump();
      this.resolveDone();
      this.resolveClosed();
    });
    this.pump();
  }

  shutdown(): void {
    this.engine.shutdown();
    this.pump();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** A WRITE payload's buffer from the server's pool; it goes back once the write has succeeded. */
  private takePayloadBuffer(length: number): Uint8Array {
    const buffer = this.server.payloadBuffers.take(length);
    this.pooledPayloads.add(buffer);
    return buffer;
  }

  private readonly scheduledPump = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Completions that arrive together (one iSCSI read of many responses) leave in one write.
    // setImmediate, not process.nextTick: measured side by side, a tick (same turn) wrote more,
    // smaller batches and cost more CPU per 4 KiB read (docs/BENCHMARKS.md, NBD section).
    setImmediate(this.scheduledPump);
  }

  /** Events to actions, then the bytes out, then flow control. */
  private pump(): void {
    for (let event = this.engine.nextEvent(); event !== undefined; event = this.engine.nextEvent()) this.handle(event);
    const pieces = this.engine.pollTransmit();
    // READ payloads completed since the last pump: their replies are in `pieces`, or were
    // dropped with a closed connection (then the buffers are simply not reused).
    const sent = this.readPayloads;
    if (sent.length > 0) this.readPayloads = [];
    if (pieces.length > 0 && !this.socket.destroyed && this.socket.writable) {
      let length = 0;
      for (let i = 0; i < pieces.length; i++) length += (pieces[i] as Uint8Array).length;
      const backend = this.backend;
      const release = backend?.releaseReadBuffer;
      // Reply batches up to COALESCE_BYTES are copied, so their READ buffers are free again at once.
      writeBatch(this.socket, pieces, length, COALESCE_BYTES, sent.length > 0 && release !== undefined ? () => sent.forEach((data) => release.call(backend, data)) : undefined);
    }
    this.afterWrite();
  }

  /** Flow control and the handshake timer, after each pump's write. */
  private afterWrite(): void {
    if (this.ended) return;
    this.armHandshakeTimer();
    const busy = this.engine.saturated || this.socket.writableLength >= MAX_PENDING_WRITE_BYTES;
    if (busy && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!busy && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private handle(event: NbdEvent): void {
    switch (event.type) {
      case "negotiated":
        this.backend = this.backends.get(event.export.name);
        this.server.emit("client-negotiated", this.info, { export: event.export, structuredReplies: event.structuredReplies, metaContexts: event.metaContexts, via: event.via });
        return;
      case "request":
        this.dispatch(event.request);
        return;
      case "refused":
        this.server.emit("client-refused", this.info, event.what, event.message);
        return;
      case "end":
        this.server.emit("client-closed", this.info, event.reason, event.message, this.engine.stats);
        this.ended = true;
        clearTimeout(this.handshakeTimer);
        // Whatever the client still sends is read and dropped (the engine ignores it): unread
        // bytes would make the close a reset, and a reset can destroy replies not yet delivered.
        if (this.paused) {
          this.paused = false;
          this.socket.resume();
        }
        // Send what is queued (the pump goes on to write it), then close.
        setImmediate(() => this.endSocket());
        return;
    }
  }

  private endSocket(): void {
    if (this.socket.destroyed) return;
    // "finish": every byte written is with the kernel. The client then has a grace period to
    // read the rest and close its side before the socket is destroyed.
    this.socket.end(() => {
      this.resolveDone();
      setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
    });
  }

  private armHandshakeTimer(): void {
    const deadline = this.engine.pollTimeout();
    if (deadline === undefined) {
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = undefined;
      return;
    }
    if (this.handshakeTimer !== undefined) return;
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = undefined;
      this.engine.handleTimeout(this.now());
      this.pump();
    }, Math.max(0, deadline - this.now()));
    this.handshakeTimer.unref();
  }

  private dispatch(request: NbdRequest): void {
    void this.serve(request);
  }

  /** One request to its outcome and into the engine; one async frame per request, no chain of closures. */
  private async serve(request: NbdRequest): Promise<void> {
    const backend = this.backend as NbdBackend;
    let outcome: NbdOutcome;
    try {
      outcome = await this.perform(backend, request);
    } catch (error) {
      const errno = nbdErrnoOf(error, request.command);
      this.server.emit("request-failed", this.info, request, errno, error);
      outcome = { ok: false, errno, message: `${request.command} at ${request.offset}+${request.length}: ${errnoName(errno)}: ${nbdMessageOf(error)}` };
    }
    try {
      this.engine.complete(request.id, outcome);
      if (outcome.ok && outcome.data !== undefined && backend.releaseReadBuffer !== undefined) this.readPayloads.push(outcome.data);
      this.schedulePump();
    } catch (error) {
      // A bug in the engine's bookkeeping or a backend answer of the wrong shape: this
      // connection cannot go on truthfully.
      this.server.emit("client-closed", this.info, "protocol-error", `internal error: ${nbdMessageOf(error)}`, this.engine.stats);
      this.socket.destroy();
    }
  }

  private async perform(backend: NbdBackend, request: NbdRequest): Promise<NbdOutcome> {
    switch (request.command) {
      case "read":
        return { ok: true, data: await backend.read(request.offset, request.length) };
      case "write": {
        const data = request.data as Uint8Array;
        try {
          await backend.write(request.offset, data, request.fua);
        } catch (error) {
          // Not reused: a write that failed may still have Data-Out queued on a socket.
          this.pooledPayloads.delete(data);
          throw error;
        }
        if (this.pooledPayloads.delete(data)) this.server.payloadBuffers.release(data);
        return OK;
      }
      case "flush":
        await backend.flush();
        return OK;
      case "trim":
        await backend.trim(request.offset, request.length, request.fua);
        return OK;
      case "write-zeroes":
        await backend.writeZeroes(request.offset, request.length, request.noHole, request.fua);
        return OK;
      case "cache":
        await backend.cache(request.offset, request.length);
        return OK;
      case "block-status":
        return { ok: true, extents: await backend.blockStatus(request.offset, request.length) };
    }
  }
}

const OK: NbdOutcome = { ok: true };

/** The longest path a Unix socket may have on Linux (sun_path is 108 bytes, NUL included). */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Why a Unix socket could not be bound at `path`, in words as node/listen.ts says a TCP
 * one. A missing directory is looked for, not read from the code: Linux says ENOENT, some
 * kernels EACCES.
 */
async function whySocketListenFailed(error: NodeJS.ErrnoException, path: string): Promise<string> {
  const dir = dirname(path);
  if (error.code === "ENOENT" || error.code === "EACCES") {
    const missing = await stat(dir).then(
      () => false,
      (e: NodeJS.ErrnoException) => e.code === "ENOENT",
    );
    if (missing) return `the directory ${dir} does not exist`;
  }
  switch (error.code) {
    case "EACCES":
    case "EPERM":
      return `permission denied (we may not create files in ${dir})`;
    case "ENOTDIR":
      return "a component of the path is not a directory";
    case "EROFS":
      return "the file system is read-only";
    case "ENAMETOOLONG":
      return `the path is too long for a Unix socket (at most ${MAX_SOCKET_PATH_BYTES} bytes)`;
    case "ENOENT":
      return "no such file or directory";
    default:
      return error.code ?? error.message;
  }
}

/** Listens on a Unix socket, replacing a stale socket file that nobody answers on (and nothing else). */
async function listenOnSocket(listener: net.Server, path: string): Promise<void> {
  // Node cuts a longer path short and binds the socket somewhere else: refuse it instead.
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(`cannot listen on ${path}: the path is ${bytes} bytes long, and a Unix socket's may be at most ${MAX_SOCKET_PATH_BYTES} (give a shorter one)`);
  }
  const attempt = async (): Promise<void> => {
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(path, () => {
          listener.off("error", reject);
          resolve();
        });
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE") throw error;
      throw new ConfigError(`cannot listen on ${path}: ${await whySocketListenFailed(error as NodeJS.ErrnoException, path)}`, { cause: error });
    }
  };
  try {
    await attempt();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    // Something is at the path. A socket nobody answers on is left by a server that died, and
    // is replaced; anything else (a file, a directory, a live server) is not ours to remove.
    const isSocket = await lstat(path).then(
      (s) => s.isSocket(),
      () => false,
    );
    if (!isSocket) throw new ConfigError(`cannot listen on ${path}: something other than a socket is there (remove it, or give another path)`, { cause: error });
    const live = await new Promise<boolean>((resolve) => {
      const probe = net.connect(path);
      probe.once("connect", () => {
        probe.destroy();
        resolve(true);
      });
      probe.once("error", () => resolve(false));
    });
    if (live) throw new ConfigError(`cannot listen on ${path}: another server is listening there`, { cause: error });
    try {
      await unlink(path);
    } catch (e) {
      throw new ConfigError(`cannot listen on ${path}: a stale socket is there and cannot be removed: ${await whySocketListenFailed(e as NodeJS.ErrnoException, path)}`, { cause: e });
    }
    await attempt();
  }
}
