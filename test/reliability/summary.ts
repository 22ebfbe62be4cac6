/**
 * Prints reliability figures as a Markdown table with totals, for docs/RELIABILITY.md. By default
 * the recorded figures (test/reliability/results/*.json, written by `npm run reliability:record`);
 * with `--latest`, those of the last test run (test-results/reliability/*.json, ignored by git):
 *
 *     npx tsx test/reliability/summary.ts [--latest]
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { RESULTS, type ScenarioFigures } from "./reliability.test-util.js";

const latest = process.argv.includes("--latest");
const dir = latest ? RESULTS : join(dirname(fileURLToPath(import.meta.url)), "results");
if (!existsSync(dir)) {
  console.error(`no figures in ${dir}: run \`npm run test:reliability\` first`);
  process.exit(1);
}
const rows: ScenarioFigures[] = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const body = JSON.parse(readFileSync(join(dir, file), "utf8")) as { scenarios: ScenarioFigures[] };
  rows.push(...body.scenarios);
}
const sum = (key: keyof ScenarioFigures): number => rows.reduce((n, r) => n + (r[key] as number), 0);
const failed = (r: ScenarioFigures): string =>
  Object.entries(r.failedByCode)
    .map(([code, n]) => `${n} ${code.replace("ISCSI_ERR_", "")}`)
    .join(", ") || "0";
console.log("| scenario | faults | recoveries (recovered) | I/Os retried | writes (acknowledged) | failed, by code | acknowledged blocks checked | lost |");
console.log("|---|---:|---:|---:|---:|---|---:|---:|");
for (const r of rows) {
  console.log(`| ${r.scenario} | ${r.faultsInjected} | ${r.recoveries} (${r.recovered}) | ${r.retried} | ${r.writes} (${r.acknowledged}) | ${failed(r)} | ${r.ackedBlocksChecked} | ${r.lost} |`);
}
console.log(
  `| **total** | **${sum("faultsInjected")}** | **${sum("recoveries")} (${sum("recovered")})** | **${sum("retried")}** | **${sum("writes")} (${sum("acknowledged")})** | ${sum("failed")} | **${sum("ackedBlocksChecked")}** | **${sum("lost")}** |`,
);
