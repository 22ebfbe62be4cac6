/**
 * Who may use the gateway and where it may go: the --allow list of destinations and the set of
 * page origins whose WebSockets it accepts.
 *
 * A gateway that relays to any host:port is an open proxy into the network it sits in, so it
 * relays only to what is listed. Names are resolved once, when the gateway starts: a request is
 * matched against the listed names and the addresses they had then, and the TCP connection goes
 * to that literal address. A page can therefore never make the gateway look a name up (no DNS
 * rebinding to an address that was not allowed), and "127.1", "0x7f.1" or "::ffff:7f00:1" do not
 * stand in for 127.0.0.1.
 *
 * The Origin check keeps pages of other sites from driving the gateway through a visitor's
 * browser (a cross-site WebSocket is not stopped by the same-origin policy). Its own origin is
 * judged from the address it listens on, never from the request's Host header: a rebound name
 * sends a Host the attacker chose.
 */
import { isIP } from "node:net";
import { ConfigError } from "../core/errors.js";
import { parseHostPort } from "../core/url.js";
import { formatDestination } from "./protocol.js";

/** One `--allow` entry as written. */
export interface AllowEntry {
  /** The host as listed: a name (lower case) or an address (canonical form, no brackets). */
  readonly host: string;
  readonly port: number;
}

/** An entry with the addresses it stood for when the gateway started. */
export interface ResolvedEntry extends AllowEntry {
  readonly addresses: readonly string[];
}

/** A destination the gateway will connect to: always a literal address. */
export interface Destination {
  /** How the page named it (for logs and messages). */
  readonly requested: string;
  readonly address: string;
  readonly port: number;
}

/** Looks a name up: every address it has (node:dns's lookup with `all: true`). */
export type Lookup = (host: string) => Promise<readonly string[]>;

/**
 * An address in the one form we compare: IPv4 as dotted quads, IPv6 compressed and lower case
 * (as the WHATWG URL parser writes it). Undefined for anything that is not an address literal.
 */
export function canonicalAddress(text: string): string | undefined {
  const bare = text.replace(/^\[(.*)\]$/, "$1");
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family === 6) {
    // A zone (fe80::1%eth0) is kept as written: URL would refuse it, and it names one link.
    const zone = bare.indexOf("%");
    if (zone >= 0) return `${new URL(`http://[${bare.slice(0, zone)}]`).hostname.slice(1, -1)}${bare.slice(zone)}`;
    return new URL(`http://[${bare}]`).hostname.slice(1, -1);
  }
  return undefined;
}

/**
 * Parses `HOST:PORT[,HOST:PORT...]` (a bare HOST means port 3260, iSCSI's). Repeated entries
 * collapse into one. `option` names the flag in messages.
 */
export function parseAllowList(text: string, option = "--allow"): AllowEntry[] {
  const entries: AllowEntry[] = [];
  const parts = text.split(",").map((p) => p.trim());
  if (parts.every((p) => p === "")) throw new ConfigError(`${option} needs at least one HOST:PORT, e.g. ${option} 127.0.0.1:3260`);
  for (const part of parts) {
    if (part === "") throw new ConfigError(`${option} "${text}" has an empty entry: separate HOST:PORT entries with single commas`);
    if (part.includes("*")) throw new ConfigError(`${option} "${part}": wildcards are not accepted; list each HOST:PORT the gateway may reach`);
    const { host, port } = parseHostPort(part, (why) => new ConfigError(`${option} "${part}": ${why}`));
    const entry = { host: canonicalAddress(host) ?? host.toLowerCase(), port };
    if (!entries.some((e) => e.host === entry.host && e.port === entry.port)) entries.push(entry);
  }
  return entries;
}

