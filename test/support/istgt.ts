/**
 * istgt (Debian's `istgt`, the FreeBSD-born userspace target) as a test fixture: one instance per
 * test file, in the foreground (`-D`), with its configuration, CHAP file, pid file and one
 * file-backed LUN in a temporary directory of its own, on a free loopback port. It serves one
 * target, `<NodeBase>:disk1`, LUN 0 (istgt numbers a unit's LUNs from 0), without authentication.
 *
 * Traps handled here: istgt reads /etc/istgt/istgt.conf and writes /var/run/istgt.pid unless
 * told (`-c`, `-p`); it refuses to start without a [UnitControl] section, and opens a control
 * portal when that section names one, so ours names none. It exits with "istgt_open_portal() failed" when its port is taken; readiness
 * is judged from `ss`, by pid and exact address. It stops on SIGTERM (SIGKILL after a bound).
 */
import { open, truncate, writeFile } from "node:fs/promises";
import { HarnessError } from "./errors.js";
import { iscsiUrl } from "./peers.js";
import { freeTcpPort } from "./ports.js";
import { describeExit, listeningSockets, spawnTracked, type TrackedProcess } from "./processes.js";
import { tail } from "./redact.js";
import { makeTempDir, type TempDir } from "./tmp.js";
import { pollUntil } from "./wait.js";

export const LOOPBACK = "127.0.0.1";
const NODE_BASE = "iqn.2026-11.test.istgt";
const TARGET = "disk1";
const MAX_ATTEMPTS = 6;
const STOP_TIMEOUT_MS = 5_000;

export interface IstgtStartOptions {
  /** Connections per session the target allows (MaxConnections, RFC 7143 §13.2); 4 unless told. */
  readonly maxConnections?: number;
  /** Size of LUN 0's backing file (sparse), a multiple of 512; 64 MiB unless told. */
  readonly lunBytes?: number;
  /** The unit's command queue depth (istgt's QueueDepth: its command window); 32 unless told. */
  readonly queueDepth?: number;
  /** Time allowed for istgt to listen (10 s unless told). */
  readonly startTimeoutMs?: number;
}

export class Istgt {
  readonly host = LOOPBACK;
  /** The target's name: NodeBase, a colon, the unit's TargetName. */
  readonly iqn = `${NODE_BASE}:${TARGET}`;
  private proc: TrackedProcess | undefined;
  private portalPort = 0;

  private constructor(
    private readonly dir: TempDir,
    private readonly options: Required<Omit<IstgtStartOptions, "startTimeoutMs">>,
  ) {}

  /** Writes the configuration, starts istgt and resolves once it listens on exactly 127.0.0.1:<port>. */
  static async start(options: IstgtStartOptions = {}): Promise<Istgt> {
    const settings = { maxConnections: options.maxConnections ?? 4, lunBytes: options.lunBytes ?? 64 << 20, queueDepth: options.queueDepth ?? 32 };
    if (!Number.isSafeInteger(settings.lunBytes) || settings.lunBytes <= 0 || settings.lunBytes % 512 !== 0) {
      throw new HarnessError("PEER_ERR_USAGE", `istgt: the LUN's size must be a positive multiple of 512 bytes, got ${settings.lunBytes}`);
    }
    const dir = await makeTempDir("iscsi-ts-istgt-");
    const istgt = new Istgt(dir, settings);
    try {
      await (await open(istgt.lunPath, "a")).close();
      await truncate(istgt.lunPath, settings.lunBytes);
      await writeFile(dir.file("auth.conf"), AUTH_CONF);
      await istgt.launch(options.startTimeoutMs ?? 10_000);
    } catch (error) {
      await istgt.stop();
      throw error;
    }
    return istgt;
  }

  get port(): number {
    return this.portalPort;
  }

  /** "127.0.0.1:<port>" */
  get portal(): string {
    return `${this.host}:${this.portalPort}`;
  }

  get pid(): number | undefined {
    return this.proc?.running === true ? this.proc.pid : undefined;
  }

  /** LUN 0's backing file. */
  get lunPath(): string {
    return this.dir.file("lun0.img");
  }

