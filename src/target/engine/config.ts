/**
 * What the target engine serves, as plain data: target nodes, their logical units (described by
 * geometry, not by storage: storage is the host's), authentication, negotiation policy and the
 * engine's own limits. `resolveEngineConfig` checks it once and fills in the defaults, so the rest
 * of the engine works on a `ResolvedEngineConfig` whose every field is present and valid.
 */
import type { ChapAccount } from "../../core/auth/chap.js";
import type { ChapAlgorithm } from "../../core/auth/hash.js";
import { DEFAULT_CHAP_ALGORITHMS, isChapAlgorithm } from "../../core/auth/hash.js";
import { ConfigError } from "../../core/errors.js";
import { checkIscsiName } from "../../core/iscsi-name.js";
import { MAX_LUN } from "../../core/pdu/lun.js";
import type { TargetPolicy } from "../../core/text/parameters.js";
import { type HostileBehaviour, checkHostile } from "../hostile/behaviour.js";
import { DEFAULT_TARGET_POLICY, validateProposal } from "../../core/text/parameters.js";

/** A logical unit as the SCSI layer sees it: geometry and identity. */
export interface LunDefinition {
  readonly lun: number;
  /** Bytes per logical block: 512 unless told (4096 is the other usual size). */
  readonly blockSize?: number;
  /** Capacity in logical blocks. */
  readonly blocks: number;
  readonly readOnly?: boolean;
  /** The storage can deallocate (UNMAP, WRITE SAME with UNMAP): reported as thin provisioning. */
  readonly thinProvisioned?: boolean;
  /** Unmapped blocks read as zeros (LBPRZ); true for every backend we have. */
  readonly unmappedReadsZero?: boolean;
  /** INQUIRY identity: vendor (8), product (16), revision (4) printable ASCII characters. */
  readonly vendor?: string;
  readonly product?: string;
  readonly revision?: string;
  /** Unit serial number (VPD 0x80); derived from the target name and LUN when absent. */
  readonly serial?: string;
  /** A write-back cache to report (WCE in the caching mode page); SYNCHRONIZE CACHE flushes it. */
  readonly writeCache?: boolean;
}

export interface ChapUsers {
  /** Initiators the target accepts: CHAP_N and the secret each must prove. */
  readonly users: readonly ChapAccount[];
}

export interface TargetDefinition {
  readonly iqn: string;
  readonly alias?: string;
  readonly luns: readonly LunDefinition[];
  /** CHAP is required when given; without it the target takes AuthMethod=None. */
  readonly chap?: ChapUsers;
  /** The target's own account, answered to initiators that ask for mutual CHAP. */
  readonly mutualChap?: ChapAccount;
  readonly policy?: Partial<TargetPolicy>;
  /**
   * The initiators (iSCSI names) allowed to log in to this target; any when absent. Others are
   * refused after authentication with status 0x0202, authorization failure (RFC 7143 §11.13.5).
   */
  readonly allowedInitiators?: readonly string[];
}

export interface Portal {
  readonly host: string;
  readonly port: number;
}

export interface NopInSettings {
  /** Ping an initiator after this long without hearing from it. */
  readonly intervalMs: number;
  /** Drop the connection when the ping has no answer this long after it was sent. */
  readonly timeoutMs: number;
}

export interface EngineConfig {
  readonly targets: readonly TargetDefinition[];
  /** Where the host listens: SendTargets answers with these (a wildcard address is replaced). */
  readonly portals: readonly Portal[];
  /** RFC 7143 §13.9: the portal group every portal here belongs to; 1 unless told. */
  readonly portalGroupTag?: number;
  /** CHAP algorithms accepted, strongest first: all four (SHA3-256, SHA-256, SHA-1, MD5) unless told. */
  readonly chapAlgorithms?: readonly ChapAlgorithm[];
  /** Discovery sessions: open (the default), behind CHAP, or refused (`false`). */
  readonly discovery?: false | { readonly chap?: ChapUsers; readonly mutualChap?: ChapAccount };
  /** Commands an initiator may have outstanding per session (the CmdSN window); 128 unless told. */
  readonly queueDepth?: number;
  /** Pings of our own on idle connections; on (30 s, answer within 15 s) unless `false`. */
  readonly nopIn?: NopInSettings | false;
  /** A login that takes longer is dropped; 30 s unless told. */
  readonly loginTimeoutMs?: number;
  /**
   * SAM-5 §6.3.x unit attention (29h/00h POWER ON, RESET, OR BUS DEVICE RESET OCCURRED) on the
   * first command of each new I_T nexus, as real disks do. Off unless told: the embedded target's
   * first run is meant to be clean, and every initiator we test handles a target without it.
   */
  readonly unitAttentionOnNewNexus?: boolean;
  /** The largest data transfer of one command, in bytes (reported in the Block Limits VPD page). */
  readonly maxTransferBytes?: number;
  /**
   * ErrorRecoveryLevel 1: the bytes of read data and responses a session may keep for SNACKs
   * until the initiator acknowledges them; 64 MiB unless told. Past it, new data is not kept and
   * a SNACK for it drops the connection, as at ERL 0 (an "erl-fallback" event says so).
   */
  readonly retentionBytes?: number;
  /**
   * Hostile mode, for tests of initiators: the target misbehaves on purpose in this one way on
   * every connection (see src/target/hostile/behaviour.ts). Never for real use.
   */
  readonly hostile?: HostileBehaviour;
}

