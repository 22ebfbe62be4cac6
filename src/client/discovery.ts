import { type DiscoveredTarget, parseSendTargetsResponse, sendTargetsRequest } from "../core/discovery/send-targets.js";
import { ConfigError } from "../core/errors.js";
import { describePdu } from "../core/pdu/describe.js";
import { parseIscsiUrl } from "../core/url.js";
import { type AbortSignalLike, abortedError, throwIfAborted, whileListening } from "./abort.js";
import { formatPortal, SessionDriver } from "./driver.js";
import type { ClientHost, Portal } from "./host.js";
import { buildProposal, type ChapOptions, checkNumber, checkSessionOptions, type SessionOptions, toChapCredentials, toPortal } from "./options.js";

export type { DiscoveredAddress, DiscoveredTarget } from "../core/discovery/send-targets.js";

export interface DiscoveryOptions
  extends Pick<SessionOptions, "initiatorName" | "connectTimeoutMs" | "loginTimeoutMs" | "logoutTimeoutMs" | "trace" | "headerDigest" | "dataDigest"> {
  readonly chap?: ChapOptions;
  /** Milliseconds the SendTargets exchange may take; default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Aborts the discovery: the call rejects with an AbortedError and the discovery session is dropped. */
  readonly signal?: AbortSignalLike;
}

/**
 * SendTargets discovery (RFC 7143 §13.3, Appendix D): logs in a discovery session at `portal`
 * (`host[:port]` or an iscsi:// URL), asks for every target and its portals, and logs out.
 */
export async function discoverOn(client: ClientHost, portal: string | Portal, options: DiscoveryOptions = {}): Promise<DiscoveredTarget[]> {
  let where: Portal;
  let chap = options.chap;
  if (typeof portal === "string" && /^iscsi:\/\//i.test(portal)) {
    const url = parseIscsiUrl(portal);
    where = { host: url.host, port: url.port };
    if (chap === undefined && url.username !== undefined) {
      if (url.secret === undefined) throw new ConfigError(`the URL gives the CHAP user "${url.username}" but no secret`);
      chap = { username: url.username, secret: url.secret };
    }
  } else {
    where = toPortal(portal);
  }
  const credentials = toChapCredentials(chap);
  // Every option is checked before connecting: a mistake rejects this call, nothing else.
  const initiatorName = checkSessionOptions(options, client.machineName());
  checkNumber("requestTimeoutMs", options.requestTimeoutMs, 1);
  const proposal = buildProposal({ portal: where, targetName: "", ...options });
  const trace = options.trace;
  const host = new SessionDriver(
    client,
    {
      initiatorName,
      sessionType: "Discovery",
      ...(credentials === undefined ? {} : { chap: credentials }),
      proposal,
      keepAlive: false,
      ...(options.loginTimeoutMs === undefined ? {} : { loginTimeoutMs: options.loginTimeoutMs }),
      ...(options.logoutTimeoutMs === undefined ? {} : { logoutTimeoutMs: options.logoutTimeoutMs }),
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      ...(trace === undefined ? {} : { trace: (direction, cid, pdu) => trace(`${direction === "send" ? ">>" : "<<"} [${cid}] ${describePdu(pdu)}`) }),
    },
    where,
    { ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }) },
  );
  const signal = options.signal;
  throwIfAborted(`discovery at ${formatPortal(where)}`, signal);
  const abort = (): void => {
    if (signal !== undefined) host.close(abortedError(`discovery at ${formatPortal(where)}`, signal));
  };
  await whileListening(signal, abort, host.login());
  try {
    const pairs = await whileListening(signal, abort, host.text(sendTargetsRequest("All")));
    return parseSendTargetsResponse(pairs);
  } finally {
    await host.logout().catch(() => host.close());
  }
}
