/**
 * The embedded target on Node: `startTarget(config)` opens the backends, listens on a TCP port
 * (port 0 picks a free one) and drives a `TargetEngine` with the sockets, a timer, and the
 * backends' storage. All protocol decisions are the engine's; this file moves bytes, time and
 * storage results, and reports what happens as events.
 */
import { EventEmitter } from "node:events";
import * as net from "node:net";
import type { ChapAccount } from "../core/auth/chap.js";
import type { ChapAlgorithm } from "../core/auth/hash.js";
import { ConfigError, type IscsiError } from "../core/errors.js";
import type { Pdu } from "../core/pdu/types.js";
import type { TargetPolicy } from "../core/text/parameters.js";
import { formatHostPort } from "../core/url.js";
import { DeadlineTimer } from "../client/deadline-timer.js";
import type { ClientHost } from "../client/host.js";
import { listenTcp } from "../node/listen.js";
import { writeBatch } from "../node/socket-batch.js";
import { nodeHost } from "../node/transport.js";
import { type BlockBackend, performStorageSync } from "./backends/backend.js";
import { openBackend } from "./backends/open.js";
import type { BackendSpec } from "./backends/spec.js";
import { type EngineConfig, type LunDefinition, type NopInSettings, resolveEngineConfig } from "./engine/config.js";
import type { TargetConnection } from "./engine/connection.js";
import { type EngineDeps, TargetEngine } from "./engine/engine.js";
import type { EngineStats, SessionCloseReason, SessionSummary } from "./engine/events.js";
import type { StorageOutcome, StorageRequest } from "./engine/storage.js";
import type { HostileBehaviour } from "./hostile/behaviour.js";
import type { IsnsRegistration } from "../node/isns.js";
import { registerTarget, type TargetIsnsConfig } from "./isns.js";

export interface LunConfig {
  readonly lun: number;
  /** `mem:<size>`, `null:<size>`, `file:<path>`, a spec object, or a backend of the caller's own. */
  readonly backend: string | BackendSpec | BlockBackend;
  readonly readOnly?: boolean;
  /** 512 unless told (4096 is the other common choice). */
  readonly blockSize?: number;
  readonly vendor?: string;
  readonly product?: string;
  readonly revision?: string;
  readonly serial?: string;
  /** Override what the backend reports (thin provisioning: UNMAP and WRITE SAME with UNMAP). */
  readonly thinProvisioned?: boolean;
  readonly writeCache?: boolean;
}

export interface TargetNodeConfig {
  readonly iqn: string;
  readonly alias?: string;
  readonly luns: readonly LunConfig[];
  /** CHAP users; CHAP is required when given. */
  readonly chap?: { readonly users: readonly ChapAccount[] };
  /** The target's account for mutual CHAP. */
  readonly mutualChap?: ChapAccount;
  readonly policy?: Partial<TargetPolicy>;
  /** Initiators (iSCSI names) allowed to log in; any when absent (others: status 0x0202). */
  readonly allowedInitiators?: readonly string[];
}

export interface TargetServerConfig {
  /** Where to listen; 127.0.0.1 and a free port unless told. */
  readonly listen?: { readonly host?: string; readonly port?: number };
  readonly targets: readonly TargetNodeConfig[];
  readonly chapAlgorithms?: readonly ChapAlgorithm[];
  readonly discovery?: EngineConfig["discovery"];
  readonly queueDepth?: number;
  readonly nopIn?: NopInSettings | false;
  readonly loginTimeoutMs?: number;
  readonly unitAttentionOnNewNexus?: boolean;
  readonly maxTransferBytes?: number;
  /** ErrorRecoveryLevel 1: bytes a session may keep for SNACKs (see EngineConfig). */
  readonly retentionBytes?: number;
  /** Hostile mode, for tests of initiators: misbehave on purpose in this one way (never for real use). */
  readonly hostile?: HostileBehaviour;
  /** Every PDU sent and received. */
  readonly trace?: (direction: "send" | "receive", connectionId: number, pdu: Pdu) => void;
  /** Register the targets and the portal with an iSNS server (RFC 4171), refreshed until close. */
  readonly isns?: TargetIsnsConfig;
}

export interface TargetServerEvents {
  "connection-opened": [connectionId: number, remote: string];
  "connection-closed": [connectionId: number, error: IscsiError | undefined];
  "login-complete": [connectionId: number, session: SessionSummary, leading: boolean];
  "login-failed": [connectionId: number, error: IscsiError];
  "session-created": [session: SessionSummary];
  "session-closed": [session: SessionSummary, reason: SessionCloseReason];
  "protocol-error": [connectionId: number, error: IscsiError];
  "internal-error": [connectionId: number, error: IscsiError];
  "erl-fallback": [connectionId: number, detail: string];
}

