/**
 * tgtd, the Linux SCSI target framework daemon, as a test fixture: one instance per test file
 * (or test), on a loopback portal and a control port of its own, with its backing files in a
 * temporary directory. Configuration goes through `tgtadm` and is recorded, so `restart()` can
 * bring the same target back on the same port (for recovery tests).
 *
 * Traps handled here (see shared PEERS.md): tgtd does not fail when its portal's port is taken
 * but listens on 0.0.0.0:3260 instead, so readiness is judged from `ss`, by pid and exact
 * address; the control port's lock may be held by another tgtd (tgtd then exits and we draw
 * another); tgtd ignores SIGTERM, so it is stopped with SIGKILL.
 */
import { open, truncate } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { parseTgtadmParams, tgtadmArgs, tgtdArgs, tgtdProbeArgs, tgtdStartProblem } from "../../src/bench/tgtadm.js";
import { HarnessError } from "./errors.js";
import { iscsiUrl, type ChapCredentials } from "./peers.js";
import { freeTcpPort, randomControlPort } from "./ports.js";
import { checkOk, describeExit, listeningSockets, runCommand, spawnTracked, type TrackedProcess } from "./processes.js";
import { tail } from "./redact.js";
import { makeTempDir, type TempDir } from "./tmp.js";
import { pollUntil } from "./wait.js";

export const LOOPBACK = "127.0.0.1";

/** A LUN backed by a sparse file (created if missing and sized to `size` bytes), or by tgtd's null store. */
export type LunSpec =
  | { readonly lun: number; readonly file: { readonly size: number; readonly path?: string } }
  /** tgtd's "null" backing store: 1 TiB of zeros, writes dropped (for benchmarks). */
  | { readonly lun: number; readonly null: true };

export interface TargetSpec {
  readonly tid: number;
  readonly iqn: string;
  readonly luns?: readonly LunSpec[];
  /** Accept every initiator (`bind -I ALL`); true unless told. */
  readonly allowAll?: boolean;
}

export interface TgtdConnection {
  readonly cid: number;
  readonly address: string | undefined;
}

/** A session ("I_T nexus") as tgtd lists it. */
export interface TgtdSession {
  readonly sid: number;
  readonly initiator: string;
  readonly alias: string | undefined;
  readonly connections: readonly TgtdConnection[];
}

export interface TgtdStartOptions {
  /** The portal's port on 127.0.0.1; a free one unless told. */
  readonly port?: number;
  /** Time allowed for tgtd to listen (10 s unless told). */
  readonly startTimeoutMs?: number;
}

type LaunchOutcome =
  | { readonly kind: "ready"; readonly process: TrackedProcess }
  | { readonly kind: "control-port-taken" }
  | { readonly kind: "portal-taken"; readonly detail: string };

const MAX_ATTEMPTS = 8;
const TGTADM_TIMEOUT_MS = 15_000;

export class Tgtd {
  readonly host = LOOPBACK;
  private proc: TrackedProcess | undefined;
  private ctl = 0;
  /** tgtadm argument lists that rebuild the configuration, in order (replayed by `restart`). */
  private readonly config: string[][] = [];
  private readonly secrets: string[] = [];
  private readonly lunPaths = new Map<string, string>();
  private stopped = false;

  private constructor(
    private readonly dir: TempDir,
    private portalPort: number,
    private readonly startTimeoutMs: number,
  ) {}

  /** Starts tgtd and resolves once it listens on exactly 127.0.0.1:<port> and answers tgtadm. */
  static async start(options: TgtdStartOptions = {}): Promise<Tgtd> {
    const dir = await makeTempDir("iscsi-ts-tgtd-");
    const tgtd = new Tgtd(dir, options.port ?? 0, options.startTimeoutMs ?? 10_000);
    try {
      await tgtd.launch(options.port === undefined);
    } catch (error) {
      await tgtd.stop();
      throw error;
    }
    return tgtd;
  }

  get port(): number {
    return this.portalPort;
  }

  /** "127.0.0.1:<port>" */
  get portal(): string {
    return `${this.host}:${this.portalPort}`;
  }

  get controlPort(): number {
    return this.ctl;
  }

  get pid(): number | undefined {
    return this.proc?.running === true ? this.proc.pid : undefined;
  }

  get running(): boolean {
    return this.proc?.running === true;
  }

  /** The temporary directory holding the backing files. */
  get directory(): string {
    return this.dir.path;
  }

  /** tgtd's own log (its stderr in foreground mode), for failure messages. */
  log(): string {
    return this.proc?.stderr() ?? "";
  }

