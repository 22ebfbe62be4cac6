/**
 * The target's login state machine (RFC 7143 §6.3, §11.12, §11.13), for the embedded target:
 * consumes Login Request PDUs and yields Login Response PDUs. Where the RFC has the target answer
 * with a status (unknown target, failed authentication, missing InitiatorName, a malformed key...),
 * the step is `{ kind: "reject", pdu, error }`: send the PDU, then close the connection. It throws
 * only for misuse by the caller.
 */
import type { ChapAccount } from "../auth/chap.js";
import { ChapAuthenticator } from "../auth/chap.js";
import type { ChapAlgorithm, HashFunction, RandomBytes } from "../auth/hash.js";
import type { Secret } from "../auth/secret.js";
import { AuthenticationError, IscsiError, LocalProtocolError, LoginError, RemoteProtocolError } from "../errors.js";
import { LoginStage, Opcode } from "../pdu/opcodes.js";
import type { LoginRequestPdu, LoginResponsePdu } from "../pdu/types.js";
import type { TextPair } from "../text/codec.js";
import { TextAccumulator, encodeText, splitText } from "../text/codec.js";
import { OPERATIONAL_KEYS } from "../text/keys.js";
import { Negotiator } from "../text/negotiation.js";
import type { ConnectionParameters, SessionParameters, TargetPolicy } from "../text/parameters.js";
import { DEFAULT_TARGET_POLICY, proposalValues, validateProposal } from "../text/parameters.js";
import { ISCSI_VERSION, LOGIN_MAX_SEGMENT } from "./initiator.js";
import { LoginStatus, describeLoginStatus } from "./status.js";

export type AuthMethodName = "CHAP" | "None";

/** How a target node (or the discovery service) authenticates initiators. */
export interface AuthPolicy {
  /** Accepted methods: ["CHAP"] requires CHAP, ["None"] none, ["CHAP", "None"] either. */
  readonly authMethods: readonly AuthMethodName[];
  /** CHAP algorithms allowed; the first of the initiator's list found here is used. */
  readonly chapAlgorithms?: readonly ChapAlgorithm[];
  /** The target's own account, answered to initiators that ask for mutual CHAP. */
  readonly outgoingAccount?: ChapAccount;
}

export interface TargetNode extends AuthPolicy {
  readonly name: string;
  readonly alias?: string;
  /** Negotiation policy of this target; defaults to the TargetLogin's. */
  readonly policy?: TargetPolicy;
  /** Access control after authentication: may this initiator use this target? */
  readonly authorize?: (initiatorName: string, username: string | undefined) => boolean;
}

export type TargetResolution =
  | { readonly kind: "target"; readonly target: TargetNode }
  /** RFC 7143 §11.13.5 class 1: send the initiator elsewhere (TargetAddress value). */
  | { readonly kind: "redirect"; readonly address: string; readonly permanent: boolean }
  | { readonly kind: "removed" }
  | { readonly kind: "not-found" };

export interface TargetLoginOptions {
  readonly portalGroupTag: number;
  readonly resolveTarget: (targetName: string, initiatorName: string) => TargetResolution;
  /** Discovery sessions: how they authenticate; undefined refuses them (0x0209). */
  readonly discovery?: AuthPolicy;
  /** Secret of an initiator's CHAP user, or undefined. */
  readonly lookupAccount: (username: string, targetName: string | undefined) => Secret | undefined;
  /** A fresh, non-zero TSIH for a new session (the caller owns the session table). */
  readonly allocateTsih: () => number;
  /** The session a non-leading login (TSIH != 0) joins; undefined gives 0x020a. */
  readonly findSession?: (isid: number, tsih: number, initiatorName: string) => SessionParameters | undefined;
  readonly policy?: TargetPolicy;
  /** StatSN of the first response on this connection. */
  readonly statSN: number;
  /** MaxCmdSN = ExpCmdSN + commandWindow - 1; default 32. */
  readonly commandWindow?: number;
  readonly hash: HashFunction;
  readonly randomBytes: RandomBytes;
  readonly maxTextBytes?: number;
}