export interface RunningTarget extends EventEmitter<TargetServerEvents> {
  /** The address and port actually bound. */
  readonly host: string;
  readonly port: number;
  readonly engine: TargetEngine;
  readonly stats: Readonly<EngineStats>;
  /** `iscsi://host:port/<iqn>/<lun>` (libiscsi and QEMU form); the first target and LUN 0 unless told. */
  url(iqn?: string, lun?: number): string;
  /** The backend behind a LUN (tests look into memory backends). */
  backend(iqn: string, lun: number): BlockBackend | undefined;
  /** Runs an operator action on the engine (drop a session, ask for a logout) and sends what it queued at once. */
  act(action: (engine: TargetEngine, now: number) => void): void;
  /** The iSNS registration, when `isns` was configured. */
  readonly isns: IsnsRegistration | undefined;
  /** Deregisters from iSNS, closes every connection and the listener, then the backends it opened. Logs nothing. */
  close(): Promise<void>;
}

export async function startTarget(config: TargetServerConfig): Promise<RunningTarget> {
  const opened: BlockBackend[] = [];
  const backends = new Map<number, BlockBackend>();
  const targets: EngineConfig["targets"][number][] = [];
  let index = 0;
  try {
    for (const t of config.targets) {
      const luns: LunDefinition[] = [];
      for (const l of t.luns) {
        const backend = isBackend(l.backend) ? l.backend : await openBackend(l.backend);
        if (!isBackend(l.backend)) opened.push(backend);
        const blockSize = l.blockSize ?? 512;
        const blocks = Math.floor(backend.size / blockSize);
        if (blocks < 1) throw new ConfigError(`target ${t.iqn} LUN ${l.lun}: ${backend.description} holds less than one ${blockSize}-byte block`);
        backends.set(index++, backend);
        luns.push({
          lun: l.lun,
          blockSize,
          blocks,
          readOnly: l.readOnly ?? backend.readOnly,
          thinProvisioned: l.thinProvisioned ?? backend.thinProvisioned,
          ...pick(l, ["vendor", "product", "revision", "serial", "writeCache"]),
        });
      }
      targets.push({ iqn: t.iqn, luns, ...pick(t, ["alias", "chap", "mutualChap", "policy", "allowedInitiators"]) });
    }
    const host = config.listen?.host ?? "127.0.0.1";
    const engineConfig: EngineConfig = {
      targets,
      portals: [{ host, port: config.listen?.port ?? 3260 }],
      ...pick(config, ["chapAlgorithms", "discovery", "queueDepth", "nopIn", "loginTimeoutMs", "unitAttentionOnNewNexus", "maxTransferBytes", "retentionBytes", "hostile"]),
    };
    // Refuse a bad configuration before taking a port.
    resolveEngineConfig({ ...engineConfig, portals: [{ host, port: 1 }] });
    // Paused on connect: #accept moves the connection's handle to a socket that reads into a buffer of its own.
    const server = net.createServer({ noDelay: true, pauseOnConnect: true });
    const { port } = await listenTcp(server, host, config.listen?.port ?? 0);
    const deps: EngineDeps = NODE.deps;
    const engine = new TargetEngine({ ...engineConfig, portals: [{ host, port }] }, deps, config.trace === undefined ? {} : { trace: config.trace });
    const target = new TargetServer(server, engine, host, port, backends, opened, config.trace === undefined && config.hostile === undefined);
    if (config.isns !== undefined) {
      try {
        target.isns = await registerTarget(config.isns, config.targets, { host, port });
      } catch (error) {
        await target.close();
        throw error;
      }
    }
    return target;
  } catch (error) {
    await Promise.allSettled(opened.map((b) => b.close()));
    throw error;
  }
}

