/** The machine a run was measured on, for the results file and the table's header. */
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem, type as osType } from "node:os";
import { run } from "./process.js";

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  /** 1, 5 and 15-minute load averages when the run began: other work on the machine skews results. */
  readonly loadAverage: readonly number[];
  /** Package versions of the peers (Debian's dpkg), or what the tool prints about itself. */
  readonly versions: Readonly<Record<string, string>>;
}

/** The CPU model from /proc/cpuinfo ("model name"), falling back to what Node reports. */
export function cpuModelFrom(cpuinfo: string): string | undefined {
  const m = /^model name\s*:\s*(.+)$/m.exec(cpuinfo);
  return m?.[1]?.trim();
}

async function packageVersion(name: string): Promise<string | undefined> {
  const result = await run("dpkg-query", ["-W", "-f=${Version}", name], { timeoutMs: 10_000 });
  const text = result.stdout.trim();
  return result.status.code === 0 && text !== "" ? text : undefined;
}

export async function machineInfo(): Promise<MachineInfo> {
  let cpuinfo = "";
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    // Not Linux: Node's view below.
  }
  const versions: Record<string, string> = {};
  for (const [label, pkg] of [
    ["tgt", "tgt"],
    ["libiscsi", "libiscsi7"],
    ["libiscsi-bin", "libiscsi-bin"],
    ["qemu-utils", "qemu-utils"],
    ["qemu-block-extra", "qemu-block-extra"],
    ["fio", "fio"],
  ] as const) {
    const version = await packageVersion(pkg);
    if (version !== undefined) versions[label] = version;
  }
  return {
    cpuModel: cpuModelFrom(cpuinfo) ?? cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${osType()} ${release()}`,
    node: process.version,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    versions,
  };
}

/** The commit the suite ran from, and whether src/ had changes on top of it (undefined outside git). */
export async function sourceRevision(root: string): Promise<{ readonly commit: string; readonly dirty: boolean } | undefined> {
  const head = await run("git", ["-C", root, "rev-parse", "--short=12", "HEAD"], { timeoutMs: 10_000 });
  if (head.status.code !== 0) return undefined;
  const status = await run("git", ["-C", root, "status", "--porcelain", "--", "src"], { timeoutMs: 10_000 });
  return { commit: head.stdout.trim(), dirty: status.stdout.trim() !== "" };
}

/** "AMD EPYC, 2 cores, 23.5 GiB, Linux 6.1, Node v20.20.2, tgt 1.0.85, libiscsi 1.19.0" */
export function describeMachine(m: MachineInfo): string {
  const short = (v: string | undefined): string => (v === undefined ? "?" : v.replace(/^\d+:/, "").replace(/[-+].*$/, ""));
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.kernel}, Node ${m.node}, tgt ${short(m.versions["tgt"])}, libiscsi ${short(m.versions["libiscsi"])}, QEMU ${short(m.versions["qemu-utils"])}, fio ${short(m.versions["fio"])}`;
}
