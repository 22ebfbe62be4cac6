/**
 * One remembered target ("node record", as open-iscsi's iscsiadm calls them): where it is, which
 * LUN, whether `iscsi up` logs in to it, and how its LUN is exported over NBD. Stored as
 * `key = value` lines, so a damaged file can be reported by line; secrets are never in it.
 */
import { ConfigError } from "../../core/errors.js";
import { formatIscsiUrl, parseHostPort, parseIscsiUrl } from "../../core/url.js";
import { DEFAULT_NBD_PORT } from "../../nbd/server.js";
import type { DigestPreference } from "../../client/options.js";
import { formatHostPort } from "../../core/url.js";

export type Startup = "automatic" | "manual";

export interface NbdSettings {
  /** TCP address; `socket` excludes it. */
  readonly listen?: { readonly host: string; readonly port: number };
  /** A Unix socket path. */
  readonly socket?: string;
  readonly readOnly: boolean;
}

export interface NodeRecord {
  readonly name: string;
  readonly portal: { readonly host: string; readonly port: number };
  readonly targetName: string;
  /** The LUN to export; undefined: the first disk REPORT LUNS lists. */
  readonly lun: number | undefined;
  readonly startup: Startup;
  readonly headerDigest?: DigestPreference;
  readonly dataDigest?: DigestPreference;
  readonly chapUser?: string;
  readonly chapTargetUser?: string;
  /** Unset: `iscsi up` serves it on a Unix socket in the runtime directory. */
  readonly nbd?: NbdSettings;
}

/** A record file that cannot be read as one: which file, which line, why. */
export class RecordError extends ConfigError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly reason: string,
  ) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${reason}`);
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A node name is also a file name: letters, digits, '.', '_', '-', at most 64, not starting with a dot. */
export function checkNodeName(name: string): string {
  if (!NAME.test(name)) {
    throw new ConfigError(`node name ${JSON.stringify(name)} is not allowed: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return name;
}

/** A name from the target's IQN (the part after the last ':', else the whole) and the LUN. */
export function defaultNodeName(targetName: string, lun: number | undefined): string {
  const tail = targetName.includes(":") ? targetName.slice(targetName.lastIndexOf(":") + 1) : targetName;
  let base = tail.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 56);
  if (base === "") base = "node";
  return lun === undefined ? base : `${base}-${lun}`;
}

const DIGESTS: Record<string, DigestPreference> = { none: "None", crc32c: "CRC32C", "crc32c,none": "CRC32C,None", "none,crc32c": "None,CRC32C" };

function parseDigest(text: string): DigestPreference | undefined {
  return DIGESTS[text.toLowerCase().replace(/\s+/g, "")];
}

/** `listen=HOST:PORT` or `socket=PATH`, optionally `,read-only` (the `--nbd` option's form). */
export function parseNbdSpec(text: string): NbdSettings {
  let listen: NbdSettings["listen"];
  let socket: string | undefined;
  let readOnly = false;
  for (const part of text.split(",").map((p) => p.trim())) {
    if (part === "read-only") readOnly = true;
    else if (part.startsWith("listen=")) {
      const value = part.slice("listen=".length);
      const withPort = /:\d+$/.test(value) && !/^\[[^\]]*\]$/.test(value) ? value : `${value}:${DEFAULT_NBD_PORT}`;
      listen = parseHostPort(withPort.startsWith(":") ? `127.0.0.1${withPort}` : withPort, (why) => new ConfigError(`NBD address "${value}": ${why}`));
    } else if (part.startsWith("socket=")) {
      socket = part.slice("socket=".length);
      if (!socket.startsWith("/")) throw new ConfigError(`NBD socket "${socket}" must be an absolute path`);
    } else {
      throw new ConfigError(`NBD setting "${part}" is not listen=HOST:PORT, socket=PATH or read-only`);
    }
  }
  if (listen !== undefined && socket !== undefined) throw new ConfigError("NBD listen= and socket= exclude each other: give one");
  return { ...(listen === undefined ? {} : { listen }), ...(socket === undefined ? {} : { socket }), readOnly };
}