export interface TargetLoginResult {
  readonly isid: number;
  readonly tsih: number;
  readonly cid: number;
  readonly initiatorName: string;
  readonly targetName?: string;
  readonly session: SessionParameters;
  readonly connection: ConnectionParameters;
  readonly username?: string;
  readonly authenticated: "none" | "chap" | "mutual-chap";
  readonly chapAlgorithm?: ChapAlgorithm;
  /** StatSN of the final response: the next status carries statSN + 1. */
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

export type TargetLoginStep =
  | { readonly kind: "send"; readonly pdu: LoginResponsePdu }
  | { readonly kind: "complete"; readonly pdu: LoginResponsePdu; readonly result: TargetLoginResult }
  /** Send `pdu` (a failure status) and close the connection. */
  | { readonly kind: "reject"; readonly pdu: LoginResponsePdu; readonly error: LoginError }
  /** Send `pdu` (status 0x0101/0x0102 with a TargetAddress) and close the connection. */
  | { readonly kind: "redirect"; readonly pdu: LoginResponsePdu };

type State =
  | "initial"
  /** Security stage, awaiting AuthMethod (or more security-stage keys). */
  | "security"
  | "chap-algorithm"
  | "chap-response"
  /** CHAP_A=Reject was sent: whatever comes next fails. */
  | "chap-refused"
  /** Authenticated (or None), still in the security stage until the initiator transits. */
  | "security-done"
  | "operational"
  | "done"
  | "failed";

/** Thrown inside the machine to answer with a status; never escapes. */
class StatusFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: LoginError,
  ) {
    super(error.message);
  }
}

export class TargetLogin {
  readonly #o: TargetLoginOptions;
  #state: State = "initial";
  #negotiator: Negotiator | undefined;
  #chap: ChapAuthenticator | undefined;
  #auth: AuthPolicy | undefined;
  #node: TargetNode | undefined;
  /** InitiatorName of the first Login Request (RFC 7143 §13.6: declared there, required). */
  #initiatorName = "";
  #first: LoginRequestPdu | undefined;
  #session: SessionParameters | undefined;
  #stage: LoginStage = LoginStage.Security;
  #statSN: number;
  #expCmdSN = 0;
  #incoming: TextAccumulator;
  #outgoing: Uint8Array[] = [];
  #pendingHeader: { transit: boolean; nsg: LoginStage } = { transit: false, nsg: 0 as LoginStage };
  #username: string | undefined;
  #authenticated: TargetLoginResult["authenticated"] = "none";
  #declaredOwnLength = false;
  #responses = 0;

  constructor(options: TargetLoginOptions) {
    this.#o = options;
    if (options.policy !== undefined) validateProposal(options.policy);
    this.#statSN = options.statSN >>> 0;
    this.#incoming = new TextAccumulator({ maxBytes: options.maxTextBytes, where: "Login Request" });
  }

  get state(): State {
    return this.#state;
  }

