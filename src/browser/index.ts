/**
 * iscsi-ts in a web browser: the client (sessions, LUNs, discovery, CHAP, recovery) over
 * WebSockets to an `iscsi gateway`, which relays them to the targets it allows.
 *
 *   const iscsi = connectVia("ws://127.0.0.1:8260");   // or pageGateway(location) on its own page
 *   const lun = await iscsi.openLun("iscsi://alice%secret@10.0.0.5/iqn.2026-11.example:disk/1");
 *
 * Nothing here imports node: modules; esbuild bundles it for the page (scripts/build-web.mjs).
 */
import { createClient, type IscsiClient } from "../client/index.js";
import { type BrowserHostOptions, browserHost } from "./host.js";

/** A client whose connections go through the gateway at `gateway` (`ws://` or `wss://`). */
export function connectVia(gateway: string, options: Omit<BrowserHostOptions, "gateway"> = {}): IscsiClient {
  return createClient(browserHost({ ...options, gateway }));
}

/** The gateway that served the page at `location`: same host and port, ws:// or wss:// to match. */
export function pageGateway(location: { readonly protocol: string; readonly host: string }): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}`;
}

export { browserHost, browserSessionDeps, closeError, type BrowserHostOptions, type WebSocketLike, type WebSocketConstructor } from "./host.js";
export * from "../client/index.js";
export { CloseCode, INFO_PATH, type GatewayInfo } from "../gateway/protocol.js";
