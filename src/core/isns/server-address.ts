/** `HOST[:PORT]` of an iSNS server; port 3205 (RFC 4171 §5.1) when none is given. */
import { ConfigError } from "../errors.js";
import { parseHostPort } from "../url.js";
import { ISNS_DEFAULT_PORT } from "./constants.js";

export interface IsnsServerAddress {
  readonly host: string;
  readonly port: number;
}

export function parseIsnsServer(text: string): IsnsServerAddress {
  const parsed = parseHostPort(text, (why) => new ConfigError(`iSNS server "${text}": ${why}`));
  const hasPort = text.startsWith("[") ? /\]:\d+$/.test(text) : text.includes(":");
  return { host: parsed.host, port: hasPort ? parsed.port : ISNS_DEFAULT_PORT };
}
