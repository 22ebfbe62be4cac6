/**
 * RFC 7143 §13.8 TargetAddress: `domainname[:port][,portal-group-tag]`, where domainname is a DNS
 * name, an IPv4 address, or an IPv6 address in brackets (RFC 3986 style). It appears in login
 * redirections (§11.13.5) and SendTargets responses (Appendix D).
 */
import { RemoteProtocolError } from "../errors.js";
import { formatHostPort } from "../url.js";

/** RFC 7143 §13.8: the well-known iSCSI port. */
export const ISCSI_DEFAULT_PORT = 3260;

export interface TargetAddress {
  readonly host: string;
  readonly port: number;
  /** Present when the address named one. */
  readonly portalGroupTag?: number;
}

function decimal(text: string, max: number): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

export function parseTargetAddress(value: string): TargetAddress {
  const bad = (why: string): never => {
    throw new RemoteProtocolError(`TargetAddress="${value}": ${why}`);
  };
  let rest = value;
  let portalGroupTag: number | undefined;
  const comma = rest.lastIndexOf(",");
  if (comma >= 0) {
    portalGroupTag = decimal(rest.slice(comma + 1), 65535) ?? bad("portal group tag is not a number 0..65535");
    rest = rest.slice(0, comma);
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) return bad("unclosed '[' in IPv6 address");
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(":")) return bad("junk after ']'");
      portText = after.slice(1);
    }
    if (!/^[0-9A-Fa-f:.]+(%[A-Za-z0-9._~-]+)?$/.test(host) || !host.includes(":")) return bad("not an IPv6 address in brackets");
  } else {
    const colons = rest.split(":").length - 1;
    if (colons > 1) return bad("an IPv6 address must be in brackets");
    const colon = rest.indexOf(":");
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    portText = colon >= 0 ? rest.slice(colon + 1) : undefined;
    if (!/^[A-Za-z0-9._-]+$/.test(host)) return bad("host is not a domain name or IPv4 address");
  }
  if (host.length === 0) return bad("empty host");
  let port = ISCSI_DEFAULT_PORT;
  if (portText !== undefined) {
    const p = decimal(portText, 65535);
    if (p === undefined || p === 0) return bad("port is not a number 1..65535");
    port = p;
  }
  return portalGroupTag === undefined ? { host, port } : { host, port, portalGroupTag };
}

export function formatTargetAddress(address: TargetAddress): string {
  const tag = address.portalGroupTag === undefined ? "" : `,${address.portalGroupTag}`;
  return `${formatHostPort(address.host, address.port)}${tag}`;
}
