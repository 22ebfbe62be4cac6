import { ConfigError } from "./errors.js";

/**
 * iSCSI URLs as libiscsi and QEMU write them:
 *
 *   iscsi://[user[%secret]@]host[:port][/target-iqn[/lun]][?header_digest=crc32c&target_user=u&target_password=p]
 *
 * The user and secret are split at the first '%' and not percent-decoded, as libiscsi does, so a
 * URL that works with iscsi-ls works here; a URL with no '%' in its credentials may split them at
 * the first ':' instead, as RFC 3986 §3.2.1 writes `user:password@` (so a user name holding ':',
 * an IQN say, needs the '%' form). Hosts are names, IPv4 addresses or bracketed IPv6.
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

/** Where the credentials of an iscsi:// URL are, found the one way the parser and every masker use. */
export interface UrlCredentialParts {
  /** The text after `iscsi://` up to the query, less the credentials and their '@'. */
  readonly rest: string;
  /** Everything before the '@', user and secret together; undefined when there is no '@'. */
  readonly userinfo: string | undefined;
  readonly username: string | undefined;
  readonly secret: string | undefined;
  /** What split user and secret: libiscsi's '%', or RFC 3986's ':'. */
  readonly separator: "%" | ":" | undefined;
}

/**
 * Splits `text` (without `iscsi://` and without the query) into credentials and the rest.
 * Credentials end at the last '@' (an IQN never holds one), so a secret may contain '@' or '/'.
 * User and secret are split at the first '%' (libiscsi), else at the first ':' (RFC 3986 §3.2.1).
 */
export function splitUrlCredentials(text: string): UrlCredentialParts {
  const at = text.lastIndexOf("@");
  if (at < 0) return { rest: text, userinfo: undefined, username: undefined, secret: undefined, separator: undefined };
  const userinfo = text.slice(0, at);
  const pct = userinfo.indexOf("%");
  const split = pct >= 0 ? pct : userinfo.indexOf(":");
  return {
    rest: text.slice(at + 1),
    userinfo,
    username: split >= 0 ? userinfo.slice(0, split) : userinfo,
    secret: split >= 0 ? userinfo.slice(split + 1) : undefined,
    separator: split < 0 ? undefined : pct >= 0 ? "%" : ":",
  };
}

/**
 * True when the authority of a URL with no '@' looks like credentials that lost their '@host'
 * (`iscsi://u%secret/...`, `iscsi://u:secret/...`): a '%' outside brackets, or one ':' followed by
 * something other than a port number. Such text is never echoed.
 */
export function looksLikeCredentials(authority: string): boolean {
  if (authority.startsWith("[")) return false;
  if (authority.includes("%")) return true;
  const colon = authority.indexOf(":");
  return colon >= 0 && authority.indexOf(":", colon + 1) < 0 && !/^\d*$/.test(authority.slice(colon + 1));
}

/**
 * What to say about a URL in an error: the URL with its credentials, user and secret, replaced by
 * `***` (found as `parseIscsiUrl` finds them, so no part of a secret containing '@' or '/' can
 * show), and any `target_password` likewise. An authority that looks like credentials without
 * their '@host' is replaced too.
 */
export function redactUrl(text: string): string {
  let out = text;
  // Any scheme: a mistyped one (http://user:secret@...) is refused with the URL in the message.
  const prefix = /^[a-z][a-z0-9+.-]*:\/\//i.exec(out);
  if (prefix !== null) {
    const all = out.slice(prefix[0].length);
    const queryAt = all.indexOf("?");
    const beforeQuery = queryAt >= 0 ? all.slice(0, queryAt) : all;
    const query = queryAt >= 0 ? all.slice(queryAt) : "";
    const { rest, userinfo } = splitUrlCredentials(beforeQuery);
    if (userinfo !== undefined) {
      out = `${prefix[0]}***@${rest}${query}`;
    } else {
      const slash = rest.indexOf("/");
      const authority = slash >= 0 ? rest.slice(0, slash) : rest;
      if (looksLikeCredentials(authority)) out = `${prefix[0]}***${rest.slice(authority.length)}${query}`;
    }
  }
  return out.replace(/([?&]target_password=)[^&]*/i, "$1***");
}

export function parseIscsiUrl(text: string, options: { readonly requireTarget?: boolean; readonly requireLun?: boolean } = {}): IscsiUrl {
  const shown = redactUrl(text);
  const bad = (why: string): ConfigError =>
    new ConfigError(`invalid iSCSI URL "${shown}": ${why} (expected iscsi://[user[%secret]@]host[:port]/target-iqn/lun; user:secret@ also works)`);
  const prefix = /^iscsi:\/\//i.exec(text);
  if (prefix === null) throw bad("it must start with iscsi://");
  let rest = text.slice(prefix[0].length);

  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }

  const credentials = splitUrlCredentials(rest);
  rest = credentials.rest;
  const { username, secret } = credentials;
  if (username === "") throw bad("the user name before '@' is empty");
  if (secret === "") throw bad(`the secret after '${credentials.separator ?? "%"}' is empty`);

  const slash = rest.indexOf("/");
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : "";
  // Credentials that lost their '@host' are not a host to name in the message.
  if (credentials.userinfo === undefined && looksLikeCredentials(authority)) {
    throw bad(
      authority.includes("%")
        ? "the host is missing: user%secret must be followed by '@' and the host"
        : "the text before the path is neither host[:port] (the port is not a number) nor user:secret followed by '@' and the host",
    );
  }
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
      // Only a number is echoed: text after a ':' may be a secret that lost its '@host'.
      throw bad(/^\d{1,5}$/.test(portText) ? `port "${portText}" is not a number from 1 to 65535` : "the port is not a number from 1 to 65535");
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

/**
 * `host:port` for messages, URLs and portals: an IPv6 literal goes in brackets (`[::1]:3260`), as
 * RFC 3986 §3.2.2 and RFC 7143 §13.9 (TargetAddress) write it, so its colons and the port's stay apart.
 */
export function formatHostPort(host: string, port: number): string {
  return `${bracketed(host)}:${port}`;
}

function bracketed(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Formats an IscsiUrl back, without any secret. */
export function formatIscsiUrl(url: { host: string; port: number; targetName?: string | undefined; lun?: number | undefined }): string {
  const host = bracketed(url.host);
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
