/**
 * Every process the harness starts goes through here, so that none outlives the test run:
 * each one is recorded, runs in its own process group, and is killed (group and all) when the
 * test process exits, is interrupted, or dies outright (Linux's parent-death signal, set with
 * util-linux's `setpriv --pdeathsig`, covers a worker killed with SIGKILL).
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { childEnv, describeExit, type ExitStatus, listeningAddressesOf, SS_LISTENING_TCP, withSbin } from "../../src/bench/process.js";
import { HarnessError } from "./errors.js";
import { formatCommand, redact, tail } from "./redact.js";

// The bench runs peers too: what does not depend on how a child is run is shared with it.
export { describeExit, type ExitStatus };

export interface SpawnOptions {
  /** Variables set over the current environment; `undefined` removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Strings replaced by `***` in every command line, output and error this process yields. */
  readonly secrets?: readonly string[];
  /** Characters of each output stream kept in memory (the newest are kept); 1 Mi unless told. */
  readonly keepOutputBytes?: number;
}

/** How to wait: at most `timeoutMs`, naming `what` in the error if the time runs out. */
export interface WaitOptions {
  readonly timeoutMs?: number;
}

/**
 * The harness's record of every live child. It is process-wide on purpose: the exit and signal
 * hooks below must reach every child whichever test started it.
 */
const live = new Set<TrackedProcess>();
let hooksInstalled = false;

function killAllNow(): void {
  for (const child of live) child.signalGroup("SIGKILL");
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      killAllNow();
      // Adding a listener disables Node's default "die on this signal"; when nobody else
      // handles it, restore the default and re-raise so the process still ends as asked.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

const whichCache = new Map<string, string | undefined>();

/** The absolute path of `command` found on PATH, or undefined. */
export function which(command: string): string | undefined {
  if (whichCache.has(command)) return whichCache.get(command);
  let found: string | undefined;
  for (const dir of withSbin(process.env["PATH"]).split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      found = candidate;
      break;
    } catch {
      // not in this directory
    }
  }
  whichCache.set(command, found);
  return found;
}

/** A bounded text accumulator: keeps the newest `limit` characters and counts what it dropped. */
class OutputBuffer {
  private text = "";
  dropped = 0;
  constructor(private readonly limit: number) {}
  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit) {
      const excess = this.text.length - this.limit;
      this.dropped += excess;
      this.text = this.text.slice(excess);
    }
  }
  toString(): string {
    return this.text;
  }
}

/** A child process that the harness owns: killed with its whole group on exit. */
export class TrackedProcess {
  readonly pid: number;
  /** The command line, with secrets masked. */
  readonly command: string;
  readonly exited: Promise<ExitStatus>;
  /** The child's standard input (closed by `runCommand` after writing its input). */
  readonly stdin: NodeJS.WritableStream;
  private status: ExitStatus | undefined;
  private readonly out: OutputBuffer;
  private readonly err: OutputBuffer;
  private readonly secrets: readonly string[];
  private readonly listeners = new Set<() => void>();

  constructor(file: string, args: readonly string[], options: SpawnOptions = {}) {
    this.secrets = options.secrets ?? [];
    this.command = redact(formatCommand(file, args), this.secrets);
    const keep = options.keepOutputBytes ?? 1 << 20;
    this.out = new OutputBuffer(keep);
    this.err = new OutputBuffer(keep);
    installExitHooks();

    // Linux: have the kernel SIGKILL the child if we die without running our hooks.
    const setpriv = which("setpriv");
    const [spawnFile, spawnArgs] =
      setpriv === undefined ? [file, [...args]] : [setpriv, ["--pdeathsig", "KILL", "--", file, ...args]];
    const child = spawn(spawnFile, spawnArgs, {
      cwd: options.cwd,
      env: childEnv(options.env),
      // A process group of its own, so a kill reaches helpers it forks (tshark's dumpcap).
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.exited = new Promise<ExitStatus>((resolve) => {
      child.on("error", (error) => {
        this.err.append(`spawn failed: ${error.message}\n`);
        this.finish({ code: null, signal: null }, resolve);
      });
      child.on("close", (code, signal) => this.finish({ code, signal }, resolve));
    });
    if (child.pid === undefined) {
      // spawn failed synchronously (ENOENT is reported through "error" above).
      this.pid = -1;
    } else {
      this.pid = child.pid;
      live.add(this);
    }
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => this.onOutput(this.out, chunk));
    child.stderr.on("data", (chunk: string) => this.onOutput(this.err, chunk));
    child.stdin.on("error", () => {
      // The child may exit before reading its input; that is reported by its exit status.
    });
    this.stdin = child.stdin;
  }

  get running(): boolean {
    return this.status === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** Standard output so far (the newest bytes if it outgrew the buffer), secrets masked. */
  stdout(): string {
    return redact(this.out.toString(), this.secrets);
  }

  /** Standard error so far, secrets masked. */
  stderr(): string {
    return redact(this.err.toString(), this.secrets);
  }

  /** True if output was dropped because it outgrew the buffer. */
  get outputTruncated(): boolean {
    return this.out.dropped > 0 || this.err.dropped > 0;
  }

  /** Sends a signal to the child's whole process group; a no-op once it has exited. */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.pid <= 0 || this.status !== undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // Already gone between the check and the kill.
    }
  }

