/**
 * iscsi-ts: the Node library. Open a session from a libiscsi/QEMU-style URL or options, reach its
 * LUNs, discover targets. Everything protocol lives in ../core; this layer moves bytes and time.
 */
export { openSession, openLun, IscsiSession, type ConnectionInfo, type ExecuteOptions, type ScsiResult, type SessionEvents } from "./session.js";
export { Lun, type Capacity, type IoOptions } from "./lun.js";
export { discover, type DiscoveryOptions, type DiscoveredTarget, type DiscoveredAddress } from "./discovery.js";
export { discoverIsns, registerWithIsns, IsnsClient, IsnsLink, type IsnsOptions, type IsnsRegistration, type IsnsChange, type WatchOptions, type EntityRegistration } from "./isns.js";
export { type SessionOptions, type ChapOptions, type DigestPreference, defaultInitiatorName } from "./options.js";
export { CONNECTION_POLICIES, type ConnectionPolicy } from "../core/session/policy.js";
export { SessionHost, type Portal, type HostOptions, formatPortal } from "./host.js";
export { loadCrc32c, nodeSessionDeps } from "./deps.js";
export * from "../core/errors.js";
export { Secret } from "../core/auth/secret.js";
export { ChapAlgorithm } from "../core/auth/hash.js";
export { parseIscsiUrl, formatIscsiUrl, redactUrl, type IscsiUrl } from "../core/url.js";
