/**
 * The browser host: the client's byte streams over WebSockets to the gateway (src/gateway), which
 * relays each to a TCP connection; timers, clock and randomness from the web platform; CHAP's
 * hashes and CRC32C in pure JavaScript (WebCrypto is asynchronous and has neither MD5 nor
 * SHA3-256, and no CRC32C at all).
 *
 * It names the WebSocket only through the small structural type below, so it also runs on any
 * host with a WHATWG-style WebSocket (Deno, Bun, Node 22, the `ws` package) and type-checks
 * without the DOM library.
 */
import { type IscsiError, TimeoutError, TransportError } from "../core/errors.js";
import type { SessionDeps } from "../core/session/session.js";
import { crc32c } from "../core/digest/crc32c.js";
import { formatPortal } from "../client/driver.js";
import { nobleHash } from "../client/hashes.js";
import { randomBytesFrom } from "../client/services.js";
import type { ByteStream, ClientHost, ConnectOptions, HostTimer, Portal, StreamSink } from "../client/host.js";
import { CloseCode, MAX_MESSAGE_BYTES, parseConnected, relayUrl } from "../gateway/protocol.js";

/** How long an ended stream waits for the gateway's answering close before it is dropped. */
const END_GRACE_MS = 1_000;

/** What the host uses of a WebSocket (the WHATWG interface's subset). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string; readonly wasClean?: boolean }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface BrowserHostOptions {
  /** The gateway's base URL: `ws://host:port` or `wss://host[:port][/path]`. */
  readonly gateway: string;
  /** The WebSocket class; the global one unless given. */
  readonly WebSocket?: WebSocketConstructor;
  /** Services for the core; the pure ones unless given. */
  readonly deps?: SessionDeps;
}

/** WebCrypto's CSPRNG, filled in parts of its 64 KiB quota. */
const randomBytes = randomBytesFrom((view) => crypto.getRandomValues(view));

export function browserSessionDeps(): SessionDeps {
  return { crc32c, randomBytes, hash: nobleHash };
}

export function browserHost(options: BrowserHostOptions): ClientHost {
  const Socket = options.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
  const gateway = options.gateway.replace(/\/+$/, "");
  return {
    name: "browser",
    deps: options.deps ?? browserSessionDeps(),
    connect: (portal, sink, connectOptions) => connectThroughGateway(gateway, Socket, portal, sink, connectOptions),
    setTimer: (delayMs, callback): HostTimer => {
      const timer = setTimeout(callback, delayMs);
      // A page has no process to keep open or let go: hold() has nothing to do.
      return { cancel: () => clearTimeout(timer), hold: () => undefined };
    },
    now: () => performance.now(),
    defer: (callback) => queueMicrotask(callback),
    machineName: () => undefined,
  };
}

/** Where a stream is: the close that ends it means different things before and after "connected". */
type Phase = "opening" | "connected";

/**
 * What a close from the gateway means for the client: undefined for an orderly end, else the
 * error naming the portal (and the gateway, where it is the one to look at).
 */
export function closeError(code: number, reason: string, phase: Phase, portal: Portal, gateway: string): IscsiError | undefined {
  const where = formatPortal(portal);
  const said = reason === "" ? "" : `: ${reason}`;
  switch (code) {
    case CloseCode.Normal:
      return phase === "connected" ? undefined : new TransportError(`cannot connect to ${where}: the gateway at ${gateway} closed the relay before it was open${said}`);
    case CloseCode.NotAllowed:
      return new TransportError(`cannot connect to ${where}: ${reason === "" ? "refused by the gateway" : reason} (gateway ${gateway}; start it with --allow ${where})`);
    case CloseCode.TryAgainLater:
      return new TransportError(`cannot connect to ${where}: ${reason === "" ? "refused by the gateway: too many relays open" : reason} (gateway ${gateway})`);
    case CloseCode.ConnectFailed:
      return new TransportError(`${reason === "" ? `cannot connect to ${where}` : reason} (through the gateway at ${gateway})`);
    case CloseCode.ConnectTimeout:
      return new TimeoutError(`${reason === "" ? `cannot connect to ${where}: timed out` : reason} (through the gateway at ${gateway})`);
    case CloseCode.ConnectionLost:
      return new TransportError(`${reason === "" ? `connection to ${where} lost` : reason} (through the gateway at ${gateway})`);
    case CloseCode.GoingAway:
      return new TransportError(`${phase === "connected" ? `connection to ${where} lost` : `cannot connect to ${where}`}: the gateway at ${gateway} is stopping`);
    case CloseCode.BadRequest:
    case CloseCode.TooBig:
      return new TransportError(`connection to ${where} closed by the gateway at ${gateway} (code ${code})${said}`);
    case 1006:
      // A browser reports every refused handshake (a foreign origin, a gateway that is down, a
      // wrong URL) as 1006 and tells the page nothing more: name the likely causes.
      return phase === "connected"
        ? new TransportError(`connection to ${where} lost: the WebSocket to the gateway at ${gateway} broke`)
        : new TransportError(`cannot connect to ${where}: no relay from the gateway at ${gateway} (is it running there, and does it allow this page's origin? see iscsi gateway --allow-origin)`);
    default:
      return new TransportError(`connection to ${where} through the gateway at ${gateway} closed (code ${code})${said}`);
  }
}