  /** `iscsi://127.0.0.1:<port>/<iqn>/<lun>` (LUN 0 unless told). */
  url(lun = 0): string {
    return iscsiUrl({ host: this.host, port: this.portalPort, iqn: this.iqn, lun });
  }

  /** What istgt printed (it logs to syslog too; in the foreground errors also reach stderr). */
  log(): string {
    return `${this.proc?.stdout() ?? ""}${this.proc?.stderr() ?? ""}`;
  }

  /** Stops istgt by its pid (SIGTERM, then SIGKILL after a bound) and removes its directory. Safe to call twice. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc?.running === true) {
      proc.signal("SIGTERM");
      const timer = setTimeout(() => proc.signalGroup("SIGKILL"), STOP_TIMEOUT_MS);
      await proc.exited;
      clearTimeout(timer);
    }
    await this.dir.remove();
  }

  private config(port: number): string {
    const o = this.options;
    const d = this.dir;
    return `# Written by test/support/istgt.ts for one test run.
[Global]
  NodeBase "${NODE_BASE}"
  PidFile ${d.file("istgt.pid")}
  AuthFile ${d.file("auth.conf")}
  MediaDirectory ${d.path}
  LogFacility "local7"
  Timeout 30
  NopInInterval 20
  DiscoveryAuthMethod None
  MaxSessions 4
  MaxConnections ${o.maxConnections}
  MaxR2T 32
  MaxOutstandingR2T 16
  DefaultTime2Wait 2
  DefaultTime2Retain 60
  FirstBurstLength 262144
  MaxBurstLength 1048576
  MaxRecvDataSegmentLength 262144
  InitialR2T Yes
  ImmediateData Yes
  DataPDUInOrder Yes
  DataSequenceInOrder Yes
  ErrorRecoveryLevel 0

[UnitControl]
  AuthMethod None

[PortalGroup1]
  Portal DA1 ${this.host}:${port}

[InitiatorGroup1]
  InitiatorName "ALL"
  Netmask ${this.host}

[LogicalUnit1]
  TargetName ${TARGET}
  Mapping PortalGroup1 InitiatorGroup1
  AuthMethod None
  UseDigest Auto
  UnitType Disk
  QueueDepth ${o.queueDepth}
  LUN0 Storage ${this.lunPath} Auto
`;
  }

  /** Starts istgt, drawing another port when the one drawn was taken meanwhile. */
  private async launch(timeoutMs: number): Promise<void> {
    const failures: string[] = [];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const port = await freeTcpPort(this.host);
      const configPath = this.dir.file("istgt.conf");
      await writeFile(configPath, this.config(port));
      const proc = spawnTracked("istgt", ["-D", "-q", "-c", configPath, "-p", this.dir.file("istgt.pid")]);
      const expected = `${this.host}:${port}`;
      let seen: string[] = [];
      try {
        const ready = await pollUntil<boolean | "portal-taken">(
          async () => {
            if (!proc.running) {
              if (/istgt_open_portal\(\) failed/.test(proc.stderr() + proc.stdout())) return "portal-taken";
              throw new HarnessError(
                "PEER_ERR_START",
                `${proc.command} ${describeExit(proc.exitStatus ?? { code: null, signal: null })}; output: ${tail(proc.stdout() + proc.stderr())}`,
              );
            }
            seen = await listeningSockets(proc.pid);
            return seen.includes(expected) ? true : undefined;
          },
          { timeoutMs, what: `istgt (pid ${proc.pid}) listening on ${expected}` },
          () => `listening on [${seen.join(", ")}]; output: ${tail(proc.stdout() + proc.stderr(), 500)}`,
        );
        if (ready === true) {
          this.proc = proc;
          this.portalPort = port;
          return;
        }
        failures.push(`portal ${port} taken`);
      } catch (error) {
        await proc.kill();
        throw error;
      }
    }
    throw new HarnessError("PEER_ERR_START", `istgt did not start after ${MAX_ATTEMPTS} attempts: ${failures.join("; ")}`);
  }
}

/** istgt needs an AuthFile; nothing here authenticates, so it holds no account. */
const AUTH_CONF = "# no accounts: discovery, the unit and the controller need no authentication\n";

