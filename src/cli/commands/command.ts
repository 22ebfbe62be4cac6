/**
 * The shape every command module follows: it builds its commander `Command` (arguments, options,
 * examples) and runs its body through the `Runner` the program hands it, which supplies the
 * context and turns failures into exit statuses.
 */
import type { Command } from "commander";
import type { CliContext } from "../context.js";

export type Runner = (command: Command, body: (ctx: CliContext) => Promise<void>) => Promise<void>;

/** The "Examples:" block of a command's --help. */
export function examples(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}`;
}