  /** `iscsi://[user%secret@]127.0.0.1:<port>[/iqn/lun]` for libiscsi and QEMU. */
  url(iqn?: string, lun?: number, chap?: ChapCredentials): string {
    return iscsiUrl({ host: this.host, port: this.portalPort, iqn, lun, chap });
  }

  /** The backing file of a file LUN added by `addTarget`. */
  lunPath(tid: number, lun: number): string {
    const path = this.lunPaths.get(`${tid}/${lun}`);
    if (path === undefined) throw new HarnessError("PEER_ERR_USAGE", `tgtd: no file LUN ${lun} on target ${tid}`);
    return path;
  }

  /** Creates a target, its LUNs (LUN 0 is tgtd's controller) and, unless told, an ACL for all. */
  async addTarget(spec: TargetSpec): Promise<void> {
    if (!Number.isInteger(spec.tid) || spec.tid < 1) throw new HarnessError("PEER_ERR_USAGE", `tgtd: tid must be an integer >= 1, got ${spec.tid}`);
    await this.configure(["--op", "new", "--mode", "target", "--tid", String(spec.tid), "-T", spec.iqn]);
    for (const lun of spec.luns ?? []) await this.addLun(spec.tid, lun);
    if (spec.allowAll ?? true) await this.configure(["--op", "bind", "--mode", "target", "--tid", String(spec.tid), "-I", "ALL"]);
  }

  async addLun(tid: number, spec: LunSpec): Promise<void> {
    if (!Number.isInteger(spec.lun) || spec.lun < 1) {
      throw new HarnessError("PEER_ERR_USAGE", `tgtd: LUN numbers start at 1 (LUN 0 is tgtd's controller), got ${spec.lun}`);
    }
    const base = ["--op", "new", "--mode", "logicalunit", "--tid", String(tid), "--lun", String(spec.lun)];
    if ("null" in spec) {
      await this.configure([...base, "--bstype", "null", "-b", "nullstore"]);
      return;
    }
    const { size } = spec.file;
    if (!Number.isSafeInteger(size) || size <= 0 || size % 512 !== 0) {
      throw new HarnessError("PEER_ERR_USAGE", `tgtd: a file LUN's size must be a positive multiple of 512 bytes, got ${size}`);
    }
    const path = spec.file.path ?? this.dir.file(`tid${tid}-lun${spec.lun}.img`);
    if (!isAbsolute(path)) throw new HarnessError("PEER_ERR_USAGE", `tgtd: backing file path must be absolute, got ${path}`);
    // Sparse: created empty if missing (existing contents are kept), then sized.
    await (await open(path, "a")).close();
    await truncate(path, size);
    this.lunPaths.set(`${tid}/${spec.lun}`, path);
    await this.configure([...base, "-b", path]);
  }

  /** Allows one initiator, by name (`-I` takes names and addresses alike; "ALL" is everyone). */
  async allowInitiator(tid: number, nameOrAddress: string): Promise<void> {
    await this.configure(["--op", "bind", "--mode", "target", "--tid", String(tid), "-I", nameOrAddress]);
  }

  /** Sets a target parameter: what tgtd offers in negotiation (MaxRecvDataSegmentLength, InitialR2T, ...). */
  async setParam(tid: number, name: string, value: string | number): Promise<void> {
    await this.configure(["--op", "update", "--mode", "target", "--tid", String(tid), "--name", name, "--value", String(value)]);
  }

  /** Creates a CHAP account. The password is masked in every message the harness produces. */
  async addAccount(user: string, password: string): Promise<void> {
    this.secrets.push(password);
    await this.configure(["--op", "new", "--mode", "account", "--user", user, "--password", password]);
  }

  /**
   * Binds an account to a target: incoming (the target authenticates the initiator with it), or
   * outgoing (the target answers the initiator's challenge with it: mutual CHAP).
   */
  async bindAccount(tid: number, user: string, options: { readonly outgoing?: boolean } = {}): Promise<void> {
    const args = ["--op", "bind", "--mode", "account", "--tid", String(tid), "--user", user];
    await this.configure(options.outgoing === true ? [...args, "--outgoing"] : args);
  }

  /** Deletes a target (with `force`, even while sessions are open). */
  async deleteTarget(tid: number, options: { readonly force?: boolean } = {}): Promise<void> {
    const args = ["--op", "delete", "--mode", "target", "--tid", String(tid)];
    await this.configure(options.force === true ? [...args, "--force"] : args);
  }