function isBackend(value: string | BackendSpec | BlockBackend): value is BlockBackend {
  return typeof value === "object" && "read" in value && typeof value.read === "function";
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

interface Link {
  readonly socket: net.Socket;
  readonly connection: TargetConnection;
  ending: boolean;
}

/** Each connection's socket reads land in one buffer of this size, used again for every read. */
const READ_BUFFER_BYTES = 256 * 1024;

/** Data-Out still to come above which a read goes straight into the write's buffer. */
const DIRECT_READ_MIN = 32 * 1024;

interface ReadSink {
  /** Where the next read may go instead of the read buffer (the rest of a placed Data-Out). */
  direct(): Uint8Array | undefined;
  /** Bytes in the read buffer, valid during the call only. */
  received(bytes: Uint8Array): void;
  /** `count` bytes were read into the view `direct` gave. */
  receivedDirectly(count: number): void;
}

/**
 * Moves an accepted connection (still paused) to a socket that reads into buffers we choose
 * (Node's `onread`, which `net.Server` does not offer for the sockets it accepts): one read
 * buffer used again for every read, or the rest of a write's Data-Out straight into the buffer
 * the backend write takes, so the kernel's copy is the only one. Without it every read is a
 * fresh 64 KiB buffer for the garbage collector, sixteen per MiB written. Undefined (the accepted
 * socket stays) if this Node's socket has no handle to move.
 */
function reading(accepted: net.Socket, sink: ReadSink): net.Socket | undefined {
  const internal = accepted as unknown as { _handle: unknown };
  const handle = internal._handle;
  if (handle === null || handle === undefined) return undefined;
  // A plain Uint8Array, not a Buffer: the framer copies what it keeps with slice(), which Buffer turns into a view.
  const readBuffer = new Uint8Array(READ_BUFFER_BYTES);
  // The accepted socket lets go of the handle (and the server counts that connection as closed).
  internal._handle = null;
  accepted.destroy();
  return new net.Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer: () => sink.direct() ?? readBuffer,
      callback: (bytes: number, into: Uint8Array) => {
        if (into === readBuffer) sink.received(into.subarray(0, bytes));
        else sink.receivedDirectly(bytes);
        return true;
      },
    },
  } as net.SocketConstructorOpts);
}

/** Node's clock, timers and services for the engine: the same host the initiator runs on. */
const NODE: ClientHost = nodeHost();

/** Batches up to this size are copied into one write. */
const COALESCE_BYTES = 16 * 1024;

class TargetServer extends EventEmitter<TargetServerEvents> implements RunningTarget {
  readonly host: string;
  readonly port: number;
  readonly engine: TargetEngine;
  readonly #server: net.Server;
  readonly #backends: ReadonlyMap<number, BlockBackend>;
  readonly #opened: readonly BlockBackend[];
  readonly #links = new Map<number, Link>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timer: DeadlineTimer;
  readonly #reuseReadBuffers: boolean;
  #pumping = false;
  #pumpAgain = false;
  #pumpScheduled = false;
  #closing: Promise<void> | undefined;
  isns: IsnsRegistration | undefined;

