/**
 * iscsi-ts on Deno: the client (../client) bound to `Deno.connect` (./host.ts), with the
 * same API as the Node entry. Measured against tgtd (test/hosts/bench.ts, see ./host.ts for the
 * figures), Deno's own sockets are the default here rather than Node's `net` under Deno's compatibility.
 */
import { createClient } from "../client/index.js";
import { defaultInitiatorName as defaultNameFor } from "../client/options.js";
import { denoHost } from "./host.js";

const client = createClient(denoHost());

/** Opens and logs in a session from a URL (`iscsi://[user[%secret]@]host[:port]/iqn[/lun]`) or options. */
export const openSession = client.openSession;
/** Opens a session and returns the LUN the URL names (`lun.session.logout()` ends it). */
export const openLun = client.openLun;
/** SendTargets discovery (RFC 7143 §13.3): every target at a portal and its addresses. */
export const discover = client.discover;

/** The initiator name used when none is given: iqn.2026-11.io.iscsi-ts:<this machine's name>. */
export function defaultInitiatorName(): string {
  return defaultNameFor(client.host.machineName());
}

export {
  createClient,
  type IscsiClient,
  IscsiSession,
  type ConnectionInfo,
  type ExecuteOptions,
  type ScsiResult,
  type SessionEvents,
  Lun,
  type Capacity,
  type IoOptions,
  isUnsupportedCommand,
  getLbaStatus,
  preFetch,
  type DiscoveryOptions,
  type DiscoveredTarget,
  type DiscoveredAddress,
  type SessionOptions,
  type ChapOptions,
  type DigestPreference,
  SessionDriver,
  type HostOptions,
  formatPortal,
  type ClientHost,
  type Portal,
  type ByteStream,
  type StreamSink,
  type HostTimer,
  type ConnectOptions,
  nobleHash,
  crc32c,
  CONNECTION_POLICIES,
  type ConnectionPolicy,
  Secret,
  ChapAlgorithm,
  parseIscsiUrl,
  formatIscsiUrl,
  redactUrl,
  type IscsiUrl,
} from "../client/index.js";
export * from "../core/errors.js";
export { denoHost, denoSessionDeps, loadDenoCrc32c } from "./host.js";