  /** Raw text of `--op show --mode target`: targets, sessions, connections, LUNs, accounts, ACLs. */
  async show(): Promise<string> {
    return this.tgtadm(["--op", "show", "--mode", "target"]);
  }

  /** The parameters tgtd offers for a target (`--op show --mode target --tid N`), by name. */
  async params(tid: number): Promise<Record<string, string>> {
    return parseTgtadmParams(await this.tgtadm(["--op", "show", "--mode", "target", "--tid", String(tid)]));
  }

  /** The sessions open on a target, with their connections, as tgtd sees them now. */
  async sessions(tid: number): Promise<TgtdSession[]> {
    return parseSessions(await this.show(), tid);
  }

  /**
   * Every connection of one session, from `--op show --mode conn`. The target view
   * (`--mode target`) lists only a session's first connection, so MC/S checks need this one.
   */
  async connections(tid: number, sid: number): Promise<TgtdConnection[]> {
    const text = await this.tgtadm(["--op", "show", "--mode", "conn", "--tid", String(tid), "--sid", String(sid)]);
    const connections: TgtdConnection[] = [];
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      let m: RegExpExecArray | null;
      if ((m = /^Connection: (\d+)$/.exec(line)) !== null) connections.push({ cid: Number(m[1]), address: undefined });
      else if ((m = /^IP Address: (.+)$/.exec(line)) !== null) {
        const last = connections.pop();
        if (last !== undefined) connections.push({ ...last, address: m[1] });
      }
    }
    return connections.sort((a, b) => a.cid - b.cid);
  }

  /** Waits until the target's sessions satisfy `predicate` (e.g. a session came, or all left). */
  async waitForSessions(
    tid: number,
    predicate: (sessions: readonly TgtdSession[]) => boolean,
    options: { readonly timeoutMs?: number; readonly what?: string } = {},
  ): Promise<TgtdSession[]> {
    let last: TgtdSession[] = [];
    return pollUntil(
      async () => {
        last = await this.sessions(tid);
        return predicate(last) ? last : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 10_000, intervalMs: 100, what: options.what ?? `sessions on target ${tid} to change` },
      () => JSON.stringify(last),
    );
  }

  /** Drops one connection of a session, as a target-side failure would. */
  async deleteConnection(tid: number, sid: number, cid: number): Promise<void> {
    await this.tgtadm(["--op", "delete", "--mode", "conn", "--tid", String(tid), "--sid", String(sid), "--cid", String(cid)]);
  }

  /** Any other tgtadm request (`--lld iscsi` and the control port are added); not replayed by restart. */
  async tgtadm(args: readonly string[]): Promise<string> {
    if (!this.running) throw new HarnessError("PEER_ERR_USAGE", `tgtd on ${this.portal} is not running (tgtadm ${args.join(" ")})`);
    const result = await runCommand("tgtadm", tgtadmArgs(this.ctl, args), {
      timeoutMs: TGTADM_TIMEOUT_MS,
      secrets: this.secrets,
    });
    return checkOk(result).stdout;
  }

  /** SIGKILLs tgtd (it ignores SIGTERM). Open connections are reset by the kernel. */
  async kill(): Promise<void> {
    await this.proc?.kill();
  }

  /** Kills tgtd if running, starts it again on the same portal port, and re-applies the configuration. */
  async restart(): Promise<void> {
    if (this.stopped) throw new HarnessError("PEER_ERR_USAGE", "tgtd: restart() after stop()");
    await this.kill();
    await this.launch(false);
    for (const args of this.config) await this.tgtadm(args);
  }

  /** Kills tgtd and removes its temporary directory. Safe to call more than once. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.kill();
    await this.dir.remove();
  }

  private async configure(args: string[]): Promise<void> {
    await this.tgtadm(args);
    this.config.push(args);
  }

  /** Starts tgtd, drawing control ports (and portal ports, when ours to choose) until one works. */
  private async launch(choosePort: boolean): Promise<void> {
    const failures: string[] = [];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const port = choosePort ? await freeTcpPort(this.host) : this.portalPort;
      const ctl = randomControlPort();
      const outcome = await this.tryLaunch(port, ctl);
      if (outcome.kind === "ready") {
        this.proc = outcome.process;
        this.portalPort = port;
        this.ctl = ctl;
        return;
      }
      if (outcome.kind === "portal-taken") {
        // Never run with tgtd's fallback portal: a port chosen by us lost a race, so draw
        // again; a port the caller asked for (or restart's) is a hard failure.
        if (!choosePort) throw new HarnessError("PEER_ERR_PORTAL", `tgtd could not listen on ${this.host}:${port}: ${outcome.detail}`);
        failures.push(`portal ${port} taken`);
      } else {
        failures.push(`control port ${ctl} in use by another tgtd`);
      }
    }
    throw new HarnessError("PEER_ERR_START", `tgtd did not start after ${MAX_ATTEMPTS} attempts: ${failures.join("; ")}`);
  }

  private async tryLaunch(port: number, ctl: number): Promise<LaunchOutcome> {
    const proc = spawnTracked("tgtd", tgtdArgs(this.host, port, ctl));
    const expected = `${this.host}:${port}`;
    let seen: string[] = [];
    try {
      const outcome = await pollUntil<LaunchOutcome>(
        async () => {
          const err = proc.stderr();
          const problem = tgtdStartProblem(err);
          if (problem === "control-port-taken") return { kind: "control-port-taken" };
          if (problem === "portal-taken") return { kind: "portal-taken", detail: tail(err, 500) };
          if (!proc.running) {
            throw new HarnessError("PEER_ERR_START", `${proc.command} ${describeExit(proc.exitStatus ?? { code: null, signal: null })}; stderr: ${tail(err)}`);
          }
          seen = await listeningSockets(proc.pid);
          if (seen.length === 0) return undefined;
          if (seen.some((address) => address !== expected)) {
            return { kind: "portal-taken", detail: `tgtd listens on ${seen.join(", ")} instead of only ${expected}` };
          }
          return (await controlAnswers(ctl)) ? { kind: "ready", process: proc } : undefined;
        },
        { timeoutMs: this.startTimeoutMs, what: `tgtd (pid ${proc.pid}) listening on ${expected}` },
        () => `listening on [${seen.join(", ")}]; stderr: ${tail(proc.stderr(), 500)}`,
      );
      if (outcome.kind !== "ready") await proc.kill();
      return outcome;
    } catch (error) {
      await proc.kill();
      throw error;
    }
  }
}


