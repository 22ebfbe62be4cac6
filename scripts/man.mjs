#!/usr/bin/env node
/**
 * Writes the iscsi(1) man page from the command definitions themselves (`iscsi manpage`), so it
 * cannot drift from the tool. Run at pack time (package.json "prepack", after the build); the
 * page is not tracked in git. Usage: node scripts/man.mjs [OUTPUT] (default man/iscsi.1).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = process.argv[2] ?? join(root, "man", "iscsi.1");
const page = execFileSync(process.execPath, [join(root, "dist", "cli", "main.js"), "manpage"], { encoding: "utf8", env: { ...process.env } });
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, page);
process.stdout.write(`wrote ${output}\n`);
