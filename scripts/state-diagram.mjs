#!/usr/bin/env node
/**
 * Writes the session's state diagrams (Mermaid, drawn from the tables in
 * src/core/session/machine.ts by src/core/session/diagram.ts) and the sizes of the modules of
 * src/core/session/ into docs/ARCHITECTURE.md, between the markers below; the rest of the file is
 * left as it is (the section is appended when the markers are absent).
 *
 *   node scripts/state-diagram.mjs          rewrite the section
 *   node scripts/state-diagram.mjs --check  exit 1, writing nothing, when the diagrams in the
 *                                           document differ from the tables (run by a test)
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tsImport } from "tsx/esm/api";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const doc = join(root, "docs", "ARCHITECTURE.md");
const sessionDir = join(root, "src", "core", "session");
const BEGIN = "<!-- state-diagram:begin (written by scripts/state-diagram.mjs from src/core/session/machine.ts; do not edit) -->";
const END = "<!-- state-diagram:end -->";

const { stateDiagrams } = await tsImport("../src/core/session/diagram.ts", import.meta.url);
const diagrams = stateDiagrams();
const text = readFileSync(doc, "utf8");
const begin = text.indexOf(BEGIN);
const end = text.indexOf(END);

if (process.argv.includes("--check")) {
  const section = begin >= 0 && end > begin ? text.slice(begin, end) : "";
  if (!section.includes(diagrams)) {
    process.stderr.write(`${doc}: the state diagrams differ from src/core/session/machine.ts; run node scripts/state-diagram.mjs\n`);
    process.exit(1);
  }
  process.stdout.write("the state diagrams are up to date\n");
  process.exit(0);
}

function lines(file) {
  const body = readFileSync(join(sessionDir, file), "utf8");
  return body.endsWith("\n") ? body.split("\n").length - 1 : body.split("\n").length;
}

const files = readdirSync(sessionDir).filter((f) => f.endsWith(".ts")).sort();
const modules = files.filter((f) => !f.includes(".test"));
const tests = files.filter((f) => f.includes(".test"));
const table = [
  "| module | lines |",
  "|---|---:|",
  ...modules.map((f) => `| ${f} | ${lines(f)} |`),
  `| *tests and test support (${tests.length} files)* | ${tests.reduce((n, f) => n + lines(f), 0)} |`,
].join("\n");

const section = [
  BEGIN,
  "The tables of `src/core/session/machine.ts` are the only place a state changes: an event a",
  "table does not list for the current state is a `LocalProtocolError`. Labels are the events,",
  "with the RFC's name for the transition where it has one.",
  "",
  diagrams,
  "",
  "Modules of `src/core/session/` (lines, when the section was last written):",
  "",
  table,
  END,
].join("\n");

let out;
if (begin >= 0 && end > begin) {
  out = text.slice(0, begin) + section + text.slice(end + END.length);
} else {
  out = `${text.replace(/\n*$/, "\n")}\n## The session's state machines\n\n${section}\n`;
}
writeFileSync(doc, out);
process.stdout.write(`wrote the state diagrams and module sizes into ${doc}\n`);
