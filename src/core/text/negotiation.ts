/**
 * Text-mode negotiation (RFC 7143 §6.2), the same machine on both sides: either side may offer a
 * key, the other answers it. The registry (keys.ts) says how each key is answered and checked.
 *
 * Outcomes of a key, per §6.2 and §6.2.1/§6.2.2:
 * - answered with a value: that value, once checked against the rule ("min": not above the
 *   offer, "max": not below, "and"/"or": a possible result of the Boolean function with the
 *   offered value, "list": one of the offered values); a violation is a NegotiationError.
 * - answered "Reject" or "NotUnderstood": the key keeps its default. If the default is not
 *   acceptable to this side (say we require CRC32C digests), the negotiation fails.
 * - answered "Irrelevant": accepted only where the registry says the key is irrelevant.
 * - not answered: allowed only for the two optional Boolean cases of §6.2.2 (AND offered No,
 *   OR offered Yes); otherwise a NegotiationError once the stage ends.
 * A peer's offer with a value out of range or malformed is answered "Reject"; a key the peer may
 * not send, may not send now, or sends twice is a RemoteProtocolError.
 */
import { LocalProtocolError, NegotiationError, RemoteProtocolError } from "../errors.js";
import type { TextPair } from "./codec.js";
import type { KeyDefinition } from "./keys.js";
import { isExtensionKey, keyDefinition } from "./keys.js";
import type { ConnectionParameters, SessionParameters } from "./parameters.js";
import { DEFAULT_CONNECTION_PARAMETERS, DEFAULT_SESSION_PARAMETERS } from "./parameters.js";
import { IRRELEVANT, NOT_UNDERSTOOD, REJECT, RESERVED_ANSWERS, formatBoolean, parseBoolean, parseList, parseNumber } from "./values.js";

export type NegotiationRole = "initiator" | "target";
/** Where a text exchange happens: the login's two stages, or a Text Request in full feature phase. */
export type NegotiationPhase = "security" | "operational" | "full-feature";

export interface NegotiatorOptions {
  readonly role: NegotiationRole;
  readonly sessionType: "Normal" | "Discovery";
  /** A leading connection login (TSIH 0) may carry LO keys; other logins may not (RFC 7143 §13). */
  readonly leading: boolean;
  /** This side's value for each key it has an opinion on (see proposalValues). */
  readonly values: ReadonlyMap<string, string>;
}

/** How a key ended up, for diagnostics and the result. */
type Outcome =
  | { readonly kind: "value"; readonly value: string }
  | { readonly kind: "default"; readonly answer: "Reject" | "NotUnderstood"; readonly by: "us" | "peer" }
  | { readonly kind: "irrelevant" };

export class Negotiator {
  readonly role: NegotiationRole;
  readonly #peer: NegotiationRole;
  readonly #leading: boolean;
  #sessionType: "Normal" | "Discovery";
  readonly #values: Map<string, string>;
  /** Our offers awaiting an answer: key -> the value we offered. */
  readonly #offered = new Map<string, string>();
  /** Negotiated keys (ours answered, or theirs answered by us). */
  readonly #outcomes = new Map<string, Outcome>();
  readonly #ourDeclarations = new Map<string, string>();
  readonly #peerDeclarations = new Map<string, string>();
  /** Extension keys (X-, X#) and their answers, in the order seen. */
  readonly #extensions: TextPair[] = [];

  constructor(options: NegotiatorOptions) {
    this.role = options.role;
    this.#peer = options.role === "initiator" ? "target" : "initiator";
    this.#leading = options.leading;
    this.#sessionType = options.sessionType;
    this.#values = new Map(options.values);
  }

  get sessionType(): "Normal" | "Discovery" {
    return this.#sessionType;
  }

  /** The target learns the session type from the initiator's first request. */
  setSessionType(type: "Normal" | "Discovery"): void {
    this.#sessionType = type;
  }

  /** Sets this side's value for a key (the target learns its policy once it knows the TargetName). */
  setLocalValue(key: string, value: string): void {
    this.#values.set(key, value);
  }

  localValue(key: string): string | undefined {
    return this.#values.get(key) ?? keyDefinition(key)?.defaultValue;
  }