async function controlAnswers(ctl: number): Promise<boolean> {
  const result = await runCommand("tgtadm", tgtdProbeArgs(ctl), {
    timeoutMs: TGTADM_TIMEOUT_MS,
  });
  return result.code === 0;
}

/**
 * Reads the "I_T nexus information" of one target from `tgtadm --op show --mode target`:
 *
 *     Target 1: iqn...
 *         I_T nexus information:
 *             I_T nexus: 2
 *                 Initiator: iqn... alias: none
 *                 Connection: 0
 *                     IP Address: 127.0.0.1
 *         LUN information:
 */
export function parseSessions(show: string, tid: number): TgtdSession[] {
  const sessions: { sid: number; initiator: string; alias: string | undefined; connections: TgtdConnection[] }[] = [];
  let inTarget = false;
  let inNexus = false;
  for (const raw of show.split("\n")) {
    const line = raw.trim();
    const target = /^Target (\d+):/.exec(raw);
    if (target !== null) {
      inTarget = Number(target[1]) === tid;
      inNexus = false;
      continue;
    }
    if (!inTarget) continue;
    if (line === "I_T nexus information:") {
      inNexus = true;
      continue;
    }
    if (/^[A-Z][A-Za-z ]+ information:$/.test(line)) {
      inNexus = false;
      continue;
    }
    if (!inNexus) continue;
    const session = sessions[sessions.length - 1];
    let m: RegExpExecArray | null;
    if ((m = /^I_T nexus: (\d+)$/.exec(line)) !== null) {
      sessions.push({ sid: Number(m[1]), initiator: "", alias: undefined, connections: [] });
    } else if ((m = /^Initiator: (\S+)(?: alias: (.*))?$/.exec(line)) !== null && session !== undefined) {
      session.initiator = m[1] ?? "";
      session.alias = m[2] === undefined || m[2] === "none" ? undefined : m[2];
    } else if ((m = /^Connection: (\d+)$/.exec(line)) !== null && session !== undefined) {
      session.connections.push({ cid: Number(m[1]), address: undefined });
    } else if ((m = /^IP Address: (.+)$/.exec(line)) !== null && session !== undefined) {
      const last = session.connections.pop();
      if (last !== undefined) session.connections.push({ ...last, address: m[1] });
    } else if (line !== "") {
      throw new HarnessError("PEER_ERR_PARSE", `tgtadm show: unexpected line in target ${tid}'s I_T nexus information: ${JSON.stringify(line)}`);
    }
  }
  return sessions;
}
