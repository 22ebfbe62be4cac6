/**
 * Where our worker's CPU time goes: a V8 .cpuprofile (from `node --cpu-prof`) reduced to the
 * functions with the most self time, and the same time summed per source file, so the data path
 * can be optimised from figures rather than guesses.
 */
import { BenchError } from "./errors.js";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface ProfileEntry {
  /** "functionName (file:line)" */
  readonly name: string;
  readonly selfMs: number;
  /** Share of all sampled time, idle included. */
  readonly selfPercent: number;
  /** Share of the time the thread was busy (idle left out). */
  readonly busyPercent: number;
}

export interface ProfileSummary {
  readonly workload: string;
  readonly file: string;
  readonly totalMs: number;
  readonly idleMs: number;
  readonly gcMs: number;
  readonly functions: readonly ProfileEntry[];
  readonly files: readonly ProfileEntry[];
}

/** Makes file:///abs/repo/dist/core/x.js read as dist/core/x.js, and node:internal stays. */
export function shortUrl(url: string, root: string | undefined): string {
  if (url === "") return "";
  let path = url.startsWith("file://") ? decodeURIComponent(url.slice("file://".length)) : url;
  if (root !== undefined && path.startsWith(root)) path = path.slice(root.length).replace(/^\/+/, "");
  const nm = path.lastIndexOf("node_modules/");
  return nm >= 0 ? path.slice(nm) : path;
}

function asProfile(value: unknown): CpuProfile {
  const p = value as Partial<CpuProfile> | null;
  if (p === null || typeof p !== "object" || !Array.isArray(p.nodes) || typeof p.startTime !== "number" || typeof p.endTime !== "number") {
    throw new BenchError("BENCH_ERR_PARSE", "not a V8 CPU profile: nodes, startTime or endTime missing");
  }
  return p as CpuProfile;
}

/**
 * Self time per function and per file. Each sample is charged the time until the next sample
 * (timeDeltas[i + 1]); profiles without samples fall back to hit counts at the mean interval.
 */
export function summarizeProfile(raw: unknown, options: { readonly workload: string; readonly file: string; readonly root?: string; readonly top?: number }): ProfileSummary {
  const profile = asProfile(raw);
  const top = options.top ?? 25;
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    for (let i = 0; i < samples.length; i++) {
      const next = i + 1 < deltas.length ? deltas[i + 1]! : 0;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, next));
    }
  } else {
    const hits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
    const perHit = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
    for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * perHit);
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    totalUs += us;
    const frame = node.callFrame;
    if (frame.functionName === "(idle)") idleUs += us;
    if (frame.functionName === "(garbage collector)") gcUs += us;
    const file = shortUrl(frame.url, options.root);
    const where = file === "" ? "" : ` (${file}:${frame.lineNumber + 1})`;
    const name = `${frame.functionName === "" ? "(anonymous)" : frame.functionName}${where}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const fileKey = file === "" ? (frame.functionName.startsWith("(") ? frame.functionName : "(native)") : file;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const entries = (map: Map<string, number>): ProfileEntry[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        name,
        selfMs: us / 1000,
        selfPercent: totalUs > 0 ? (100 * us) / totalUs : 0,
        busyPercent: busyUs > 0 && name !== "(idle)" ? (100 * us) / busyUs : 0,
      }));
  return {
    workload: options.workload,
    file: options.file,
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    gcMs: gcUs / 1000,
    functions: entries(byFunction),
    files: entries(byFile),
  };
}

/** The summary as text: two ranked lists, self time in ms and as a share of busy time. */
export function formatProfile(summary: ProfileSummary): string {
  const lines: string[] = [];
  const busy = summary.totalMs - summary.idleMs;
  lines.push(`CPU profile of the iscsi-ts worker, ${summary.workload} (${summary.file})`);
  lines.push(`sampled ${summary.totalMs.toFixed(0)} ms: busy ${busy.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms, GC ${summary.gcMs.toFixed(0)} ms`);
  const list = (title: string, rows: readonly ProfileEntry[]): void => {
    lines.push("", title, `${"self ms".padStart(9)} ${"busy %".padStart(7)}  where`);
    for (const r of rows) lines.push(`${r.selfMs.toFixed(1).padStart(9)} ${r.busyPercent.toFixed(1).padStart(7)}  ${r.name}`);
  };
  list("top functions by self time:", summary.functions);
  list("self time by file:", summary.files);
  return `${lines.join("\n")}\n`;
}
