/**
 * The initiator's login state machine (RFC 7143 §6.3, §11.12, §11.13), sans-I/O: it yields Login
 * Request PDUs and consumes Login Response PDUs until the login completes, redirects, asks to be
 * retried, or fails with a LoginError.
 *
 * Stages. We always begin in the security stage (CSG=0, NSG=1, T=1), like open-iscsi:
 * - with CHAP configured we offer `AuthMethod=CHAP,None`, or only `CHAP` when mutual CHAP is
 *   configured for a Normal session (accepting None would let a target skip proving itself). A
 *   Discovery session still offers `CHAP,None` with mutual CHAP: targets seldom authenticate
 *   discovery (tgtd and ours do not unless told to, open-iscsi keeps separate discovery
 *   credentials for it), and what it returns is only names and addresses, each of which must
 *   then prove itself in its own Normal login; when the target does pick CHAP, both ways are
 *   authenticated as usual;
 * - without CHAP we offer `AuthMethod=None`. A target that demands authentication then says so
 *   plainly (AuthMethod=Reject, or status 0x0201) instead of failing an operational-stage login
 *   in some target-specific way. tgtd and libiscsi-style targets accept None and transit at once.
 * The operational stage (CSG=1, NSG=3, T=1) offers the proposal's keys in one PDU, as libiscsi
 * does; keys the target offers back are answered and the transit repeated.
 *
 * CHAP algorithms: we offer the configured list (strongest first, `CHAP_A=8,7,6,5`). The step is
 * `{ kind: "retry", chapAlgorithms: [5] }` (the host opens a new TCP connection and logs in again
 * with `chap.algorithms: [5]`) when the target
 * - answers CHAP_A=Reject or an algorithm we did not offer;
 * - fails the login (class 2) in answer to our CHAP_A (tgtd answers a list it cannot use with 0x0200);
 * - fails with 0x0200 in answer to a non-MD5 CHAP_R: tgtd 1.0 picks SHA-256 (7) from 8,7,6,5
 *   (fixtures/tgtd-chap-a.hex) and then cannot decode a 32-byte response.
 * Against tgtd the first login thus ends in "retry" and the second, MD5 only, succeeds.
 */
import type { ChapChallengeOutcome } from "../auth/chap.js";
import { ChapInitiator } from "../auth/chap.js";
import type { ChapAlgorithm, HashFunction, RandomBytes } from "../auth/hash.js";
import type { Secret } from "../auth/secret.js";
import { AuthenticationError, ConfigError, LocalProtocolError, NegotiationError, RemoteProtocolError } from "../errors.js";
import { LoginStage, LoginStatusClass, Opcode } from "../pdu/opcodes.js";
import type { LoginRequestPdu, LoginResponsePdu } from "../pdu/types.js";
import type { TextPair } from "../text/codec.js";
import { TextAccumulator, encodeText, parseText, splitText } from "../text/codec.js";
import { keyDefinition } from "../text/keys.js";
import { DEFAULT_CHAP_ALGORITHMS } from "../auth/hash.js";
import { Negotiator } from "../text/negotiation.js";
import type { ConnectionParameters, OperationalProposal, SessionParameters } from "../text/parameters.js";
import { DEFAULT_INITIATOR_PROPOSAL, proposalValues, validateProposal } from "../text/parameters.js";
import type { TargetAddress } from "../text/target-address.js";
import { parseTargetAddress } from "../text/target-address.js";
import { describeLoginStatus, loginErrorFromStatus } from "./status.js";

/** RFC 7143 §13.12: during login the peer accepts 8192-byte data segments (the default). */
export const LOGIN_MAX_SEGMENT = 8192;
/** RFC 7143 §11.12.4: version 0 is the only one there is. */
export const ISCSI_VERSION = 0;
/** Bounds the rounds a peer can keep a stage going without transiting. */
const MAX_ROUNDS_PER_STAGE = 16;

export interface ChapCredentials {
  readonly username: string;
  readonly secret: Secret;
  /** With targetSecret: mutual CHAP, the target must prove itself with this name. */
  readonly targetUsername?: string;
  readonly targetSecret?: Secret;
  /** Offered in this order; default 8,7,6,5. After a "retry" step use [5]. */
  readonly algorithms?: readonly ChapAlgorithm[];
}

