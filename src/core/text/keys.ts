/**
 * The negotiation key registry: every key of RFC 7143 §12 and §13 (and iSCSIProtocolLevel,
 * RFC 7144 §2.1), described as data. The negotiator reads these rows; no key has code of its own
 * except where the RFC ties keys together (FirstBurstLength <= MaxBurstLength, §13.14).
 */

/** RFC 7143 §6.1 value types, with the ranges of §13. */
export type ValueType =
  | { readonly kind: "boolean" }
  | { readonly kind: "numeric"; readonly min: number; readonly max: number }
  /** A list-of-values of tokens; `tokens` are the ones we understand (others are ignored, §6.2.1). */
  | { readonly kind: "list"; readonly tokens: readonly string[] }
  /** A single token from a fixed set (SessionType). */
  | { readonly kind: "enum"; readonly tokens: readonly string[] }
  /** text-value, iSCSI-name-value, TargetAddress */
  | { readonly kind: "text" }
  /** RFC 7143 §6.1 binary-value (CHAP_C, CHAP_R): hex or base64 */
  | { readonly kind: "binary" };

/**
 * RFC 7143 §13 "Result function": how the responder's value follows from both sides' values.
 * "declarative" keys need no answer (§6.2: "Keys that do not require an answer").
 * "authentication" keys are exchanged by the security stage's method (§12), not negotiated here.
 */
export type NegotiationRule = "and" | "or" | "min" | "max" | "list" | "declarative" | "authentication";

/**
 * RFC 7143 §13 "Use": LO leading connection only, IO login only (initialize only), ALL login and
 * full feature phase, FFPO full feature phase only.
 */
export type KeyUse = "LO" | "IO" | "ALL" | "FFPO";

/** RFC 7143 §13: "Any-Stage" keys may also appear in the security stage; the rest are operational. */
export type KeyStage = "any" | "security" | "operational";

export type KeySenders = "initiator" | "target" | "both";

/** What irrelevance rules look at: the session type and the values agreed so far. */
export interface IrrelevanceContext {
  readonly sessionType: "Normal" | "Discovery";
  readonly agreed: (key: string) => string | undefined;
}

export interface KeyDefinition {
  readonly name: string;
  readonly type: ValueType;
  readonly rule: NegotiationRule;
  readonly scope: "session" | "connection";
  readonly use: KeyUse;
  readonly stage: KeyStage;
  readonly senders: KeySenders;
  /** The value in force when the key is not negotiated (RFC 7143 §13 "Default is"). */
  readonly defaultValue?: string;
  /** RFC 7143 §13 "Irrelevant when". */
  readonly irrelevantWhen?: (ctx: IrrelevanceContext) => boolean;
  /**
   * RFC 7143 §13.26: obsoleted keys (markers) are answered with a fixed value and never offered.
   */
  readonly obsoleteAnswer?: string;
}

const discovery = (ctx: IrrelevanceContext): boolean => ctx.sessionType === "Discovery";
const LENGTH = { kind: "numeric", min: 512, max: 0xff_ffff } as const;
const BOOLEAN = { kind: "boolean" } as const;
const TEXT = { kind: "text" } as const;