  /** Declares a key (no answer expected), recording it as ours. */
  declare(key: string, value: string): TextPair {
    const def = keyDefinition(key);
    if (def !== undefined && def.rule !== "declarative") throw new LocalProtocolError(`${key} is not a declarative key`);
    if (def !== undefined && !this.#maySend(def, this.role)) throw new LocalProtocolError(`the ${this.role} may not send ${key}`);
    this.#ourDeclarations.set(key, value);
    return [key, value];
  }

  /**
   * Offers keys with this side's values. Declarative keys are declared; keys already negotiated are
   * skipped (RFC 7143 §6.2: a key is not negotiated twice in one login).
   */
  offer(keys: Iterable<string>): TextPair[] {
    const out: TextPair[] = [];
    for (const key of keys) {
      if (this.#outcomes.has(key) || this.#offered.has(key) || this.#ourDeclarations.has(key)) continue;
      const value = this.#values.get(key);
      if (value === undefined) throw new LocalProtocolError(`no local value to offer for ${key}`);
      out.push(this.offerValue(key, value));
    }
    return out;
  }

  /** Offers one key with an explicit value (extension keys from a proposal's extraKeys). */
  offerValue(key: string, value: string): TextPair {
    const def = keyDefinition(key);
    if (def?.rule === "declarative") return this.declare(key, value);
    if (def !== undefined && !this.#maySend(def, this.role)) throw new LocalProtocolError(`the ${this.role} may not send ${key}`);
    if (RESERVED_ANSWERS.has(value)) throw new LocalProtocolError(`"${value}" may not be offered for ${key} (RFC 7143 §6.2)`);
    this.#offered.set(key, value);
    return [key, value];
  }

  /** Keys we offered that have no answer yet. */
  pending(): string[] {
    return [...this.#offered.keys()];
  }

  /**
   * Takes the peer's pairs (answers to our offers, its own offers and declarations) and returns our
   * answers to its offers. Authentication keys (CHAP_*) are left to the caller in the security stage.
   */
  receive(pairs: Iterable<TextPair>, phase: NegotiationPhase): TextPair[] {
    const replies: TextPair[] = [];
    let answeredFirstBurst = -1;
    for (const [key, value] of pairs) {
      const offered = this.#offered.get(key);
      if (offered !== undefined) {
        this.#offered.delete(key);
        this.#takeAnswer(key, offered, value);
        continue;
      }
      const reply = this.#answer(key, value, phase);
      if (reply !== undefined) {
        if (key === "FirstBurstLength") answeredFirstBurst = replies.length;
        replies.push(reply);
      }
    }
    // RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength. Our min() answer may still
    // be above the MaxBurstLength agreed in the same exchange; lowering it keeps it a legal min().
    if (answeredFirstBurst >= 0) {
      const fbl = Number(this.agreed("FirstBurstLength"));
      const mbl = Number(this.agreed("MaxBurstLength"));
      if (Number.isFinite(fbl) && Number.isFinite(mbl) && fbl > mbl) {
        replies[answeredFirstBurst] = ["FirstBurstLength", String(mbl)];
        this.#outcomes.set("FirstBurstLength", { kind: "value", value: String(mbl) });
      }
    }
    return replies;
  }

  /** The value in force for a negotiated key (answer, declaration or default). */
  agreed(key: string): string | undefined {
    const outcome = this.#outcomes.get(key);
    if (outcome?.kind === "value") return outcome.value;
    const declared = this.#ourDeclarations.get(key) ?? this.#peerDeclarations.get(key);
    if (declared !== undefined) return declared;
    return keyDefinition(key)?.defaultValue;
  }

  /** Whether a key got a definite result in this negotiation (answered either way, or declared). */
  settled(key: string): boolean {
    return this.#outcomes.has(key) || this.#ourDeclarations.has(key) || this.#peerDeclarations.has(key);
  }

  /** How the key ended: "Reject"/"NotUnderstood" when the peer refused our offer, else undefined. */
  refusal(key: string): "Reject" | "NotUnderstood" | undefined {
    const outcome = this.#outcomes.get(key);
    return outcome?.kind === "default" && outcome.by === "peer" ? outcome.answer : undefined;
  }

  peerDeclaration(key: string): string | undefined {
    return this.#peerDeclarations.get(key);
  }

  ourDeclaration(key: string): string | undefined {
    return this.#ourDeclarations.get(key);
  }

  extensions(): readonly TextPair[] {
    return this.#extensions;
  }

  /**
   * Operational keys whose value in force is not acceptable to us and that nobody offered: the
   * responder side offers them so its policy is applied (a target demanding InitialR2T=Yes of an
   * initiator that never mentioned it).
   */
  keysToCounterOffer(keys: Iterable<string>): string[] {
    const out: string[] = [];
    for (const key of keys) {
      if (this.settled(key) || this.#offered.has(key)) continue;
      const def = keyDefinition(key);
      const ours = this.#values.get(key);
      if (def === undefined || ours === undefined || def.rule === "declarative") continue;
      if (def.scope === "session" && def.use === "LO" && !this.#leading) continue;
      if (def.irrelevantWhen?.(this.#irrelevanceContext()) === true) continue;
      const current = this.agreed(key);
      if (current !== undefined && !this.#acceptable(def, ours, current)) out.push(key);
    }
    return out;
  }

  /**
   * Ends the negotiation (the stage is over): resolves the optional Boolean answers, and fails on
   * unanswered offers, misplaced "Irrelevant" answers, unacceptable defaults and
   * FirstBurstLength > MaxBurstLength.
   */
  settle(): void {
    for (const [key, value] of this.#offered) {
      const def = keyDefinition(key);
      if (def === undefined) {
        // An extension key left unanswered is as good as NotUnderstood.
        this.#extensions.push([key, NOT_UNDERSTOOD]);
        continue;
      }
      // RFC 7143 §6.2.2: the answer is optional for AND offered No and OR offered Yes.
      if ((def.rule === "and" && value === "No") || (def.rule === "or" && value === "Yes")) {
        this.#outcomes.set(key, { kind: "value", value });
        continue;
      }
      throw new NegotiationError(`the ${this.#peer} did not answer ${key}=${value}`, key);
    }
    this.#offered.clear();
    const ctx = this.#irrelevanceContext();
    for (const [key, outcome] of this.#outcomes) {
      const def = keyDefinition(key);
      if (def === undefined) continue;
      if (outcome.kind === "irrelevant") {
        if (def.irrelevantWhen?.(ctx) !== true) {
          throw new NegotiationError(`the ${this.#peer} answered ${key}=Irrelevant but ${key} is relevant here`, key);
        }
        continue;
      }
      const ours = this.#values.get(key);
      const current = this.agreed(key);
      if (ours !== undefined && current !== undefined && !this.#acceptable(def, ours, current) && def.irrelevantWhen?.(ctx) !== true) {
        const how = outcome.kind === "default" ? ` after ${outcome.by === "us" ? "we" : `the ${this.#peer}`} answered ${outcome.answer}` : "";
        throw new NegotiationError(`${key}=${current}${how} is not acceptable (we require ${ours})`, key);
      }
    }
    if (def("FirstBurstLength").irrelevantWhen?.(ctx) !== true) {
      const fbl = Number(this.agreed("FirstBurstLength"));
      const mbl = Number(this.agreed("MaxBurstLength"));
      if (fbl > mbl) {
        throw new NegotiationError(`FirstBurstLength=${fbl} exceeds MaxBurstLength=${mbl} (RFC 7143 §13.14)`, "FirstBurstLength");
      }
    }
  }

  /** The session parameters negotiated on a leading connection; names come from the declarations. */
  sessionParameters(): SessionParameters {
    const d = DEFAULT_SESSION_PARAMETERS;
    const num = (key: string, fallback: number): number => {
      const v = parseNumber(this.agreed(key) ?? "");
      return v ?? fallback;
    };
    const bool = (key: string, fallback: boolean): boolean => parseBoolean(this.agreed(key) ?? "") ?? fallback;
    const text = (key: string): string | undefined => this.#ourDeclarations.get(key) ?? this.#peerDeclarations.get(key);
    const tpgt = text("TargetPortalGroupTag");
    const p: SessionParameters = {
      sessionType: this.#sessionType,
      initiatorName: text("InitiatorName") ?? "",
      maxConnections: num("MaxConnections", d.maxConnections),
      initialR2T: bool("InitialR2T", d.initialR2T),
      immediateData: bool("ImmediateData", d.immediateData),
      maxBurstLength: num("MaxBurstLength", d.maxBurstLength),
      firstBurstLength: num("FirstBurstLength", d.firstBurstLength),
      defaultTime2Wait: num("DefaultTime2Wait", d.defaultTime2Wait),
      defaultTime2Retain: num("DefaultTime2Retain", d.defaultTime2Retain),
      maxOutstandingR2T: num("MaxOutstandingR2T", d.maxOutstandingR2T),
      dataPDUInOrder: bool("DataPDUInOrder", d.dataPDUInOrder),
      dataSequenceInOrder: bool("DataSequenceInOrder", d.dataSequenceInOrder),
      errorRecoveryLevel: num("ErrorRecoveryLevel", d.errorRecoveryLevel),
      taskReporting: this.agreed("TaskReporting") ?? d.taskReporting,
      iscsiProtocolLevel: num("iSCSIProtocolLevel", d.iscsiProtocolLevel),
    };
    const optional: Partial<Record<keyof SessionParameters, string | number | undefined>> = {
      initiatorAlias: text("InitiatorAlias"),
      targetName: text("TargetName"),
      targetAlias: text("TargetAlias"),
      targetPortalGroupTag: tpgt === undefined ? undefined : parseNumber(tpgt),
    };
    const out: Record<string, unknown> = { ...p };
    for (const [k, v] of Object.entries(optional)) if (v !== undefined) out[k] = v;
    return out as unknown as SessionParameters;
  }

  connectionParameters(): ConnectionParameters {
    const d = DEFAULT_CONNECTION_PARAMETERS;
    const ours = parseNumber(this.#ourDeclarations.get("MaxRecvDataSegmentLength") ?? "");
    const theirs = parseNumber(this.#peerDeclarations.get("MaxRecvDataSegmentLength") ?? "");
    return {
      headerDigest: this.agreed("HeaderDigest") === "CRC32C",
      dataDigest: this.agreed("DataDigest") === "CRC32C",
      maxRecvDataSegmentLength: ours ?? d.maxRecvDataSegmentLength,
      maxSendDataSegmentLength: theirs ?? d.maxSendDataSegmentLength,
    };
  }

  // ------------------------------------------------------------------ internals

  #maySend(def: KeyDefinition, who: NegotiationRole): boolean {
    return def.senders === "both" || def.senders === who;
  }

  #irrelevanceContext() {
    return { sessionType: this.#sessionType, agreed: (k: string) => this.agreed(k) };
  }

  /** Whether `value` is a result this side accepts given its own value `ours`. */
  #acceptable(def: KeyDefinition, ours: string, value: string): boolean {
    switch (def.rule) {
      case "list":
        return (parseList(ours) ?? []).includes(value);
      case "and":
        return ours === "Yes" || value === "No";
      case "or":
        return ours === "No" || value === "Yes";
      case "min":
        return (parseNumber(value) ?? Infinity) <= (parseNumber(ours) ?? -Infinity);
      case "max":
        return (parseNumber(value) ?? -Infinity) >= (parseNumber(ours) ?? Infinity);
      default:
        return true;
    }
  }

  /** Checks the peer's answer to our offer (RFC 7143 §13 "Result function"). */
  #takeAnswer(key: string, offered: string, value: string): void {
    const def = keyDefinition(key);
    if (def === undefined) {
      this.#extensions.push([key, value]);
      return;
    }
    if (value === REJECT || value === NOT_UNDERSTOOD) {
      this.#outcomes.set(key, { kind: "default", answer: value, by: "peer" });
      return;
    }
    if (value === IRRELEVANT) {
      this.#outcomes.set(key, { kind: "irrelevant" });
      return;
    }
    const bad = (why: string): never => {
      throw new NegotiationError(`the ${this.#peer} answered ${key}=${value} to our ${key}=${offered}: ${why}`, key);
    };
    switch (def.rule) {
      case "list":
        if (!(parseList(offered) ?? []).includes(value)) bad("not one of the offered values");
        break;
      case "and":
      case "or": {
        const v = parseBoolean(value);
        if (v === undefined) bad("not Yes or No");
        if (def.rule === "and" && offered === "No" && v) bad("AND with No must give No");
        if (def.rule === "or" && offered === "Yes" && !v) bad("OR with Yes must give Yes");
        break;
      }
      case "min":
      case "max": {
        const v = parseNumber(value);
        const o = parseNumber(offered) ?? 0;
        if (v === undefined) bad("not a number");
        const n = v as number;
        if (def.type.kind === "numeric" && (n < def.type.min || n > def.type.max)) bad(`outside ${def.type.min}..${def.type.max}`);
        if (def.rule === "min" && n > o) bad("the result of min() cannot exceed the offer");
        if (def.rule === "max" && n < o) bad("the result of max() cannot be below the offer");
        break;
      }
      default:
        bad("not a negotiable key");
    }
    this.#outcomes.set(key, { kind: "value", value });
  }

  /** Answers (or records) a key the peer sent first. Returns the reply, if one is due. */
  #answer(key: string, value: string, phase: NegotiationPhase): TextPair | undefined {
    if (RESERVED_ANSWERS.has(value)) {
      throw new RemoteProtocolError(`the ${this.#peer} sent ${key}=${value}, which is only an answer (RFC 7143 §6.2)`);
    }
    const def = keyDefinition(key);
    if (def === undefined) {
      // RFC 7143 §6.2: a key not understood is answered NotUnderstood (X- and X# keys included).
      this.#extensions.push([key, value]);
      return [key, NOT_UNDERSTOOD];
    }
    if (def.rule === "authentication") {
      if (phase === "security") return undefined;
      throw new RemoteProtocolError(`the ${this.#peer} sent ${key} outside the security stage`);
    }
    this.#checkAllowed(def, phase);
    // libiscsi repeats InitiatorName and SessionType, unchanged, after a security stage: the same
    // declaration again changes nothing, so it is taken quietly; a different value is refused.
    if (def.rule === "declarative" && this.#peerDeclarations.get(key) === value) return undefined;
    if (this.#outcomes.has(key) || this.#peerDeclarations.has(key)) {
      throw new RemoteProtocolError(`the ${this.#peer} sent ${key} again; a key is negotiated once (RFC 7143 §6.2)`);
    }
    if (def.obsoleteAnswer !== undefined) {
      return [key, def.obsoleteAnswer];
    }
    if (def.rule === "declarative") {
      this.#checkDeclared(def, value);
      this.#peerDeclarations.set(key, value);
      if (key === "SessionType") this.#sessionType = value as "Normal" | "Discovery";
      return undefined;
    }
    const ours = this.localValue(key);
    if (ours === undefined) return [key, NOT_UNDERSTOOD];
    const answer = this.#compute(def, ours, value);
    // After our Reject the key keeps its default; settle() checks that default against our policy.
    this.#outcomes.set(key, answer === REJECT ? { kind: "default", answer: REJECT, by: "us" } : { kind: "value", value: answer });
    return [key, answer];
  }

  #checkAllowed(def: KeyDefinition, phase: NegotiationPhase): void {
    const key = def.name;
    if (!this.#maySend(def, this.#peer)) throw new RemoteProtocolError(`the ${this.#peer} may not send ${key} (RFC 7143 §13)`);
    if (phase === "full-feature") {
      if (def.use !== "ALL" && def.use !== "FFPO") throw new RemoteProtocolError(`${key} may only be sent during login (RFC 7143 §13)`);
      return;
    }
    if (def.use === "FFPO") throw new RemoteProtocolError(`${key} may only be sent in full feature phase (RFC 7143 §13)`);
    if (phase === "security" && def.stage === "operational") {
      throw new RemoteProtocolError(`operational key ${key} sent in the security stage (RFC 7143 §13)`);
    }
    if (phase === "operational" && def.stage === "security") {
      throw new RemoteProtocolError(`security key ${key} sent in the operational stage (RFC 7143 §6.3)`);
    }
    // Declarations (SessionType) are harmless there and some initiators repeat them; negotiable
    // leading-only keys would change the session from a side connection. tgtd offers
    // MaxConnections again on every added connection: as the initiator we answer it (the
    // session's values stay those of the leading login) rather than refuse the connection.
    if (def.use === "LO" && !this.#leading && def.rule !== "declarative" && this.role === "target") {
      throw new RemoteProtocolError(`leading-only key ${key} sent on a non-leading connection (RFC 7143 §13)`);
    }
  }

  #checkDeclared(def: KeyDefinition, value: string): void {
    const t = def.type;
    const ok =
      t.kind === "numeric"
        ? ((n) => n !== undefined && n >= t.min && n <= t.max)(parseNumber(value))
        : t.kind === "enum"
          ? t.tokens.includes(value)
          : true;
    if (!ok) throw new RemoteProtocolError(`the ${this.#peer} declared ${def.name}=${value}, which is not a valid value`);
  }

  /** RFC 7143 §6.2.1, §6.2.2: the responder's answer from both values; "Reject" for a bad offer. */
  #compute(def: KeyDefinition, ours: string, offered: string): string {
    switch (def.rule) {
      case "list": {
        const theirs = parseList(offered);
        if (theirs === undefined) return REJECT;
        const acceptable = parseList(ours) ?? [];
        return theirs.find((v) => acceptable.includes(v)) ?? REJECT;
      }
      case "and":
      case "or": {
        const a = parseBoolean(offered);
        const b = parseBoolean(ours) ?? false;
        if (a === undefined) return REJECT;
        return formatBoolean(def.rule === "and" ? a && b : a || b);
      }
      case "min":
      case "max": {
        const a = parseNumber(offered);
        const b = parseNumber(ours);
        if (a === undefined || b === undefined || def.type.kind !== "numeric") return REJECT;
        if (a < def.type.min || a > def.type.max) return REJECT;
        return String(def.rule === "min" ? Math.min(a, b) : Math.max(a, b));
      }
      default:
        return REJECT;
    }
  }
}

function def(name: string): KeyDefinition {
  const d = keyDefinition(name);
  if (d === undefined) throw new LocalProtocolError(`unknown key ${name}`);
  return d;
}

/** Whether a key is an extension key we do not know, for callers that route keys. */
export function isUnknownKey(key: string): boolean {
  return keyDefinition(key) === undefined && !isExtensionKey(key);
}
