/**
 * The `iscsi` program: global options, the commands, and the one place where a failure becomes a
 * line on stderr (and, with --json, an error document on stdout) and an exit status.
 */
import { Command, CommanderError, Help, Option } from "commander";
import { CliContext, type GlobalOptions } from "./context.js";
import { environmentSecrets, secretsInArguments } from "./credentials.js";
import { CliError } from "./errors.js";
import { ExitCode, EXIT_CODES_HELP } from "./exit-codes.js";
import { addConnectionOptions, addGlobalOptions, GLOBAL_OPTIONS_LINE, takesConnectionOptions, Verbosity, verbosityOf } from "./options.js";
import { completionCommand, manpageCommand } from "./commands/completion.js";
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
import { gatewayCommand } from "./commands/gateway.js";
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

/** The width the program's help is laid out in, as commander lays out its own lists off a terminal. */
const HELP_WIDTH = 80;

/**
 * The connection options, listed once in the program's help (each command's help lists them too).
 * Laid out by commander's own Help, so their descriptions wrap as the options above them do.
 */
function connectionOptionsHelp(): string {
  const options = addConnectionOptions(new Command("x")).options;
  const help = new Help();
  help.helpWidth = HELP_WIDTH;
  const width = Math.max(...options.map((o) => o.flags.length));
  return `Connection options (every command that logs in to a target):\n${options.map((o) => help.formatItem(o.flags, width, o.description, help)).join("\n")}`;
}

const SECRETS_HELP = `CHAP credentials come from the URL (iscsi://user%secret@host/...), from
--chap-user with --chap-secret-file, or from the environment:
ISCSI_CHAP_USERNAME, ISCSI_CHAP_SECRET, ISCSI_CHAP_TARGET_USERNAME,
ISCSI_CHAP_TARGET_SECRET (or libiscsi's LIBISCSI_CHAP_USERNAME,
LIBISCSI_CHAP_PASSWORD, LIBISCSI_CHAP_TARGET_USERNAME,
LIBISCSI_CHAP_TARGET_PASSWORD). A secret is never printed; one given in a URL is
hidden from ps as soon as the tool starts.`;

/** Runs the tool with `argv` (as process.argv: node, script, args...) and returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const args = argv.slice(2);
  const json = args.includes("--json");
  const verbosity = verbosityOf(args);
  // The stack of an internal error comes with -v: it is an event worth a report.
  const verbose = verbosity >= Verbosity.Events;
  // `out` is made once the commands are (they say whether --ndjson is theirs); the handlers
  // below use it only while the arguments are parsed, after that.

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

  const program = addGlobalOptions(new Command("iscsi"))
    .description("A userspace iSCSI initiator: discover targets, inspect LUNs, read, write, copy, benchmark.")
    .addOption(new Option("-V, --version", "print the version (with --json: {\"version\": ...})"))
    .on("option:version", () => {
      out.result({ version: VERSION }, () => VERSION);
      throw new CommanderError(0, "commander.version", VERSION);
    })
    .configureHelp({ sortSubcommands: false })
    .addHelpText("after", `\n${connectionOptionsHelp()}\n\n${SECRETS_HELP}\n\n${EXIT_CODES_HELP}`)
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
    discardCommand(run, io),
    zeroCommand(run, io),
    resetCommand(run),
    cdbCommand(run),
    nbdCommand(run),
    gatewayCommand(run),
    nodeCommand(run),
    upCommand(run),
    statusCommand(run),
    demoCommand(run),
    completionCommand(run, () => program),
  ];
  // Subcommands (`node add`, ...) are configured like the commands themselves. Each help shows
  // the command's own options (connection options included where it logs in), then one line
  // pointing to the global ones.
  for (const command of commands.flatMap((c) => [c, ...c.commands])) {
    if (takesConnectionOptions(command)) addConnectionOptions(command);
    command
      .exitOverride()
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => undefined })
      .addHelpText("after", `\n${GLOBAL_OPTIONS_LINE}`);
    if (command.parent === null) program.addCommand(command);
  }
  // --ndjson is seen before parsing, as --json is, so that commander's own usage errors end the
  // stream too; but only for a command that has the option (perf): for the others it is just an
  // unknown option, on stderr. With both, --json's document wins (perf refuses the pair).
  const ndjson = !json && args.includes("--ndjson") && hasNdjson(commands, args);
  const out = new Output(io.stdout, io.stderr, json, verbosity === Verbosity.Quiet, ndjson);
  out.addSecrets(secretsInArguments(args));
  out.addSecrets(environmentSecrets(io.env));

  // The man page's generator (scripts/man.mjs), left out of the help and of the completions.
  program.addCommand(
    manpageCommand(run, () => program, VERSION, SECRETS_HELP)
      .exitOverride()
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => undefined }),
    { hidden: true },
  );

  try {
    await program.parseAsync([...argv], { from: "node" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return ExitCode.Ok;
      // No command given: commander has printed the help on stderr (and --json gets its document).
      if (error.code === "commander.help") {
        out.errorDocument({ code: "ISCSI_CLI_USAGE", message: "no command given (see iscsi --help)", exitCode: ExitCode.Usage });
        return ExitCode.Usage;
      }
      // commander's own usage errors, as one line naming the command to ask for help, under the
      // tool's one code namespace (commander's code names which kind, in the message's words).
      const which = program.args[0] !== undefined && program.commands.some((c) => c.name() === program.args[0]) ? ` ${program.args[0]}` : "";
      fail(new CliError("ISCSI_CLI_USAGE", `${oneLine(error.message).replace(/^error:\s*/i, "")} (see iscsi${which} --help)`, { cause: error }));
    } else {
      fail(error);
    }
  }
  return status;
}

/**
 * Whether the command the arguments name has an --ndjson option. The command is the first
 * argument that is not an option: the program's own options (--json, -q, -v) take no value.
 */
function hasNdjson(commands: readonly Command[], args: readonly string[]): boolean {
  const word = args.find((a) => !a.startsWith("-"));
  const command = commands.find((c) => c.name() === word || c.aliases().includes(word ?? ""));
  return command?.options.some((o) => o.long === "--ndjson") ?? false;
}