  /** Sends a signal to the child alone (tshark must get SIGINT itself to flush and stop dumpcap). */
  signal(signal: NodeJS.Signals): void {
    if (this.pid <= 0 || this.status !== undefined) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGKILLs the whole group and waits until the child is reaped. */
  async kill(): Promise<ExitStatus> {
    this.signalGroup("SIGKILL");
    return this.exited;
  }

  /**
   * Resolves with the first match of `pattern` in stdout or stderr (already printed or still to
   * come); rejects if the child exits first or the time runs out.
   */
  waitForOutput(pattern: RegExp, options: WaitOptions & { readonly what?: string } = {}): Promise<RegExpMatchArray> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const what = options.what ?? `output matching ${pattern}`;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = this.err.toString().match(pattern) ?? this.out.toString().match(pattern);
        if (match !== null) {
          done();
          resolve(match);
          return true;
        }
        if (this.status !== undefined) {
          done();
          reject(
            new HarnessError(
              "PEER_ERR_START",
              `${this.command} exited (${describeExit(this.status)}) before printing ${what}; stderr: ${tail(this.stderr())}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new HarnessError(
            "PEER_ERR_TIMEOUT",
            `${this.command} did not print ${what} within ${timeoutMs} ms; stderr: ${tail(this.stderr())}`,
          ),
        );
      }, timeoutMs);
      const listener = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      if (!check()) this.listeners.add(listener);
    });
  }

  private onOutput(buffer: OutputBuffer, chunk: string): void {
    buffer.append(chunk);
    for (const listener of [...this.listeners]) listener();
  }

  private finish(status: ExitStatus, resolve: (status: ExitStatus) => void): void {
    if (this.status !== undefined) return;
    this.status = status;
    live.delete(this);
    for (const listener of [...this.listeners]) listener();
    resolve(status);
  }
}

/** Starts a long-running peer (tgtd, tshark) that the harness tracks until it exits. */
export function spawnTracked(file: string, args: readonly string[], options?: SpawnOptions): TrackedProcess {
  return new TrackedProcess(file, args, options);
}

export interface RunOptions extends SpawnOptions {
  /** Hard limit: the group is SIGKILLed after this long (60 s unless told). */
  readonly timeoutMs?: number;
  /** Send `stopSignal` (SIGINT unless told) after this long: for tools that run until stopped. */
  readonly stopAfterMs?: number;
  readonly stopSignal?: NodeJS.Signals;
  readonly input?: string | Uint8Array;
}

export interface RunResult {
  /** The command line, secrets masked. */
  readonly command: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True if the hard timeout killed it. */
  readonly timedOut: boolean;
  /** True if output outgrew `keepOutputBytes` and its oldest part was dropped. */
  readonly outputTruncated: boolean;
  readonly durationMs: number;
}

/** Runs a command to completion and returns its exit status and output (secrets masked). */
export async function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const child = new TrackedProcess(file, args, { keepOutputBytes: 64 << 20, ...options });
  if (options.input !== undefined) child.stdin.write(options.input);
  child.stdin.end();
  let timedOut = false;
  const hard = setTimeout(() => {
    timedOut = true;
    child.signalGroup("SIGKILL");
  }, options.timeoutMs ?? 60_000);
  const stop =
    options.stopAfterMs === undefined
      ? undefined
      : setTimeout(() => child.signalGroup(options.stopSignal ?? "SIGINT"), options.stopAfterMs);
  const status = await child.exited;
  clearTimeout(hard);
  if (stop !== undefined) clearTimeout(stop);
  return {
    command: child.command,
    code: status.code,
    signal: status.signal,
    stdout: child.stdout(),
    stderr: child.stderr(),
    timedOut,
    outputTruncated: child.outputTruncated,
    durationMs: performance.now() - started,
  };
}

/** Returns the result if the command exited 0; otherwise throws naming the command and its stderr. */
export function checkOk(result: RunResult): RunResult {
  if (result.code === 0) return result;
  const how = result.timedOut ? "timed out" : describeExit(result);
  throw new HarnessError(
    "PEER_ERR_COMMAND",
    `${result.command} ${how}; stderr: ${tail(result.stderr) || "(empty)"}; stdout: ${tail(result.stdout, 500) || "(empty)"}`,
  );
}

/** Runs a command and throws unless it exits 0. */
export async function runChecked(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
  return checkOk(await runCommand(file, args, options));
}

/** How many harness-started processes are still running (for tests of the harness itself). */
export function liveProcessCount(): number {
  return live.size;
}

/** The TCP addresses a process listens on, from `ss` (needs root to see other users' sockets). */
export async function listeningSockets(pid: number): Promise<string[]> {
  return listeningAddressesOf(checkOk(await runCommand("ss", SS_LISTENING_TCP, { timeoutMs: 10_000 })).stdout, pid);
}