function connectThroughGateway(gateway: string, Socket: WebSocketConstructor | undefined, portal: Portal, sink: StreamSink, options: ConnectOptions): ByteStream {
  const where = formatPortal(portal);
  let ws: WebSocketLike;
  try {
    if (Socket === undefined) throw new Error("this host has no WebSocket");
    ws = new Socket(relayUrl(gateway, portal.host, portal.port));
  } catch (error) {
    // A malformed gateway URL throws (SyntaxError) at once; the sink hears of it later, never
    // from inside connect.
    const failed = new TransportError(`cannot connect to ${where}: cannot open a WebSocket to the gateway at ${gateway}: ${(error as Error).message}`, { cause: error });
    queueMicrotask(() => sink.closed(failed));
    return { write: () => undefined, end: () => undefined, destroy: () => undefined };
  }
  ws.binaryType = "arraybuffer";
  let phase: Phase = "opening";
  let done = false;
  let endedByUs = false;
  /** Batches written before "connected", sent in order once it comes. */
  const queued: Uint8Array[] = [];

  let detached = false;
  const detach = (): void => {
    detached = true;
    clearTimeout(connectTimer);
    ws.onopen = ws.onmessage = ws.onclose = null;
    // Some WebSockets (the `ws` package) report an error after close() on a connecting socket,
    // and throw it when nobody listens: keep listening, to nothing.
    ws.onerror = () => undefined;
  };
  const finish = (error: IscsiError | undefined): void => {
    if (done) return;
    done = true;
    detach();
    sink.closed(error);
  };
  const connectTimer = setTimeout(() => {
    ws.close(CloseCode.Abort, "connect timeout");
    finish(new TimeoutError(`cannot connect to ${where} through the gateway at ${gateway}: no answer within ${options.timeoutMs} ms`));
  }, options.timeoutMs);

  const send = (bytes: Uint8Array): void => {
    // The gateway takes messages of MAX_MESSAGE_BYTES at most: a large batch goes in parts.
    for (let at = 0; at < bytes.length; at += MAX_MESSAGE_BYTES) ws.send(bytes.subarray(at, Math.min(bytes.length, at + MAX_MESSAGE_BYTES)));
  };

  ws.onmessage = (event) => {
    const data = event.data;
    if (data instanceof ArrayBuffer) {
      sink.received(new Uint8Array(data));
    } else if (typeof data === "string" && phase === "opening" && parseConnected(data) !== undefined) {
      phase = "connected";
      clearTimeout(connectTimer);
      for (const bytes of queued.splice(0)) send(bytes);
      sink.connected();
    }
  };
  ws.onerror = () => {
    // Always followed by a close event, which says what happened.
  };
  ws.onclose = (event) => {
    finish(endedByUs ? undefined : closeError(event.code, event.reason, phase, portal, gateway));
  };

  return {
    write: (pieces, length) => {
      if (detached || endedByUs) return;
      // One copy, which the host must make anyway: the core reuses its pieces once write returns.
      const batch = new Uint8Array(length);
      let at = 0;
      for (const piece of pieces) {
        batch.set(piece, at);
        at += piece.length;
      }
      if (phase === "connected") send(batch);
      else queued.push(batch);
    },
    end: () => {
      if (detached || endedByUs) return;
      endedByUs = true;
      // The gateway ends the TCP connection in order (FIN) after what was sent, and answers; a
      // gateway that never does must not hold the stream open.
      ws.close(CloseCode.Normal, "");
      setTimeout(() => finish(undefined), END_GRACE_MS);
    },
    destroy: () => {
      if (detached) return;
      ws.close(CloseCode.Abort, "");
      // Dropped at once, as a TCP socket's destroy() is: the gateway resets the connection, and
      // the client hears of the close in a moment, not from inside this call.
      detach();
      queueMicrotask(() => finish(undefined));
    },
  };
}
