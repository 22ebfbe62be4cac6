import type { ChapAlgorithm } from "../core/auth/hash.js";
import { Secret } from "../core/auth/secret.js";
import { ConfigError } from "../core/errors.js";
import type { ChapCredentials } from "../core/login/initiator.js";
import { checkIscsiName } from "../core/iscsi-name.js";
import { type DigestName, DEFAULT_INITIATOR_PROPOSAL, type OperationalProposal, validateProposal } from "../core/text/parameters.js";
import { type IscsiUrl, parseHostPort, parseIscsiUrl } from "../core/url.js";
import type { AbortSignalLike } from "./abort.js";
import type { Portal } from "./host.js";
import type { RecoverySettings } from "../core/session/recovery.js";
import { CONNECTION_POLICIES, type ConnectionPolicy, isConnectionPolicy } from "../core/session/policy.js";
import type { CommandBatching } from "../core/session/batching.js";

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

/** RFC 7143 §13.1 digest choices, in order of preference; lowercase as QEMU and libiscsi URLs write them is taken too. */
export type DigestPreference = "None" | "CRC32C" | "CRC32C,None" | "None,CRC32C" | "none" | "crc32c" | "crc32c,none" | "none,crc32c";

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
   * them by `connectionPolicy`. The target may allow fewer (MaxConnections): the session uses what it gets.
   */
  readonly connections?: number;
  /**
   * How new commands are spread over the connections: "least-queue-depth" (the default: the
   * connection with the fewest commands outstanding, ties in turn) or "round-robin" (each in
   * turn, whatever their load). A command's data and status stay on the connection it was sent
   * on (RFC 7143 §7.1.2).
   */
  readonly connectionPolicy?: ConnectionPolicy;
  /**
   * At queue depth, new commands wait for a few more to leave in one write: while `depth` of a
   * connection's commands are at the target, until `batch` have gathered. Default { depth: 16,
   * batch: 4 }; `false` writes every command at once. Below the depth nothing waits.
   */
  readonly commandBatching?: CommandBatching | false;
  /**
   * Busy polling, in microseconds (0, the default: off). After each write, while commands are
   * outstanding, the host keeps its event loop turning without sleeping for up to this long, so
   * that an answer is read the moment it arrives rather than after the CPU has gone idle and been
   * woken. Lower latency at a low queue depth for CPU spent spinning (as Linux's `busy_poll` and
   * NVMe polled queues trade it). The Node and Bun hosts poll (setImmediate); the Deno and browser
   * hosts ignore it.
   */
  readonly busyPollUs?: number;
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
  /**
   * Milliseconds a command may go unanswered before it is escalated (ABORT TASK, LOGICAL UNIT
   * RESET, a new connection) and re-issued if safe: each attempt gets this long. None by default.
   */
  readonly commandTimeoutMs?: number;
  /**
   * The whole time a command may take, from the call to its outcome, across escalation, reconnects
   * and re-issues; then it fails with ISCSI_ERR_TIMEOUT (the connection carrying it is dropped
   * first if the target still holds it). None by default.
   */
  readonly commandBudgetMs?: number;
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
  /** Aborts the opening (connect and login): the call rejects with an AbortedError and nothing stays open. Not kept after it resolves. */
  readonly signal?: AbortSignalLike;
}

/** The initiator name used when none is given: the machine's name under our own naming authority. */
export function defaultInitiatorName(machineName: string | undefined): string {
  const host = (machineName ?? "").toLowerCase().replace(/[^a-z0-9.-]/g, "-") || "localhost";
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

/** "CRC32C" or "None" for a digest token in any case and spacing, else undefined. */
function digestToken(token: unknown): DigestName | undefined {
  if (typeof token !== "string") return undefined;
  const lower = token.trim().toLowerCase();
  return lower === "crc32c" ? "CRC32C" : lower === "none" ? "None" : undefined;
}

/**
 * The digest list a preference names. RFC 7143 §13.1 values are case-sensitive on the wire
 * ("CRC32C", "None"), but an option is not the wire: "crc32c", "none,CRC32C" (QEMU and libiscsi
 * URLs write header_digest=crc32c) are taken in any case and sent as the RFC spells them.
 */
export function digestList(preference: DigestPreference | undefined, fallback: readonly DigestName[], option = "headerDigest"): readonly DigestName[] {
  if (preference === undefined) return fallback;
  const list = typeof preference === "string" ? preference.split(",").map(digestToken) : [];
  if (list.length === 0 || list.length > 2 || list.includes(undefined) || new Set(list).size !== list.length) {
    throw new ConfigError(`${option} is ${JSON.stringify(preference)}: it must be "None", "CRC32C", "CRC32C,None" or "None,CRC32C" (any case; RFC 7143 §13.1)`);
  }
  return list as DigestName[];
}

/** A proposal's own digest list, taken in any case as above; anything else is left for validateProposal to refuse. */
function proposalDigests(list: readonly DigestName[] | undefined, fallback: readonly DigestName[]): readonly DigestName[] {
  if (list === undefined) return fallback;
  return Array.isArray(list) ? list.map((d) => digestToken(d) ?? d) : list;
}

/** A whole number of milliseconds (or a count) within a range, or a ConfigError naming the option. */
export function checkNumber(option: string, value: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max || !Number.isInteger(value)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new ConfigError(`${option} is ${typeof value === "string" ? JSON.stringify(value) : String(value)}: it must be a whole number ${range}`);
  }
}

