/**
 * Runs the CLI in-process with captured standard streams, for unit tests of the program's
 * behaviour (usage errors, help, refusals, connection failures), and, where a command must log
 * in first, an embedded target in the same process.
 */
import { PassThrough } from "node:stream";
import { afterAll, beforeAll } from "vitest";
import { type RunningTarget, startTarget } from "../target/server.js";
import { Interrupts } from "./interrupt.js";
import { type CliIo, runCli } from "./program.js";

export interface CapturedRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

class Capture extends PassThrough {
  text = "";
  constructor(readonly isTTY: boolean) {
    super();
    this.on("data", (chunk: Buffer) => {
      this.text += chunk.toString("utf8");
    });
  }
}

export async function runCaptured(
  args: readonly string[],
  options: {
    readonly env?: Record<string, string>;
    readonly stdoutIsTty?: boolean;
    readonly stderrIsTty?: boolean;
    readonly stdinIsTty?: boolean;
    readonly stdin?: Uint8Array;
    /** To stop a long-running command (target, nbd) as SIGINT would. */
    readonly interrupts?: Interrupts;
    /** Called with stdout's text so far whenever it grows (to wait for a server's document). */
    readonly onStdout?: (text: string) => void;
  } = {},
): Promise<CapturedRun> {
  const stdout = new Capture(options.stdoutIsTty ?? false);
  const stderr = new Capture(options.stderrIsTty ?? false);
  if (options.onStdout !== undefined) {
    const onStdout = options.onStdout;
    stdout.on("data", () => onStdout(stdout.text));
  }
  const stdin = Object.assign(new PassThrough(), { isTTY: options.stdinIsTty ?? false });
  stdin.end(options.stdin ?? new Uint8Array(0));
  const io: CliIo = { stdout, stderr, stdin, env: options.env ?? {}, interrupts: options.interrupts ?? new Interrupts() };
  const status = await runCli(["node", "iscsi", ...args], io);
  await new Promise((r) => setImmediate(r));
  return { status, stdout: stdout.text, stderr: stderr.text };
}

/**
 * An embedded target for the enclosing describe block, in this process: `iqn` with LUN 1 a
 * 1 MiB memory LUN, on a free loopback port, started before the block's tests and closed after.
 */
export function embeddedTarget(iqn: string): { readonly port: () => number; readonly url: (lun?: number) => string } {
  let target: RunningTarget | undefined;
  beforeAll(async () => {
    target = await startTarget({ listen: { host: "127.0.0.1", port: 0 }, targets: [{ iqn, luns: [{ lun: 1, backend: "mem:1M" }] }] });
  });
  afterAll(async () => {
    await target?.close();
  });
  const port = (): number => {
    if (target === undefined) throw new Error("test: the embedded target is not running");
    return target.port;
  };
  return { port, url: (lun) => `iscsi://127.0.0.1:${port()}/${iqn}${lun === undefined ? "" : `/${lun}`}` };
}
