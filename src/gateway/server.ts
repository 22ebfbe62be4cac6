/**
 * The gateway: one HTTP server that serves the web page and relays WebSockets at /tcp to the TCP
 * destinations it allows (relay.ts), so that a browser, which has no TCP sockets, can speak iSCSI
 * to a target. It never parses iSCSI: it moves bytes, checks who asks and where to, and bounds
 * how many relays and how many bytes it holds.
 *
 * Refusals differ by whom they are for. A page of a foreign origin gets a bare 403 to its
 * handshake: it learns nothing. A page of an allowed origin gets its WebSocket and then a close
 * whose code and reason say why (a destination not allowed, too many relays, a connection
 * refused), because a browser hides everything about a failed handshake but code 1006.
 */
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { ConfigError } from "../core/errors.js";
import { listenTcp } from "../node/listen.js";
import { type AllowList, type Destination, originAllowed } from "./allow.js";
import { CloseCode, closeReason, formatDestination, type GatewayInfo, INFO_PATH, MAX_MESSAGE_BYTES, RELAY_PATH } from "./protocol.js";
import { DEFAULT_LIMITS, Relay, type RelayClosed, type RelayLimits } from "./relay.js";
import { sendText, serveStatic } from "./static.js";

export interface GatewayConfig {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly allow: AllowList;
  /**
   * Origins whose pages may open relays (ownOrigins() and any --allow-origin), given the port
   * bound: the gateway's own origin names it, and port 0 is known only once listening.
   */
  readonly origins: (port: number) => readonly string[];
  /** Folder of the web page; undefined serves no page (only the relay). */
  readonly webRoot?: string;
  /** Relays open (or opening) at once; more are closed with 1013. Default 64. */
  readonly maxConnections?: number;
  readonly limits?: Partial<RelayLimits>;
}

/** A page as the logs name it. */
export interface PageInfo {
  readonly remote: string;
  readonly origin: string;
}

export interface RefusalInfo extends PageInfo {
  /** `host:port` as asked, when the request named one. */
  readonly destination: string | undefined;
  readonly reason: string;
  /** The close code sent, or the HTTP status for a refused handshake. */
  readonly code: number;
}

export interface GatewayEvents {
  "relay-opened": [relay: Relay];
  "relay-closed": [relay: Relay, closed: RelayClosed];
  refused: [refusal: RefusalInfo];
}

export const DEFAULT_MAX_CONNECTIONS = 64;

