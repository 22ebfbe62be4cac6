/**
 * The two charts of a run, as hand-written SVG (no dependency): the ratio of iscsi-ts to libiscsi
 * per workload against a 1.0 line, and iSCSI read rates relative to reading the same file locally
 * across block sizes. Plain shapes and text only, so they render on GitHub and in any browser.
 */
import type { LocalComparison, WorkloadOutcome } from "./report.js";
import { ratio } from "./stats.js";
import { sizeLabel } from "./workloads.js";

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const n = (x: number): string => (Math.round(x * 10) / 10).toString();
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const OURS = "#2f6fb5";
const LIB = "#c8702a";
const WIN = "#3c9a4f";
const LOSE = "#d05a4a";

function text(x: number, y: number, body: string, attrs = ""): string {
  return `<text x="${n(x)}" y="${n(y)}" ${attrs}>${escapeXml(body)}</text>`;
}

/** An upper bound for an axis: a round number above every value and above `floor`. */
export function axisMax(values: readonly number[], floor: number, step: number): number {
  const top = Math.max(floor, ...values.filter((v) => Number.isFinite(v)));
  return Math.ceil((top * 1.08) / step) * step;
}

/**
 * Per workload: iscsi-ts's rate over libiscsi's (a bar, green at or above 1.0, red below; a dot per
 * round, pairing the two runs of that round) and CPU efficiency, libiscsi's CPU per unit of work
 * over ours (a thin bar: above 1.0 we spend less CPU than libiscsi).
 */
