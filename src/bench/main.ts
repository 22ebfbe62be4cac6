/**
 * `npm run bench`: iscsi-ts side by side with libiscsi. Starts its own tgtd (a null LUN and a file
 * LUN), runs every workload with libiscsi's tool and with our worker, alternating, for several
 * rounds, then the iSCSI-over-local sweep; prints one table and writes the results (JSON, SVG,
 * Markdown) to bench/results/. Progress goes to stderr, the table to stdout.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBenchArgs, USAGE } from "./args.js";
import { directIoWorks } from "./fio.js";
import { runLocalComparison, warmPageCache, writeBackingFile } from "./local.js";
import { machineInfo, sourceRevision } from "./machine.js";
import { clockTicksPerSecond } from "./procstat.js";
import { judgeGoals, type BenchResults, type LocalComparison } from "./report.js";
import { profileWorkloads, runSuite, type SuiteContext } from "./suite.js";
import { localChart, ratioChart } from "./svg.js";
import { renderMarkdown, renderTable } from "./table.js";
import { runNbdComparison, NBD_WORKLOADS } from "./nbd.js";
import { renderNbdMarkdown, renderNbdText } from "./nbd-table.js";
import { BenchTgtd, FILE_LUN, NULL_LUN } from "./tgtd.js";
import { partContext, runScalingPart, type PartContext } from "./scaling.js";
import { runTargetPart } from "./target.js";

/** The repository: two levels above this module (dist/bench/ or src/bench/). */
const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

function stampOf(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
}

/** The Markdown and the charts of a run, by file name (with `stamp` as the common prefix). */
function renderedFiles(results: BenchResults, stamp: string): [string, string][] {
  const day = results.startedAt.slice(0, 10);
  const markdown = results.nbd === undefined ? renderMarkdown(results) : `${renderMarkdown(results)}\n${renderNbdMarkdown(results.nbd)}\n`;
  const files: [string, string][] = [[`${stamp}.md`, markdown]];
  if (results.workloads.length > 0) files.push([`${stamp}-ratios.svg`, ratioChart(results.workloads, `iscsi-ts / libiscsi, ${day}`)]);
  if (results.local !== undefined) files.push([`${stamp}-local.svg`, localChart(results.local, `iSCSI over local, ${day}`)]);
  return files;
}

/** The terminal's table, with the NBD part's after it when it ran. */
function fullTable(results: BenchResults): string {
  return results.nbd === undefined ? renderTable(results) : `${renderTable(results)}\n${renderNbdText(results.nbd).join("\n")}\n`;
}

/** Says where a part's results went and what went wrong in it; its exit code. */
function partOutcome(part: PartContext, files: readonly string[], log: (line: string) => void): number {
  log(`results: ${files.join(", ")}`);
  if (part.noisyRuns.length > 0) log(`${part.noisyRuns.length} run(s) started on a busy machine:\n  ${part.noisyRuns.join("\n  ")}`);
  if (part.failures.length > 0) log(`${part.failures.length} run(s) failed:\n  ${part.failures.join("\n  ")}`);
  return part.failures.length > 0 ? 1 : 0;
}

/** --render: the table, Markdown and charts again from a results file, nothing measured. */
async function render(path: string): Promise<number> {
  const results = JSON.parse(await readFile(path, "utf8")) as BenchResults;
  const stamp = basename(path).replace(/\.json$/, "");
  for (const [name, body] of renderedFiles(results, stamp)) await writeFile(join(dirname(path), name), body);
  process.stdout.write(fullTable(results));
  return 0;
}

