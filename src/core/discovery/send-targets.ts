/**
 * SendTargets (RFC 7143 §13.3 and Appendix D): the Text Request key an initiator uses to list
 * targets, and the TargetName/TargetAddress records the target answers with. The Text PDUs that
 * carry them (C bit, Target Transfer Tag) belong to the session; this module works on the text.
 */
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import type { TextPair } from "../text/codec.js";
import { parseText } from "../text/codec.js";
import { formatTargetAddress, parseTargetAddress } from "../text/target-address.js";

export interface DiscoveredAddress {
  readonly host: string;
  readonly port: number;
  readonly portalGroupTag: number;
}

export interface DiscoveredTarget {
  readonly name: string;
  readonly alias?: string;
  readonly addresses: DiscoveredAddress[];
}

/**
 * RFC 7143 §13.3: `SendTargets=All` in a discovery session; a target name for that target only;
 * the empty value (in a normal session) for the session's own target.
 */
export function sendTargetsRequest(which: "All" | "" | (string & {}) = "All"): TextPair[] {
  return [["SendTargets", which]];
}

const REPEATABLE: ReadonlySet<string> = new Set(["TargetName", "TargetAddress", "TargetAlias"]);

/**
 * Parses a SendTargets response (the complete text, or pairs already parsed). Each TargetName
 * opens a record; the TargetAddress (and TargetAlias) keys after it belong to it. Appendix D: every
 * address carries its portal group tag.
 */
export function parseSendTargetsResponse(response: Uint8Array | readonly TextPair[]): DiscoveredTarget[] {
  const pairs = response instanceof Uint8Array ? parseText(response, { repeatable: REPEATABLE, where: "SendTargets response" }) : response;
  const out: Array<{ name: string; alias?: string; addresses: DiscoveredAddress[] }> = [];
  for (const [key, value] of pairs) {
    const current = out[out.length - 1];
    switch (key) {
      case "TargetName":
        if (value === "") throw new RemoteProtocolError("SendTargets response: empty TargetName");
        out.push({ name: value, addresses: [] });
        break;
      case "TargetAddress": {
        if (current === undefined) throw new RemoteProtocolError(`SendTargets response: TargetAddress=${value} before any TargetName`);
        const a = parseTargetAddress(value);
        if (a.portalGroupTag === undefined) {
          throw new RemoteProtocolError(`SendTargets response: TargetAddress=${value} of ${current.name} has no portal group tag (RFC 7143 Appendix D)`);
        }
        current.addresses.push({ host: a.host, port: a.port, portalGroupTag: a.portalGroupTag });
        break;
      }
      case "TargetAlias":
        if (current === undefined) throw new RemoteProtocolError("SendTargets response: TargetAlias before any TargetName");
        current.alias = value;
        break;
      case "SendTargets":
        // RFC 7143 §6.2: the target refused or did not understand the request.
        throw new RemoteProtocolError(`SendTargets response: SendTargets=${value}`);
      default:
        // Other keys (X- extensions) are not part of the target records; ignore them.
        break;
    }
  }
  return out;
}

export interface SendTargetsContext {
  readonly sessionType: "Normal" | "Discovery";
  /** The session's target, for `SendTargets=` (empty) in a normal session. */
  readonly currentTarget?: string;
}

/**
 * The target side: the records answering `SendTargets=<value>` out of `targets` (the targets this
 * initiator may see). Appendix D: `All` only in a discovery session; a name gives that target or
 * nothing; the empty value gives the session's own target.
 */
export function buildSendTargetsResponse(value: string, targets: readonly DiscoveredTarget[], context: SendTargetsContext): TextPair[] {
  let chosen: readonly DiscoveredTarget[];
  if (value === "All") {
    if (context.sessionType !== "Discovery") return [["SendTargets", "Reject"]];
    chosen = targets;
  } else if (value === "") {
    chosen = targets.filter((t) => t.name === context.currentTarget);
  } else {
    chosen = targets.filter((t) => t.name === value);
  }
  const out: TextPair[] = [];
  for (const t of chosen) {
    if (t.name === "") throw new LocalProtocolError("buildSendTargetsResponse: a target without a name");
    // Appendix D records are TargetName and TargetAddress only; an alias is not sent, since
    // initiators parse these records strictly.
    out.push(["TargetName", t.name]);
    for (const a of t.addresses) out.push(["TargetAddress", formatTargetAddress(a)]);
  }
  return out;
}
