import { hostname } from "node:os";
import type { ChapAlgorithm } from "../core/auth/hash.js";
import { Secret } from "../core/auth/secret.js";
import { ConfigError } from "../core/errors.js";
import type { ChapCredentials } from "../core/login/initiator.js";
import { type DigestName, DEFAULT_INITIATOR_PROPOSAL, type OperationalProposal } from "../core/text/parameters.js";
import { type IscsiUrl, parseHostPort, parseIscsiUrl } from "../core/url.js";
import type { Portal } from "./host.js";
import type { RecoverySettings } from "../core/session/recovery.js";

/** CHAP credentials as a caller gives them: strings are wrapped in a Secret at once. */
export interface ChapOptions {
  readonly username: string;
  readonly secret: string | Secret;
  /** Mutual CHAP: the name and secret the target must prove. */
  readonly targetUsername?: string;
  readonly targetSecret?: string | Secret;
  /** CHAP_A values offered, strongest first; default SHA3-256, SHA-256, SHA-1, MD5. */
  readonly algorithms?: readonly ChapAlgorithm[];
}

export type DigestPreference = "None" | "CRC32C" | "CRC32C,None" | "None,CRC32C";

export interface SessionOptions {
  /** `host[:port]`, `[v6]:port`, or an object. */
  readonly portal: string | Portal;
  readonly targetName: string;
  /** Default: iqn.2026-11.io.iscsi-ts:<hostname>. */
  readonly initiatorName?: string;
  readonly initiatorAlias?: string;
  readonly chap?: ChapOptions;
  readonly headerDigest?: DigestPreference;
  readonly dataDigest?: DigestPreference;
  /**
   * TCP connections in the session (MC/S, RFC 7143 §4.3.1); default 1. Commands are spread over
   * them round robin. The target may allow fewer (MaxConnections): the session uses what it gets.
   */
  readonly connections?: number;
  /** Operational values to offer instead of the defaults (RFC 7143 §13). */
  readonly proposal?: Partial<OperationalProposal>;
  readonly connectTimeoutMs?: number;
  /**
   * Keep trying the first login this long while the target cannot be reached (connection refused,
   * no route, timeouts), for a host that boots before its network or target; default 0.
   */
  readonly waitForTargetMs?: number;
  readonly loginTimeoutMs?: number;
  readonly logoutTimeoutMs?: number;
  /** Per-command timeout; none by default. */
  readonly commandTimeoutMs?: number;
  /** NOP-Out keep-alive; default every 5 s with a 15 s timeout; false turns it off. */
  readonly keepAlive?: { readonly intervalMs: number; readonly timeoutMs: number } | false;
  /** Session recovery after a connection loss (ERL 0 reinstatement); on by default. */
  readonly recovery?: Partial<RecoverySettings>;
  /** Milliseconds a task management function may take before escalating; default 10 s. */
  readonly taskManagementTimeoutMs?: number;
  /** How often a command is retried after a UNIT ATTENTION (SAM-5 §5.14); default 5. */
  readonly unitAttentionRetries?: number;
  /** Each PDU sent and received as one line (CHAP values redacted), for -v. */
  readonly trace?: (line: string) => void;
}

export function defaultInitiatorName(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, "-") || "localhost";
  return `iqn.2026-11.io.iscsi-ts:${host}`;
}

export function toPortal(portal: string | Portal): Portal {
  return typeof portal === "string" ? parseHostPort(portal) : portal;
}

export function toChapCredentials(chap: ChapOptions | undefined): ChapCredentials | undefined {
  if (chap === undefined) return undefined;
  if (chap.username === "") throw new ConfigError("the CHAP user name is empty");
  const secret = typeof chap.secret === "string" ? Secret.fromString(chap.secret) : chap.secret;
  if (secret.length === 0) throw new ConfigError(`the CHAP secret for user "${chap.username}" is empty`);
  const hasTargetUser = chap.targetUsername !== undefined;
  const hasTargetSecret = chap.targetSecret !== undefined;
  if (hasTargetUser !== hasTargetSecret) {
    throw new ConfigError("mutual CHAP needs both the target's user name and the target's secret");
  }
  const targetSecret =
    chap.targetSecret === undefined ? undefined : typeof chap.targetSecret === "string" ? Secret.fromString(chap.targetSecret) : chap.targetSecret;
  return {
    username: chap.username,
    secret,
    ...(chap.targetUsername === undefined ? {} : { targetUsername: chap.targetUsername }),
    ...(targetSecret === undefined ? {} : { targetSecret }),
    ...(chap.algorithms === undefined ? {} : { algorithms: chap.algorithms }),
  };
}

export function digestList(preference: DigestPreference | undefined, fallback: readonly DigestName[]): readonly DigestName[] {
  if (preference === undefined) return fallback;
  return preference.split(",") as DigestName[];
}

export function buildProposal(options: SessionOptions): OperationalProposal {
  const connections = options.connections ?? 1;
  if (!Number.isInteger(connections) || connections < 1 || connections > 64) {
    throw new ConfigError(`connections must be a whole number from 1 to 64, not ${connections}`);
  }
  return {
    ...DEFAULT_INITIATOR_PROPOSAL,
    maxConnections: Math.max(connections, DEFAULT_INITIATOR_PROPOSAL.maxConnections),
    ...options.proposal,
    headerDigest: digestList(options.headerDigest, options.proposal?.headerDigest ?? DEFAULT_INITIATOR_PROPOSAL.headerDigest),
    dataDigest: digestList(options.dataDigest, options.proposal?.dataDigest ?? DEFAULT_INITIATOR_PROPOSAL.dataDigest),
  };
}

/**
 * Session options from a libiscsi/QEMU URL, with `overrides` applied on top. CHAP credentials in
 * the URL are used only when `overrides.chap` gives none.
 */
export function optionsFromUrl(url: string | IscsiUrl, overrides: Partial<SessionOptions> = {}): SessionOptions & { readonly lun: number | undefined } {
  const parsed = typeof url === "string" ? parseIscsiUrl(url, { requireTarget: true }) : url;
  if (parsed.targetName === undefined) throw new ConfigError("the URL names no target");
  let chap: ChapOptions | undefined = overrides.chap;
  if (chap === undefined && parsed.username !== undefined) {
    if (parsed.secret === undefined) {
      throw new ConfigError(`the URL gives the CHAP user "${parsed.username}" but no secret (write user%secret@host)`);
    }
    chap = {
      username: parsed.username,
      secret: parsed.secret,
      ...(parsed.targetUsername === undefined ? {} : { targetUsername: parsed.targetUsername }),
      ...(parsed.targetSecret === undefined ? {} : { targetSecret: parsed.targetSecret }),
    };
  }
  return {
    ...overrides,
    portal: { host: parsed.host, port: parsed.port },
    targetName: parsed.targetName,
    ...(chap === undefined ? {} : { chap }),
    ...(overrides.headerDigest === undefined && parsed.headerDigest !== undefined ? { headerDigest: parsed.headerDigest } : {}),
    lun: parsed.lun,
  };
}