async function main(): Promise<number> {
  const options = parseBenchArgs(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  if (options.render !== undefined) return render(resolve(options.render));
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const started = new Date();
  const stamp = `${stampOf(started)}${options.quick ? "-quick" : ""}${options.onlyNbd ? "-nbd" : ""}`;
  const outDir = resolve(options.outDir ?? join(ROOT, "bench", "results"));
  await mkdir(outDir, { recursive: true });
  if (options.only === "scaling" || options.only === "target") {
    // A part alone: its own tgtds and files (never "latest"), nothing of the main suite.
    const part = partContext(options, clockTicksPerSecond(), log);
    const partStamp = `${stampOf(started)}${options.quick ? "-quick" : ""}`;
    const { files } = options.only === "scaling" ? await runScalingPart(part, outDir, [partStamp]) : await runTargetPart(part, outDir, [partStamp]);
    return partOutcome(part, files, log);
  }
  const machine = await machineInfo();
  const source = await sourceRevision(ROOT);
  const clk = clockTicksPerSecond();
  const work = await mkdtemp(join(tmpdir(), "iscsi-ts-bench-"));
  const file = join(work, "lun.img");
  let tgtd: BenchTgtd | undefined;
  const cleanup = async (): Promise<void> => {
    await tgtd?.stop();
    await rm(work, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    log(`writing the ${(options.localFileBytes / 2 ** 20).toFixed(0)} MiB file for tgtd's file LUN in ${work}`);
    await writeBackingFile(file, options.localFileBytes);
    await warmPageCache(file);
    tgtd = await BenchTgtd.start();
    await tgtd.configure(file);
    log(`tgtd pid ${tgtd.pid} on 127.0.0.1:${tgtd.port} (control port ${tgtd.controlPort}): LUN ${NULL_LUN} null, LUN ${FILE_LUN} ${file}`);
    const tgtdParams = await tgtd.params();
    const failures: string[] = [];
    const noisyRuns: string[] = [];
    const ctx: SuiteContext = {
      tgtd,
      clockTicksPerSecond: clk,
      rounds: options.rounds,
      seconds: options.seconds,
      warmupSeconds: options.warmupSeconds,
      blockSize: 512,
      log,
      failures,
      quiet: { thresholdPercent: options.quietPercent, maxWaitMs: options.quietWaitSeconds * 1000 },
      noisyRuns,
    };
    const suite = await runSuite(ctx, options.workloads, tgtd.url(NULL_LUN));
    let local: LocalComparison | undefined;
    if (options.local && options.localSizes.length > 0) {
      local = await runLocalComparison(ctx, {
        file,
        fileBytes: options.localFileBytes,
        sizes: options.localSizes,
        queueDepth: options.localQueueDepth,
        lunUrl: tgtd.url(FILE_LUN),
        directIoPossible: await directIoWorks(file),
      });
    }
    const nbd = options.nbd ? await runNbdComparison(ctx, NBD_WORKLOADS, tgtd.url(NULL_LUN), suite.outcomes) : undefined;
    const profiles = options.profile ? await profileWorkloads(ctx, options.workloads, tgtd.url(NULL_LUN), outDir, stamp, ROOT) : [];
    const results: BenchResults = {
      schema: 1,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      machine,
      source,
      loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
      settings: {
        rounds: options.rounds,
        seconds: options.seconds,
        warmupSeconds: options.warmupSeconds,
        quick: options.quick,
        profile: options.profile,
        workloads: options.workloads.map((w) => w.id),
        localSizes: options.local ? options.localSizes : [],
        localQueueDepth: options.localQueueDepth,
        nbd: options.nbd,
        quietPercent: options.quietPercent,
        quietWaitSeconds: options.quietWaitSeconds,
      },
      target: { tgtdParams, negotiated: suite.firstReport?.negotiated ?? {} },
      workloads: suite.outcomes,
      local,
      nbd,
      goals: judgeGoals(suite.outcomes),
      profiles,
      failures,
      noisyRuns,
    };
    const files: [string, string][] = [[`${stamp}.json`, `${JSON.stringify(results, null, 2)}\n`], ...renderedFiles(results, stamp)];
    // A smoke run is not a measurement, and a partial run (--only nbd) not the whole table: neither
    // replaces the latest results.
    if (!options.quick && !options.onlyNbd) files.push(...files.map(([name, body]): [string, string] => [name.replace(stamp, "latest"), body]));
    for (const [name, body] of files) await writeFile(join(outDir, name), body);
    process.stdout.write(fullTable(results));
    log(`results: ${files.map(([name]) => join(outDir, name)).join(", ")}`);
    if (noisyRuns.length > 0) log(`${noisyRuns.length} run(s) started on a busy machine (see noisyRuns in the JSON)`);
    if (failures.length > 0) log(`${failures.length} run(s) failed:\n  ${failures.join("\n  ")}`);
    let scalingCode = 0;
    if (options.scaling && !options.onlyNbd) {
      const part = partContext(options, clk, log);
      const { files: scalingFiles } = await runScalingPart(part, outDir, options.quick ? [stamp] : [stamp, "latest"]);
      scalingCode = partOutcome(part, scalingFiles, log);
    }
    return failures.length > 0 ? 1 : scalingCode;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const e = error as { code?: unknown; message?: unknown };
    process.stderr.write(`bench failed: ${String(e.code ?? "")} ${String(e.message ?? error)}\n`);
    process.exit(2);
  },
);
