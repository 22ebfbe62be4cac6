/**
 * The fuzz runner.
 *
 *     tsx fuzz/run.ts [--inputs 1000000] [--target NAME] [--seed N] [--workers N]
 *                     [--slow-ms 250] [--hang-ms 10000] [--json fuzz/results/latest.json]
 *     tsx fuzz/run.ts --replay fuzz/findings/FILE.bin --target NAME
 *     tsx fuzz/run.ts --target NAME --seed N --index I      (run input I of that seed alone)
 *     tsx fuzz/run.ts --list
 *
 * `--inputs` is the total over the selected targets, shared by weight (the framer, the decoder,
 * the session and the login machines get more). Each target's slice runs in a worker thread with
 * a memory ceiling; a watchdog ends a worker whose input has not finished within `--hang-ms` and
 * records it as a hang, then resumes after it. Findings (exceptions other than IscsiError, broken
 * invariants, allocations beyond the limits, slow inputs, hangs, crashes) are saved to
 * fuzz/findings/ with a line to replay them. Exit status 1 when there is any finding.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import { Worker } from "node:worker_threads";
import { ConfigError } from "../src/core/errors.js";
import { FUZZ_DIR } from "./corpus.js";
import { type Finding, findingKey, InputSource, judge, type TargetStats } from "./engine.js";
import { TARGETS, targetNamed, targetsMatching } from "./targets/index.js";
import { shares } from "./plan.js";
import type { FuzzTarget } from "./target.js";
import type { WorkerJob, WorkerMessage } from "./worker.js";

interface Options {
  inputs: number;
  targets: FuzzTarget[];
  seed: number;
  workers: number;
  slowMs: number;
  hangMs: number;
  json: string | undefined;
  replay: string | undefined;
  index: number | undefined;
  list: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = {
    inputs: 1_000_000,
    targets: [...TARGETS],
    seed: 1,
    workers: Math.max(1, availableParallelism()),
    slowMs: 250,
    hangMs: 10_000,
    json: join(FUZZ_DIR, "results", "latest.json"),
    replay: undefined,
    index: undefined,
    list: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(`${arg} needs a value`);
      return v;
    };
    const count = (): number => {
      const v = value();
      if (!/^\d+$/.test(v)) throw new ConfigError(`${arg} needs a whole number, got "${v}"`);
      return Number(v);
    };
    switch (arg) {
      case "--inputs":
        options.inputs = count();
        break;
      case "--target": {
        const name = value();
        const found = targetsMatching(name);
        if (found.length === 0) throw new ConfigError(`no fuzz target named "${name}" (see --list)`);
        options.targets = found;
        break;
      }
      case "--seed":
        options.seed = count();
        break;
      case "--workers":
        options.workers = Math.max(1, count());
        break;
      case "--slow-ms":
        options.slowMs = count();
        break;
      case "--hang-ms":
        options.hangMs = count();
        break;
      case "--json":
        options.json = value();
        break;
      case "--no-json":
        options.json = undefined;
        break;
      case "--replay":
        options.replay = value();
        break;
      case "--index":
        options.index = count();
        break;
      case "--list":
        options.list = true;
        break;
      default:
        throw new ConfigError(`unknown argument "${arg}"`);
    }
  }
  return options;
}

function hex(bytes: Uint8Array, max = 96): string {
  const text = Buffer.from(bytes.subarray(0, max)).toString("hex");
  return bytes.length > max ? `${text}... (${bytes.length} bytes)` : text;
}

function saveFinding(finding: Finding): string {
  const dir = join(FUZZ_DIR, "findings");
  mkdirSync(dir, { recursive: true });
  const name = `${finding.target}-${finding.kind}-s${finding.seed}-i${finding.index}`;
  writeFileSync(join(dir, `${name}.bin`), finding.input);
  writeFileSync(
    join(dir, `${name}.txt`),
    [
      `target: ${finding.target}`,
      `kind: ${finding.kind}`,
      `seed: ${finding.seed}, input index: ${finding.index}`,
      `detail: ${finding.detail}`,
      `input (${finding.input.length} bytes): ${hex(finding.input, 256)}`,
      `replay: npx tsx fuzz/run.ts --replay fuzz/findings/${name}.bin --target ${finding.target}`,
      "",
    ].join("\n"),
  );
  return name;
}

/** The worker is TypeScript, like this runner: it is loaded through tsx's loader. */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL("./worker.ts", import.meta.url).href)}); });`;
/** Progress value before the worker reaches its first input. */
const NOT_STARTED = -1;

interface Slice {
  readonly target: FuzzTarget;
  from: number;
  left: number;
  stats: TargetStats[];
}

/** Runs one target's slice in workers, restarting after a hang or a crash. */
async function runSlice(slice: Slice, options: Options, report: (f: Finding) => void): Promise<void> {
  while (slice.left > 0) {
    const progress = new SharedArrayBuffer(4);
    const cursor = new Int32Array(progress);
    Atomics.store(cursor, 0, NOT_STARTED);
    const job: WorkerJob = { target: slice.target.name, seed: options.seed, from: slice.from, inputs: slice.left, slowMs: options.slowMs, progress };
    const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: job, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
    const outcome = await new Promise<{ kind: "done"; stats: TargetStats } | { kind: "hang" | "crash"; index: number; detail: string }>((resolve) => {
      let last = Atomics.load(cursor, 0);
      let since = performance.now();
      const watchdog = setInterval(() => {
        const now = Atomics.load(cursor, 0);
        if (now !== last) {
          last = now;
          since = performance.now();
        } else if (performance.now() - since > options.hangMs) {
          clearInterval(watchdog);
          void worker.terminate();
          resolve({ kind: "hang", index: now, detail: `input did not finish within ${options.hangMs} ms` });
        }
      }, 200);
      worker.on("message", (message: WorkerMessage) => {
        if (message.type === "finding") report(message.finding);
        else {
          clearInterval(watchdog);
          resolve({ kind: "done", stats: message.stats });
        }
      });
      worker.on("error", (error) => {
        clearInterval(watchdog);
        resolve({ kind: "crash", index: Atomics.load(cursor, 0), detail: `worker died: ${error.message}` });
      });
      worker.on("exit", (code) => {
        clearInterval(watchdog);
        resolve({ kind: "crash", index: Atomics.load(cursor, 0), detail: `worker exited with code ${code}` });
      });
    });
    if (outcome.kind === "done") {
      slice.stats.push(outcome.stats);
      return;
    }
    if (outcome.index === NOT_STARTED) throw new ConfigError(`the fuzz worker for ${slice.target.name} failed before its first input: ${outcome.detail}`);
    const input = new InputSource(slice.target, options.seed).input(outcome.index).bytes;
    report({ target: slice.target.name, kind: outcome.kind, seed: options.seed, index: outcome.index, detail: outcome.detail, input });
    const done = outcome.index + 1 - slice.from;
    slice.stats.push({
      target: slice.target.name,
      inputs: done,
      elapsedMs: 0,
      accepted: 0,
      refused: {},
      largestAllocation: 0,
      slowestMs: 0,
      findings: 1,
      distinctFindings: 1,
    });
    slice.from = outcome.index + 1;
    slice.left -= done;
  }
}

/** One target's figures from its workers; the rate is over the time the workers spent on inputs. */
function merge(target: string, parts: readonly TargetStats[]): TargetStats {
  const out: TargetStats = { target, inputs: 0, elapsedMs: 0, accepted: 0, refused: {}, largestAllocation: 0, slowestMs: 0, findings: 0, distinctFindings: 0 };
  for (const p of parts) {
    out.inputs += p.inputs;
    out.elapsedMs += p.elapsedMs;
    out.accepted += p.accepted;
    for (const [code, n] of Object.entries(p.refused)) out.refused[code] = (out.refused[code] ?? 0) + n;
    out.largestAllocation = Math.max(out.largestAllocation, p.largestAllocation);
    out.slowestMs = Math.max(out.slowestMs, p.slowestMs);
    out.findings += p.findings;
    out.distinctFindings += p.distinctFindings;
  }
  return out;
}

function line(s: TargetStats): string {
  const rate = s.elapsedMs > 0 ? Math.round((s.inputs / s.elapsedMs) * 1000) : 0;
  const refused = Object.values(s.refused).reduce((a, b) => a + b, 0);
  return `${s.target.padEnd(40)} ${String(s.inputs).padStart(9)} inputs ${String(rate).padStart(7)}/s  accepted ${String(s.accepted).padStart(8)}  refused ${String(refused).padStart(8)}  max alloc ${String(s.largestAllocation).padStart(7)} B  slowest ${s.slowestMs.toFixed(1).padStart(6)} ms  findings ${s.findings}`;
}

async function replay(options: Options): Promise<number> {
  const path = options.replay ?? `input ${options.index} of seed ${options.seed}`;
  const target = options.targets.length === 1 ? options.targets[0] : targetNamed(basename(path).split("-")[0] ?? "");
  if (target === undefined) throw new ConfigError("--replay and --index need --target NAME (one target)");
  const input = options.replay !== undefined ? new Uint8Array(readFileSync(options.replay)) : new InputSource(target, options.seed).input(options.index ?? 0).bytes;
  const verdict = judge(target, input, options.slowMs);
  console.log(`${target.name} on ${path} (${input.length} bytes): ${verdict.ok ? `ok${verdict.code === undefined ? "" : ` (refused: ${verdict.code})`}` : `${verdict.kind}: ${verdict.detail}`}`);
  if (!verdict.ok) {
    // Run it bare, so the stack trace shows.
    try {
      target.run(input);
    } catch (error) {
      console.log(error);
    }
  }
  return verdict.ok ? 0 : 1;
}

async function main(argv: readonly string[]): Promise<number> {
  const options = parseArgs(argv);
  if (options.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(40)} ${t.description}`);
    return 0;
  }
  if (options.replay !== undefined || options.index !== undefined) return replay(options);
  const plan = shares(options.targets, options.inputs);
  console.log(`fuzzing ${options.targets.length} target(s), ${options.inputs} inputs in all, seed ${options.seed}, ${options.workers} worker(s)`);
  const findings: Finding[] = [];
  const distinct = new Set<string>();
  const report = (finding: Finding): void => {
    findings.push(finding);
    const key = `${finding.target}:${findingKey(finding.kind, finding.detail)}`;
    if (distinct.has(key)) return;
    distinct.add(key);
    const name = saveFinding(finding);
    console.log(`  FINDING ${finding.target} #${finding.index} ${finding.kind}: ${finding.detail.slice(0, 300)} -> fuzz/findings/${name}.bin`);
  };
  const queue = [...plan].map(([target, n]) => ({ target, from: 0, left: n, stats: [] as TargetStats[] }));
  const results: TargetStats[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(options.workers, queue.length) }, async () => {
      for (let slice = queue.shift(); slice !== undefined; slice = queue.shift()) {
        await runSlice(slice, options, report);
        const merged = merge(slice.target.name, slice.stats);
        results.push(merged);
        console.log(line(merged));
      }
    }),
  );
  const wallMs = performance.now() - started;
  const total = results.reduce((n, s) => n + s.inputs, 0);
  console.log(`total: ${total} inputs in ${(wallMs / 1000).toFixed(1)} s (${Math.round((total / wallMs) * 1000)}/s over ${options.workers} worker(s)), ${findings.length} finding(s), ${distinct.size} distinct`);
  if (options.json !== undefined) {
    mkdirSync(join(options.json, ".."), { recursive: true });
    const body = {
      recordedAt: new Date().toISOString(),
      node: process.version,
      seed: options.seed,
      workers: options.workers,
      inputs: total,
      wallSeconds: Math.round(wallMs / 100) / 10,
      findings: findings.length,
      distinctFindings: distinct.size,
      findingList: findings.map((f) => ({ target: f.target, kind: f.kind, index: f.index, detail: f.detail })),
      targets: results.sort((a, b) => a.target.localeCompare(b.target)).map((s) => ({ ...s, elapsedMs: Math.round(s.elapsedMs), slowestMs: Math.round(s.slowestMs * 10) / 10 })),
    };
    writeFileSync(options.json, `${JSON.stringify(body, null, 2)}\n`);
    console.log(`figures written to ${options.json}`);
  }
  return findings.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`fuzz: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
