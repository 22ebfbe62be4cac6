/**
 * What every command shares: the global options turned into session options (initiator name,
 * digests, timeouts, CHAP, the -v events and the -vv trace), the output, the interrupt signal, and the opening and
 * closing of sessions so that no command forgets to log out.
 */
import { AuthenticationError, ConfigError, LoginError, NegotiationError, checkIscsiName, type IscsiUrl, parseHostPort, parseIscsiUrl, redactUrl } from "../core/index.js";
import { discover, type DiscoveredTarget, formatPortal, type Portal, type Lun, type DigestPreference, type SessionOptions, openSession, type IscsiSession } from "../node/index.js";
import { howToChangeInitiatorName, resolveInitiatorName, type ResolvedInitiatorName } from "../node/records/initiator-name.js";
import { type CredentialOptions, type Environment, environmentSecrets, readSecretFile, resolveCredentials } from "./credentials.js";
import { type Interrupts, untilAborted, withDeadline } from "./interrupt.js";
import type { Output } from "./output.js";
import { parseDuration } from "./units.js";

/** The options every command takes (commander's camelCase names). */
export interface GlobalOptions extends CredentialOptions {
  readonly initiatorName?: string;
  readonly headerDigest?: string;
  readonly dataDigest?: string;
  readonly timeout?: string;
  /** How many times -v was given (-vv: 2). */
  readonly verbose?: number | boolean;
  readonly quiet?: boolean;
  readonly json?: boolean;
}

export const DEFAULT_TIMEOUT = "15s";

/** `none`, `crc32c`, or a preference list `crc32c,none` / `none,crc32c`. */
export function parseDigestOption(text: string, what: string): DigestPreference {
  const forms: Record<string, DigestPreference> = {
    none: "None",
    crc32c: "CRC32C",
    "crc32c,none": "CRC32C,None",
    "none,crc32c": "None,CRC32C",
  };
  const value = forms[text.toLowerCase().replace(/\s+/g, "")];
  if (value === undefined) throw new ConfigError(`${what} "${text}" must be none, crc32c, crc32c,none or none,crc32c`);
  return value;
}

/** What to do when a target that needs CHAP was asked without credentials. */
export const CHAP_REQUIRED_HINT = "the target requires CHAP: give --chap-user and a secret (--chap-secret-file, $ISCSI_CHAP_SECRET, or user%secret@ in the URL)";

/** RFC 7143 §11.9.1: what an AsyncEvent asks, in words (4 asks to renegotiate, within Parameter3 seconds). */
export function asyncEventText(code: number, parameter3: number): string {
  switch (code) {
    case 0:
      return "SCSI asynchronous event (sense data follows)";
    case 1:
      return `logout requested within ${parameter3} s`;
    case 2:
      return "the target will drop a connection";
    case 3:
      return "the target will drop all connections of the session";
    case 4:
      return `renegotiation of operational parameters requested within ${parameter3} s`;
    case 5:
      return "all active tasks for a LU with a MCS connection must be terminated";
    default:
      return `AsyncEvent ${code}`;
  }
}

/** A target URL with the connection parts checked; `lun` only when the command works on one. */
export interface TargetRef {
  readonly url: IscsiUrl;
  /** The URL as given, with any secret replaced: safe to print. */
  readonly shown: string;
  readonly portal: Portal;
  readonly targetName: string;
}

export class CliContext {
  readonly timeoutMs: number;
  /** -q, the default, -v (events), -vv (the PDU trace). */
  readonly verbosity: number;
  private readonly initiatorName: string | undefined = undefined;
  private resolvedName: ResolvedInitiatorName | undefined;
  private readonly headerDigest: DigestPreference | undefined;
  private readonly dataDigest: DigestPreference | undefined;

  constructor(
    readonly options: GlobalOptions,
    readonly out: Output,
    readonly interrupts: Interrupts,
    readonly env: Environment,
  ) {
    this.timeoutMs = parseDuration(options.timeout ?? DEFAULT_TIMEOUT, "--timeout");
    if (this.timeoutMs < 1) throw new ConfigError(`--timeout ${options.timeout ?? ""} is shorter than a millisecond`);
    const count = options.verbose === true ? 1 : typeof options.verbose === "number" ? options.verbose : 0;
    this.verbosity = options.quiet === true && count === 0 ? -1 : Math.min(count, 2);
    if (options.initiatorName !== undefined) {
      const checked = checkIscsiName(options.initiatorName);
      if (!checked.ok) throw new ConfigError(`--initiator-name "${options.initiatorName}" is not an iSCSI name: ${checked.reason}`);
      // RFC 3722: the normalised form (case folded) is the name; it is what the target sees.
      this.initiatorName = checked.name;
    }
    this.headerDigest = options.headerDigest === undefined ? undefined : parseDigestOption(options.headerDigest, "--header-digest");
    this.dataDigest = options.dataDigest === undefined ? undefined : parseDigestOption(options.dataDigest, "--data-digest");
    out.addSecrets(environmentSecrets(env));
  }

