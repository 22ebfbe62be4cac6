#!/usr/bin/env node
/**
 * The README's host table (issue 12):
 *
 *   node dist/bench/hosts-main.js [--seconds N] [--rounds N] [--no-browser]
 *
 * One tgtd with a null LUN (BenchTgtd); then, per round, each host in turn (the order reversed
 * every other round, so that no host always runs first or last on this noisy machine), each doing
 * 4 KiB random reads at QD32 and 1 MiB sequential reads at QD16, `seconds` long after a warm-up:
 *
 *   libiscsi iscsi-perf   the reference, its CPU from /proc (libiscsi.ts)
 *   node, bun, deno       dist/bench/host-reader.js with that runtime's entry (dist/node, dist/bun,
 *                         dist/deno), its CPU the reader process's own (process.cpuUsage)
 *   browser (Chromium)    dist/bench/browser-reader.js bundled into a page, through `iscsi
 *                         gateway`; its CPU is Chromium's processes (browser, renderer, network,
 *                         GPU: every descendant but the gateway) plus the gateway's, from /proc at
 *                         the window's edges, which the page reports as it crosses them
 *
 * Prints the table of medians over rounds, each figure with its ratio to iscsi-perf's, and writes
 * bench/results/hosts-<stamp>.json (every round's figures) and .md (the table).
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BenchError } from "./errors.js";
import { figuresFromWindows, LARGE, markdownTable, rangeLines, REFERENCE, SMALL, summarize, textTable, type HostFigures, type HostRow, type ReaderResult } from "./hosts.js";
import { runIscsiPerf } from "./libiscsi.js";
import { machineInfo, sourceRevision } from "./machine.js";
import { Child, run, sleep } from "./process.js";
import { clockTicksPerSecond, ownTicks, parseProcStat, readCpuTicks } from "./procstat.js";
import { BenchTgtd, BENCH_IQN, NULL_LUN } from "./tgtd.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DIST = join(ROOT, "dist");
const READER = join(DIST, "bench", "host-reader.js");
const BIN = join(ROOT, "node_modules", ".bin");

interface Args {
  readonly seconds: number;
  readonly rounds: number;
  readonly browser: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let seconds = 5;
  let rounds = 3;
  let browser = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new BenchError("BENCH_ERR_USAGE", `${a} takes a whole number of at least 1, not ${JSON.stringify(argv[i])}`);
      return v;
    };
    if (a === "--seconds") seconds = value();
    else if (a === "--rounds") rounds = value();
    else if (a === "--no-browser") browser = false;
    else if (a === "--help" || a === "-h") {
      console.log("usage: node dist/bench/hosts-main.js [--seconds N (5)] [--rounds N (3)] [--no-browser]");
      process.exit(0);
    } else throw new BenchError("BENCH_ERR_USAGE", `unknown argument ${JSON.stringify(a)} (try --help)`);
  }
  return { seconds, rounds, browser };
}

/** One host: its name, how its CPU is counted, and how a round of both workloads is run. */
interface Host {
  readonly name: string;
  readonly cpuCounted: string;
  readonly round: () => Promise<HostFigures>;
}

function perfHost(url: string, seconds: number, ticksPerSecond: number, tgtdPid: number): Host {
  const one = async (random: boolean, ioBlocks: number, depth: number): Promise<{ rate: number; cpuUsPerIo: number }> => {
    const r = await runIscsiPerf({ url, queueDepth: depth, ioBytes: ioBlocks * 512, blockSize: 512, random, seconds, clockTicksPerSecond: ticksPerSecond, tgtdPid });
    return { rate: r.iops, cpuUsPerIo: (r.cpuSeconds * 1e6) / r.ios };
  };
  return {
    name: REFERENCE,
    cpuCounted: "iscsi-perf's process, from /proc",
    round: async () => {
      const small = await one(true, SMALL.ioBlocks, SMALL.depth);
      const large = await one(false, LARGE.ioBlocks, LARGE.depth);
      return { iops4k: small.rate, mbps1m: (large.rate * LARGE.ioBlocks * 512) / 1e6, cpuUs4k: small.cpuUsPerIo, cpuUs1m: large.cpuUsPerIo };
    },
  };
}

function readerHost(name: string, command: readonly string[], entry: string, url: string, seconds: number): Host {
  return {
    name,
    cpuCounted: "the reader process's own (process.cpuUsage)",
    round: async () => {
      const [file, ...args] = command;
      const r = await run(file!, [...args, READER, join(DIST, entry), url, String(seconds)], { timeoutMs: (2 * seconds + 60) * 1000 });
      const line = r.stdout.trim().split("\n").at(-1) ?? "";
      if (r.status.code !== 0 || !line.startsWith("{")) {
        throw new BenchError("BENCH_ERR_WORKER", `${r.command}: exit ${String(r.status.code)}; stderr: ${r.stderr.trim().slice(-400)}`);
      }
      const result = JSON.parse(line) as ReaderResult;
      return figuresFromWindows(result.small, result.large);
    },
  };
}

// ---- The browser ----

