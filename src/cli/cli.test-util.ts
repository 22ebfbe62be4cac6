/**
 * Runs the CLI in-process with captured standard streams, for unit tests of the program's
 * behaviour that need no target (usage errors, help, refusals, connection failures).
 */
import { PassThrough } from "node:stream";
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