  constructor(
    server: net.Server,
    engine: TargetEngine,
    host: string,
    port: number,
    backends: ReadonlyMap<number, BlockBackend>,
    opened: readonly BlockBackend[],
    reuseReadBuffers: boolean,
  ) {
    super();
    this.#reuseReadBuffers = reuseReadBuffers;
    this.#server = server;
    this.engine = engine;
    this.host = host;
    this.port = port;
    this.#backends = backends;
    this.#opened = opened;
    this.#timer = new DeadlineTimer(NODE, (now) => {
      this.engine.handleTimeout(now);
      this.#pump();
    });
    server.on("connection", (socket) => this.#accept(socket));
    // A listener error after start (rare: EMFILE on accept) must not crash the process.
    server.on("error", () => undefined);
  }

  get stats(): Readonly<EngineStats> {
    return this.engine.stats;
  }

  url(iqn?: string, lun?: number): string {
    const target = iqn ?? this.engine.config.targets[0]?.iqn ?? "";
    const host = this.host === "0.0.0.0" ? "127.0.0.1" : this.host === "::" ? "::1" : this.host;
    return `iscsi://${formatHostPort(host, this.port)}/${target}/${lun ?? this.engine.config.targets.find((t) => t.iqn === target)?.luns[0]?.lun ?? 0}`;
  }

  backend(iqn: string, lun: number): BlockBackend | undefined {
    const unit = this.engine.unit(iqn, lun);
    return unit === undefined ? undefined : this.#backends.get(unit.def.index);
  }

  /**
   * Runs an operator action on the engine (drop a session or connection, ask for a logout or a
   * renegotiation) and sends at once what it queued: the engine is sans-I/O, so a call made on it
   * directly would otherwise wait for the next socket event or timer.
   */
  act(action: (engine: TargetEngine, now: number) => void): void {
    action(this.engine, NODE.now());
    this.#pump();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Gone from iSNS before the portal stops answering; a server that is away lets it expire.
    await this.isns?.close().catch(() => undefined);
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.engine.shutdown(NODE.now());
    this.#pump();
    for (const link of this.#links.values()) link.socket.destroy();
    this.#links.clear();
    this.#clearTimer();
    await stopped;
    // Storage still running finishes before its backend closes under it.
    await Promise.allSettled([...this.#inFlight]);
    await Promise.allSettled(this.#opened.map((b) => b.close()));
  }

  // ---------------------------------------------------------------- sockets

  #accept(accepted: net.Socket): void {
    if (this.#closing !== undefined) {
      accepted.destroy();
      return;
    }
    let socket = accepted;
    let reused = false;
    const connectionRef: { current?: TargetConnection } = {};
    if (this.#reuseReadBuffers) {
      const moved = reading(accepted, {
        direct: () => connectionRef.current?.directRoom(DIRECT_READ_MIN),
        received: (bytes) => {
          const connection = connectionRef.current as TargetConnection;
          connection.receiveTransient(bytes, NODE.now());
          this.#pump();
        },
        receivedDirectly: (count) => {
          const connection = connectionRef.current as TargetConnection;
          connection.receivedDirectly(count, NODE.now());
          this.#pump();
        },
      });
      if (moved !== undefined) {
        socket = moved;
        reused = true;
      }
    }
    if (!reused) accepted.resume();
    socket.setNoDelay(true);
    const connection = this.engine.accept(
      {
        localAddress: socket.localAddress ?? this.host,
        localPort: socket.localPort ?? this.port,
        remoteAddress: socket.remoteAddress ?? "",
        remotePort: socket.remotePort ?? 0,
      },
      NODE.now(),
    );
    connectionRef.current = connection;
    const link: Link = { socket, connection, ending: false };
    this.#links.set(connection.id, link);
    this.emit("connection-opened", connection.id, formatHostPort(socket.remoteAddress ?? "?", socket.remotePort ?? 0));
    if (!reused) {
      socket.on("data", (chunk: Buffer) => {
        connection.receive(chunk, NODE.now());
        this.#pump();
      });
    }
    // Errors (ECONNRESET) are followed by "close", which is where the connection ends.
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.#links.delete(connection.id);
      connection.transportClosed(NODE.now());
      this.#pump();
    });
    this.#armTimer();
  }

  // ---------------------------------------------------------------- the loop

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Hands out the engine's events, performs storage, writes what is queued, re-arms the timer. */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        this.#drain();
        for (const link of this.#links.values()) this.#flush(link);
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
    this.#armTimer();
  }

  #drain(): void {
    for (;;) {
      const event = this.engine.nextEvent();
      if (event === undefined) return;
      switch (event.type) {
        case "storage":
          this.#storage(event.request);
          break;
        case "connection-closed": {
          const link = this.#links.get(event.connectionId);
          if (link !== undefined) link.ending = true;
          this.emit("connection-closed", event.connectionId, event.error);
          break;
        }
        case "login-complete":
          this.emit("login-complete", event.connectionId, event.session, event.leading);
          break;
        case "login-failed":
          this.emit("login-failed", event.connectionId, event.error);
          break;
        case "session-created":
          this.emit("session-created", event.session);
          break;
        case "session-closed":
          this.emit("session-closed", event.session, event.reason);
          break;
        case "protocol-error":
          this.emit("protocol-error", event.connectionId, event.error);
          break;
        case "internal-error":
          this.emit("internal-error", event.connectionId, event.error);
          break;
        case "erl-fallback":
          this.emit("erl-fallback", event.connectionId, event.detail);
          break;
      }
    }
  }

  #storage(request: StorageRequest): void {
    const backend = this.#backends.get(request.unit.index);
    if (backend === undefined) {
      this.engine.completeStorage(request.id, { ok: false, kind: "failure", message: `no backend for unit ${request.unit.index}` }, NODE.now());
      return;
    }
    const outcome = performStorageSync(backend, request);
    if (!(outcome instanceof Promise)) {
      this.engine.completeStorage(request.id, outcome, NODE.now());
      return;
    }
    const done: Promise<void> = outcome.then((o: StorageOutcome) => {
      this.#inFlight.delete(done);
      if (this.#closing !== undefined) return;
      this.engine.completeStorage(request.id, o, NODE.now());
      this.#schedulePump();
    });
    this.#inFlight.add(done);
  }

  #flush(link: Link): void {
    const length = link.connection.pendingBytes;
    const pieces = link.connection.pollTransmit();
    const socket = link.socket;
    // The same batching as the initiator's host: small batches copied into one write, large ones
    // one corked writev of the pieces themselves.
    if (pieces !== undefined && !socket.destroyed) writeBatch(socket, pieces, length, COALESCE_BYTES);
    if (link.ending) {
      this.#links.delete(link.connection.id);
      // FIN after what is queued (a Logout Response, a Reject); an initiator that never closes
      // its side must not keep the socket.
      socket.end();
      setTimeout(() => socket.destroy(), 2_000).unref();
    }
  }

  #armTimer(): void {
    // The target never holds the process open by its timers: its listening socket does.
    this.#timer.arm(this.#closing === undefined ? this.engine.pollTimeout() : undefined, false);
  }

  #clearTimer(): void {
    this.#timer.clear();
  }
}
