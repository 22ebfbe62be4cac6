import { ConfigError } from "./errors.js";

/**
 * iSCSI URLs as libiscsi and QEMU write them:
 *
 *   iscsi://[user[%secret]@]host[:port][/target-iqn[/lun]][?header_digest=crc32c&target_user=u&target_password=p]
 *
 * The user and secret are split at the first '%' and not percent-decoded, as libiscsi does, so a
 * URL that works with iscsi-ls works here. Hosts are names, IPv4 addresses or bracketed IPv6.
 */
export interface IscsiUrl {
  readonly host: string;
  readonly port: number;
  readonly targetName: string | undefined;
  readonly lun: number | undefined;
  readonly username: string | undefined;
  /** The CHAP secret from the URL. Callers wrap it in a Secret at once and never print it. */
  readonly secret: string | undefined;
  readonly targetUsername: string | undefined;
  readonly targetSecret: string | undefined;
  readonly headerDigest: "CRC32C" | "None" | "CRC32C,None" | "None,CRC32C" | undefined;
}

export const DEFAULT_ISCSI_PORT = 3260;

/**
 * What to say about a URL in an error: the URL with any secret replaced. It finds the secret the
 * way `parseIscsiUrl` does (user and secret split at the first '%', credentials ending at the last
 * '@' before the path), so no part of a secret containing '@' or '/' can show.
 */
export function redactUrl(text: string): string {
  let out = text;
  const prefix = /^iscsi:\/\//i.exec(out);
  if (prefix !== null) {
    const rest = out.slice(prefix[0].length);
    const queryAt = rest.indexOf("?");
    const beforeQuery = queryAt >= 0 ? rest.slice(0, queryAt) : rest;
    const at = beforeQuery.lastIndexOf("@");
    if (at >= 0) {
      const credentials = beforeQuery.slice(0, at);
      const pct = credentials.indexOf("%");
      if (pct >= 0) out = `${prefix[0]}${credentials.slice(0, pct)}%***${rest.slice(at)}`;
    }
  }
  return out.replace(/([?&]target_password=)[^&]*/i, "$1***");
}

export function parseIscsiUrl(text: string, options: { readonly requireTarget?: boolean; readonly requireLun?: boolean } = {}): IscsiUrl {
  const shown = redactUrl(text);
  const bad = (why: string): ConfigError =>
    new ConfigError(`invalid iSCSI URL "${shown}": ${why} (expected iscsi://[user[%secret]@]host[:port]/target-iqn/lun)`);
  const prefix = /^iscsi:\/\//i.exec(text);
  if (prefix === null) throw bad("it must start with iscsi://");
  let rest = text.slice(prefix[0].length);

  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }

  let username: string | undefined;
  let secret: string | undefined;
  // Credentials end at the last '@' (an IQN never holds one), so a secret may contain '@' or '/'.
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const credentials = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const pct = credentials.indexOf("%");
    username = pct >= 0 ? credentials.slice(0, pct) : credentials;
    secret = pct >= 0 ? credentials.slice(pct + 1) : undefined;
    if (username === "") throw bad("the user name before '@' is empty");
    if (secret === "") throw bad("the secret after '%' is empty");
  }

  const slash = rest.indexOf("/");
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : "";
  const { host, port } = parseHostPort(authority, bad);

  let targetName: string | undefined;
  let lun: number | undefined;
  if (path !== "") {
    const parts = path.split("/");
    if (parts.length > 2) throw bad("too many path segments after the host");
    targetName = parts[0] === "" ? undefined : parts[0];
    if (targetName !== undefined && !isPlausibleIscsiName(targetName)) {
      throw bad(`"${targetName}" is not an iSCSI name (iqn.yyyy-mm.domain:..., eui.<16 hex>, naa.<hex>)`);
    }
    const lunText = parts[1];
    if (lunText !== undefined && lunText !== "") {
      if (!/^\d+$/.test(lunText)) throw bad(`LUN "${lunText}" is not a number`);
      lun = Number(lunText);
      if (lun > 16383) throw bad(`LUN ${lun} is out of range (0-16383)`);
    }
  }
  if (options.requireTarget && targetName === undefined) throw bad("the target IQN is missing");
  if (options.requireLun && lun === undefined) throw bad("the LUN number is missing");

  let targetUsername: string | undefined;
  let targetSecret: string | undefined;
  let headerDigest: IscsiUrl["headerDigest"];
  if (query !== "") {
    for (const arg of query.split("&")) {
      if (arg === "") continue;
      const eq = arg.indexOf("=");
      const key = eq >= 0 ? arg.slice(0, eq) : arg;
      const value = eq >= 0 ? arg.slice(eq + 1) : "";
      switch (key) {
        case "header_digest": {
          const v = value.toLowerCase();
          headerDigest =
            v === "crc32c" ? "CRC32C" : v === "none" ? "None" : v === "crc32c-none" ? "CRC32C,None" : v === "none-crc32c" ? "None,CRC32C" : undefined;
          if (headerDigest === undefined) throw bad(`header_digest must be crc32c, none, crc32c-none or none-crc32c, not "${value}"`);
          break;
        }
        case "target_user":
          targetUsername = decodeComponent(value, bad);
          break;
        case "target_password":
          targetSecret = decodeComponent(value, bad);
          break;
        default:
          throw bad(`unknown argument "${key}"`);
      }
    }
  }
  return { host, port, targetName, lun, username, secret, targetUsername, targetSecret, headerDigest };
}

