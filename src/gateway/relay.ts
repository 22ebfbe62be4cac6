/**
 * One relay: a page's WebSocket joined to a TCP connection. Bytes are copied as they come, never
 * looked at. Each direction is bounded: when the page reads slower than the target sends, the TCP
 * socket stops being read (the target's window fills and it waits); when the target reads slower
 * than the page writes, the WebSocket stops being read (the page's socket buffer fills and its
 * `bufferedAmount` grows). So a relay holds at most about `highWaterBytes` plus one message each way.
 */
import * as net from "node:net";
import type { RawData, WebSocket } from "ws";
import type { Destination } from "./allow.js";
import { CloseCode, closeReason, type ConnectedMessage, formatDestination } from "./protocol.js";

export interface RelayLimits {
  /** Bytes queued towards the page above which the TCP socket is paused. */
  readonly highWaterBytes: number;
  /** Time for the TCP connection to open. */
  readonly connectTimeoutMs: number;
  /** After the page ends its side, time for the target to close its own before it is dropped. */
  readonly lingerMs: number;
}

export const DEFAULT_LIMITS: RelayLimits = { highWaterBytes: 1 << 20, connectTimeoutMs: 10_000, lingerMs: 5_000 };

/** Who ended a relay. */
export type ClosedBy = "page" | "target" | "gateway";

export interface RelayClosed {
  readonly by: ClosedBy;
  /** The WebSocket close code sent or received. */
  readonly code: number;
  readonly reason: string;
  /** Bytes from the page to the target, and back. */
  readonly bytesToTarget: number;
  readonly bytesToPage: number;
  readonly durationMs: number;
  /** Whether the TCP connection was ever open. */
  readonly connected: boolean;
}

export interface RelayObserver {
  opened(relay: Relay): void;
  closed(relay: Relay, closed: RelayClosed): void;
}

/** Words for a socket error code, for close reasons a person reads. */
function socketWords(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset by the target";
    case "EHOSTUNREACH":
      return "host unreachable";
    case "ENETUNREACH":
      return "network unreachable";
    case "ETIMEDOUT":
      return "timed out";
    case "EPIPE":
      return "the target stopped reading";
    default:
      return error.code ?? error.message;
  }
}

/** Why a relay ended: decided once, by whichever side went first. */
interface Cause {
  readonly code: number;
  readonly reason: string;
  readonly by: ClosedBy;
}

