/**
 * iSCSI over local: the classic comparison of an iSCSI disk with a local one. tgtd serves a file
 * (its rdwr backing store reads it with pread, through the page cache); fio reads the same file
 * locally at the same block size and queue depth, also through the page cache; iscsi-ts and
 * libiscsi's iscsi-perf read it through tgtd. Each point is iSCSI IOPS over local IOPS.
 *
 * The file is written with non-zero data (not sparse) and read through once before the sweep and
 * before each round, so every reader finds it in memory: this compares the paths to the data, not
 * the disk under it.
 */
import { open } from "node:fs/promises";
import { runFio } from "./fio.js";
import { runIscsiPerf } from "./libiscsi.js";
import { runOurs } from "./ours.js";
import type { LocalComparison, LocalPoint, RunFigures } from "./report.js";
import { ratio, spread } from "./stats.js";
import { beforeRun, ourFigures, peerFigures, workerSpec, type SuiteContext } from "./suite.js";
import { formatIops } from "./table.js";
import { sizeLabel } from "./workloads.js";

const CHUNK = 1 << 20;

/** Writes `bytes` of non-repeating, non-zero data (a sparse file would read differently). */
export async function writeBackingFile(path: string, bytes: number): Promise<void> {
  const file = await open(path, "w");
  try {
    const chunk = new Uint8Array(CHUNK);
    for (let i = 0; i < CHUNK; i++) chunk[i] = (i * 131 + 7) & 0xff;
    const view = new DataView(chunk.buffer);
    for (let offset = 0; offset < bytes; offset += CHUNK) {
      // Each MiB differs in its first 8 bytes, so no two chunks are identical.
      view.setFloat64(0, offset);
      await file.write(chunk, 0, Math.min(CHUNK, bytes - offset), offset);
    }
  } finally {
    await file.close();
  }
}

/** Reads the whole file once, so its pages are in the page cache. */
export async function warmPageCache(path: string): Promise<void> {
  const file = await open(path, "r");
  try {
    const buffer = new Uint8Array(4 * CHUNK);
    for (let offset = 0; ; ) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
  } finally {
    await file.close();
  }
}

export interface LocalOptions {
  readonly file: string;
  readonly fileBytes: number;
  readonly sizes: readonly number[];
  readonly queueDepth: number;
  readonly lunUrl: string;
  readonly directIoPossible: boolean;
}

export async function runLocalComparison(ctx: SuiteContext, options: LocalOptions): Promise<LocalComparison> {
  const local = new Map<number, { round: number; iops: number; command: string }[]>(options.sizes.map((s) => [s, []]));
  const lib = new Map<number, RunFigures[]>(options.sizes.map((s) => [s, []]));
  const ours = new Map<number, RunFigures[]>(options.sizes.map((s) => [s, []]));
  const guard = async <T>(what: string, body: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await body();
    } catch (error) {
      const e = error as { code?: unknown; message?: unknown };
      const line = `${what} failed: ${String(e.code ?? "")} ${String(e.message ?? error)}`;
      ctx.failures.push(line);
      ctx.log(`  ${line}`);
      return undefined;
    }
  };
  for (let round = 1; round <= ctx.rounds; round++) {
    await warmPageCache(options.file);
    for (const [index, ioBytes] of options.sizes.entries()) {
      const what = `local round ${round} ${sizeLabel(ioBytes)}`;
      await beforeRun(ctx, `${what} fio`);
      const fio = await guard(`${what} fio`, () =>
        runFio({ file: options.file, ioBytes, queueDepth: options.queueDepth, seconds: ctx.seconds, rampSeconds: ctx.warmupSeconds, direct: false }),
      );
      if (fio !== undefined) local.get(ioBytes)!.push({ round, iops: fio.iops, command: fio.command });
      await beforeRun(ctx, `${what} iscsi-perf`);
      const perf = await guard(`${what} iscsi-perf`, () =>
        runIscsiPerf({
          url: options.lunUrl,
          queueDepth: options.queueDepth,
          ioBytes,
          blockSize: ctx.blockSize,
          random: true,
          seconds: ctx.seconds,
          clockTicksPerSecond: ctx.clockTicksPerSecond,
          tgtdPid: ctx.tgtd.pid,
        }),
      );
      if (perf !== undefined) lib.get(ioBytes)!.push(peerFigures(perf, round, ioBytes, "100k-ios"));
      const spec = workerSpec({ pattern: "random", direction: "read", ioBytes, queueDepth: options.queueDepth }, ctx, 5000 + round * 100 + index);
      await beforeRun(ctx, `${what} iscsi-ts`);
      const mine = await guard(`${what} iscsi-ts`, () => runOurs({ url: options.lunUrl, spec, tgtdPid: ctx.tgtd.pid }));
      if (mine !== undefined) ours.get(ioBytes)!.push(ourFigures(mine, round, ioBytes, "100k-ios"));
      const show = (x: number | undefined): string => (x === undefined ? "failed" : `${formatIops(x)} IOPS`);
      ctx.log(`[local ${round}/${ctx.rounds}] ${sizeLabel(ioBytes).padEnd(8)} fio ${show(fio?.iops)} | iscsi-perf ${show(perf?.iops)} | iscsi-ts ${show(mine?.iops)}`);
    }
  }
  const points: LocalPoint[] = options.sizes.map((ioBytes) => {
    const localRuns = local.get(ioBytes)!;
    const libRuns = lib.get(ioBytes)!;
    const ourRuns = ours.get(ioBytes)!;
    const localIops = spread(localRuns.map((r) => r.iops));
    const libIops = spread(libRuns.map((r) => r.iops));
    const ourIops = spread(ourRuns.map((r) => r.iops));
    return {
      ioBytes,
      local: { runs: localRuns, iops: localIops },
      libiscsi: { runs: libRuns, iops: libIops },
      ours: { runs: ourRuns, iops: ourIops },
      oursOverLocal: ratio(ourIops.median, localIops.median),
      libiscsiOverLocal: ratio(libIops.median, localIops.median),
    };
  });
  return {
    file: options.file,
    fileBytes: options.fileBytes,
    queueDepth: options.queueDepth,
    direct: false,
    directIoPossible: options.directIoPossible,
    points,
  };
}
