#!/usr/bin/env node
// Records the reliability figures of the last test run: copies test-results/reliability/*.json
// (written by every run of test/reliability, ignored by git) into test/reliability/results/, the
// tracked copy that docs/RELIABILITY.md and the README quote. Tests never write a tracked file;
// this script is the one way a figure becomes recorded. Files of scenarios the last run did not
// cover stay as they were recorded.
//
//   npm run test:reliability && npm run reliability:record

import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(root, "test-results", "reliability");
const to = join(root, "test", "reliability", "results");

const files = existsSync(from) ? readdirSync(from).filter((f) => f.endsWith(".json")).sort() : [];
if (files.length === 0) {
  console.error(`nothing to record: no figures in ${relative(root, from)}/ (run \`npm run test:reliability\` first)`);
  process.exit(1);
}
mkdirSync(to, { recursive: true });
for (const file of files) {
  copyFileSync(join(from, file), join(to, file));
  console.log(`recorded ${relative(root, join(to, file))}`);
}
console.log("print them as a table with `npx tsx test/reliability/summary.ts`");
