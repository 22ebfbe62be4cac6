/**
 * Test support for login tests: a configurable in-memory target and initiator. Hash and random
 * functions come from the caller (no node: imports in core test utilities).
 */
import type { ChapAlgorithm, HashFunction } from "../auth/hash.js";
import { Secret } from "../auth/secret.js";
import type { SessionParameters, TargetPolicy } from "../text/parameters.js";
import type { InitiatorLoginOptions } from "./initiator.js";
import { InitiatorLogin } from "./initiator.js";
import { seededRandomBytes } from "./pair.test-util.js";
import type { AuthMethodName, AuthPolicy, TargetLoginOptions, TargetResolution } from "./target.js";
import { TargetLogin } from "./target.js";

export const TARGET_NAME = "iqn.2026-11.test:disk";
export const INITIATOR_NAME = "iqn.2026-11.test:initiator";
export const INITIATOR_SECRET = "secret12chars";
export const TARGET_SECRET = "tgtsecret123";
export const ISID = 0x80_12_34_56_00_00;

export interface TestTargetOptions {
  readonly authMethods?: readonly AuthMethodName[];
  readonly chapAlgorithms?: readonly ChapAlgorithm[];
  /** The target's mutual-CHAP account; default "tgt" / TARGET_SECRET. */
  readonly outgoing?: { username: string; secret: string } | null;
  readonly policy?: TargetPolicy;
  readonly resolve?: (name: string) => TargetResolution;
  readonly discovery?: AuthPolicy | null;
  readonly authorize?: (initiatorName: string, username: string | undefined) => boolean;
  readonly findSession?: TargetLoginOptions["findSession"];
  readonly alias?: string;
  readonly statSN?: number;
}

export function makeTarget(hash: HashFunction, o: TestTargetOptions = {}): TargetLogin {
  const outgoing = o.outgoing === null ? undefined : { username: o.outgoing?.username ?? "tgt", secret: Secret.fromString(o.outgoing?.secret ?? TARGET_SECRET) };
  const node = {
    name: TARGET_NAME,
    authMethods: o.authMethods ?? ["None"],
    ...(o.chapAlgorithms === undefined ? {} : { chapAlgorithms: o.chapAlgorithms }),
    ...(outgoing === undefined ? {} : { outgoingAccount: outgoing }),
    ...(o.policy === undefined ? {} : { policy: o.policy }),
    ...(o.authorize === undefined ? {} : { authorize: o.authorize }),
    ...(o.alias === undefined ? {} : { alias: o.alias }),
  };
  let tsih = 0x100;
  return new TargetLogin({
    portalGroupTag: 1,
    resolveTarget: o.resolve ?? ((name) => (name === TARGET_NAME ? { kind: "target", target: node } : { kind: "not-found" })),
    ...(o.discovery === null ? {} : { discovery: o.discovery ?? { authMethods: ["None"] } }),
    lookupAccount: (user) => (user === "alice" ? Secret.fromString(INITIATOR_SECRET) : undefined),
    allocateTsih: () => tsih++,
    ...(o.findSession === undefined ? {} : { findSession: o.findSession }),
    statSN: o.statSN ?? 0x1000,
    hash,
    randomBytes: seededRandomBytes(0xbeef),
  });
}

export interface TestInitiatorOptions extends Partial<Omit<InitiatorLoginOptions, "chap" | "hash" | "randomBytes">> {
  /** CHAP as alice; "mutual" adds the target account tgt. */
  readonly auth?: "none" | "chap" | "mutual";
  readonly secret?: string;
  readonly targetUsername?: string;
  readonly targetSecret?: string;
  readonly algorithms?: readonly ChapAlgorithm[];
  readonly session?: SessionParameters;
}

export function makeInitiator(hash: HashFunction, o: TestInitiatorOptions = {}): InitiatorLogin {
  const auth = o.auth ?? "none";
  const { secret, targetUsername, targetSecret, algorithms, ...rest } = o;
  return new InitiatorLogin({
    initiatorName: INITIATOR_NAME,
    targetName: TARGET_NAME,
    sessionType: "Normal",
    isid: ISID,
    tsih: 0,
    cid: 1,
    cmdSN: 1,
    ...rest,
    ...(auth === "none"
      ? {}
      : {
          chap: {
            username: "alice",
            secret: Secret.fromString(secret ?? INITIATOR_SECRET),
            ...(auth === "mutual" ? { targetUsername: targetUsername ?? "tgt", targetSecret: Secret.fromString(targetSecret ?? TARGET_SECRET) } : {}),
            ...(algorithms === undefined ? {} : { algorithms }),
          },
        }),
    hash,
    randomBytes: seededRandomBytes(0x5eed),
  });
}