/** Every process descending from `root`, by /proc's parent links. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(pid, Number(fields[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [pid, pp] of parent) {
      if (pp === p) {
        out.push(pid);
        walk(pid);
      }
    }
  };
  walk(root);
  return out;
}

/** User+system ticks of these processes now (one that has exited counts 0). */
function ticksOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += ownTicks(parseProcStat(readFileSync(`/proc/${pid}/stat`, "latin1")));
    } catch {
      // Exited.
    }
  }
  return sum;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>iscsi-ts host bench</title><script type="module" src="/reader.js"></script>`;

interface BrowserBench {
  readonly host: Host;
  close(): Promise<void>;
}

async function startBrowser(tgtd: BenchTgtd, url: string, seconds: number, ticksPerSecond: number): Promise<BrowserBench> {
  const { build } = await import("esbuild");
  const { chromium } = await import("playwright-core");
  const dir = await mkdtemp(join(tmpdir(), "iscsi-hosts-"));
  await build({ entryPoints: [join(DIST, "bench", "browser-reader.js")], outfile: join(dir, "reader.js"), bundle: true, format: "esm", platform: "browser", target: ["chrome111"], minify: true, logLevel: "warning" });
  const script = await readFile(join(dir, "reader.js"));
  const server: Server = createServer((req, res) => {
    if (req.url === "/reader.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    else res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const pagePort = (server.address() as { port: number }).port;
  const origin = `http://127.0.0.1:${pagePort}`;
  const gateway = new Child(process.execPath, [join(DIST, "cli", "main.js"), "gateway", "--listen", "127.0.0.1:0", "--allow", `127.0.0.1:${tgtd.port}`, "--no-page", "--allow-origin", origin, "--json"]);
  let gatewayUrl: string | undefined;
  for (let i = 0; i < 200 && gatewayUrl === undefined; i++) {
    const m = /"url"\s*:\s*"(ws:\/\/[^"]+)"/.exec(gateway.stdout()) ?? /"port"\s*:\s*(\d+)/.exec(gateway.stdout());
    if (m !== null) gatewayUrl = m[1]!.startsWith("ws") ? m[1] : `ws://127.0.0.1:${m[1]}`;
    else if (!gateway.running) break;
    else await sleep(50);
  }
  if (gatewayUrl === undefined) {
    await gateway.kill();
    server.close();
    throw new BenchError("BENCH_ERR_PEER", `iscsi gateway did not start: ${gateway.stdout().slice(-300)} ${gateway.stderr().slice(-300)}`);
  }
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
  let edges: { pids: number[]; chromium: Record<string, number>; gateway: Record<string, number> } = { pids: [], chromium: {}, gateway: {} };
  await page.exposeFunction("benchEdge", (workload: string, edge: string) => {
    edges.chromium[`${workload}:${edge}`] = ticksOf(edges.pids);
    edges.gateway[`${workload}:${edge}`] = ownTicks(readCpuTicks(gateway.pid));
  });
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => typeof (globalThis as { hostBench?: unknown }).hostBench === "function");
  const host: Host = {
    name: "browser (Chromium, via gateway)",
    cpuCounted: "Chromium's processes (browser, renderer, network, GPU) + the gateway's, from /proc",
    round: async () => {
      const pids = descendants(process.pid).filter((p) => p !== gateway.pid && p !== tgtd.pid);
      edges = { pids, chromium: {}, gateway: {} };
      const result = await page.evaluate(
        async ([g, u, s]) => (globalThis as unknown as { hostBench: (g: string, u: string, s: number) => Promise<unknown> }).hostBench(g, u, s),
        [gatewayUrl, url, seconds] as [string, string, number],
      );
      const r = result as ReaderResult;
      const delta = (at: Record<string, number>, w: string): number => {
        const a = at[`${w}:open`];
        const b = at[`${w}:close`];
        return a === undefined || b === undefined ? Number.NaN : ((b - a) * 1e6) / ticksPerSecond;
      };
      const us = (w: "small" | "large"): number => delta(edges.chromium, w) + delta(edges.gateway, w);
      const f = figuresFromWindows(r.small, r.large, { smallUs: us("small"), largeUs: us("large") });
      const per = (x: number, ios: number): number => Number((x / ios).toFixed(1));
      const cpuParts = {
        chromiumUs4k: per(delta(edges.chromium, "small"), r.small.ios),
        gatewayUs4k: per(delta(edges.gateway, "small"), r.small.ios),
        chromiumUs1m: per(delta(edges.chromium, "large"), r.large.ios),
        gatewayUs1m: per(delta(edges.gateway, "large"), r.large.ios),
        chromiumProcesses: pids.length,
      };
      return { ...f, cpuParts };
    },
  };
  return {
    host,
    close: async () => {
      await browser.close();
      await gateway.kill();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "latin1").split(" ")[0] ?? "?";
  } catch {
    return "?";
  }
}