/** `host[:port]`, `[v6]:port`; the default port is 3260. */
export function parseHostPort(authority: string, bad: (why: string) => Error = (why) => new ConfigError(`invalid portal "${authority}": ${why}`)): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw bad("an IPv6 address needs its closing ']'");
    host = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw bad("unexpected text after the IPv6 address");
    portText = after.startsWith(":") ? after.slice(1) : undefined;
    if (!/^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(host)) throw bad(`"${host}" is not an IPv6 address`);
  } else {
    const colon = authority.indexOf(":");
    if (colon >= 0 && authority.indexOf(":", colon + 1) >= 0) throw bad("an IPv6 address must be written in brackets, e.g. [::1]:3260");
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    portText = colon >= 0 ? authority.slice(colon + 1) : undefined;
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) throw bad(host === "" ? "the host is missing" : `"${host}" is not a host name or address`);
  }
  let port = DEFAULT_ISCSI_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw bad(`port "${portText}" is not a number from 1 to 65535`);
    }
    port = Number(portText);
  }
  return { host, port };
}

/** RFC 7143 §4.2.7.2: iqn., eui. and naa. name formats (checked loosely: shape, not registry). */
export function isPlausibleIscsiName(name: string): boolean {
  if (name.length > 223) return false;
  return /^iqn\.\d{4}-\d{2}(\.[^\s]+)?(:[^\s]*)?$/i.test(name) || /^eui\.[0-9a-f]{16}$/i.test(name) || /^naa\.[0-9a-f]{16}([0-9a-f]{16})?$/i.test(name);
}

/** Formats an IscsiUrl back, without any secret. */
export function formatIscsiUrl(url: { host: string; port: number; targetName?: string | undefined; lun?: number | undefined }): string {
  const host = url.host.includes(":") ? `[${url.host}]` : url.host;
  const port = url.port === DEFAULT_ISCSI_PORT ? "" : `:${url.port}`;
  let out = `iscsi://${host}${port}`;
  if (url.targetName !== undefined) out += `/${url.targetName}`;
  if (url.targetName !== undefined && url.lun !== undefined) out += `/${url.lun}`;
  return out;
}

function decodeComponent(value: string, bad: (why: string) => Error): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw bad("a query argument has a malformed %-escape");
  }
}