export interface InitiatorLoginOptions {
  readonly initiatorName: string;
  readonly initiatorAlias?: string;
  /** Required for a Normal session. */
  readonly targetName?: string;
  readonly sessionType: "Normal" | "Discovery";
  readonly isid: number;
  /** 0 for a new session; the session's TSIH to add a connection to it. */
  readonly tsih: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN?: number;
  readonly initiatorTaskTag?: number;
  readonly chap?: ChapCredentials;
  readonly proposal?: OperationalProposal;
  /** The session being joined, required when tsih != 0 (its parameters are not renegotiated). */
  readonly session?: SessionParameters;
  readonly hash: HashFunction;
  readonly randomBytes: RandomBytes;
  /** Mutual CHAP challenges sent in earlier logins of this session (see ChapInitiatorOptions). */
  readonly sentChallenges?: Uint8Array[];
  /** Bound on the text of one login response sequence (C bit); default 64 KiB. */
  readonly maxTextBytes?: number;
}

export interface LoginResult {
  readonly tsih: number;
  readonly targetPortalGroupTag?: number;
  readonly session: SessionParameters;
  readonly connection: ConnectionParameters;
  /** StatSN of the final Login Response: the next status carries statSN + 1. */
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  readonly chapAlgorithm?: ChapAlgorithm;
  readonly authenticated: "none" | "chap" | "mutual-chap";
  /** Extension keys (X-, X#) we offered or were offered, with their answers. */
  readonly extensions: readonly TextPair[];
}

export type LoginStep =
  | { readonly kind: "send"; readonly pdu: LoginRequestPdu }
  | { readonly kind: "complete"; readonly result: LoginResult }
  /** RFC 7143 §11.13.5 class 1: log in again at `address` (a new connection). */
  | { readonly kind: "redirect"; readonly address: TargetAddress; readonly permanent: boolean }
  /**
   * The target could not use our CHAP algorithm list: log in again on a new TCP connection with
   * `chap.algorithms = chapAlgorithms` (MD5 only).
   */
  | { readonly kind: "retry"; readonly chapAlgorithms: readonly ChapAlgorithm[]; readonly reason: string };

/** The machine's states; each names what our last request asked for. */
type State =
  | "idle"
  /** Sent the first PDU with AuthMethod, awaiting the target's choice. */
  | "security-method"
  /** Sent CHAP_A, awaiting CHAP_A/CHAP_I/CHAP_C. */
  | "chap-algorithm"
  /** Sent CHAP_N/CHAP_R (and our challenge), awaiting the transit to operational (and the target's proof). */
  | "chap-response"
  /** Security done on our side, asking to transit, awaiting T=1. */
  | "security-transit"
  /** Sent operational keys with T=1 NSG=3, awaiting the final response. */
  | "operational"
  | "done"
  | "failed";

interface SentHeader {
  readonly csg: LoginStage;
  readonly nsg: LoginStage;
  readonly transit: boolean;
}

export class InitiatorLogin {
  readonly #o: InitiatorLoginOptions;
  readonly #negotiator: Negotiator;
  readonly #chap: ChapInitiator | undefined;
  readonly #itt: number;
  readonly #incoming: TextAccumulator;
  #state: State = "idle";
  #expStatSN: number;
  #sent: SentHeader = { csg: LoginStage.Security, nsg: LoginStage.Operational, transit: true };
  /** Chunks of our current text still to send (C bit). */
  #outgoing: Uint8Array[] = [];
  #rounds = 0;
  #targetProven = false;
  #authenticated: LoginResult["authenticated"] = "none";
  /** Whether our last request carried CHAP_A or CHAP_R: a class-2 failure then may mean "retry with MD5". */
  #lastChapStep: "algorithm" | "response" | undefined;

