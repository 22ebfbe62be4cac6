/**
 * The `iscsi` program: global options, the commands, and the one place where a failure becomes a
 * line on stderr (and, with --json, an error document on stdout) and an exit status.
 */
import { Command, CommanderError } from "commander";
import { CliContext, DEFAULT_TIMEOUT, type GlobalOptions } from "./context.js";
import { environmentSecrets, secretsInArguments } from "./credentials.js";
import { ExitCode, EXIT_CODES_HELP } from "./exit-codes.js";
import type { Interrupts } from "./interrupt.js";
import { Output, type Writable } from "./output.js";
import { describeFailure, oneLine } from "./report.js";
import { discoverCommand, inquiryCommand, lsCommand, lunsCommand, readcapCommand } from "./commands/info.js";
import { readCommand, writeCommand } from "./commands/io.js";
import { cpCommand } from "./commands/cp.js";
import { perfCommand } from "./commands/perf.js";
import { pingCommand } from "./commands/ping.js";
import { targetCommand } from "./commands/target.js";
import { nbdCommand } from "./commands/nbd.js";
import { compareCommand } from "./commands/compare.js";
import { cdbCommand, discardCommand, resetCommand, syncCommand, turCommand, zeroCommand } from "./commands/scsi-ops.js";
import { demoCommand } from "./commands/demo.js";
import { nodeCommand } from "./commands/node.js";
import { upCommand } from "./commands/up.js";
import { statusCommand } from "./commands/status.js";
import type { Runner } from "./commands/command.js";

export interface CliIo {
  readonly stdout: Writable & NodeJS.WritableStream;
  readonly stderr: Writable & NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean; readonly fd?: number };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly interrupts: Interrupts;
}

export const VERSION = "0.1.0";

function globalOptions(program: Command): Command {
  return program
    .option("--initiator-name <iqn>", "our iSCSI name (else $ISCSI_INITIATOR_NAME, the config file, /etc/iscsi/initiatorname.iscsi, or one generated once and kept)")
    .option("--header-digest <digest>", "header digest: none, crc32c, or a preference list crc32c,none")
    .option("--data-digest <digest>", "data digest: none, crc32c, or a preference list crc32c,none")
    .option("--timeout <duration>", "limit for connecting, for login, and for the whole of each command (its retries across reconnects included), e.g. 10s, 500ms", DEFAULT_TIMEOUT)
    .option("-v, --verbose", "trace every PDU on stderr (CHAP values redacted)")
    .option("--json", "print exactly one JSON document on stdout")
    .option("--chap-user <name>", "CHAP user name (or in the URL as user%secret@, or $ISCSI_CHAP_USERNAME)")
    .option("--chap-secret-file <file>", "read the CHAP secret from a file (or $ISCSI_CHAP_SECRET; never on the command line)")
    .option("--chap-target-user <name>", "mutual CHAP: the name the target must answer with (or $ISCSI_CHAP_TARGET_USERNAME)")
    .option("--chap-target-secret-file <file>", "mutual CHAP: read the target's secret from a file (or $ISCSI_CHAP_TARGET_SECRET)");
}

const SECRETS_HELP = `CHAP credentials come from the URL (iscsi://user%secret@host/...), from --chap-user with
--chap-secret-file, or from the environment: ISCSI_CHAP_USERNAME, ISCSI_CHAP_SECRET,
ISCSI_CHAP_TARGET_USERNAME, ISCSI_CHAP_TARGET_SECRET (or libiscsi's LIBISCSI_CHAP_USERNAME,
LIBISCSI_CHAP_PASSWORD, LIBISCSI_CHAP_TARGET_USERNAME, LIBISCSI_CHAP_TARGET_PASSWORD).
A secret is never printed; one given in a URL is hidden from ps as soon as the tool starts.`;

/** Runs the tool with `argv` (as process.argv: node, script, args...) and returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = argv.slice(2);
  const json = args.includes("--json");
  const verbose = args.includes("-v") || args.includes("--verbose");
  const out = new Output(io.stdout, io.stderr, json);
  out.addSecrets(secretsInArguments(args));
  out.addSecrets(environmentSecrets(io.env));

  let status: number = ExitCode.Ok;
  const fail = (error: unknown): void => {
    const report = describeFailure(error, { secrets: out.secrets, verbose });
    status = report.exitCode;
    if (report.exitCode === ExitCode.Ok) return;
    out.error(report.message, report.detail);
    out.errorDocument(report);
  };

  const run: Runner = async (command, body) => {
    const ctx = new CliContext(command.optsWithGlobals<GlobalOptions>(), out, io.interrupts, io.env);
    await body(ctx);
  };

  const program = globalOptions(new Command("iscsi"))
    .description("A userspace iSCSI initiator: discover targets, inspect LUNs, read, write, copy, benchmark.")
    .version(VERSION, "-V, --version")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText("after", `\n${SECRETS_HELP}\n\n${EXIT_CODES_HELP}`)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Errors are reported once, by fail() below, as one line.
      outputError: () => undefined,
    });

  const commands = [
    discoverCommand(run),
    lsCommand(run),
    lunsCommand(run),
    inquiryCommand(run),
    readcapCommand(run),
    readCommand(run, io),
    writeCommand(run, io),
    cpCommand(run, io),
    perfCommand(run),
    pingCommand(run),
    targetCommand(run),
    compareCommand(run, io),
    syncCommand(run),
    turCommand(run),
    discardCommand(run),
    zeroCommand(run),
    resetCommand(run),
    cdbCommand(run),
    nbdCommand(run),
    nodeCommand(run),
    upCommand(run),
    statusCommand(run),
    demoCommand(run),
  ];
  // Subcommands (`node add`, ...) are configured like the commands themselves.
  for (const command of commands.flatMap((c) => [c, ...c.commands])) {
    command
      .configureHelp({ showGlobalOptions: true })
      .exitOverride()
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => undefined })
      .addHelpText("after", `\n${EXIT_CODES_HELP}`);
    if (command.parent === null) program.addCommand(command);
  }

  try {
    await program.parseAsync([...argv], { from: "node" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return ExitCode.Ok;
      // No command given: commander has printed the help on stderr.
      if (error.code === "commander.help") return ExitCode.Usage;
      // commander's own usage errors, as one line naming the command to ask for help.
      const which = program.args[0] !== undefined && program.commands.some((c) => c.name() === program.args[0]) ? ` ${program.args[0]}` : "";
      fail(new CommanderError(error.exitCode, error.code, `${oneLine(error.message).replace(/^error:\s*/i, "")} (see iscsi${which} --help)`));
    } else {
      fail(error);
    }
  }
  return status;
}