export interface ResolvedLun {
  readonly lun: number;
  /** Index of this unit in the whole configuration (targets in order, then LUNs): the host's key. */
  readonly index: number;
  readonly blockSize: number;
  readonly blocks: number;
  readonly readOnly: boolean;
  readonly thinProvisioned: boolean;
  readonly unmappedReadsZero: boolean;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly serial: string;
  readonly writeCache: boolean;
  /** NAA IEEE Registered designator (VPD 0x83), 16 hex digits, unique per unit of this config. */
  readonly naa: string;
}

export interface ResolvedTarget {
  readonly iqn: string;
  readonly alias: string | undefined;
  readonly luns: readonly ResolvedLun[];
  readonly chapUsers: ReadonlyMap<string, ChapAccount> | undefined;
  readonly mutualChap: ChapAccount | undefined;
  readonly policy: TargetPolicy;
  /** Normalised names (RFC 3722: case folded) of the initiators allowed; undefined: any. */
  readonly allowedInitiators: ReadonlySet<string> | undefined;
}

export interface ResolvedEngineConfig {
  readonly targets: readonly ResolvedTarget[];
  readonly portals: readonly Portal[];
  readonly portalGroupTag: number;
  readonly chapAlgorithms: readonly ChapAlgorithm[];
  readonly discovery: false | { readonly chapUsers: ReadonlyMap<string, ChapAccount> | undefined; readonly mutualChap: ChapAccount | undefined };
  readonly queueDepth: number;
  readonly nopIn: NopInSettings | false;
  readonly loginTimeoutMs: number;
  readonly unitAttentionOnNewNexus: boolean;
  readonly maxTransferBytes: number;
  readonly retentionBytes: number;
  readonly hostile: HostileBehaviour | undefined;
}

export const DEFAULT_QUEUE_DEPTH = 128;
export const DEFAULT_NOP_IN: NopInSettings = Object.freeze({ intervalMs: 30_000, timeoutMs: 15_000 });
export const DEFAULT_LOGIN_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_TRANSFER_BYTES = 8 * 1024 * 1024;
export const DEFAULT_RETENTION_BYTES = 64 * 1024 * 1024;

/**
 * The embedded target's negotiation policy: the core's permissive target policy, with
 * MaxConnections 4 so that an initiator may try MC/S. ErrorRecoveryLevel stays 0 unless a target's
 * policy says 1 (SNACK, recovery R2T: RFC 7143 §7.3) or 2 (connection recovery and TASK REASSIGN,
 * §6.2.2, §7.1.4); `iscsi target` offers 2. The lower of the two offers wins (§13.20).
 */
export const EMBEDDED_TARGET_POLICY: TargetPolicy = Object.freeze<TargetPolicy>({
  ...DEFAULT_TARGET_POLICY,
  maxConnections: 4,
});

/** RFC 7143 §4.2.7.1 name forms: iqn., eui. (16 hex digits) and naa. (16 or 32 hex digits). */
const ISCSI_NAME = /^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:.*)?|eui\.[0-9A-Fa-f]{16}|naa\.([0-9A-Fa-f]{16}|[0-9A-Fa-f]{32}))$/;

export function isIscsiName(name: string): boolean {
  return name.length <= 223 && ISCSI_NAME.test(name) && !/[\s\0]/.test(name);
}

function checkAsciiField(what: string, value: string, max: number): string {
  if (value.length > max || !/^[\x20-\x7e]*$/.test(value)) {
    throw new ConfigError(`${what} "${value}" must be at most ${max} printable ASCII characters`);
  }
  return value;
}