/** Resolves the listed names once; a name that does not resolve stops the gateway from starting. */
export async function resolveAllowList(entries: readonly AllowEntry[], lookup: Lookup, option = "--allow"): Promise<AllowList> {
  const resolved: ResolvedEntry[] = [];
  for (const entry of entries) {
    const literal = canonicalAddress(entry.host);
    if (literal !== undefined) {
      resolved.push({ ...entry, addresses: [literal] });
      continue;
    }
    let addresses: readonly string[];
    try {
      addresses = await lookup(entry.host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === "ENOTFOUND" || code === "EAI_NONAME" ? "no such host" : (code ?? (error as Error).message);
      throw new ConfigError(`${option} "${formatDestination(entry.host, entry.port)}": cannot resolve ${entry.host}: ${why}`, { cause: error });
    }
    const canonical = addresses.map((a) => canonicalAddress(a)).filter((a): a is string => a !== undefined);
    if (canonical.length === 0) throw new ConfigError(`${option} "${formatDestination(entry.host, entry.port)}": ${entry.host} has no address`);
    resolved.push({ ...entry, addresses: [...new Set(canonical)] });
  }
  return new AllowList(resolved);
}

export class AllowList {
  constructor(readonly entries: readonly ResolvedEntry[]) {}

  /** The entries as `host:port`, as the page and the logs show them. */
  get shown(): string[] {
    return this.entries.map((e) => formatDestination(e.host, e.port));
  }

  /**
   * Where to connect for a page's request, or undefined when it is not allowed. A name matches
   * only a listed name; an address matches a listed address or one a listed name resolved to.
   */
  match(host: string, port: number): Destination | undefined {
    const requested = formatDestination(host, port);
    const literal = canonicalAddress(host);
    for (const entry of this.entries) {
      if (entry.port !== port) continue;
      if (literal !== undefined) {
        if (entry.addresses.includes(literal)) return { requested, address: literal, port };
      } else if (entry.host === host.toLowerCase()) {
        const address = entry.addresses[0];
        if (address !== undefined) return { requested, address, port };
      }
    }
    return undefined;
  }
}

/**
 * `scheme://host[:port]` (http or https) in the form browsers send it in the Origin header: no
 * path, no default port, lower case. `option` names the flag in messages.
 */
export function parseOrigin(text: string, option = "--allow-origin"): string {
  if (text === "*" || text === "null") {
    throw new ConfigError(`${option} "${text}": list each origin a page is served from (e.g. https://tools.example.com); "${text}" would let any page drive the gateway`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${option} "${text}" is not an origin: write it as http://host:port or https://host`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`${option} "${text}": an origin is http:// or https://`);
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "" || (url.pathname !== "/" && url.pathname !== "")) {
    throw new ConfigError(`${option} "${text}": an origin is scheme://host[:port] only, without a path, query or credentials`);
  }
  return url.origin;
}

/** Parses a comma-separated list of origins (the flag may also be repeated). */
export function parseOriginList(texts: readonly string[], option = "--allow-origin"): string[] {
  const origins: string[] = [];
  for (const text of texts) {
    for (const part of text.split(",").map((p) => p.trim())) {
      if (part === "") continue;
      const origin = parseOrigin(part, option);
      if (!origins.includes(origin)) origins.push(origin);
    }
  }
  return origins;
}

/** What the gateway knows about the machine, to name its own origins when it listens everywhere. */
export interface MachineNames {
  /** The addresses of this machine's interfaces. */
  readonly addresses: readonly string[];
  readonly hostname: string | undefined;
}

function isWildcard(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::" || host === "[::]";
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * The origins of the gateway's own page: the address it listens on; `localhost` too on a
 * loopback address; on a wildcard address, every address of this machine and its hostname (the
 * names a browser elsewhere would use). Always plain http: the gateway serves no TLS itself, and a
 * TLS proxy in front of it is another origin, to add with --allow-origin.
 */
export function ownOrigins(listenHost: string, port: number, machine: MachineNames): string[] {
  const hosts = new Set<string>();
  const add = (host: string): void => {
    hosts.add(canonicalAddress(host) ?? host.toLowerCase());
  };
  if (isWildcard(listenHost)) {
    for (const a of machine.addresses) add(a);
    add("localhost");
    if (machine.hostname !== undefined && machine.hostname !== "") add(machine.hostname);
  } else {
    add(listenHost);
    if (isLoopback(listenHost)) add("localhost");
  }
  return [...hosts].map((h) => new URL(`http://${formatDestination(h, port)}`).origin);
}

/** Whether a page of `origin` (the request's Origin header) may open a relay. */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return false;
  let normal: string;
  try {
    normal = new URL(origin).origin;
  } catch {
    return false;
  }
  return normal !== "null" && allowed.includes(normal);
}