export function ratioChart(outcomes: readonly WorkloadOutcome[], title: string): string {
  const left = 230;
  const plotWidth = 470;
  const rowHeight = 44;
  const top = 84;
  const width = left + plotWidth + 70;
  const height = top + rowHeight * outcomes.length + 58;
  const efficiency = (o: WorkloadOutcome): number => ratio(o.libiscsi.summary.cpuPerUnit.median, o.ours.summary.cpuPerUnit.median);
  const roundRatios = (o: WorkloadOutcome): number[] =>
    o.ours.runs.flatMap((r) => {
      const lib = o.libiscsi.runs.find((l) => l.round === r.round);
      return lib === undefined ? [] : [ratio(r.iops, lib.iops)];
    });
  const all = outcomes.flatMap((o) => [o.ratio, efficiency(o), ...roundRatios(o)]);
  const max = axisMax(all, 1.25, 0.25);
  const x = (v: number): number => left + (Math.max(0, Math.min(v, max)) / max) * plotWidth;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(text(12, 22, title, 'font-size="15" font-weight="600"'));
  out.push(text(12, 42, "bar: iscsi-ts rate / libiscsi rate (median; dots: each round)   thin bar: libiscsi CPU per I/O / iscsi-ts CPU per I/O", 'fill="#555"'));
  for (let v = 0; v <= max + 1e-9; v += 0.25) {
    const gx = x(v);
    out.push(`<line x1="${n(gx)}" y1="${top - 6}" x2="${n(gx)}" y2="${top + rowHeight * outcomes.length}" stroke="#e4e4e4"/>`);
    out.push(text(gx, top + rowHeight * outcomes.length + 16, v.toFixed(2), 'text-anchor="middle" fill="#555"'));
  }
  outcomes.forEach((o, i) => {
    const y = top + i * rowHeight;
    const r = o.ratio;
    const e = efficiency(o);
    out.push(text(left - 10, y + 17, o.workload.label, 'text-anchor="end"'));
    out.push(text(left - 10, y + 31, `vs ${o.tool}`, 'text-anchor="end" fill="#777" font-size="11"'));
    const rounds = roundRatios(o).filter((v) => Number.isFinite(v));
    if (Number.isFinite(r)) {
      out.push(`<rect x="${left}" y="${y + 6}" width="${n(x(r) - left)}" height="16" fill="${r >= 1 ? WIN : LOSE}"/>`);
      // The label goes past the bar and past every round's dot, so neither hides it.
      out.push(text(x(Math.max(r, ...rounds)) + 7, y + 19, `${r.toFixed(2)}x`, 'font-weight="600"'));
    }
    for (const rr of rounds) out.push(`<circle cx="${n(x(rr))}" cy="${y + 14}" r="2.5" fill="#222" fill-opacity="0.7"/>`);
    if (Number.isFinite(e)) {
      out.push(`<rect x="${left}" y="${y + 26}" width="${n(x(e) - left)}" height="7" fill="#8a8a8a"/>`);
      out.push(text(x(e) + 5, y + 33, `CPU ${e.toFixed(2)}x`, 'fill="#555" font-size="10"'));
    }
  });
  const one = x(1);
  out.push(`<line x1="${n(one)}" y1="${top - 10}" x2="${n(one)}" y2="${top + rowHeight * outcomes.length + 4}" stroke="#222" stroke-width="1.5" stroke-dasharray="5 3"/>`);
  out.push(text(one, top - 14, "1.0 = libiscsi", 'text-anchor="middle" fill="#222" font-size="11"'));
  out.push(text(left + plotWidth / 2, height - 14, "ratio (iscsi-ts / libiscsi)", 'text-anchor="middle" fill="#333"'));
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/**
 * The classic chart: random read operations per second through iSCSI relative to reading the same
 * file locally, across block sizes, one line per initiator.
 */
export function localChart(local: LocalComparison, title: string): string {
  const left = 70;
  const plotWidth = 600;
  const plotHeight = 300;
  const top = 84;
  const width = left + plotWidth + 40;
  const height = top + plotHeight + 70;
  const points = local.points;
  const values = points.flatMap((p) => [p.oursOverLocal, p.libiscsiOverLocal]);
  const step = Math.max(...values.filter(Number.isFinite), 0.1) > 0.5 ? 0.1 : 0.05;
  const max = axisMax(values, step * 2, step);
  const xs = (i: number): number => left + (points.length <= 1 ? plotWidth / 2 : (i / (points.length - 1)) * plotWidth);
  const ys = (v: number): number => top + plotHeight - (Math.max(0, Math.min(v, max)) / max) * plotHeight;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(text(12, 22, title, 'font-size="15" font-weight="600"'));
  out.push(
    text(12, 42, `random reads, QD${local.queueDepth}, ${(local.fileBytes / 2 ** 20).toFixed(0)} MiB file in the page cache: iSCSI (tgtd file LUN, loopback) IOPS / local (fio) IOPS`, 'fill="#555"'),
  );
  for (let v = 0; v <= max + 1e-9; v += step) {
    const gy = ys(v);
    out.push(`<line x1="${left}" y1="${n(gy)}" x2="${left + plotWidth}" y2="${n(gy)}" stroke="#e4e4e4"/>`);
    out.push(text(left - 8, gy + 4, v.toFixed(2), 'text-anchor="end" fill="#555"'));
  }
  points.forEach((p, i) => out.push(text(xs(i), top + plotHeight + 18, sizeLabel(p.ioBytes), 'text-anchor="middle" fill="#333"')));
  out.push(text(left + plotWidth / 2, top + plotHeight + 40, "block size", 'text-anchor="middle" fill="#333"'));
  // At each size the higher series is labelled above its point and the lower one below, so the
  // labels stay clear of each other and of the lines.
  const labelDy = (mine: number, other: number): number => (mine >= other ? -9 : 17);
  // The legend sits above the plot, where no line can run through it.
  const series = (pick: (i: number) => number, pickOther: (i: number) => number, color: string, label: string, legendX: number): void => {
    const coords = points.map((_, i) => ({ x: xs(i), v: pick(i), dy: labelDy(pick(i), pickOther(i)) })).filter((c) => Number.isFinite(c.v));
    if (coords.length > 1) {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.2" points="${coords.map((c) => `${n(c.x)},${n(ys(c.v))}`).join(" ")}"/>`);
    }
    for (const c of coords) {
      out.push(`<circle cx="${n(c.x)}" cy="${n(ys(c.v))}" r="3.8" fill="${color}"/>`);
      out.push(text(c.x, ys(c.v) + c.dy, c.v.toFixed(2), `text-anchor="middle" fill="${color}" font-size="10"`));
    }
    out.push(`<rect x="${legendX}" y="${top - 21}" width="14" height="10" fill="${color}"/>`);
    out.push(text(legendX + 20, top - 12, label));
  };
  const ours = (i: number): number => points[i]!.oursOverLocal;
  const lib = (i: number): number => points[i]!.libiscsiOverLocal;
  series(ours, lib, OURS, "iscsi-ts / local", left + plotWidth - 270);
  series(lib, (i) => ours(i) + 1e-12, LIB, "libiscsi / local", left + plotWidth - 130);
  out.push(`<line x1="${left}" y1="${top + plotHeight}" x2="${left + plotWidth}" y2="${top + plotHeight}" stroke="#333"/>`);
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