const DEFINITIONS: readonly KeyDefinition[] = [
  // RFC 7143 §13.1
  { name: "HeaderDigest", type: { kind: "list", tokens: ["CRC32C", "None"] }, rule: "list", scope: "connection", use: "IO", stage: "operational", senders: "both", defaultValue: "None" },
  { name: "DataDigest", type: { kind: "list", tokens: ["CRC32C", "None"] }, rule: "list", scope: "connection", use: "IO", stage: "operational", senders: "both", defaultValue: "None" },
  // §13.2
  { name: "MaxConnections", type: { kind: "numeric", min: 1, max: 65535 }, rule: "min", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "1", irrelevantWhen: discovery },
  // §13.3: SendTargets=All | <iSCSI-target-name> | <nothing>, in a Text Request only.
  { name: "SendTargets", type: TEXT, rule: "declarative", scope: "session", use: "FFPO", stage: "operational", senders: "initiator" },
  // §13.4: the initiator sends TargetName at login; the target sends it only in SendTargets responses.
  { name: "TargetName", type: TEXT, rule: "declarative", scope: "session", use: "IO", stage: "any", senders: "initiator" },
  // §13.5
  { name: "InitiatorName", type: TEXT, rule: "declarative", scope: "session", use: "IO", stage: "any", senders: "initiator" },
  // §13.6, §13.7
  { name: "TargetAlias", type: TEXT, rule: "declarative", scope: "session", use: "ALL", stage: "any", senders: "target" },
  { name: "InitiatorAlias", type: TEXT, rule: "declarative", scope: "session", use: "ALL", stage: "any", senders: "initiator" },
  // §13.8: in redirections and SendTargets responses.
  { name: "TargetAddress", type: TEXT, rule: "declarative", scope: "session", use: "ALL", stage: "any", senders: "target" },
  // §13.9
  { name: "TargetPortalGroupTag", type: { kind: "numeric", min: 0, max: 65535 }, rule: "declarative", scope: "session", use: "IO", stage: "any", senders: "target" },
  // §13.10, §13.11
  { name: "InitialR2T", type: BOOLEAN, rule: "or", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "Yes", irrelevantWhen: discovery },
  { name: "ImmediateData", type: BOOLEAN, rule: "and", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "Yes", irrelevantWhen: discovery },
  // §13.12: each side declares what it can receive, per connection, also in full feature phase.
  { name: "MaxRecvDataSegmentLength", type: LENGTH, rule: "declarative", scope: "connection", use: "ALL", stage: "operational", senders: "both", defaultValue: "8192" },
  // §13.13
  { name: "MaxBurstLength", type: LENGTH, rule: "min", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "262144", irrelevantWhen: discovery },
  // §13.14: irrelevant when there is no unsolicited data at all.
  {
    name: "FirstBurstLength", type: LENGTH, rule: "min", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "65536",
    irrelevantWhen: (ctx) => discovery(ctx) || (ctx.agreed("InitialR2T") === "Yes" && ctx.agreed("ImmediateData") === "No"),
  },
  // §13.15, §13.16
  { name: "DefaultTime2Wait", type: { kind: "numeric", min: 0, max: 3600 }, rule: "max", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "2" },
  { name: "DefaultTime2Retain", type: { kind: "numeric", min: 0, max: 3600 }, rule: "min", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "20" },
  // §13.17
  { name: "MaxOutstandingR2T", type: { kind: "numeric", min: 1, max: 65535 }, rule: "min", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "1", irrelevantWhen: discovery },
  // §13.18, §13.19
  { name: "DataPDUInOrder", type: BOOLEAN, rule: "or", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "Yes", irrelevantWhen: discovery },
  { name: "DataSequenceInOrder", type: BOOLEAN, rule: "or", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "Yes", irrelevantWhen: discovery },
  // §13.20
  { name: "ErrorRecoveryLevel", type: { kind: "numeric", min: 0, max: 2 }, rule: "min", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "0" },
  // §13.21: declared by the initiator in its first Login Request.
  { name: "SessionType", type: { kind: "enum", tokens: ["Discovery", "Normal"] }, rule: "declarative", scope: "session", use: "LO", stage: "any", senders: "initiator", defaultValue: "Normal" },
  // §13.22 (§12): the security stage's method list.
  { name: "AuthMethod", type: { kind: "list", tokens: ["CHAP", "None", "KRB5", "SRP"] }, rule: "list", scope: "connection", use: "IO", stage: "security", senders: "both", defaultValue: "None" },
  // §13.23
  { name: "TaskReporting", type: { kind: "list", tokens: ["RFC3720", "ResponseFence", "FastAbort"] }, rule: "list", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "RFC3720", irrelevantWhen: discovery },
  // §13.24 and RFC 7144 §2.1: 1 is RFC 7143, 2 is RFC 7144.
  { name: "iSCSIProtocolLevel", type: { kind: "numeric", min: 0, max: 31 }, rule: "min", scope: "session", use: "LO", stage: "operational", senders: "both", defaultValue: "1", irrelevantWhen: discovery },
  // §13.26 obsoleted markers: "IFMarker/OFMarker SHOULD be answered Reject, MAY be answered No";
  // RFC 3720 initiators (libiscsi, open-iscsi) still offer IFMarker=No and expect a Boolean back,
  // so we answer "No". IFMarkInt/OFMarkInt MUST be answered Reject.
  { name: "IFMarker", type: BOOLEAN, rule: "and", scope: "connection", use: "IO", stage: "operational", senders: "both", defaultValue: "No", obsoleteAnswer: "No" },
  { name: "OFMarker", type: BOOLEAN, rule: "and", scope: "connection", use: "IO", stage: "operational", senders: "both", defaultValue: "No", obsoleteAnswer: "No" },
  { name: "IFMarkInt", type: TEXT, rule: "declarative", scope: "connection", use: "IO", stage: "operational", senders: "both", obsoleteAnswer: "Reject" },
  { name: "OFMarkInt", type: TEXT, rule: "declarative", scope: "connection", use: "IO", stage: "operational", senders: "both", obsoleteAnswer: "Reject" },
  // §13.27 (RFC 4850): X#NodeArchitecture, declarative, login only.
  { name: "X#NodeArchitecture", type: TEXT, rule: "declarative", scope: "session", use: "IO", stage: "any", senders: "both" },
  // §12.1.3 CHAP keys; carried by the security stage, checked by src/core/auth.
  { name: "CHAP_A", type: { kind: "list", tokens: ["5", "6", "7", "8"] }, rule: "authentication", scope: "connection", use: "IO", stage: "security", senders: "both" },
  { name: "CHAP_I", type: { kind: "numeric", min: 0, max: 255 }, rule: "authentication", scope: "connection", use: "IO", stage: "security", senders: "both" },
  { name: "CHAP_C", type: { kind: "binary" }, rule: "authentication", scope: "connection", use: "IO", stage: "security", senders: "both" },
  { name: "CHAP_N", type: TEXT, rule: "authentication", scope: "connection", use: "IO", stage: "security", senders: "both" },
  { name: "CHAP_R", type: { kind: "binary" }, rule: "authentication", scope: "connection", use: "IO", stage: "security", senders: "both" },
];

export const KEY_REGISTRY: ReadonlyMap<string, KeyDefinition> = new Map(DEFINITIONS.map((d) => [d.name, d]));

export function keyDefinition(name: string): KeyDefinition | undefined {
  return KEY_REGISTRY.get(name);
}

/** RFC 7143 §13.5.4 / §6.1: vendor (X-) and IANA-registered (X#) extension keys. */
export function isExtensionKey(name: string): boolean {
  return name.startsWith("X-") || name.startsWith("X#");
}

/** RFC 7143 §13.1-§13.24: the operational keys an initiator may offer in the operational stage. */
export const OPERATIONAL_KEYS: readonly string[] = DEFINITIONS.filter(
  (d) => d.stage === "operational" && d.use !== "FFPO" && d.obsoleteAnswer === undefined,
).map((d) => d.name);
