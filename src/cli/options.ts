/**
 * The options of the `iscsi` program, in two kinds. Global options (`--json`, `-q`, `-v`, `-vv`)
 * belong to the program and are taken anywhere on the command line. Connection options (our name,
 * digests, the time limit, CHAP) belong to each command that logs in to a target, so a command's
 * `--help` lists what that command takes and `iscsi target --help` shows no initiator options.
 */
import { type Command, Option } from "commander";
import { DEFAULT_TIMEOUT } from "./context.js";

/** How much goes to stderr besides errors: -q, the default, -v (events), -vv (the PDU trace). */
export const Verbosity = {
  Quiet: -1,
  Default: 0,
  Events: 1,
  Trace: 2,
} as const;
export type Verbosity = (typeof Verbosity)[keyof typeof Verbosity];

/** The verbosity from the raw arguments, before commander has parsed them (for early failures). */
export function verbosityOf(args: readonly string[]): Verbosity {
  let level = 0;
  let quiet = false;
  for (const arg of args) {
    if (arg === "--") break;
    if (arg === "--verbose") level++;
    else if (arg === "--quiet") quiet = true;
    else if (/^-[vq]+$/.test(arg)) {
      for (const c of arg.slice(1)) {
        if (c === "v") level++;
        else quiet = true;
      }
    }
  }
  if (quiet && level === 0) return Verbosity.Quiet;
  return level >= 2 ? Verbosity.Trace : level === 1 ? Verbosity.Events : Verbosity.Default;
}

/** The options every command takes, on the program itself. */
export function addGlobalOptions(program: Command): Command {
  return program
    .option("--json", "print exactly one JSON document on stdout")
    .option("-q, --quiet", "print errors only (no notes, warnings or progress)")
    .addOption(new Option("-v, --verbose", "events on stderr (logins, recoveries, renegotiations, task management); -vv: every PDU too (CHAP values redacted)").argParser((_value: string | undefined, previous: number) => previous + 1).default(0));
}

/** The global options in one line, for the foot of every command's help. */
export const GLOBAL_OPTIONS_LINE = "Global options: --json, -q/--quiet, -v/--verbose (-vv: the PDU trace), -h/--help, -V/--version; exit statuses and CHAP environment variables: iscsi --help";

/** The options of a command that logs in to a target. */
export function addConnectionOptions(command: Command): Command {
  return command
    .option("--initiator-name <iqn>", "our iSCSI name (else $ISCSI_INITIATOR_NAME, the config file, /etc/iscsi/initiatorname.iscsi, or one generated once and kept)")
    .option("--header-digest <digest>", "header digest: none, crc32c, or a preference list crc32c,none")
    .option("--data-digest <digest>", "data digest: none, crc32c, or a preference list crc32c,none")
    .option("--timeout <duration>", "limit for connecting, for login, and for the whole of each command (its retries across reconnects included), e.g. 10s, 500ms", DEFAULT_TIMEOUT)
    .option("--chap-user <name>", "CHAP user name (or in the URL as user%secret@, or $ISCSI_CHAP_USERNAME)")
    .option("--chap-secret-file <file>", "read our CHAP secret from a file (or $ISCSI_CHAP_SECRET; never on the command line)")
    .option("--chap-target-user <name>", "mutual CHAP: the name the target must answer with (or $ISCSI_CHAP_TARGET_USERNAME)")
    .option("--chap-target-secret-file <file>", "mutual CHAP: read the target's secret from a file (or $ISCSI_CHAP_TARGET_SECRET)");
}

/** Commands (by path) that never log in to a target: no connection options. */
const NO_CONNECTION = new Set(["target", "gateway", "status", "completion", "manpage", "node list", "node show", "node remove", "node logout"]);

/** The command's path below the program: "readcap", "node add". */
export function commandPath(command: Command): string {
  const names: string[] = [];
  // The program itself (the root, once commands are added to it) is not part of the path.
  for (let c: Command | null = command; c !== null && !(c.parent === null && c.name() === "iscsi"); c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Whether a leaf command logs in (and so takes the connection options). */
export function takesConnectionOptions(command: Command): boolean {
  return command.commands.length === 0 && !NO_CONNECTION.has(commandPath(command));
}
