/**
 * The typed results of negotiation, the RFC defaults, and what each side brings to the table:
 * the initiator's proposal and the target's policy have the same shape (the values this side
 * offers, or accepts when answering), so both feed the same negotiator.
 */
import { ConfigError } from "../errors.js";
import { formatBoolean } from "./values.js";

export interface SessionParameters {
  readonly sessionType: "Normal" | "Discovery";
  readonly initiatorName: string;
  readonly initiatorAlias?: string;
  readonly targetName?: string;
  readonly targetAlias?: string;
  readonly targetPortalGroupTag?: number;
  readonly maxConnections: number;
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
  readonly maxBurstLength: number;
  readonly firstBurstLength: number;
  readonly defaultTime2Wait: number;
  readonly defaultTime2Retain: number;
  readonly maxOutstandingR2T: number;
  readonly dataPDUInOrder: boolean;
  readonly dataSequenceInOrder: boolean;
  readonly errorRecoveryLevel: number;
  readonly taskReporting: string;
  readonly iscsiProtocolLevel: number;
}

export interface ConnectionParameters {
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  /** what this side declared: the largest data segment it accepts (bounds our framer) */
  readonly maxRecvDataSegmentLength: number;
  /** what the peer declared: the largest data segment we may send */
  readonly maxSendDataSegmentLength: number;
}

/** RFC 7143 §13 defaults (the values in force before and without negotiation). */
export const DEFAULT_SESSION_PARAMETERS: SessionParameters = Object.freeze<SessionParameters>({
  sessionType: "Normal",
  initiatorName: "",
  maxConnections: 1,
  initialR2T: true,
  immediateData: true,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxOutstandingR2T: 1,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
  taskReporting: "RFC3720",
  iscsiProtocolLevel: 1,
});

/** RFC 7143 §13.1, §13.12 defaults; 8192 also bounds every login PDU's data segment. */
export const DEFAULT_CONNECTION_PARAMETERS: ConnectionParameters = Object.freeze<ConnectionParameters>({
  headerDigest: false,
  dataDigest: false,
  maxRecvDataSegmentLength: 8192,
  maxSendDataSegmentLength: 8192,
});

export type DigestName = "CRC32C" | "None";

/**
 * The operational values one side offers (initiator) or accepts (target). Lists are in order of
 * preference when offered; when answering, the offerer's order wins (RFC 7143 §6.2.1) and the
 * list says what is acceptable. Numbers are this side's limit: for a "min" key the most it
 * accepts, for a "max" key the least.
 */
export interface OperationalProposal {
  readonly headerDigest: readonly DigestName[];
  readonly dataDigest: readonly DigestName[];
  readonly maxConnections: number;
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
  readonly maxRecvDataSegmentLength: number;
  readonly maxBurstLength: number;
  readonly firstBurstLength: number;
  readonly defaultTime2Wait: number;
  readonly defaultTime2Retain: number;
  readonly maxOutstandingR2T: number;
  readonly dataPDUInOrder: boolean;
  readonly dataSequenceInOrder: boolean;
  readonly errorRecoveryLevel: number;
  /** RFC 7143 §13.23; offered only when set. */
  readonly taskReporting?: readonly string[];
  /** RFC 7143 §13.24 / RFC 7144; offered only when set. */
  readonly iscsiProtocolLevel?: number;
  /** Extra keys to offer verbatim (X- keys, or standard keys this record does not cover). */
  readonly extraKeys?: ReadonlyArray<readonly [string, string]>;
}

/** The target side's policy has the same shape: what it accepts and answers with. */
export type TargetPolicy = OperationalProposal;

/**
 * The initiator's default proposal, tuned for write throughput against tgtd and libiscsi-style
 * targets:
 * - InitialR2T=No, ImmediateData=Yes, FirstBurstLength=256 KiB: a write of up to 256 KiB goes out
 *   with its command, without waiting an R2T round trip (RFC 7143 §13.10, §13.11, §13.14).
 * - MaxBurstLength at the top of its range (16776192, a multiple of 512 below 2^24): the target's
 *   own limit decides (the function is "min").
 * - MaxRecvDataSegmentLength=256 KiB: large Data-In PDUs, few headers per read.
 * - MaxOutstandingR2T=1: tgtd's default and the RFC's; with 256 KiB of unsolicited data most writes
 *   need no R2T, and one outstanding R2T keeps the data path simple. Raise it per session if a
 *   target allows more.
 * - DefaultTime2Retain=0: with ErrorRecoveryLevel=0 there is no task reassignment, so the target
 *   need not hold tasks after a connection drops (libiscsi does the same).
 * - Digests None: TCP's checksum on loopback and LANs; CRC32C on request.
 */
