/**
 * `target`: serve the embedded target (src/target) until SIGINT/SIGTERM.
 */
import { Command } from "commander";
import { CliError } from "../errors.js";
import type { Runner } from "./command.js";

export function targetCommand(run: Runner): Command {
  return new Command("target")
    .summary("serve LUNs with the embedded iSCSI target")
    .action(async (_opts: unknown, cmd: Command) =>
      run(cmd, async () => {
        throw new CliError("ISCSI_CLI_USAGE", "the embedded target is not available in this build yet");
      }),
    );
}