export class Relay {
  private readonly socket: net.Socket;
  private readonly startedAt = performance.now();
  private bytesToTarget = 0;
  private bytesToPage = 0;
  private connected = false;
  private socketClosed = false;
  private webSocketClosed = false;
  private reported = false;
  private socketError: NodeJS.ErrnoException | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private cause: Cause | undefined;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    readonly destination: Destination,
    readonly page: { readonly remote: string; readonly origin: string },
    private readonly limits: RelayLimits,
    private readonly observer: RelayObserver,
  ) {
    // Nothing the page sends may reach the target before the target can hear it; the browser host
    // waits for "connected" anyway, this keeps a hand-written client honest too.
    ws.pause();
    this.socket = net.connect({ host: destination.address, port: destination.port, noDelay: true });
    this.connectTimer = setTimeout(() => {
      this.close(CloseCode.ConnectTimeout, `cannot connect to ${this.target}: no answer within ${limits.connectTimeoutMs} ms`, "gateway");
    }, limits.connectTimeoutMs);

    this.socket.once("connect", () => this.onConnect());
    this.socket.on("data", (chunk: Buffer) => this.toPage(chunk));
    this.socket.on("drain", () => ws.resume());
    this.socket.on("error", (error: NodeJS.ErrnoException) => {
      this.socketError ??= error;
    });
    // The target's FIN: the page gets what came before it (ws sends the close frame after the
    // queued messages), then an orderly close. Node ends our side of the socket by itself.
    this.socket.on("end", () => this.decide({ code: CloseCode.Normal, reason: "the target closed the connection", by: "target" }));
    this.socket.on("close", () => this.onSocketClose());

    ws.on("message", (data: RawData, isBinary: boolean) => this.toTarget(data, isBinary));
    ws.on("close", (code: number, reason: Buffer) => this.onWebSocketClose(code, reason.toString("utf8")));
    ws.on("error", () => {
      // ws follows an error (a message too big, a bad frame) with a close of its own: the close
      // event decides. Listening here keeps the error from being thrown as unhandled.
    });
  }

  /** The destination as the page named it, for messages. */
  get target(): string {
    return this.destination.requested;
  }

  /** The address actually connected to. */
  get address(): string {
    return formatDestination(this.destination.address, this.destination.port);
  }

  /** Ends the relay from the gateway's side (a timeout, a bad message, shutdown): both sides drop. */
  close(code: number, reason: string, by: ClosedBy = "gateway"): void {
    if (this.cause !== undefined) return;
    this.decide({ code, reason, by });
    this.socket.destroy();
  }

  /** Records why the relay ends (the first cause wins) and tells the page. */
  private decide(cause: Cause): void {
    if (this.cause !== undefined) return;
    this.cause = cause;
    this.clearConnectTimer();
    if (!this.webSocketClosed) {
      // A paused WebSocket would not read the page's answering close frame, and the page's
      // close event waits for it.
      this.ws.resume();
      this.ws.close(cause.code, closeReason(cause.reason));
    }
  }

  private onConnect(): void {
    this.clearConnectTimer();
    if (this.cause !== undefined) return;
    this.connected = true;
    const message: ConnectedMessage = { connected: { host: this.destination.address, port: this.destination.port } };
    this.ws.send(JSON.stringify(message));
    this.ws.resume();
    this.observer.opened(this);
  }

  private toPage(chunk: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.bytesToPage += chunk.length;
    this.ws.send(chunk, { binary: true }, () => {
      // The callback runs as ws hands the frame to its socket: the moment to look again.
      if (this.socket.isPaused() && this.ws.bufferedAmount <= this.limits.highWaterBytes / 2) this.socket.resume();
    });
    if (this.ws.bufferedAmount > this.limits.highWaterBytes) this.socket.pause();
  }

  private toTarget(data: RawData, isBinary: boolean): void {
    if (this.cause !== undefined) return;
    if (!isBinary) {
      this.close(CloseCode.BadRequest, "text messages are not relayed: send the stream's bytes as binary messages");
      return;
    }
    const chunks = Array.isArray(data) ? data : [data instanceof ArrayBuffer ? Buffer.from(data) : data];
    for (const chunk of chunks) {
      this.bytesToTarget += chunk.length;
      if (!this.socket.write(chunk)) this.ws.pause();
    }
  }

  private onSocketClose(): void {
    this.socketClosed = true;
    this.clearConnectTimer();
    const error = this.socketError;
    if (error === undefined) this.decide({ code: CloseCode.Normal, reason: "the target closed the connection", by: "target" });
    else if (!this.connected) this.decide({ code: CloseCode.ConnectFailed, reason: `cannot connect to ${this.target}: ${socketWords(error)}`, by: "gateway" });
    else this.decide({ code: CloseCode.ConnectionLost, reason: `connection to ${this.target} lost: ${socketWords(error)}`, by: "target" });
    this.report();
  }

  private onWebSocketClose(code: number, reason: string): void {
    this.webSocketClosed = true;
    if (this.cause === undefined) {
      // The page went first. CloseCode.Abort asks for the connection to be dropped; any other
      // close ends it in order (FIN after the bytes already written), and the target gets a
      // moment to close its own before it is dropped.
      const words = reason !== "" ? reason : code === CloseCode.Abort ? "dropped by the page" : "closed by the page";
      this.decide({ code, reason: words, by: "page" });
      if (code === CloseCode.Abort) {
        // A reset, as the page's own `destroy()` would have sent on a TCP socket of its own.
        this.socket.resetAndDestroy();
      } else if (!this.connected) {
        this.socket.destroy();
      } else {
        this.socket.end();
        setTimeout(() => this.socket.destroy(), this.limits.lingerMs).unref();
      }
    } else if (!this.socketClosed) {
      // The gateway or the target went first and the page has now acknowledged: nothing more
      // will be read from the socket, so it need not wait for the target's FIN.
      this.socket.destroy();
    }
    this.report();
  }

  /** Tells the observer once both sides are closed. */
  private report(): void {
    if (this.reported || !this.socketClosed || !this.webSocketClosed || this.cause === undefined) return;
    this.reported = true;
    this.observer.closed(this, {
      ...this.cause,
      bytesToTarget: this.bytesToTarget,
      bytesToPage: this.bytesToPage,
      durationMs: performance.now() - this.startedAt,
      connected: this.connected,
    });
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}
