/**
 * The gateway's wire contract, shared by the server (src/gateway/server.ts) and the browser host
 * (src/browser/host.ts). It imports nothing, so a page can bundle it.
 *
 * A page opens `ws[s]://GATEWAY/tcp?host=H&port=P`. Binary messages in both directions are the
 * TCP stream's bytes, in order, with no framing of our own (message boundaries mean nothing).
 * The gateway sends one text message, `{"connected":{"host":H,"port":P}}`, once its TCP
 * connection is up: a WebSocket `open` only says the gateway took the request, and an iSCSI login
 * must not start before the target can hear it. Everything else is said by the close code and
 * reason, because a browser shows a page nothing of a refused handshake but code 1006.
 */

/** Where the relay listens for WebSocket upgrades. */
export const RELAY_PATH = "/tcp";

/** What the page fetches to learn which portals it may reach (GatewayInfo). */
export const INFO_PATH = "/gateway.json";

/**
 * The largest message either side sends. The gateway refuses bigger ones (close 1009), so one
 * message cannot make it buffer without bound; the browser host splits its writes at this size.
 */
export const MAX_MESSAGE_BYTES = 1 << 20;

/** What the gateway tells the page once the TCP connection is open (the one text message). */
export interface ConnectedMessage {
  readonly connected: { readonly host: string; readonly port: number };
}

/** What `GET /gateway.json` answers: enough for the page to offer the portals it may reach. */
export interface GatewayInfo {
  /** The destinations the gateway relays to, as `host:port` (`[v6]:port`), in the order given. */
  readonly allow: readonly string[];
  readonly maxMessageBytes: number;
}

/**
 * Close codes. 1000, 1001, 1009 and 1013 are RFC 6455's; 4xxx are ours (RFC 6455 §7.4.2 leaves
 * 4000-4999 to applications). Each close from the gateway carries a reason in words.
 */
export const CloseCode = {
  /** Either side ended the stream in order (the target's FIN, or the page's `end()`). */
  Normal: 1000,
  /** The gateway is stopping. */
  GoingAway: 1001,
  /** A message over MAX_MESSAGE_BYTES. */
  TooBig: 1009,
  /** The gateway has as many relays open as it may (--max-connections). */
  TryAgainLater: 1013,
  /** From the page: drop the TCP connection at once instead of ending it in order. */
  Abort: 4000,
  /** The request was malformed (no host or port, a text message after the start). */
  BadRequest: 4400,
  /** The destination is not on the gateway's --allow list. */
  NotAllowed: 4403,
  /** The TCP connection could not be made (refused, unreachable). */
  ConnectFailed: 4502,
  /** The TCP connection failed after it was made (reset, error). */
  ConnectionLost: 4503,
  /** The TCP connection did not open within the gateway's own connect timeout. */
  ConnectTimeout: 4504,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** RFC 6455 §5.5: a close frame's payload is at most 125 bytes, 2 of them the code. */
const MAX_REASON_BYTES = 123;

/** Cuts a close reason to what a close frame can carry, on a character boundary. */
export function closeReason(text: string): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= MAX_REASON_BYTES) return text;
  let cut = text;
  while (encoder.encode(`${cut}…`).length > MAX_REASON_BYTES) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** `host:port`, brackets around an IPv6 address: how both sides name a destination. */
export function formatDestination(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The relay URL for a destination, from the gateway's base URL (`ws://host:port` or with a path). */
export function relayUrl(gateway: string, host: string, port: number): string {
  const base = gateway.replace(/\/+$/, "");
  return `${base}${RELAY_PATH}?host=${encodeURIComponent(host)}&port=${port}`;
}

/** Reads the gateway's text message; undefined for anything else. */
export function parseConnected(text: string): ConnectedMessage | undefined {
  try {
    const value = JSON.parse(text) as Partial<ConnectedMessage> | null;
    const c = value?.connected;
    return c !== undefined && typeof c.host === "string" && typeof c.port === "number" ? { connected: { host: c.host, port: c.port } } : undefined;
  } catch {
    return undefined;
  }
}
