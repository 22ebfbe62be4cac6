/**
 * What the client asks of the JavaScript host it runs on: a byte stream to host:port, timers, a
 * monotonic clock, a way to run something after the current turn, and the core's services
 * (randomness, hashes, CRC32C). Everything else (sessions, LUNs, the SCSI policies, recovery) is
 * written once in src/client over this interface; a host is a few hundred lines that implement
 * it with its own sockets (Node's `net`, `Bun.connect`, `Deno.connect`, a browser WebSocket).
 */
import type { IscsiError } from "../core/errors.js";
import type { SessionDeps } from "../core/session/session.js";

export interface Portal {
  readonly host: string;
  readonly port: number;
}

/**
 * Where a stream delivers what it reads. A host reads into a buffer of its own and calls
 * `received` with a view of it that is valid only during the call (the core copies what it
 * keeps). A host that can choose where the kernel writes (Node's `onread`) may first ask
 * `directTarget` for the rest of a large Data-In payload and read straight into the caller's
 * buffer, then report the count with `receivedDirectly`: the kernel's copy is then the only one.
 * Such a host also asks `headerReadLength` before a read into its own buffer, and reads only
 * that many bytes when it is not 0, so the payload after that header can go direct too.
 */
export interface StreamSink {
  /** The stream is open: the login may start. */
  connected(): void;
  received(bytes: Uint8Array): void;
  directTarget(minimum: number): Uint8Array | undefined;
  receivedDirectly(count: number): void;
  /**
   * For a host that reads direct: how many bytes to read next when only a PDU header should be
   * read (the large Data-In payload expected after it then goes direct), or 0.
   */
  headerReadLength(minimum: number): number;
  /**
   * The stream is gone, once: `error` says why when it was not our own `end`/`destroy` nor an
   * orderly close by the peer. Never called from inside `connect`.
   */
  closed(error: IscsiError | undefined): void;
}

/** An open (or opening) byte stream, as the client drives it. */
export interface ByteStream {
  /**
   * Writes one batch: `pieces`, `length` bytes in all, in order. The pieces are the core's
   * freshly encoded headers and views of the caller's payloads, which stay unchanged until their
   * command completes, so a host may keep them without copying until they are written (Node's
   * corked writev does). Writes before the stream is connected are queued by the host.
   */
  write(pieces: readonly Uint8Array[], length: number): void;
  /**
   * Ends our side in order: what is queued is written, then FIN; the host drops the stream if the
   * peer never closes its own side after that.
   */
  end(): void;
  /** Drops the stream at once. */
  destroy(): void;
}

/** A timer the host runs; `hold(false)` lets the process (where there is one) exit regardless. */
export interface HostTimer {
  cancel(): void;
  hold(holdOpen: boolean): void;
}

export interface ConnectOptions {
  /** Milliseconds to wait for the connection to open; the stream then closes with a TimeoutError. */
  readonly timeoutMs: number;
}

export interface ClientHost {
  /** "node", "bun", "deno", "browser": for messages and benchmarks. */
  readonly name: string;
  /** Opens a stream; what happens to it is told to `sink`, never synchronously. */
  connect(portal: Portal, sink: StreamSink, options: ConnectOptions): ByteStream;
  setTimer(delayMs: number, callback: () => void): HostTimer;
  /** Milliseconds from a monotonic clock: the core's `now`. */
  now(): number;
  /** Runs `callback` after the current turn, before any I/O (Node's nextTick, else a microtask). */
  defer(callback: () => void): void;
  /**
   * Runs `callback` in the next turn of the event loop, after the loop has looked for I/O
   * without sleeping (Node's and Bun's setImmediate): what busy polling turns on. Absent where
   * no such turn exists (the loop cannot poll without blocking); busy polling is then off.
   */
  spin?(callback: () => void): void;
  /** Randomness, hashes and CRC32C for the core. */
  readonly deps: SessionDeps;
  /** A name for this machine, for the default initiator name; undefined where there is none. */
  machineName(): string | undefined;
}