  constructor(options: InitiatorLoginOptions) {
    this.#o = options;
    if (options.initiatorName.length === 0) throw new ConfigError("InitiatorName is required (RFC 7143 §13.5)");
    if (options.sessionType === "Normal" && (options.targetName ?? "") === "") {
      throw new ConfigError("TargetName is required for a Normal session (RFC 7143 §13.4)");
    }
    if (options.tsih !== 0 && options.session === undefined) {
      throw new ConfigError("adding a connection (tsih != 0) needs the session's parameters");
    }
    const proposal = options.proposal ?? DEFAULT_INITIATOR_PROPOSAL;
    validateProposal(proposal);
    this.#itt = options.initiatorTaskTag ?? 0;
    this.#expStatSN = options.expStatSN ?? 0;
    this.#incoming = new TextAccumulator({ maxBytes: options.maxTextBytes, where: "Login Response" });
    this.#chap = options.chap === undefined ? undefined : new ChapInitiator({
            ...options.chap,
            hash: options.hash,
            randomBytes: options.randomBytes,
            ...(options.sentChallenges === undefined ? {} : { sentChallenges: options.sentChallenges }),
          });
    const values = proposalValues(proposal);
    values.set("AuthMethod", this.#chap === undefined ? "None" : this.#chap.mutual && options.sessionType === "Normal" ? "CHAP" : "CHAP,None");
    this.#negotiator = new Negotiator({ role: "initiator", sessionType: options.sessionType, leading: options.tsih === 0, values });
  }

  get state(): State {
    return this.#state;
  }

  /** The first Login Request. */
  start(): LoginRequestPdu {
    if (this.#state !== "idle") throw new LocalProtocolError(`start() called in state ${this.#state}`);
    const n = this.#negotiator;
    const pairs: TextPair[] = [n.declare("InitiatorName", this.#o.initiatorName)];
    if (this.#o.initiatorAlias !== undefined) pairs.push(n.declare("InitiatorAlias", this.#o.initiatorAlias));
    if (this.#o.sessionType === "Normal") pairs.push(n.declare("TargetName", this.#o.targetName as string));
    // RFC 7143 §13.21: SessionType is leading-only; a connection joining a session leaves it out.
    if (this.#o.tsih === 0) pairs.push(n.declare("SessionType", this.#o.sessionType));
    pairs.push(...n.offer(["AuthMethod"]));
    this.#state = "security-method";
    return this.#request(LoginStage.Security, LoginStage.Operational, true, pairs);
  }

  /** Consumes one Login Response. */
  receive(response: LoginResponsePdu): LoginStep {
    if (this.#state === "idle" || this.#state === "done" || this.#state === "failed") {
      throw new LocalProtocolError(`receive() called in state ${this.#state}`);
    }
    try {
      return this.#receive(response);
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
  }

  #receive(r: LoginResponsePdu): LoginStep {
    if (r.opcode !== Opcode.LoginResponse) throw new RemoteProtocolError(`expected a Login Response, got opcode 0x${(r.opcode as number).toString(16)}`);
    // A failure ends the login whatever its header says: tgtd zeroes ISID and ITT in its failure
    // responses (seen against tgtd 1.0), so the status is read before the identity checks.
    if (r.statusClass !== LoginStatusClass.Success) return this.#failure(r);
    if (r.initiatorTaskTag !== this.#itt) {
      throw new RemoteProtocolError(`Login Response: ITT 0x${r.initiatorTaskTag.toString(16)} does not match ours 0x${this.#itt.toString(16)}`);
    }
    if (r.isid !== this.#o.isid) {
      throw new RemoteProtocolError(`Login Response: ISID 0x${r.isid.toString(16)} does not match ours 0x${this.#o.isid.toString(16)}`);
    }
    // RFC 7143 §11.13.3: Version-active is within the range we offered (0..0).
    if (r.versionActive !== ISCSI_VERSION) throw new RemoteProtocolError(`Login Response: Version-active ${r.versionActive}, we offered ${ISCSI_VERSION}`);
    this.#expStatSN = (r.statSN + 1) >>> 0;
    if (r.currentStage !== this.#sent.csg) {
      throw new RemoteProtocolError(`Login Response: CSG ${r.currentStage} but our request was in stage ${this.#sent.csg}`);
    }
    if (r.transit && r.continue) throw new RemoteProtocolError("Login Response: T and C both set (RFC 7143 §11.13.1)");
    if (r.transit) {
      // RFC 7143 §11.13: the target transits only when we asked to, to the stage we asked for.
      if (!this.#sent.transit) throw new RemoteProtocolError("Login Response: T=1 but our request had T=0");
      if (r.nextStage !== this.#sent.nsg) throw new RemoteProtocolError(`Login Response: NSG ${r.nextStage}, we asked for ${this.#sent.nsg}`);
    }

    // Our text continues (C bit): the target acknowledges each piece with an empty response.
    if (this.#outgoing.length > 0) {
      if (r.data.length !== 0 || r.transit || r.continue) {
        throw new RemoteProtocolError("Login Response: expected an empty acknowledgement while our text continues (C bit)");
      }
      return this.#sendNextChunk();
    }

    this.#incoming.append(r.data);
    if (r.continue) {
      // RFC 7143 §6.1 / §11.13: more text follows; ask for it with an empty request that repeats
      // our transit wish, so the target can transit with its last piece.
      const { csg, nsg, transit } = this.#sent;
      return { kind: "send", pdu: this.#bare(csg, nsg, transit, new Uint8Array(0), false) };
    }
    const pairs = this.#incoming.finish();
    if (++this.#rounds > MAX_ROUNDS_PER_STAGE) throw new RemoteProtocolError(`the target kept stage ${this.#sent.csg} going for ${MAX_ROUNDS_PER_STAGE} rounds`);

    switch (this.#state) {
      case "security-method":
        return this.#onAuthMethod(r, pairs);
      case "chap-algorithm":
        return this.#onChapChallenge(r, pairs);
      case "chap-response":
      case "security-transit":
        return this.#onSecurityEnd(r, pairs);
      case "operational":
        return this.#onOperational(r, pairs);
      default:
        throw new LocalProtocolError(`no response expected in state ${this.#state}`);
    }
  }

  #onAuthMethod(r: LoginResponsePdu, pairs: TextPair[]): LoginStep {
    const n = this.#negotiator;
    const replies = n.receive(pairs, "security");
    if (n.pending().includes("AuthMethod")) {
      if (r.transit) throw new AuthenticationError(`the target transited without answering AuthMethod=${n.localValue("AuthMethod") ?? ""}`);
      // The target may need more rounds (its own offers) before it answers.
      return { kind: "send", pdu: this.#request(LoginStage.Security, LoginStage.Operational, true, replies) };
    }
    const refusal = n.refusal("AuthMethod");
    if (refusal !== undefined) {
      throw new AuthenticationError(`${this.#targetText()}: the target answered AuthMethod=${refusal} to our AuthMethod=${n.localValue("AuthMethod") ?? ""}`);
    }
    const method = n.agreed("AuthMethod");
    if (method === "CHAP") {
      if (r.transit) throw new RemoteProtocolError("Login Response: the target chose CHAP and transited without authenticating");
      this.#state = "chap-algorithm";
      this.#rounds = 0;
      const chap = this.#chap as ChapInitiator;
      return { kind: "send", pdu: this.#request(LoginStage.Security, 0, false, [...replies, chap.algorithmOffer()]) };
    }
    // AuthMethod=None.
    return this.#securityDone(r, replies);
  }

  #onChapChallenge(r: LoginResponsePdu, pairs: TextPair[]): LoginStep {
    if (r.transit) throw new RemoteProtocolError("Login Response: the target transited before CHAP completed");
    const chap = this.#chap as ChapInitiator;
    const outcome: ChapChallengeOutcome = chap.answerChallenge(pairs);
    if (outcome.kind === "retry") {
      this.#state = "failed";
      return this.#fallBackToMd5(outcome.reason);
    }
    const replies = this.#negotiator.receive(pairs, "security");
    this.#state = "chap-response";
    this.#rounds = 0;
    return { kind: "send", pdu: this.#request(LoginStage.Security, LoginStage.Operational, true, [...outcome.pairs, ...replies]) };
  }

  #onSecurityEnd(r: LoginResponsePdu, pairs: TextPair[]): LoginStep {
    const chap = this.#chap;
    if (this.#state === "chap-response" && chap !== undefined && chap.algorithm !== undefined) {
      this.#authenticated = "chap";
      if (chap.mutual && !this.#targetProven) {
        const proof = pairs.some(([k]) => k === "CHAP_N" || k === "CHAP_R");
        if (proof || r.transit) {
          // Throws AuthenticationError (mutual) if the proof is missing or wrong.
          chap.verifyTarget(pairs);
          this.#targetProven = true;
          this.#authenticated = "mutual-chap";
        }
      }
    }
    const replies = this.#negotiator.receive(pairs.filter(([k]) => !k.startsWith("CHAP_")), "security");
    return this.#securityDone(r, replies);
  }

  /** Our side of the security stage is done: transit when the target does, else ask again. */
  #securityDone(r: LoginResponsePdu, replies: TextPair[]): LoginStep {
    // A Discovery session may have settled on None (we offered it there: see the top); a Normal
    // session with mutual CHAP offered CHAP alone, so it cannot get here without the proof.
    const unauthenticatedDiscovery = this.#o.sessionType === "Discovery" && this.#negotiator.agreed("AuthMethod") === "None";
    if (this.#chap?.mutual === true && !this.#targetProven && r.transit && !unauthenticatedDiscovery) {
      throw new AuthenticationError("mutual CHAP: the target moved on without proving itself", { mutual: true });
    }
    if (!r.transit) {
      if (this.#state !== "chap-response") this.#state = "security-transit";
      return { kind: "send", pdu: this.#request(LoginStage.Security, LoginStage.Operational, true, replies) };
    }
    if (replies.length > 0) throw new RemoteProtocolError(`Login Response: the target offered ${fewKeys(replies.map(([k]) => k))} while transiting`);
    this.#state = "operational";
    this.#rounds = 0;
    return { kind: "send", pdu: this.#request(LoginStage.Operational, LoginStage.FullFeature, true, this.#operationalOffer()) };
  }

  #operationalOffer(): TextPair[] {
    const n = this.#negotiator;
    const leading = this.#o.tsih === 0;
    const proposal = this.#o.proposal ?? DEFAULT_INITIATOR_PROPOSAL;
    const keys = [...proposalValues(proposal).keys()].filter((key) => {
      const def = keyDefinition(key);
      if (def === undefined) return false;
      // A connection joining a session negotiates only connection keys (RFC 7143 §13 "LO").
      if (!leading && def.use === "LO") return false;
      // Keys irrelevant to a discovery session are not offered (RFC 7143 §13 "Irrelevant when").
      if (def.irrelevantWhen?.({ sessionType: this.#o.sessionType, agreed: () => undefined }) === true) return false;
      return true;
    });
    const pairs = n.offer(keys);
    for (const [key, value] of proposal.extraKeys ?? []) pairs.push(n.offerValue(key, value));
    return pairs;
  }

  #onOperational(r: LoginResponsePdu, pairs: TextPair[]): LoginStep {
    const n = this.#negotiator;
    const offered = new Map(pairs);
    const replies = n.receive(pairs, "operational");
    if (!r.transit) {
      return { kind: "send", pdu: this.#request(LoginStage.Operational, LoginStage.FullFeature, true, replies) };
    }
    // The target offered keys in its final response and cannot hear our answers: accept only
    // offers whose answer is the offered value itself.
    for (const [key, answer] of replies) {
      if (offered.get(key) !== answer) {
        throw new NegotiationError(`the target offered ${key}=${offered.get(key) ?? ""} while transiting to full feature phase; we would answer ${answer}`, key);
      }
    }
    n.settle();
    return { kind: "complete", result: this.#result(r) };
  }

  #result(r: LoginResponsePdu): LoginResult {
    // RFC 7143 §11.13.4: a new session gets its TSIH in the final response; a connection joining a
    // session gets the same TSIH back.
    if (this.#o.tsih === 0 && r.tsih === 0) throw new RemoteProtocolError("final Login Response of a new session carries TSIH 0");
    if (this.#o.tsih !== 0 && r.tsih !== this.#o.tsih) {
      throw new RemoteProtocolError(`final Login Response: TSIH ${r.tsih}, the session's is ${this.#o.tsih}`);
    }
    const n = this.#negotiator;
    const negotiated = n.sessionParameters();
    const session = this.#o.tsih !== 0 ? (this.#o.session as SessionParameters) : negotiated;
    this.#state = "done";
    const result: LoginResult = {
      tsih: r.tsih,
      session,
      connection: n.connectionParameters(),
      statSN: r.statSN,
      expCmdSN: r.expCmdSN,
      maxCmdSN: r.maxCmdSN,
      authenticated: this.#authenticated,
      extensions: n.extensions(),
      ...(negotiated.targetPortalGroupTag === undefined ? {} : { targetPortalGroupTag: negotiated.targetPortalGroupTag }),
      ...(this.#chap?.algorithm === undefined ? {} : { chapAlgorithm: this.#chap.algorithm }),
    };
    return result;
  }

  #failure(r: LoginResponsePdu): LoginStep {
    this.#state = "failed";
    if (r.statusClass === LoginStatusClass.Redirection) {
      if (r.statusDetail !== 0x01 && r.statusDetail !== 0x02) {
        throw loginErrorFromStatus(r.statusClass, r.statusDetail, this.#o.targetName);
      }
      const pairs = parseText(r.data, { where: "Login Response (redirection)" });
      const address = pairs.find(([k]) => k === "TargetAddress")?.[1];
      if (address === undefined) throw new RemoteProtocolError(`Login Response: ${describeLoginStatus(r.statusClass, r.statusDetail)} without a TargetAddress`);
      return { kind: "redirect", address: parseTargetAddress(address), permanent: r.statusDetail === 0x02 };
    }
    // tgtd fails the login (0x0200) when it cannot use any algorithm of our CHAP_A list.
    const chap = this.#chap;
    const md5Only = chap === undefined || (chap.algorithms.length === 1 && chap.algorithms[0] === 5);
    if (r.statusClass === LoginStatusClass.InitiatorError && this.#lastChapStep === "algorithm" && chap !== undefined && !md5Only) {
      return this.#fallBackToMd5(`the target answered our CHAP_A=${chap.algorithms.join(",")} with ${describeLoginStatus(r.statusClass, r.statusDetail)}`);
    }
    // tgtd 1.0 picks SHA-256 (7) from our list but cannot decode a 32-byte CHAP_R ("buf[20]
    // !sufficient"), and fails with 0x0200 rather than 0x0201. An "initiator error" in answer to a
    // non-MD5 response therefore means "retry with MD5"; 0x0201 still means a wrong secret.
    if (
      r.statusClass === LoginStatusClass.InitiatorError &&
      r.statusDetail === 0x00 &&
      this.#lastChapStep === "response" &&
      chap?.algorithm !== undefined &&
      chap.algorithm !== 5
    ) {
      return this.#fallBackToMd5(
        `the target chose CHAP_A=${chap.algorithm} but refused our response with ${describeLoginStatus(r.statusClass, r.statusDetail)}`,
      );
    }
    throw loginErrorFromStatus(r.statusClass, r.statusDetail, this.#o.targetName);
  }

  /**
   * A target that cannot use our stronger algorithms gets a second login offering MD5 alone, but
   * only when the caller's list allows MD5: a caller who excluded it must not be downgraded by a
   * target (or by someone in the path answering Reject; RFC 3723 §4).
   */
  #fallBackToMd5(reason: string): LoginStep {
    const allowed = this.#o.chap?.algorithms ?? DEFAULT_CHAP_ALGORITHMS;
    if (!allowed.includes(5)) {
      throw new AuthenticationError(
        `no CHAP algorithm in common with ${this.#targetText()}: we allow CHAP_A=${allowed.join(",")} only, and ${reason}`,
        { statusClass: 0x02, statusDetail: 0x01 },
      );
    }
    return { kind: "retry", chapAlgorithms: [5], reason };
  }

  #targetText(): string {
    return this.#o.targetName === undefined ? "discovery session" : `target ${this.#o.targetName}`;
  }

  /** Builds our next request; text longer than one segment goes out in pieces with C=1. */
  #request(csg: LoginStage, nsg: LoginStage, transit: boolean, pairs: TextPair[]): LoginRequestPdu {
    this.#lastChapStep = pairs.some(([k]) => k === "CHAP_A") ? "algorithm" : pairs.some(([k]) => k === "CHAP_R") ? "response" : undefined;
    const chunks = splitText(encodeText(pairs), LOGIN_MAX_SEGMENT);
    const first = chunks.shift() as Uint8Array;
    this.#outgoing = chunks;
    this.#sent = { csg, nsg: transit ? nsg : 0, transit };
    if (chunks.length > 0) return this.#bare(csg, 0, false, first, true);
    return this.#bare(csg, transit ? nsg : 0, transit, first, false);
  }

  #sendNextChunk(): LoginStep {
    const chunk = this.#outgoing.shift() as Uint8Array;
    const more = this.#outgoing.length > 0;
    const { csg, nsg, transit } = this.#sent;
    // RFC 7143 §11.12.2: T is set only on the last piece of a continued text.
    return { kind: "send", pdu: this.#bare(csg, more ? 0 : nsg, more ? false : transit, chunk, more) };
  }

  #bare(csg: LoginStage, nsg: LoginStage | 0, transit: boolean, data: Uint8Array, cont: boolean): LoginRequestPdu {
    return {
      opcode: Opcode.LoginRequest,
      transit,
      continue: cont,
      currentStage: csg,
      nextStage: nsg as LoginStage,
      versionMax: ISCSI_VERSION,
      versionMin: ISCSI_VERSION,
      isid: this.#o.isid,
      tsih: this.#o.tsih,
      initiatorTaskTag: this.#itt,
      cid: this.#o.cid,
      // RFC 7143 §11.12.6: login requests carry the session's first CmdSN, not advanced.
      cmdSN: this.#o.cmdSN,
      expStatSN: this.#expStatSN,
      data,
    };
  }
}

/** Names a few keys and counts the rest: a peer must not decide how long our messages are. */
function fewKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 3).map((k) => (k.length > 64 ? `${k.slice(0, 64)}...` : k));
  return keys.length > 3 ? `${shown.join(", ")} and ${keys.length - 3} more` : shown.join(", ");
}