function stampOf(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const ticksPerSecond = clockTicksPerSecond();
  const started = new Date();
  const loadAtStart = loadAverage();
  const tgtd = await BenchTgtd.start();
  let browser: BrowserBench | undefined;
  try {
    await tgtd.tgtadm(["--op", "new", "--mode", "target", "--tid", "1", "-T", BENCH_IQN]);
    await tgtd.tgtadm(["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", String(NULL_LUN), "--bstype", "null", "-b", "nullstore"]);
    await tgtd.tgtadm(["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"]);
    const url = tgtd.url(NULL_LUN);
    const hosts: Host[] = [
      perfHost(url, args.seconds, ticksPerSecond, tgtd.pid),
      readerHost("node", [process.execPath], "node/index.js", url, args.seconds),
      readerHost("bun", [join(BIN, "bun")], "bun/index.js", url, args.seconds),
      readerHost("deno", [join(BIN, "deno"), "run", "-A"], "deno/index.js", url, args.seconds),
    ];
    const failures: string[] = [];
    if (args.browser) {
      try {
        browser = await startBrowser(tgtd, url, args.seconds, ticksPerSecond);
        hosts.push(browser.host);
      } catch (error) {
        // No Chromium, playwright-core or esbuild here: the other hosts still make a table.
        failures.push(`the browser could not be set up (--no-browser leaves it out): ${error instanceof Error ? error.message : String(error)}`);
        process.stderr.write(`${failures[failures.length - 1]!}\n`);
      }
    }
    const rounds = new Map<string, HostFigures[]>(hosts.map((h) => [h.name, []]));
    for (let round = 0; round < args.rounds; round++) {
      const order = round % 2 === 0 ? hosts : [...hosts].reverse();
      for (const h of order) {
        process.stderr.write(`round ${round + 1}/${args.rounds}: ${h.name} ... `);
        try {
          const f = await h.round();
          rounds.get(h.name)!.push(f);
          process.stderr.write(`${f.iops4k.toFixed(0)} IOPS, ${f.mbps1m.toFixed(0)} MB/s, ${f.cpuUs4k.toFixed(1)} / ${f.cpuUs1m.toFixed(0)} µs CPU per read\n`);
        } catch (error) {
          const text = `round ${round + 1}, ${h.name}: ${error instanceof Error ? error.message : String(error)}`;
          failures.push(text);
          process.stderr.write(`failed: ${text}\n`);
        }
      }
    }
    const rows: HostRow[] = hosts.map((h) => ({ host: h.name, cpuCounted: h.cpuCounted, rounds: rounds.get(h.name)! }));
    const summary = summarize(rows);
    const machine = await machineInfo();
    const revision = await sourceRevision(ROOT);
    const versions = await runtimeVersions();
    const notes = [
      `Medians of ${args.rounds} rounds, ${args.seconds} s windows after a 1.5 s warm-up (iscsi-perf: its first second left out), hosts alternating; in parentheses, the ratio to iscsi-perf's median.`,
      "tgtd's null LUN (--bstype null) on 127.0.0.1; the first GiB read; CPU per read is user + system time of the initiator's processes only, tgtd's excluded.",
      ...summary.map((s) => `CPU of ${s.host}: ${s.cpuCounted}.`),
      ...rangeLines(rows).map((line) => `Range: ${line}.`),
      `Runtimes: ${versions}.`,
      `Load average (1 min) ${loadAtStart} at the start, ${loadAverage()} at the end, on ${machine.cores} CPUs: other work shared the machine.`,
      ...failures.map((f) => `Failed: ${f}`),
    ];
    console.log(textTable(summary));
    for (const n of notes) console.log(`  ${n}`);
    const stamp = stampOf(started);
    const out = join(ROOT, "bench", "results");
    await mkdir(out, { recursive: true });
    const md = [`# Hosts against libiscsi's iscsi-perf, ${started.toISOString()}`, "", markdownTable(summary), "", ...notes.map((n) => `- ${n}`), ""].join("\n");
    await writeFile(join(out, `hosts-${stamp}.md`), md);
    await writeFile(join(out, `hosts-${stamp}.json`), `${JSON.stringify({ started: started.toISOString(), args, machine, revision, runtimes: versions, rows, summary, failures }, null, 2)}\n`);
    console.log(`wrote bench/results/hosts-${stamp}.md and .json`);
  } finally {
    await browser?.close();
    await tgtd.stop();
  }
}

async function runtimeVersions(): Promise<string> {
  const version = (file: string, args: string[]): Promise<string> =>
    new Promise((resolve) => {
      const p = spawn(file, args, { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      p.stdout.on("data", (c: Buffer) => (out += c.toString()));
      p.on("error", () => resolve("?"));
      p.on("close", () => resolve(out.trim().split("\n")[0] ?? "?"));
    });
  const [bun, deno, chromium] = await Promise.all([version(join(BIN, "bun"), ["--version"]), version(join(BIN, "deno"), ["--version"]), version("/usr/bin/chromium", ["--version"])]);
  return `node ${process.version}, bun ${bun}, ${deno}, ${chromium}`;
}

main().catch((error: unknown) => {
  console.error(error instanceof BenchError ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
});
