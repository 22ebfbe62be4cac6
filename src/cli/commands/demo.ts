/**
 * `demo`: the first run: the embedded target on loopback, and every part of the initiator against it.
 */
import { Command } from "commander";
import { CliError } from "../errors.js";
import type { Runner } from "./command.js";

export function demoCommand(run: Runner): Command {
  return new Command("demo")
    .summary("start the embedded target and show the initiator working against it")
    .action(async (_opts: unknown, cmd: Command) =>
      run(cmd, async () => {
        throw new CliError("ISCSI_CLI_USAGE", "the embedded target is not available in this build yet");
      }),
    );
}
