/**
 * `completion`: the shell completion script for bash, zsh or fish, and (hidden) `manpage`: the
 * man page; both generated from the program's own command definitions (src/cli/completion.ts).
 */
import { Command } from "commander";
import { CliError } from "../errors.js";
import { EXIT_CODES_HELP } from "../exit-codes.js";
import { completionScript, manPage, SHELLS, type Shell } from "../completion.js";
import { addConnectionOptions } from "../options.js";
import { examples, type Runner } from "./command.js";

export function completionCommand(run: Runner, program: () => Command): Command {
  return new Command("completion")
    .summary("print the shell completion script (bash, zsh, fish)")
    .description("Prints a completion script for the shell, generated from the commands and options of this version of iscsi.")
    .argument("<shell>", SHELLS.join(", "))
    .addHelpText(
      "after",
      examples([
        "source <(iscsi completion bash)                    # in ~/.bashrc",
        "iscsi completion zsh > \"${fpath[1]}/_iscsi\"",
        "iscsi completion fish > ~/.config/fish/completions/iscsi.fish",
      ]),
    )
    .action(async (shell: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        if (!(SHELLS as readonly string[]).includes(shell)) throw new CliError("ISCSI_CLI_USAGE", `no completion for "${shell}": give ${SHELLS.join(", ")}`);
        const script = completionScript(program(), shell as Shell);
        ctx.out.result({ shell, script }, () => script.trimEnd());
      }),
    );
}

/** The man page (roff) on stdout: scripts/man.mjs writes it to man/iscsi.1 when the package is packed. */
export function manpageCommand(run: Runner, program: () => Command, version: string, secretsHelp: string): Command {
  return new Command("manpage")
    .summary("print the iscsi(1) man page (roff)")
    .option("--date <yyyy-mm-dd>", "the date in the page's header (default: today, or $SOURCE_DATE_EPOCH)")
    .action(async (opts: { date?: string }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const epoch = Number(ctx.env.SOURCE_DATE_EPOCH);
        const date = opts.date ?? new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now()).toISOString().slice(0, 10);
        const page = manPage(
          program(),
          version,
          addConnectionOptions(new Command("x")).options,
          [
            { title: "CHAP secrets", text: secretsHelp },
            { title: "Exit status", text: EXIT_CODES_HELP.replace(/^Exit status:\n/, "") },
            { title: "See also", text: "iscsiadm(8), iscsi-ls(1), qemu-img(1); docs/CLI.md in the iscsi-ts package" },
          ],
          date,
        );
        ctx.out.result({ page }, () => page.trimEnd());
      }),
    );
}
