/**
 * iscsi-ts's client: sessions, LUNs, discovery and the SCSI policies, written once over a small
 * host interface (./host.ts). Each host's entry point (src/node, src/bun, src/deno,
 * src/browser) binds `createClient` to its own sockets and timers and re-exports the rest.
 */
import type { DiscoveredTarget } from "../core/discovery/send-targets.js";
import { type DiscoveryOptions, discoverOn } from "./discovery.js";
import type { ClientHost, Portal } from "./host.js";
import type { Lun } from "./lun.js";
import type { SessionOptions } from "./options.js";
import { type IscsiSession, openLunOn, openSessionOn } from "./session.js";

export interface IscsiClient {
  /** Opens and logs in a session from a URL (`iscsi://[user[%secret]@]host[:port]/iqn[/lun]`) or options. */
  openSession(target: string | SessionOptions, overrides?: Partial<SessionOptions>): Promise<IscsiSession>;
  /** Opens a session and returns the LUN the URL names (`lun.session.logout()` ends it). */
  openLun(url: string, overrides?: Partial<SessionOptions>): Promise<Lun>;
  /** SendTargets discovery at a portal (`host[:port]` or an iscsi:// URL). */
  discover(portal: string | Portal, options?: DiscoveryOptions): Promise<DiscoveredTarget[]>;
  /** The host this client runs on. */
  readonly host: ClientHost;
}

export function createClient(host: ClientHost): IscsiClient {
  return {
    host,
    openSession: (target, overrides) => openSessionOn(host, target, overrides),
    openLun: (url, overrides) => openLunOn(host, url, overrides),
    discover: (portal, options) => discoverOn(host, portal, options),
  };
}

export { IscsiSession, type ConnectionInfo, type ExecuteOptions, type ScsiResult, type SessionEvents } from "./session.js";
export { Lun, type Capacity, type IoOptions } from "./lun.js";
export { isUnsupportedCommand, getLbaStatus, preFetch } from "./lun-status.js";
export { type DiscoveryOptions, type DiscoveredTarget, type DiscoveredAddress } from "./discovery.js";
export { type SessionOptions, type ChapOptions, type DigestPreference, defaultInitiatorName } from "./options.js";
export { SessionDriver, type HostOptions, formatPortal } from "./driver.js";
export type { ClientHost, Portal, ByteStream, StreamSink, HostTimer, ConnectOptions } from "./host.js";
export { Emitter } from "./events.js";
export type { AbortSignalLike } from "./abort.js";
export type { RenegotiationChange } from "../core/text/renegotiation.js";
export { nobleHash } from "./hashes.js";
export { CONNECTION_POLICIES, type ConnectionPolicy } from "../core/session/policy.js";
export * from "../core/errors.js";
export { Secret } from "../core/auth/secret.js";
export { ChapAlgorithm } from "../core/auth/hash.js";
export { crc32c } from "../core/digest/crc32c.js";
export { parseIscsiUrl, formatIscsiUrl, redactUrl, type IscsiUrl } from "../core/url.js";