function checkInteger(what: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${what} ${value} is not an integer in [${min}, ${max}]`);
  return value;
}

function chapUsers(where: string, chap: ChapUsers | undefined, mutual: ChapAccount | undefined): ReadonlyMap<string, ChapAccount> | undefined {
  if (mutual !== undefined) {
    if (mutual.username === "") throw new ConfigError(`${where}: the mutual CHAP account needs a username`);
    if (mutual.secret.length === 0) throw new ConfigError(`${where}: the mutual CHAP account needs a secret`);
  }
  if (chap === undefined) {
    if (mutual !== undefined) throw new ConfigError(`${where}: mutual CHAP needs CHAP users as well`);
    return undefined;
  }
  if (chap.users.length === 0) throw new ConfigError(`${where}: CHAP is configured with no users`);
  const users = new Map<string, ChapAccount>();
  for (const user of chap.users) {
    if (user.username === "") throw new ConfigError(`${where}: a CHAP user without a name`);
    if (user.secret.length === 0) throw new ConfigError(`${where}: CHAP user "${user.username}" has an empty secret`);
    if (users.has(user.username)) throw new ConfigError(`${where}: CHAP user "${user.username}" is listed twice`);
    // RFC 7143 §12.1.3: a secret used to authenticate initiators MUST NOT authenticate targets.
    if (mutual !== undefined && mutual.secret.equals(user.secret)) {
      throw new ConfigError(`${where}: CHAP user "${user.username}" has the same secret as the target's mutual CHAP account (RFC 7143 §12.1.3)`);
    }
    users.set(user.username, user);
  }
  return users;
}

function resolvePolicy(iqn: string, overrides: Partial<TargetPolicy> | undefined): TargetPolicy {
  const policy: TargetPolicy = { ...EMBEDDED_TARGET_POLICY, ...overrides };
  try {
    validateProposal(policy);
  } catch (error) {
    throw new ConfigError(`target ${iqn}: ${(error as Error).message}`);
  }
  if (!policy.dataPDUInOrder || !policy.dataSequenceInOrder) {
    throw new ConfigError(`target ${iqn}: DataPDUInOrder=No and DataSequenceInOrder=No are not implemented`);
  }
  return policy;
}

/** A stable 24-bit number from text (FNV-1a), to derive identifiers from names. */
function hash24(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h ^ (h >>> 24)) & 0xff_ffff;
}

/**
 * SPC-4 §7.8.6.6.5: an NAA 5 (IEEE Registered) designator is 4 bits NAA, a 24-bit company ID and
 * 36 vendor-specific bits. We have no registered company ID; initiators only need the designator
 * to be unique and stable, so both fields come from the target name, and the low 12 bits from the
 * unit's place in the configuration.
 */
function naaFor(iqn: string, index: number): string {
  const company = BigInt(hash24(iqn));
  const vendor = ((BigInt(hash24(`${iqn}#lun`)) << 12n) + BigInt(index)) & 0xf_ffff_ffffn;
  return ((5n << 60n) | (company << 36n) | vendor).toString(16).padStart(16, "0");
}