export const DEFAULT_INITIATOR_PROPOSAL: OperationalProposal = Object.freeze<OperationalProposal>({
  headerDigest: ["None"],
  dataDigest: ["None"],
  maxConnections: 1,
  initialR2T: false,
  immediateData: true,
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 16776192,
  firstBurstLength: 262144,
  defaultTime2Wait: 2,
  defaultTime2Retain: 0,
  maxOutstandingR2T: 1,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
});

/** A permissive target policy: accepts what the initiator offers within the RFC ranges. */
export const DEFAULT_TARGET_POLICY: TargetPolicy = Object.freeze<TargetPolicy>({
  headerDigest: ["CRC32C", "None"],
  dataDigest: ["CRC32C", "None"],
  maxConnections: 1,
  initialR2T: false,
  immediateData: true,
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 1048576,
  firstBurstLength: 262144,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxOutstandingR2T: 1,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
});

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${value} is outside ${min}..${max} (RFC 7143 §13)`);
  }
}

/** Checks a proposal or policy against the RFC ranges; a bad one is the caller's error. */
export function validateProposal(p: OperationalProposal): void {
  for (const [name, list] of [["HeaderDigest", p.headerDigest], ["DataDigest", p.dataDigest]] as const) {
    if (list.length === 0 || list.some((d) => d !== "CRC32C" && d !== "None")) {
      throw new ConfigError(`${name} must list CRC32C and/or None, got "${list.join(",")}"`);
    }
  }
  checkRange("MaxConnections", p.maxConnections, 1, 65535);
  checkRange("MaxRecvDataSegmentLength", p.maxRecvDataSegmentLength, 512, 0xff_ffff);
  checkRange("MaxBurstLength", p.maxBurstLength, 512, 0xff_ffff);
  checkRange("FirstBurstLength", p.firstBurstLength, 512, 0xff_ffff);
  checkRange("DefaultTime2Wait", p.defaultTime2Wait, 0, 3600);
  checkRange("DefaultTime2Retain", p.defaultTime2Retain, 0, 3600);
  checkRange("MaxOutstandingR2T", p.maxOutstandingR2T, 1, 65535);
  checkRange("ErrorRecoveryLevel", p.errorRecoveryLevel, 0, 2);
  if (p.iscsiProtocolLevel !== undefined) checkRange("iSCSIProtocolLevel", p.iscsiProtocolLevel, 0, 31);
  // RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength.
  if (p.firstBurstLength > p.maxBurstLength) {
    throw new ConfigError(`FirstBurstLength=${p.firstBurstLength} exceeds MaxBurstLength=${p.maxBurstLength} (RFC 7143 §13.14)`);
  }
}

/**
 * This side's value for each operational key, as text, in the order an initiator offers them.
 * Keys absent here are answered from the registry default.
 */
export function proposalValues(p: OperationalProposal): Map<string, string> {
  const m = new Map<string, string>([
    ["HeaderDigest", p.headerDigest.join(",")],
    ["DataDigest", p.dataDigest.join(",")],
    ["InitialR2T", formatBoolean(p.initialR2T)],
    ["ImmediateData", formatBoolean(p.immediateData)],
    ["MaxBurstLength", String(p.maxBurstLength)],
    ["FirstBurstLength", String(p.firstBurstLength)],
    ["DefaultTime2Wait", String(p.defaultTime2Wait)],
    ["DefaultTime2Retain", String(p.defaultTime2Retain)],
    ["MaxOutstandingR2T", String(p.maxOutstandingR2T)],
    ["ErrorRecoveryLevel", String(p.errorRecoveryLevel)],
    ["MaxConnections", String(p.maxConnections)],
    ["MaxRecvDataSegmentLength", String(p.maxRecvDataSegmentLength)],
    ["DataPDUInOrder", formatBoolean(p.dataPDUInOrder)],
    ["DataSequenceInOrder", formatBoolean(p.dataSequenceInOrder)],
  ]);
  if (p.taskReporting !== undefined) m.set("TaskReporting", p.taskReporting.join(","));
  if (p.iscsiProtocolLevel !== undefined) m.set("iSCSIProtocolLevel", String(p.iscsiProtocolLevel));
  return m;
}
