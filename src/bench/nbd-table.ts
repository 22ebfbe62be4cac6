/**
 * The NBD table: qemu-nbd and the bridge through fio's nbd engine, and beside them the same
 * invocation's direct figures (libiscsi's tool and our worker straight to the LUN), so the hop's
 * cost shows as "NBD / direct".
 */
import { alignColumns, formatIops, formatMiBps, formatRatio, formatSpread, markdownTable } from "./table.js";
import type { NbdComparison, NbdOutcome, SideSummary } from "./report.js";

export const NBD_HEADERS = [
  "workload",
  "qemu-nbd",
  "iscsi nbd",
  "ratio",
  "CPU qemu-nbd",
  "CPU iscsi nbd",
  "CPU ratio",
  "peak RSS MiB q/ts",
  "direct libiscsi",
  "direct iscsi-ts",
  "NBD/direct q/ts",
];

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "n/a";
}

function rate(o: NbdOutcome, s: SideSummary): string {
  return o.workload.figure === "iops" ? `${formatSpread(s.iops, formatIops)} IOPS` : `${formatSpread(s.bytesPerSecond, formatMiBps)} MiB/s`;
}

export function nbdRow(o: NbdOutcome): string[] {
  const unit = o.workload.cpuPer === "gib" ? "s/GiB" : "s/100K IO";
  const q = o.qemuNbd.summary;
  const b = o.bridge.summary;
  const d = o.direct;
  return [
    o.workload.label,
    rate(o, q),
    rate(o, b),
    formatRatio(o.ratio),
    `${fixed(q.cpuPerUnit.median, 2)} ${unit}`,
    `${fixed(b.cpuPerUnit.median, 2)} ${unit}`,
    formatRatio(o.cpuRatio),
    `${fixed(q.peakRssKiB.max / 1024, 0)}/${fixed(b.peakRssKiB.max / 1024, 0)}`,
    d === undefined ? "not run" : `${rate(o, d.libiscsi.summary)} (${d.tool})`,
    d === undefined ? "not run" : rate(o, d.ours.summary),
    d === undefined ? "n/a" : `${formatRatio(q.iops.median / d.libiscsi.summary.iops.median)}/${formatRatio(b.iops.median / d.ours.summary.iops.median)}`,
  ];
}

export const NBD_FOOTNOTES = [
  "fio's nbd engine (libnbd) through each server, serving tgtd's null LUN; qemu-nbd -t -f raw on QEMU's libiscsi driver, iscsi nbd on iscsi-ts; servers alternate per workload and round.",
  "ratio and CPU ratio: iscsi nbd / qemu-nbd of the medians. CPU: the server process's utime+stime from /proc/<pid>/stat over fio's whole run (fio's own CPU is in neither).",
  "direct: the same invocation's runs straight to the LUN (iscsi-perf or qemu-img bench, and our worker); NBD/direct: qemu-nbd over libiscsi's tool, iscsi nbd over our worker.",
];

export function nbdTitle(n: NbdComparison): string {
  return `NBD: fio --ioengine=nbd over ${n.fioSizeBytes / 2 ** 30} GiB of the null LUN, through qemu-nbd and through iscsi nbd`;
}

export function renderNbdText(n: NbdComparison): string[] {
  return [nbdTitle(n), alignColumns([NBD_HEADERS, ...n.outcomes.map(nbdRow)], 1), ...NBD_FOOTNOTES];
}

export function renderNbdMarkdown(n: NbdComparison): string {
  return [`${nbdTitle(n)}:`, markdownTable(NBD_HEADERS, n.outcomes.map(nbdRow), 1), NBD_FOOTNOTES.map((f) => `- ${f}`).join("\n")].join("\n\n");
}