  /** -v and more: events (logins, logouts, recoveries, renegotiations, task management). */
  get events(): boolean {
    return this.verbosity >= 1;
  }

  /** -vv: every PDU. */
  get tracing(): boolean {
    return this.verbosity >= 2;
  }

  /** One event line on stderr, with -v. */
  event(text: string): void {
    if (this.events) this.out.trace(`iscsi: ${text}`);
  }

  get signal(): AbortSignal {
    return this.interrupts.signal;
  }

  /** Parses a URL naming a target (and, with `needLun`, a LUN). */
  targetRef(text: string, needLun: boolean): TargetRef & { readonly lun: number } {
    const url = parseIscsiUrl(text, { requireTarget: true, requireLun: needLun });
    if (url.targetName === undefined) throw new ConfigError(`the URL ${redactUrl(text)} names no target`);
    return { url, shown: redactUrl(text), portal: { host: url.host, port: url.port }, targetName: url.targetName, lun: url.lun ?? 0 };
  }

  /** A portal as `host[:port]` or an iscsi:// URL (whose target part, if any, is returned too). */
  portalRef(text: string): { readonly portal: Portal; readonly url: IscsiUrl | undefined } {
    if (/^iscsi:\/\//i.test(text)) {
      const url = parseIscsiUrl(text);
      return { portal: { host: url.host, port: url.port }, url };
    }
    return { portal: parseHostPort(text), url: undefined };
  }

  private async chapFor(url: IscsiUrl | undefined): Promise<SessionOptions["chap"]> {
    // A secret file is read bounded and without blocking (it may be a FIFO): SIGINT still works.
    const resolved = await resolveCredentials(
      url,
      this.options,
      this.env,
      (path) => readSecretFile(path, this.signal),
      (secret) => this.out.addSecrets([secret]),
    );
    if (resolved.sources !== undefined) this.event(resolved.sources);
    return resolved.chap;
  }

  /**
   * Our iSCSI name: --initiator-name, $ISCSI_INITIATOR_NAME, the config file, open-iscsi's
   * /etc/iscsi/initiatorname.iscsi, else one generated on first use and kept (records/initiator-name.ts).
   * Resolved when first needed, so commands that never log in create no file.
   */
  get initiator(): ResolvedInitiatorName {
    this.resolvedName ??= resolveInitiatorName(this.initiatorName, this.env);
    return this.resolvedName;
  }

  /**
   * A login refused for who we are (RFC 7143 §11.13.5: 0x0201 authentication, 0x0202
   * authorization, 0x0203 not found, which targets also answer to initiators outside their ACL)
   * says which name we used and how to change it; other errors pass unchanged. "Not found" most
   * often means a mistyped target name, so that comes first, with how to list the right ones.
   */
  explainLoginRefusal(error: unknown, chapGiven = true, portal?: Portal): unknown {
    // A target that needs CHAP, asked without credentials, answers 0x0201 like a wrong secret would.
    if (error instanceof LoginError && !chapGiven && error.code === "ISCSI_ERR_AUTH") {
      return new AuthenticationError(`${error.message}: ${CHAP_REQUIRED_HINT}`, { cause: error, statusClass: error.statusClass, statusDetail: error.statusDetail });
    }
    // We insisted on CRC32C and the target answered None: say how to accept None.
    if (error instanceof NegotiationError && (error.key === "HeaderDigest" || error.key === "DataDigest")) {
      const option = error.key === "HeaderDigest" ? "--header-digest" : "--data-digest";
      const ours = error.key === "HeaderDigest" ? this.headerDigest : this.dataDigest;
      if (ours === undefined || ours === "CRC32C") {
        return new NegotiationError(`${error.message} (the target allows no ${error.key}; to accept None when it does not, give ${option} crc32c,none)`, error.key, { cause: error });
      }
    }
    if (!(error instanceof LoginError) || error.statusClass !== 0x02 || ![0x01, 0x02, 0x03].includes(error.statusDetail)) return error;
    if (error.code !== "ISCSI_ERR_LOGIN" && error.statusDetail === 0x01) return error;
    const who = this.initiator;
    const listing = portal === undefined ? "iscsi discover HOST:PORT" : `iscsi discover ${formatPortal(portal)}`;
    const name = error.statusDetail === 0x03 ? `; check the target name (\`${listing}\` lists the targets there)` : "";
    const note = `${name}; we logged in as initiator ${who.name} (from ${who.where}); if the target allows only certain initiators, ${howToChangeInitiatorName(this.env)}`;
    const wrapped = new LoginError(error.statusClass, error.statusDetail, `${error.message}${note}`, { code: error.code as "ISCSI_ERR_LOGIN", cause: error });
    return wrapped;
  }

  private common(): Pick<SessionOptions, "initiatorName" | "connectTimeoutMs" | "loginTimeoutMs" | "logoutTimeoutMs" | "trace"> {
    return {
      initiatorName: this.initiator.name,
      connectTimeoutMs: this.timeoutMs,
      loginTimeoutMs: this.timeoutMs,
      logoutTimeoutMs: Math.min(this.timeoutMs, 5000),
      ...(this.tracing ? { trace: (line: string) => this.out.trace(line) } : {}),
    };
  }

