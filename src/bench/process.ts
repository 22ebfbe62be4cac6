/**
 * Child processes of the suite (tgtd, tgtadm, iscsi-perf, qemu-img, fio, our worker): output kept
 * in bounded buffers, a hook on each chunk of output (so /proc can be sampled the moment a peer
 * reports), and every child still running killed, by its own pid, when the suite exits.
 *
 * The test harness (test/support/processes.ts) runs its children its own way (process groups, a
 * parent-death signal, secrets masked) but shares what does not depend on that from here: the
 * environment with sbin on PATH, exit descriptions, reading `ss` and `sleep`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { delimiter } from "node:path";
import { BenchError, tail } from "./errors.js";

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Called with the whole stdout so far each time more arrives. */
  readonly onStdout?: (stdout: string) => void;
  /** Bytes of each stream kept (the oldest are dropped beyond it); 4 MiB unless told. */
  readonly keepBytes?: number;
}

/** Children of this suite still running: killed when the suite exits, however it exits. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) {
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
  });
}

/** tgtd, tgtadm and isnsd live in sbin, which a non-login shell's PATH may lack. */
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

export function withSbin(path: string | undefined): string {
  const dirs = (path ?? "").split(delimiter).filter((d) => d !== "");
  return [...dirs, ...SBIN.filter((d) => !dirs.includes(d))].join(delimiter);
}

/** A child's environment: ours with sbin on PATH, then `overrides` (`undefined` removes a variable). */
export function childEnv(overrides: Readonly<Record<string, string | undefined>> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: withSbin(process.env["PATH"]) };
  for (const [name, value] of Object.entries(overrides ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

export class Child {
  readonly pid: number;
  readonly command: string;
  readonly exited: Promise<ExitStatus>;
  private out = "";
  private err = "";
  private status: ExitStatus | undefined;
  private readonly proc: ChildProcess;

  constructor(file: string, args: readonly string[], options: SpawnOptions = {}) {
    installExitHook();
    this.command = [file, ...args].join(" ");
    const env = childEnv(options.env);
    const keep = options.keepBytes ?? 4 << 20;
    this.proc = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    running.add(this.proc);
    this.pid = this.proc.pid ?? -1;
    this.proc.stdout?.setEncoding("latin1");
    this.proc.stderr?.setEncoding("latin1");
    this.proc.stdout?.on("data", (chunk: string) => {
      this.out = bounded(this.out + chunk, keep);
      options.onStdout?.(this.out);
    });
    this.proc.stderr?.on("data", (chunk: string) => {
      this.err = bounded(this.err + chunk, keep);
    });
    this.exited = new Promise((resolve) => {
      const finish = (status: ExitStatus): void => {
        if (this.status !== undefined) return;
        this.status = status;
        running.delete(this.proc);
        resolve(status);
      };
      this.proc.on("error", (error) => {
        this.err += `\n${error.message}`;
        finish({ code: 127, signal: null });
      });
      this.proc.on("close", (code, signal) => finish({ code, signal }));
    });
  }

  get running(): boolean {
    return this.status === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  stdout(): string {
    return this.out;
  }

  stderr(): string {
    return this.err;
  }

  /** Sends a signal to this child (by pid); a no-op once it has exited. */
  signal(signal: NodeJS.Signals): void {
    if (this.status !== undefined || this.pid <= 0) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Exited between the check and the kill.
    }
  }

  async kill(): Promise<ExitStatus> {
    this.signal("SIGKILL");
    return this.exited;
  }
}

function bounded(text: string, keep: number): string {
  return text.length <= keep ? text : text.slice(text.length - keep);
}

export function describeExit(status: ExitStatus): string {
  return status.signal !== null ? `was killed by ${status.signal}` : `exited with code ${String(status.code)}`;
}

export interface RunResult {
  readonly command: string;
  readonly status: ExitStatus;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Runs a command to its end (SIGKILLed after `timeoutMs`) and returns its status and output. */
export async function run(file: string, args: readonly string[], options: SpawnOptions & { readonly timeoutMs?: number } = {}): Promise<RunResult> {
  const child = new Child(file, args, options);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.signal("SIGKILL");
  }, options.timeoutMs ?? 60_000);
  const status = await child.exited;
  clearTimeout(timer);
  return { command: child.command, status, stdout: child.stdout(), stderr: child.stderr(), timedOut };
}

/** As `run`, but throws unless the command exits 0. */
export async function runOk(file: string, args: readonly string[], options: SpawnOptions & { readonly timeoutMs?: number } = {}): Promise<RunResult> {
  const result = await run(file, args, options);
  if (result.status.code !== 0 || result.timedOut) {
    const how = result.timedOut ? "timed out" : describeExit(result.status);
    throw new BenchError("BENCH_ERR_PEER", `${result.command} ${how}; stderr: ${tail(result.stderr) || "(empty)"}; stdout: ${tail(result.stdout, 300) || "(empty)"}`);
  }
  return result;
}

/** `ss` arguments listing listening TCP sockets with their processes (root sees every process's). */
export const SS_LISTENING_TCP: readonly string[] = ["-H", "-l", "-t", "-n", "-p"];

/** The local addresses (`127.0.0.1:40000`) that process `pid` listens on, from `ss SS_LISTENING_TCP`. */
export function listeningAddressesOf(ssOutput: string, pid: number): string[] {
  const addresses: string[] = [];
  for (const line of ssOutput.split("\n")) {
    if (!line.includes(`pid=${pid},`)) continue;
    // State Recv-Q Send-Q Local-Address:Port Peer-Address:Port Process
    const local = line.trim().split(/\s+/)[3];
    if (local !== undefined) addresses.push(local);
  }
  return addresses;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
