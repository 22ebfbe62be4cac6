/**
 * A progress bar on stderr for long transfers (bytes, rate, ETA), drawn with cli-progress only
 * when stderr is a terminal and the output is not --json: a pipe or a log file gets nothing.
 */
import cliProgress from "cli-progress";
import { formatBytes, formatDuration, formatRate } from "./units.js";

export interface Progress {
  update(bytes: number): void;
  stop(): void;
}

const NONE: Progress = { update: () => undefined, stop: () => undefined };

export function startProgress(
  stream: NodeJS.WritableStream & { readonly isTTY?: boolean },
  enabled: boolean,
  label: string,
  totalBytes: number | undefined,
  now: () => number = () => performance.now(),
): Progress {
  if (!enabled || stream.isTTY !== true) return NONE;
  const known = totalBytes !== undefined && totalBytes > 0;
  const format = known
    ? `${label} [{bar}] {percentage}% | {done} of {all} | {rate} | ETA {left}`
    : `${label} {done} | {rate}`;
  const bar = new cliProgress.SingleBar(
    { stream, format, hideCursor: true, clearOnComplete: true, barsize: 28, fps: 8, etaBuffer: 40 },
    cliProgress.Presets.shades_classic,
  );
  const started = now();
  const total = known ? totalBytes : 1;
  const payload = (bytes: number): Record<string, string> => {
    const seconds = (now() - started) / 1000;
    const rate = seconds > 0 ? bytes / seconds : 0;
    const left = known && rate > 0 ? ((totalBytes - bytes) / rate) * 1000 : Number.NaN;
    return {
      done: formatBytes(bytes),
      all: known ? formatBytes(totalBytes) : "?",
      rate: formatRate(rate),
      left: Number.isFinite(left) ? formatDuration(left) : "-",
    };
  };
  bar.start(total, 0, payload(0));
  return {
    update(bytes) {
      bar.update(known ? Math.min(bytes, total) : 0, payload(bytes));
    },
    stop() {
      bar.stop();
    },
  };
}