  /** Session options for a target: URL, global options, credentials. */
  async sessionOptions(ref: TargetRef, extra: Partial<SessionOptions> = {}): Promise<SessionOptions> {
    const chap = await this.chapFor(ref.url);
    const headerDigest = this.headerDigest ?? ref.url.headerDigest;
    return {
      ...this.common(),
      portal: ref.portal,
      targetName: ref.targetName,
      // --timeout is what a user reads it as: the whole time a command may take, escalation and
      // re-issues after reconnects included, not a wait per attempt.
      commandBudgetMs: this.timeoutMs,
      ...(chap === undefined ? {} : { chap }),
      ...(headerDigest === undefined ? {} : { headerDigest }),
      ...(this.dataDigest === undefined ? {} : { dataDigest: this.dataDigest }),
      ...extra,
    };
  }

  /** Logs in, runs `body`, and logs out whatever `body` did (a failed logout closes the sockets). */
  async withSession<T>(ref: TargetRef, body: (session: IscsiSession) => Promise<T>, extra: Partial<SessionOptions> = {}): Promise<T> {
    const options = await this.sessionOptions(ref, extra);
    const session = await untilAborted(
      withDeadline(openSession(options), this.timeoutMs * 2, `login to ${ref.targetName} at ${formatPortal(ref.portal)}`),
      this.signal,
    ).catch((error: unknown) => {
      throw this.explainLoginRefusal(error, options.chap !== undefined, ref.portal);
    });
    if (this.events) this.traceEvents(session, ref);
    try {
      return await body(session);
    } finally {
      await this.endSession(session);
      this.event(`logged out of ${ref.targetName} at ${formatPortal(ref.portal)}`);
    }
  }

  /** -v: the login, then each recovery, renegotiation request and unit attention as it happens. */
  private traceEvents(session: IscsiSession, ref: TargetRef): void {
    const [first] = session.connections;
    const digests = first === undefined ? "" : `, HeaderDigest=${first.headerDigest ? "CRC32C" : "None"} DataDigest=${first.dataDigest ? "CRC32C" : "None"}`;
    this.event(`logged in to ${ref.targetName} at ${formatPortal(ref.portal)} as ${session.initiatorName} (${session.connections.length} connection(s)${digests}, ErrorRecoveryLevel=${session.params.errorRecoveryLevel})`);
    session.on("async-event", (event) => this.event(`asynchronous message from the target: ${asyncEventText(event.asyncEvent, event.parameter3)}`));
    session.on("unit-attention", (lun, description) => this.event(`unit attention on LUN ${lun}: ${description}`));
    this.traceRecoveries(session);
  }

  /** -v: each recovery of the session as it happens (cause, how long, what was re-issued). */
  private traceRecoveries(session: IscsiSession): void {
    session.on("recovery", (phase, record) => {
      const seconds = record.endedAt === undefined ? "" : ` after ${((record.endedAt - record.startedAt) / 1000).toFixed(1)} s`;
      const counts = `${record.attempts} login attempt(s), ${record.retried} command(s) re-issued, ${record.failed} failed`;
      const line =
        phase === "started"
          ? `iscsi: session lost (${record.cause}): ${record.detail}; re-establishing`
          : phase === "recovered"
            ? `iscsi: session re-established${seconds}: ${counts}`
            : `iscsi: gave up re-establishing the session${seconds}: ${counts}`;
      this.out.trace(line);
    });
  }

  /** As withSession, with the URL's LUN. */
  withLun<T>(ref: TargetRef & { readonly lun: number }, body: (lun: Lun, session: IscsiSession) => Promise<T>, extra: Partial<SessionOptions> = {}): Promise<T> {
    return this.withSession(ref, (session) => body(session.lun(ref.lun), session), extra);
  }

  async endSession(session: IscsiSession): Promise<void> {
    try {
      await withDeadline(session.logout(), Math.min(this.timeoutMs, 5000), "logout");
    } catch {
      // The session may already be gone (that error, if any, is the one to report); drop it.
      session.close();
    }
  }

  /** SendTargets discovery at a portal, with the overall deadline the library does not give. */
  async discover(portal: Portal, url: IscsiUrl | undefined): Promise<DiscoveredTarget[]> {
    const chap = await this.chapFor(url);
    const options = {
      ...this.common(),
      ...(chap === undefined ? {} : { chap }),
      ...(this.headerDigest === undefined ? {} : { headerDigest: this.headerDigest }),
      ...(this.dataDigest === undefined ? {} : { dataDigest: this.dataDigest }),
      requestTimeoutMs: this.timeoutMs,
    };
    return untilAborted(withDeadline(discover(portal, options), this.timeoutMs * 2, `discovery at ${formatPortal(portal)}`), this.signal).catch((error: unknown) => {
      throw this.explainLoginRefusal(error, chap !== undefined, portal);
    });
  }
}