  receive(request: LoginRequestPdu): TargetLoginStep {
    if (this.#state === "done" || this.#state === "failed") throw new LocalProtocolError(`receive() called in state ${this.#state}`);
    try {
      return this.#receive(request);
    } catch (e) {
      if (e instanceof Redirect) {
        this.#state = "failed";
        const status = e.permanent ? LoginStatus.TargetMovedPermanently : LoginStatus.TargetMovedTemporarily;
        const data = encodeText([["TargetAddress", e.address]]);
        return { kind: "redirect", pdu: this.#response(request, status, false, 0 as LoginStage, data, false) };
      }
      let failure: StatusFailure;
      if (e instanceof StatusFailure) {
        failure = e;
      } else if (e instanceof AuthenticationError) {
        failure = new StatusFailure(LoginStatus.AuthenticationFailure, e);
      } else if (e instanceof IscsiError && !(e instanceof LocalProtocolError)) {
        // A malformed or illegal request (RemoteProtocolError, NegotiationError): RFC 7143 §11.13.5
        // "Initiator error", with the reason kept as the error's cause for the host's log.
        const message = `login refused: ${describeLoginStatus(2, 0)}: ${e.message}`;
        failure = new StatusFailure(LoginStatus.InitiatorError, new LoginError(2, 0, message, { cause: e }));
      } else {
        throw e;
      }
      this.#state = "failed";
      return { kind: "reject", pdu: this.#response(request, failure.status, false, 0 as LoginStage, new Uint8Array(0), false), error: failure.error };
    }
  }

  #fail(status: number, detail?: string): never {
    const cls = status >> 8;
    const sub = status & 0xff;
    const target = this.#node?.name ?? (this.#negotiator?.sessionType === "Discovery" ? "discovery session" : "target");
    const message = `login to ${target} refused: ${describeLoginStatus(cls, sub)}${detail === undefined ? "" : `: ${detail}`}`;
    const error = status === LoginStatus.AuthenticationFailure ? new AuthenticationError(message) : new LoginError(cls, sub, message);
    throw new StatusFailure(status, error);
  }

  #receive(req: LoginRequestPdu): TargetLoginStep {
    // RFC 7143 §11.12.6: login requests carry the session's first CmdSN; every response expects it.
    this.#expCmdSN = req.cmdSN >>> 0;
    if (req.opcode !== Opcode.LoginRequest) this.#fail(LoginStatus.InvalidDuringLogin, `opcode 0x${(req.opcode as number).toString(16)}`);
    // RFC 7143 §11.12.4: version 0 is all there is.
    if (req.versionMin > ISCSI_VERSION) this.#fail(LoginStatus.UnsupportedVersion, `Version-min ${req.versionMin}`);
    const first = this.#first;
    if (first === undefined) {
      this.#first = req;
    } else if (req.isid !== first.isid || req.tsih !== first.tsih || req.cid !== first.cid || req.initiatorTaskTag !== first.initiatorTaskTag) {
      throw new RemoteProtocolError("Login Request: ISID, TSIH, CID or ITT changed during the login");
    }
    if (req.transit && req.continue) throw new RemoteProtocolError("Login Request: T and C both set (RFC 7143 §11.12.2)");
    if (req.currentStage !== this.#stage && !(this.#state === "initial" && req.currentStage === LoginStage.Operational)) {
      throw new RemoteProtocolError(`Login Request: CSG ${req.currentStage}, expected ${this.#stage}`);
    }
    if (req.transit && (req.nextStage <= req.currentStage || (req.nextStage as number) === 2)) {
      throw new RemoteProtocolError(`Login Request: NSG ${req.nextStage} after CSG ${req.currentStage}`);
    }

    // Our text continues: the initiator asks for each further piece with an empty request.
    if (this.#outgoing.length > 0) {
      if (req.data.length !== 0 || req.continue) throw new RemoteProtocolError("Login Request: expected an empty request while our text continues");
      const chunk = this.#outgoing.shift() as Uint8Array;
      const more = this.#outgoing.length > 0;
      const h = this.#pendingHeader;
      const pdu = this.#response(req, 0, more ? false : h.transit && req.transit, h.nsg, chunk, more);
      return this.#afterSend(pdu, req);
    }
    this.#incoming.append(req.data);
    if (req.continue) return { kind: "send", pdu: this.#response(req, 0, false, 0 as LoginStage, new Uint8Array(0), false) };
    const pairs = this.#incoming.finish();

    if (this.#state === "initial") this.#begin(req, pairs);
    const n = this.#negotiator as Negotiator;
    if (req.currentStage === LoginStage.Security) return this.#security(req, n, pairs);
    return this.#operational(req, n, pairs);
  }

  /** The first request: who is logging in, to what, and with which policy (RFC 7143 §6.3). */
  #begin(req: LoginRequestPdu, pairs: readonly TextPair[]): void {
    const get = (k: string): string | undefined => pairs.find(([key]) => key === k)?.[1];
    const initiatorName = get("InitiatorName");
    if (initiatorName === undefined || initiatorName === "") this.#fail(LoginStatus.MissingParameter, "InitiatorName");
    this.#initiatorName = initiatorName;
    const sessionType = get("SessionType") ?? "Normal";
    if (sessionType !== "Normal" && sessionType !== "Discovery") throw new RemoteProtocolError(`SessionType=${sessionType}`);
    let policy = this.#o.policy ?? DEFAULT_TARGET_POLICY;
    if (sessionType === "Discovery") {
      if (this.#o.discovery === undefined) this.#fail(LoginStatus.SessionTypeNotSupported, "discovery sessions are not offered");
      this.#auth = this.#o.discovery;
    } else {
      const targetName = get("TargetName");
      if (targetName === undefined || targetName === "") this.#fail(LoginStatus.MissingParameter, "TargetName");
      const resolution = this.#o.resolveTarget(targetName, initiatorName);
      switch (resolution.kind) {
        case "not-found":
          this.#fail(LoginStatus.NotFound, targetName);
          break;
        case "removed":
          this.#fail(LoginStatus.TargetRemoved, targetName);
          break;
        case "redirect":
          throw new Redirect(resolution.address, resolution.permanent);
        case "target":
          this.#node = resolution.target;
          this.#auth = resolution.target;
          if (resolution.target.policy !== undefined) {
            validateProposal(resolution.target.policy);
            policy = resolution.target.policy;
          }
      }
    }
    if (req.tsih !== 0) {
      const session = this.#o.findSession?.(req.isid, req.tsih, initiatorName);
      if (session === undefined) this.#fail(LoginStatus.SessionDoesNotExist, `TSIH ${req.tsih}`);
      this.#session = session;
    }
    const values = proposalValues(policy);
    values.set("AuthMethod", (this.#auth as AuthPolicy).authMethods.join(","));
    // RFC 7143 §13.24: we implement iSCSIProtocolLevel 1 (RFC 7143).
    values.set("iSCSIProtocolLevel", "1");
    this.#negotiator = new Negotiator({ role: "target", sessionType, leading: req.tsih === 0, values });
    this.#state = "security";
  }

  #security(req: LoginRequestPdu, n: Negotiator, pairs: TextPair[]): TargetLoginStep {
    const auth = this.#auth as AuthPolicy;
    const replies: TextPair[] = [];
    const firstResponse = this.#firstResponse();
    switch (this.#state) {
      case "security": {
        replies.push(...n.receive(pairs, "security"));
        if (!n.settled("AuthMethod")) {
          // No AuthMethod offered: the default None applies (RFC 7143 §13.22 has no default; None is the only safe reading).
          if (req.transit && !auth.authMethods.includes("None")) this.#fail(LoginStatus.AuthenticationFailure, "authentication required");
          if (req.transit) return this.#transit(req, n, [...firstResponse, ...replies]);
          return this.#send(req, false, 0 as LoginStage, [...firstResponse, ...replies]);
        }
        const method = n.agreed("AuthMethod");
        if (replies.some(([k, v]) => k === "AuthMethod" && v === "Reject")) this.#fail(LoginStatus.AuthenticationFailure, "no acceptable AuthMethod");
        if (method === "CHAP") {
          this.#state = "chap-algorithm";
          this.#chap = new ChapAuthenticator({
            ...(auth.chapAlgorithms === undefined ? {} : { algorithms: auth.chapAlgorithms }),
            ...(auth.outgoingAccount === undefined ? {} : { outgoing: auth.outgoingAccount }),
            lookupAccount: (user) => this.#o.lookupAccount(user, this.#node?.name),
            hash: this.#o.hash,
            randomBytes: this.#o.randomBytes,
          });
          return this.#send(req, false, 0 as LoginStage, [...firstResponse, ...replies]);
        }
        this.#authorize(undefined);
        this.#state = "security-done";
        if (req.transit) return this.#transit(req, n, [...firstResponse, ...replies]);
        return this.#send(req, false, 0 as LoginStage, [...firstResponse, ...replies]);
      }
      case "chap-algorithm": {
        const chap = this.#chap as ChapAuthenticator;
        const offered = pairs.find(([k]) => k === "CHAP_A")?.[1];
        if (offered === undefined) this.#fail(LoginStatus.AuthenticationFailure, "CHAP_A missing");
        replies.push(...n.receive(pairs, "security"));
        const { pairs: chapPairs, chosen } = chap.challenge(offered);
        this.#state = chosen === undefined ? "chap-refused" : "chap-response";
        return this.#send(req, false, 0 as LoginStage, [...chapPairs, ...replies]);
      }
      case "chap-refused":
        this.#fail(LoginStatus.AuthenticationFailure, "no common CHAP algorithm");
        break;
      case "chap-response": {
        const chap = this.#chap as ChapAuthenticator;
        const verdict = chap.verify(pairs);
        if (!verdict.ok) this.#fail(LoginStatus.AuthenticationFailure, verdict.reason);
        this.#username = verdict.username;
        this.#authenticated = verdict.mutual ? "mutual-chap" : "chap";
        this.#authorize(verdict.username);
        replies.push(...verdict.replies, ...n.receive(pairs.filter(([k]) => !k.startsWith("CHAP_")), "security"));
        this.#state = "security-done";
        if (req.transit) return this.#transit(req, n, replies);
        return this.#send(req, false, 0 as LoginStage, replies);
      }
      case "security-done": {
        replies.push(...n.receive(pairs, "security"));
        if (req.transit) return this.#transit(req, n, replies);
        return this.#send(req, false, 0 as LoginStage, replies);
      }
      default:
        throw new RemoteProtocolError(`Login Request in the security stage while ${this.#state}`);
    }
    return this.#fail(LoginStatus.TargetError);
  }

  /** RFC 7143 §13.9: the first response of a login names the portal group; TargetAlias too if set. */
  #firstResponse(): TextPair[] {
    if (this.#responses > 0) return [];
    const out: TextPair[] = [["TargetPortalGroupTag", String(this.#o.portalGroupTag)]];
    if (this.#node?.alias !== undefined) out.push(["TargetAlias", this.#node.alias]);
    return out;
  }

  #authorize(username: string | undefined): void {
    const node = this.#node;
    // The name from the first request (#begin): a declaration the negotiator may not record when
    // the request also asks to leave the security stage (libiscsi does, with AuthMethod=None).
    const initiator = this.#initiatorName;
    if (node?.authorize !== undefined && !node.authorize(initiator, username)) {
      this.#fail(LoginStatus.AuthorizationFailure, `initiator ${initiator}`);
    }
  }

  /** The initiator asked to leave the security stage; we agree (to the stage it asked for). */
  #transit(req: LoginRequestPdu, n: Negotiator, replies: TextPair[]): TargetLoginStep {
    if (this.#state !== "security-done") this.#authorize(undefined);
    this.#state = "security-done";
    if (req.nextStage === LoginStage.FullFeature) return this.#finish(req, n, replies);
    this.#stage = LoginStage.Operational;
    this.#state = "operational";
    return this.#send(req, true, LoginStage.Operational, replies);
  }

  #operational(req: LoginRequestPdu, n: Negotiator, pairs: TextPair[]): TargetLoginStep {
    if (this.#state === "security" || this.#state === "initial") {
      // The initiator skipped the security stage: only a target that needs no authentication allows it.
      if (!(this.#auth as AuthPolicy).authMethods.includes("None")) this.#fail(LoginStatus.AuthenticationFailure, "authentication required");
      this.#authorize(undefined);
      this.#stage = LoginStage.Operational;
      this.#state = "operational";
      const first = this.#firstResponse();
      return this.#operationalRound(req, n, pairs, first);
    }
    if (this.#state !== "operational") throw new RemoteProtocolError(`Login Request in the operational stage while ${this.#state}`);
    return this.#operationalRound(req, n, pairs, []);
  }

  #operationalRound(req: LoginRequestPdu, n: Negotiator, pairs: TextPair[], prefix: TextPair[]): TargetLoginStep {
    const replies = [...prefix, ...n.receive(pairs, "operational")];
    if (!this.#declaredOwnLength) {
      this.#declaredOwnLength = true;
      replies.push(n.declare("MaxRecvDataSegmentLength", n.localValue("MaxRecvDataSegmentLength") ?? "8192"));
    }
    // Apply our policy to keys the initiator left at values we do not accept.
    replies.push(...n.offer(n.keysToCounterOffer(OPERATIONAL_KEYS)));
    // The final response must fit one PDU (T and C are never both set): longer answers go out in
    // pieces first, and the initiator's next (empty) request with T=1 completes the login.
    if (req.transit && n.pending().length === 0 && encodeText(replies).length <= LOGIN_MAX_SEGMENT) return this.#finish(req, n, replies);
    return this.#send(req, false, 0 as LoginStage, replies);
  }

  #finish(req: LoginRequestPdu, n: Negotiator, replies: TextPair[]): TargetLoginStep {
    n.settle();
    const leading = req.tsih === 0;
    const tsih = leading ? this.#o.allocateTsih() : req.tsih;
    if (!Number.isInteger(tsih) || tsih < 1 || tsih > 0xffff) throw new LocalProtocolError(`allocateTsih() returned ${tsih}`);
    this.#stage = LoginStage.FullFeature;
    const negotiated = n.sessionParameters();
    const session = leading ? { ...negotiated, targetPortalGroupTag: this.#o.portalGroupTag } : (this.#session as SessionParameters);
    const pdu = this.#response(req, 0, true, LoginStage.FullFeature, encodeText(replies), false, tsih);
    this.#state = "done";
    const result: TargetLoginResult = {
      isid: req.isid,
      tsih,
      cid: req.cid,
      initiatorName: n.peerDeclaration("InitiatorName") ?? "",
      session,
      connection: n.connectionParameters(),
      authenticated: this.#authenticated,
      statSN: pdu.statSN,
      expCmdSN: pdu.expCmdSN,
      maxCmdSN: pdu.maxCmdSN,
      ...(this.#node === undefined ? {} : { targetName: this.#node.name }),
      ...(this.#username === undefined ? {} : { username: this.#username }),
      ...(this.#chap?.algorithm === undefined ? {} : { chapAlgorithm: this.#chap.algorithm }),
    };
    if (encodeText(replies).length > LOGIN_MAX_SEGMENT) {
      throw new LocalProtocolError("final login response text exceeds one PDU");
    }
    return { kind: "complete", pdu, result };
  }

  /** Sends our text, in pieces (C bit) when it exceeds the initiator's 8192-byte login limit. */
  #send(req: LoginRequestPdu, transit: boolean, nsg: LoginStage, pairs: TextPair[]): TargetLoginStep {
    const chunks = splitText(encodeText(pairs), LOGIN_MAX_SEGMENT);
    const first = chunks.shift() as Uint8Array;
    this.#outgoing = chunks;
    this.#pendingHeader = { transit, nsg };
    const more = chunks.length > 0;
    const pdu = this.#response(req, 0, more ? false : transit, more ? (0 as LoginStage) : nsg, first, more);
    if (transit && !more) this.#stage = nsg;
    return { kind: "send", pdu };
  }

  #afterSend(pdu: LoginResponsePdu, _req: LoginRequestPdu): TargetLoginStep {
    if (pdu.transit) this.#stage = pdu.nextStage;
    return { kind: "send", pdu };
  }

  #response(
    req: LoginRequestPdu,
    status: number,
    transit: boolean,
    nsg: LoginStage,
    data: Uint8Array,
    cont: boolean,
    tsih = req.tsih,
  ): LoginResponsePdu {
    const statSN = this.#statSN;
    this.#responses++;
    // RFC 7143 §11.13.4: each login response carries the next StatSN.
    this.#statSN = (this.#statSN + 1) >>> 0;
    const window = this.#o.commandWindow ?? 32;
    return {
      opcode: Opcode.LoginResponse,
      transit,
      continue: cont,
      currentStage: req.currentStage,
      nextStage: transit ? nsg : (0 as LoginStage),
      versionMax: ISCSI_VERSION,
      versionActive: ISCSI_VERSION,
      isid: req.isid,
      tsih,
      initiatorTaskTag: req.initiatorTaskTag,
      statSN,
      expCmdSN: this.#expCmdSN,
      maxCmdSN: (this.#expCmdSN + window - 1) >>> 0,
      statusClass: status >> 8,
      statusDetail: status & 0xff,
      data,
    };
  }
}

/** Internal: a redirection found while resolving the target. */
class Redirect extends Error {
  constructor(
    readonly address: string,
    readonly permanent: boolean,
  ) {
    super("redirect");
  }
}
