/**
 * The Node host: the client's byte streams on `net` sockets, Node timers, process.nextTick, and
 * the Node services for the core (native CRC32C, node:crypto). Reads land in one reused buffer
 * per connection, or, for a large Data-In payload, straight in the caller's buffer (`onread`),
 * so the kernel's copy is the only one: after a large Data-In the next read takes just a header,
 * so that the payload behind it goes direct as a whole.
 */
import * as net from "node:net";
import { hostname } from "node:os";
import { type IscsiError, TimeoutError, TransportError } from "../core/errors.js";
import type { SessionDeps } from "../core/session/session.js";
import type { ByteStream, ClientHost, ConnectOptions, HostTimer, Portal, StreamSink } from "../client/host.js";
import { formatPortal } from "../client/driver.js";
import { socketError } from "../client/services.js";
import { monotonicNow, nodeSessionDeps } from "./deps.js";
import { writeBatch } from "./socket-batch.js";

/** Batches up to this size are copied into one Buffer and written at once. */
const COALESCE_BYTES = 16 * 1024;

/** Payload still to come above which a read goes straight into the caller's buffer. */
const DIRECT_READ_MIN = 64 * 1024;

/** Size of each connection's socket read buffer. */
const READ_BUFFER_BYTES = 256 * 1024;

/** How long an ended socket may wait for the peer's FIN, once ours is out, before it is dropped. */
const END_GRACE_MS = 1_000;

/** How long an ended socket may take in all (a peer that stopped reading) before it is dropped. */
const END_LIMIT_MS = 30_000;

export function nodeHost(deps: SessionDeps = nodeSessionDeps()): ClientHost {
  return {
    name: "node",
    deps,
    connect: connectNode,
    setTimer: (delayMs, callback) => nodeTimer(setTimeout(callback, delayMs)),
    now: monotonicNow,
    defer: (callback) => process.nextTick(callback),
    spin: (callback) => void setImmediate(callback),
    machineName: () => hostname(),
  };
}

function nodeTimer(timeout: NodeJS.Timeout): HostTimer {
  return {
    cancel: () => clearTimeout(timeout),
    hold: (holdOpen) => {
      if (holdOpen) timeout.ref();
      else timeout.unref();
    },
  };
}

function connectNode(portal: Portal, sink: StreamSink, options: ConnectOptions): ByteStream {
  // A plain Uint8Array, not a Buffer: the core copies with Uint8Array#slice, which Buffer turns into a view.
  const readBuffer = new Uint8Array(READ_BUFFER_BYTES);
  // The first bytes of the read buffer, as long as a header read asks: one view, made once per length.
  let headerView = readBuffer.subarray(0, 48);
  let failure: IscsiError | undefined;
  let socket: net.Socket;
  try {
    socket = net.connect({
      host: portal.host,
      port: portal.port,
      noDelay: true,
      onread: {
        buffer: () => {
          const direct = sink.directTarget(DIRECT_READ_MIN);
          if (direct !== undefined) return direct;
          const header = sink.headerReadLength(DIRECT_READ_MIN);
          if (header === 0) return readBuffer;
          if (headerView.length !== header) headerView = readBuffer.subarray(0, header);
          return headerView;
        },
        callback: (bytes: number, buffer: Uint8Array) => {
          if (buffer === readBuffer || buffer === headerView) sink.received(buffer.subarray(0, bytes));
          else sink.receivedDirectly(bytes);
          return true;
        },
      },
    });
  } catch (error) {
    // net.connect throws for what it cannot even try (a port out of range): the stream closes at once.
    const closed = new TransportError(`cannot connect to ${formatPortal(portal)}: ${(error as Error).message}`, { cause: error });
    queueMicrotask(() => sink.closed(closed));
    return { write: () => undefined, end: () => undefined, destroy: () => undefined };
  }
  const connectTimer = setTimeout(() => {
    failure = new TimeoutError(`cannot connect to ${formatPortal(portal)}: no answer within ${options.timeoutMs} ms`, { kind: "connect" });
    socket.destroy();
  }, options.timeoutMs);
  socket.once("connect", () => {
    clearTimeout(connectTimer);
    socket.setNoDelay(true);
    sink.connected();
  });
  socket.on("error", (error: NodeJS.ErrnoException) => {
    failure ??= socketError(error, portal);
  });
  socket.on("close", () => {
    clearTimeout(connectTimer);
    sink.closed(failure);
  });
  return {
    write: (pieces, length) => {
      if (!socket.destroyed) writeBatch(socket, pieces, length, COALESCE_BYTES);
    },
    end: () => {
      // The grace starts once our FIN is out (everything queued written): a slow reader still
      // gets it all; a target that never closes its side must not hold the process.
      socket.end(() => setTimeout(() => socket.destroy(), END_GRACE_MS).unref());
      // And a peer that stops reading altogether cannot keep it for ever.
      setTimeout(() => socket.destroy(), END_LIMIT_MS).unref();
    },
    destroy: () => socket.destroy(),
  };
}