/** Reads `?host=H&port=P` from a relay request; a string says what is wrong. */
export function readDestination(url: URL): { readonly host: string; readonly port: number } | string {
  const host = url.searchParams.get("host");
  const port = url.searchParams.get("port");
  if (host === null || host === "") return "the request names no host (/tcp?host=H&port=P)";
  if (port === null || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return "the request names no port from 1 to 65535 (/tcp?host=H&port=P)";
  return { host: host.replace(/^\[(.*)\]$/, "$1"), port: Number(port) };
}

export class Gateway extends EventEmitter<GatewayEvents> {
  private readonly relays = new Set<Relay>();
  private readonly wss: WebSocketServer;
  private readonly maxConnections: number;
  private readonly limits: RelayLimits;
  private nextId = 1;
  private closing = false;
  /** The origins whose pages may open relays. */
  readonly origins: readonly string[];

  private constructor(
    private readonly server: Server,
    readonly config: GatewayConfig,
    readonly host: string,
    readonly port: number,
  ) {
    super();
    this.origins = config.origins(port);
    this.maxConnections = config.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.limits = { ...DEFAULT_LIMITS, ...config.limits };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
    server.on("request", (request: IncomingMessage, response: ServerResponse) => this.onRequest(request, response));
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(request, socket, head));
  }

  /** Listens; a port in use or an address this machine lacks is a ConfigError naming it. */
  static async start(config: GatewayConfig): Promise<Gateway> {
    if (config.allow.entries.length === 0) throw new ConfigError("the gateway needs at least one destination to allow (--allow HOST:PORT)");
    const server = createServer();
    // A slow client must not hold a request open for ever; relays are upgrades and not bound by these.
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    const { port } = await listenTcp(server, config.host, config.port, " (choose another with --listen HOST:PORT, or :0 for any free port)");
    return new Gateway(server, config, config.host, port);
  }

  /** The page's address. */
  get url(): string {
    const host = this.host === "0.0.0.0" || this.host === "::" ? "127.0.0.1" : this.host;
    return `http://${formatDestination(host, this.port)}/`;
  }

  /** Relays open or opening. */
  get relayCount(): number {
    return this.relays.size;
  }

  /** Stops: no new relays, every open one closed (1001), then the listener. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const relay of this.relays) relay.close(CloseCode.GoingAway, "the gateway is stopping");
    const until = Date.now() + 2_000;
    while (this.relays.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const relay of this.relays) relay.ws.terminate();
    this.server.closeAllConnections();
    await closed;
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? "/", "http://gateway").pathname;
    if (path === INFO_PATH) {
      const info: GatewayInfo = { allow: this.config.allow.shown, maxMessageBytes: MAX_MESSAGE_BYTES };
      sendText(response, 200, `${JSON.stringify(info)}\n`, "application/json; charset=utf-8");
      return;
    }
    if (path === RELAY_PATH) {
      sendText(response, 426, "this address takes WebSocket upgrades only\n");
      return;
    }
    if (this.config.webRoot === undefined) {
      sendText(response, 404, "this gateway serves no web page\n");
      return;
    }
    serveStatic(this.config.webRoot, request, response).catch(() => response.destroy());
  }

  private onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => undefined);
    const remote = formatDestination(request.socket.remoteAddress ?? "?", request.socket.remotePort ?? 0);
    const origin = request.headers.origin;
    const page: PageInfo = { remote, origin: origin ?? "(none)" };
    const url = new URL(request.url ?? "/", "http://gateway");
    const refuseHandshake = (status: number, text: string, reason: string, destination?: string): void => {
      this.emit("refused", { ...page, destination, reason, code: status });
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`);
    };
    if (url.pathname !== RELAY_PATH) return refuseHandshake(404, "Not Found", `no WebSocket service at ${url.pathname} (the relay is at ${RELAY_PATH})`);
    if (!originAllowed(origin, this.origins)) {
      const why = origin === undefined ? "the request has no Origin header" : `pages of ${origin} may not use this gateway (--allow-origin)`;
      return refuseHandshake(403, "Forbidden", why);
    }
    if (this.closing) return refuseHandshake(503, "Service Unavailable", "the gateway is stopping");
    this.wss.handleUpgrade(request, socket, head, (ws) => this.onWebSocket(ws, url, page));
  }

  private onWebSocket(ws: WebSocket, url: URL, page: PageInfo): void {
    const refuse = (code: number, reason: string, destination?: string): void => {
      this.emit("refused", { ...page, destination, reason, code });
      ws.close(code, closeReason(reason));
    };
    const asked = readDestination(url);
    if (typeof asked === "string") return refuse(CloseCode.BadRequest, asked);
    const shown = formatDestination(asked.host, asked.port);
    const destination: Destination | undefined = this.config.allow.match(asked.host, asked.port);
    if (destination === undefined) return refuse(CloseCode.NotAllowed, `refused by the gateway: ${shown} is not on its --allow list`, shown);
    if (this.relays.size >= this.maxConnections) {
      return refuse(CloseCode.TryAgainLater, `refused by the gateway: ${this.maxConnections} relays are open (--max-connections)`, shown);
    }
    const relay = new Relay(this.nextId++, ws, destination, page, this.limits, {
      opened: (r) => this.emit("relay-opened", r),
      closed: (r, closed) => {
        this.relays.delete(r);
        this.emit("relay-closed", r, closed);
      },
    });
    this.relays.add(relay);
  }
}