export function resolveEngineConfig(config: EngineConfig): ResolvedEngineConfig {
  if (config.targets.length === 0) throw new ConfigError("the target configuration has no targets");
  const names = new Set<string>();
  let index = 0;
  const targets = config.targets.map((t): ResolvedTarget => {
    if (!isIscsiName(t.iqn)) throw new ConfigError(`"${t.iqn}" is not an iSCSI name (iqn., eui. or naa. form, RFC 7143 §4.2.7)`);
    if (names.has(t.iqn)) throw new ConfigError(`target ${t.iqn} is configured twice`);
    names.add(t.iqn);
    if (t.alias !== undefined) checkAsciiField(`target ${t.iqn}: alias`, t.alias, 255);
    const lunNumbers = new Set<number>();
    const luns = t.luns.map((l): ResolvedLun => {
      const where = `target ${t.iqn} LUN ${l.lun}`;
      checkInteger(`${t.iqn}: LUN`, l.lun, 0, MAX_LUN);
      if (lunNumbers.has(l.lun)) throw new ConfigError(`${where} is configured twice`);
      lunNumbers.add(l.lun);
      const blockSize = l.blockSize ?? 512;
      if (![512, 1024, 2048, 4096, 8192].includes(blockSize)) throw new ConfigError(`${where}: block size ${blockSize} is not one of 512, 1024, 2048, 4096, 8192`);
      checkInteger(`${where}: blocks`, l.blocks, 1, Number.MAX_SAFE_INTEGER);
      if (l.blocks * blockSize > Number.MAX_SAFE_INTEGER) throw new ConfigError(`${where}: ${l.blocks} blocks of ${blockSize} bytes is too large`);
      const i = index++;
      return {
        lun: l.lun,
        index: i,
        blockSize,
        blocks: l.blocks,
        readOnly: l.readOnly ?? false,
        thinProvisioned: l.thinProvisioned ?? false,
        unmappedReadsZero: l.unmappedReadsZero ?? true,
        vendor: checkAsciiField(`${where}: vendor`, l.vendor ?? "ISCSI-TS", 8),
        product: checkAsciiField(`${where}: product`, l.product ?? "EMBEDDED DISK", 16),
        revision: checkAsciiField(`${where}: revision`, l.revision ?? "0001", 4),
        serial: checkAsciiField(`${where}: serial`, l.serial ?? `${hash24(t.iqn).toString(16).padStart(6, "0")}${l.lun.toString(16).padStart(4, "0")}`, 64),
        writeCache: l.writeCache ?? true,
        naa: naaFor(t.iqn, i),
      };
    });
    return {
      iqn: t.iqn,
      alias: t.alias,
      luns,
      chapUsers: chapUsers(`target ${t.iqn}`, t.chap, t.mutualChap),
      mutualChap: t.mutualChap,
      policy: resolvePolicy(t.iqn, t.policy),
      allowedInitiators: allowList(t.iqn, t.allowedInitiators),
    };
  });
  const chapAlgorithms = config.chapAlgorithms ?? DEFAULT_CHAP_ALGORITHMS;
  if (chapAlgorithms.length === 0 || chapAlgorithms.some((a) => !isChapAlgorithm(a))) {
    throw new ConfigError(`chapAlgorithms must list some of 5 (MD5), 6 (SHA-1), 7 (SHA-256), 8 (SHA3-256); got ${chapAlgorithms.join(",")}`);
  }
  const discovery = config.discovery === false
    ? false
    : { chapUsers: chapUsers("discovery", config.discovery?.chap, config.discovery?.mutualChap), mutualChap: config.discovery?.mutualChap };
  const nopIn = config.nopIn === undefined ? DEFAULT_NOP_IN : config.nopIn;
  if (nopIn !== false) {
    checkInteger("nopIn.intervalMs", nopIn.intervalMs, 1, 3_600_000);
    checkInteger("nopIn.timeoutMs", nopIn.timeoutMs, 1, 3_600_000);
  }
  for (const p of config.portals) checkInteger(`portal ${p.host} port`, p.port, 1, 65535);
  return {
    targets,
    portals: config.portals,
    portalGroupTag: checkInteger("portalGroupTag", config.portalGroupTag ?? 1, 0, 65535),
    chapAlgorithms,
    discovery,
    queueDepth: checkInteger("queueDepth", config.queueDepth ?? DEFAULT_QUEUE_DEPTH, 1, 65536),
    nopIn,
    loginTimeoutMs: checkInteger("loginTimeoutMs", config.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS, 1, 3_600_000),
    unitAttentionOnNewNexus: config.unitAttentionOnNewNexus ?? false,
    maxTransferBytes: checkInteger("maxTransferBytes", config.maxTransferBytes ?? DEFAULT_MAX_TRANSFER_BYTES, 4096, 256 * 1024 * 1024),
    retentionBytes: checkInteger("retentionBytes", config.retentionBytes ?? DEFAULT_RETENTION_BYTES, 0, 4 * 1024 * 1024 * 1024),
    hostile: config.hostile === undefined ? undefined : checkHostile(config.hostile),
  };
}

/** The allowed initiators of a target, each checked as an iSCSI name and normalised. */
function allowList(iqn: string, names: readonly string[] | undefined): ReadonlySet<string> | undefined {
  if (names === undefined) return undefined;
  if (names.length === 0) throw new ConfigError(`target ${iqn}: an empty list of allowed initiators would refuse everyone; leave it out to allow any`);
  const set = new Set<string>();
  for (const name of names) {
    const checked = checkIscsiName(name);
    if (!checked.ok) throw new ConfigError(`target ${iqn}: allowed initiator "${name}" is not an iSCSI name: ${checked.reason}`);
    set.add(checked.name);
  }
  return set;
}