/**
 * Checks every option that would otherwise be found wrong only once a connection is up (or never:
 * a timer of NaN ms), so that a mistake rejects the call that made it with a ConfigError naming the
 * option and what it allows, before anything connects. Returns the initiator name to use, in its
 * normalised form (RFC 3722).
 */
export function checkSessionOptions(options: Partial<SessionOptions>, machineName?: string): string {
  checkNumber("connectTimeoutMs", options.connectTimeoutMs, 1);
  checkNumber("waitForTargetMs", options.waitForTargetMs, 0);
  checkNumber("loginTimeoutMs", options.loginTimeoutMs, 1);
  checkNumber("logoutTimeoutMs", options.logoutTimeoutMs, 1);
  checkNumber("commandTimeoutMs", options.commandTimeoutMs, 1);
  checkNumber("commandBudgetMs", options.commandBudgetMs, 1);
  checkNumber("taskManagementTimeoutMs", options.taskManagementTimeoutMs, 1);
  checkNumber("unitAttentionRetries", options.unitAttentionRetries, 0, 1000);
  if (options.connectionPolicy !== undefined && !isConnectionPolicy(options.connectionPolicy)) {
    throw new ConfigError(`connectionPolicy is ${JSON.stringify(options.connectionPolicy)}: it must be ${CONNECTION_POLICIES.map((p) => `"${p}"`).join(" or ")}`);
  }
  checkNumber("busyPollUs", options.busyPollUs, 0, 1_000_000);
  if (options.commandBatching !== undefined && options.commandBatching !== false) {
    checkNumber("commandBatching.depth", options.commandBatching.depth, 1);
    checkNumber("commandBatching.batch", options.commandBatching.batch, 2);
  }
  if (options.keepAlive !== undefined && options.keepAlive !== false) {
    checkNumber("keepAlive.intervalMs", options.keepAlive.intervalMs, 1);
    checkNumber("keepAlive.timeoutMs", options.keepAlive.timeoutMs, 1);
  }
  const recovery = options.recovery;
  if (recovery !== undefined) {
    checkNumber("recovery.replacementTimeoutMs", recovery.replacementTimeoutMs, 0);
    checkNumber("recovery.initialBackoffMs", recovery.initialBackoffMs, 0);
    checkNumber("recovery.maxBackoffMs", recovery.maxBackoffMs, 0);
    checkNumber("recovery.maxAttempts", recovery.maxAttempts, 1, 1000);
  }
  if (options.initiatorName === undefined) return defaultInitiatorName(machineName);
  const checked = checkIscsiName(options.initiatorName);
  if (!checked.ok) throw new ConfigError(`initiatorName ${JSON.stringify(options.initiatorName)} is not an iSCSI name: ${checked.reason}`);
  return checked.name;
}

export function buildProposal(options: SessionOptions): OperationalProposal {
  const connections = options.connections ?? 1;
  if (!Number.isInteger(connections) || connections < 1 || connections > 64) {
    throw new ConfigError(`connections must be a whole number from 1 to 64, not ${connections}`);
  }
  // Below ERL 2 a lost connection's tasks are not kept for it, so we offer Time2Retain 0; asking
  // for connection recovery (ERL 2) asks for the time it needs too (RFC 7143 §13.16: the default,
  // 20 s) unless the caller says otherwise.
  const recovering = (options.proposal?.errorRecoveryLevel ?? 0) >= 2 && options.proposal?.defaultTime2Retain === undefined;
  const proposal: OperationalProposal = {
    ...DEFAULT_INITIATOR_PROPOSAL,
    maxConnections: Math.max(connections, DEFAULT_INITIATOR_PROPOSAL.maxConnections),
    ...(recovering ? { defaultTime2Retain: 20 } : {}),
    ...options.proposal,
    headerDigest: digestList(options.headerDigest, proposalDigests(options.proposal?.headerDigest, DEFAULT_INITIATOR_PROPOSAL.headerDigest), "headerDigest"),
    dataDigest: digestList(options.dataDigest, proposalDigests(options.proposal?.dataDigest, DEFAULT_INITIATOR_PROPOSAL.dataDigest), "dataDigest"),
  };
  // Checked here, before any connection: the login would find it only in a socket callback.
  validateProposal(proposal, "proposal.");
  return proposal;
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
