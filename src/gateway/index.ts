/**
 * The gateway from options as a person writes them (`127.0.0.1:3260,10.0.0.5:3260`, origins):
 * parsed, names resolved once, its own origins added, then started. The CLI's `iscsi gateway`
 * and the tests start it through here.
 */
import { lookup } from "node:dns/promises";
import { hostname, networkInterfaces } from "node:os";
import { fileURLToPath } from "node:url";
import { type Lookup, ownOrigins, parseAllowList, parseOriginList, resolveAllowList } from "./allow.js";
import { Gateway } from "./server.js";
import type { RelayLimits } from "./relay.js";

export interface GatewayOptions {
  readonly host: string;
  readonly port: number;
  /** `HOST:PORT[,...]` strings (each may hold several entries). */
  readonly allow: readonly string[];
  /** Origins beyond the gateway's own, `scheme://host[:port][,...]`. */
  readonly allowOrigins?: readonly string[];
  /** The page's folder; the built page (dist/web) unless told; null serves none. */
  readonly webRoot?: string | null;
  readonly maxConnections?: number;
  readonly limits?: Partial<RelayLimits>;
  /** How names in `allow` are resolved (node:dns by default). */
  readonly lookup?: Lookup;
}

/**
 * dist/web beside dist/gateway (the bundle scripts/build-web.mjs writes). Run from the sources
 * (tsx, the tests), this module is in src/gateway, whose src/web holds the page unbundled: the
 * bundle is still in dist/web.
 */
export const DEFAULT_WEB_ROOT = fileURLToPath(
  /\/src\/gateway\/[^/]*$/.test(new URL(import.meta.url).pathname) ? new URL("../../dist/web/", import.meta.url) : new URL("../web/", import.meta.url),
);

const dnsLookup: Lookup = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

function machineAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((i) => i.address);
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const entries = options.allow.flatMap((text) => parseAllowList(text));
  const allow = await resolveAllowList(entries, options.lookup ?? dnsLookup);
  const extra = parseOriginList(options.allowOrigins ?? []);
  const machine = { addresses: machineAddresses(), hostname: hostname() };
  return Gateway.start({
    host: options.host,
    port: options.port,
    allow,
    origins: (port) => [...new Set([...ownOrigins(options.host, port, machine), ...extra])],
    ...(options.webRoot === null ? {} : { webRoot: options.webRoot ?? DEFAULT_WEB_ROOT }),
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  });
}

export { Gateway, type GatewayConfig, type GatewayEvents, type RefusalInfo, DEFAULT_MAX_CONNECTIONS } from "./server.js";
export { type Relay, type RelayClosed, type RelayLimits } from "./relay.js";
export { AllowList, parseAllowList, parseOrigin, parseOriginList, ownOrigins, originAllowed, canonicalAddress } from "./allow.js";
export * from "./protocol.js";