export function formatNbdSpec(nbd: NbdSettings): string {
  const where = nbd.socket !== undefined ? `socket=${nbd.socket}` : nbd.listen !== undefined ? `listen=${formatHostPort(nbd.listen.host, nbd.listen.port)}` : "";
  return [where, nbd.readOnly ? "read-only" : ""].filter((p) => p !== "").join(",");
}

/** The record's target as a URL without credentials. */
export function recordUrl(record: Pick<NodeRecord, "portal" | "targetName" | "lun">): string {
  return formatIscsiUrl({ host: record.portal.host, port: record.portal.port, targetName: record.targetName, lun: record.lun });
}

export function serializeRecord(record: NodeRecord): string {
  const lines = [
    "# iscsi-ts node record, written by `iscsi node add`; secrets are kept apart, in ../secrets/",
    `url = ${recordUrl(record)}`,
    `startup = ${record.startup}`,
  ];
  if (record.nbd !== undefined) lines.push(`nbd = ${formatNbdSpec(record.nbd)}`);
  if (record.headerDigest !== undefined) lines.push(`header-digest = ${record.headerDigest.toLowerCase()}`);
  if (record.dataDigest !== undefined) lines.push(`data-digest = ${record.dataDigest.toLowerCase()}`);
  if (record.chapUser !== undefined) lines.push(`chap-user = ${record.chapUser}`);
  if (record.chapTargetUser !== undefined) lines.push(`chap-target-user = ${record.chapTargetUser}`);
  return `${lines.join("\n")}\n`;
}

const KEYS = new Set(["url", "startup", "nbd", "header-digest", "data-digest", "chap-user", "chap-target-user"]);

/** Parses a record file's text; every fault is a RecordError naming `file` and the line. */
export function parseRecord(name: string, text: string, file: string): NodeRecord {
  const seen = new Map<string, { value: string; line: number }>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-z][a-z-]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) throw new RecordError(file, i + 1, `not a "key = value" line: ${JSON.stringify(line.slice(0, 60))}`);
    const key = m[1] ?? "";
    if (!KEYS.has(key)) throw new RecordError(file, i + 1, `unknown key "${key}" (known: ${[...KEYS].join(", ")})`);
    if (seen.has(key)) throw new RecordError(file, i + 1, `"${key}" given twice (first on line ${seen.get(key)?.line})`);
    seen.set(key, { value: (m[2] ?? "").trim(), line: i + 1 });
  }
  const at = (key: string, parse: (value: string) => void): void => {
    const entry = seen.get(key);
    if (entry === undefined) return;
    try {
      parse(entry.value);
    } catch (error) {
      throw new RecordError(file, entry.line, `${key}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  if (!seen.has("url")) throw new RecordError(file, undefined, "no url line: the record does not say which target");
  let record: { -readonly [K in keyof NodeRecord]: NodeRecord[K] } | undefined;
  at("url", (value) => {
    const url = parseIscsiUrl(value, { requireTarget: true });
    if (url.username !== undefined || url.targetUsername !== undefined) throw new ConfigError("holds credentials; they belong in the secrets directory");
    record = {
      name,
      portal: { host: url.host, port: url.port },
      targetName: url.targetName ?? "",
      lun: url.lun,
      startup: "manual",
      ...(url.headerDigest === undefined ? {} : { headerDigest: url.headerDigest }),
    };
  });
  if (record === undefined) throw new RecordError(file, undefined, "no target");
  const r = record;
  at("startup", (value) => {
    if (value !== "automatic" && value !== "manual") throw new ConfigError(`"${value}" is not automatic or manual`);
    r.startup = value;
  });
  at("nbd", (value) => {
    r.nbd = parseNbdSpec(value);
  });
  at("header-digest", (value) => {
    const d = parseDigest(value);
    if (d === undefined) throw new ConfigError(`"${value}" is not none, crc32c, crc32c,none or none,crc32c`);
    r.headerDigest = d;
  });
  at("data-digest", (value) => {
    const d = parseDigest(value);
    if (d === undefined) throw new ConfigError(`"${value}" is not none, crc32c, crc32c,none or none,crc32c`);
    r.dataDigest = d;
  });
  at("chap-user", (value) => {
    if (value === "") throw new ConfigError("is empty");
    r.chapUser = value;
  });
  at("chap-target-user", (value) => {
    if (value === "") throw new ConfigError("is empty");
    r.chapTargetUser = value;
  });
  return r;
}
