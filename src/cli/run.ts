/**
 * The `iscsi` command, once main.ts has hidden any URL secret from the process title: the
 * interrupt handling, the one-line report of whatever escapes a command, the run, and the exit
 * after stdout and stderr have drained.
 */
import { environmentSecrets, secretsInArguments } from "./credentials.js";
import { ExitCode } from "./exit-codes.js";
import { Interrupts } from "./interrupt.js";
import { Verbosity, verbosityOf } from "./options.js";
import { runCli } from "./program.js";
import { describeFailure } from "./report.js";

const interrupts = new Interrupts();
interrupts.install(process);

// A reader that goes away (`iscsi read ... | head -c 10`) ends the tool as SIGPIPE ends other
// tools: quietly, with 128 + 13, after the clean-ups (no partial file is left).
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  interrupts.runCleanups();
  process.exit(error.code === "EPIPE" ? ExitCode.BrokenPipe : ExitCode.Usage);
});
process.stderr.on("error", () => undefined);

// Whatever escapes a command (a bug, a library callback that throws) still ends as one line.
const fatal = (error: unknown): void => {
  const verbose = verbosityOf(process.argv.slice(2)) >= Verbosity.Events;
  const secrets = [...secretsInArguments(process.argv), ...environmentSecrets(process.env)];
  const report = describeFailure(error, { secrets, verbose });
  process.stderr.write(`iscsi: ${report.message}\n${report.detail === undefined ? "" : `${report.detail}\n`}`);
  interrupts.runCleanups();
  process.exit(report.exitCode === ExitCode.Ok ? ExitCode.Internal : report.exitCode);
};
process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);

const status = await runCli(process.argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  interrupts,
});
interrupts.runCleanups();
// Let stdout and stderr drain (a pipe may still hold output), then end even if a socket or a
// timer of a failed session would keep the event loop alive.
process.stdout.write("", () => {
  process.stderr.write("", () => process.exit(status));
});
