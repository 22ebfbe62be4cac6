/**
 * iscsi-ts: the Node library. Open a session from a libiscsi/QEMU-style URL or options, reach its
 * LUNs, discover targets. Everything protocol lives in ../core and everything host-free in
 * ../client; this layer binds the client to Node's sockets and timers (./transport.ts).
 */
import { hostname } from "node:os";
import { createClient } from "../client/index.js";
import { defaultInitiatorName as defaultNameFor } from "../client/options.js";
import { nodeHost } from "./transport.js";

const client = createClient(nodeHost());

/** Opens and logs in a session from a URL (`iscsi://[user[%secret]@]host[:port]/iqn[/lun]`) or options. */
export const openSession = client.openSession;
/** Opens a session and returns the LUN the URL names (`lun.session.logout()` ends it). */
export const openLun = client.openLun;
/** SendTargets discovery (RFC 7143 §13.3): every target at a portal and its addresses. */
export const discover = client.discover;

/** The initiator name used when none is given: iqn.2026-11.io.iscsi-ts:<this machine's name>. */
export function defaultInitiatorName(): string {
  return defaultNameFor(hostname());
}

// Everything the client offers, with this host's own bindings above taking the place of the
// client's host-neutral ones (defaultInitiatorName).
export * from "../client/index.js";
export { discoverIsns, registerWithIsns, IsnsClient, IsnsLink, type IsnsOptions, type IsnsRegistration, type IsnsChange, type WatchOptions, type EntityRegistration } from "./isns.js";
export { SessionHost } from "./host.js";
export { nodeHost } from "./transport.js";
export { loadCrc32c, nodeSessionDeps } from "./deps.js";
export * from "./workers/index.js";
