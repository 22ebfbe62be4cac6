/**
 * Reads from a LUN through one library entry, under the runtime running this file: 4 KiB random
 * reads at queue depth 32, then 1 MiB sequential reads at queue depth 16 (the workloads of
 * PEERS.md's iscsi-perf figures). It compares, under Bun and Deno, the runtime's own sockets
 * (dist/bun, dist/deno) with Node's `net` under the runtime's Node compatibility (dist/node);
 * the figures are in src/bun/index.ts and src/deno/index.ts.
 *
 *   <runtime> test/hosts/bench.ts <entry> <iscsi://host:port/iqn/lun of a null LUN> [seconds]
 *
 * Prints one JSON line: IOPS of the first workload, MB/s of the second, and the CPU time each read cost.
 */
import { pathToFileURL } from "node:url";
import type * as NodeEntry from "../../src/node/index.js";
import type { Lun } from "../../src/node/index.js";

const [entry, url, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 5) || 5;
const WARMUP_MS = 1_500;

interface Rate {
  readonly perSecond: number;
  /** Process CPU time (user + system, every thread) per read: steadier than throughput on a busy machine. */
  readonly cpuUsPerIo: number;
}

/** Closed loops of `depth` readers for `ms` after a warm-up. */
async function run(lun: Lun, ioBlocks: number, depth: number, next: () => number, ms: number): Promise<Rate> {
  const open = performance.now() + WARMUP_MS;
  const end = open + ms;
  let counted = 0;
  let cpuAtOpen: NodeJS.CpuUsage | undefined;
  let cpuAtEnd: NodeJS.CpuUsage | undefined;
  await Promise.all(
    Array.from({ length: depth }, async () => {
      const into = new Uint8Array(ioBlocks * 512);
      for (;;) {
        await lun.read(next(), ioBlocks, { into });
        const now = performance.now();
        if (now >= end) {
          cpuAtEnd ??= process.cpuUsage();
          return;
        }
        if (now >= open) {
          cpuAtOpen ??= process.cpuUsage();
          counted++;
        }
      }
    }),
  );
  const cpu = cpuAtOpen === undefined || cpuAtEnd === undefined ? 0 : cpuAtEnd.user + cpuAtEnd.system - cpuAtOpen.user - cpuAtOpen.system;
  return { perSecond: (counted * 1000) / ms, cpuUsPerIo: counted === 0 ? 0 : cpu / counted };
}

const lib = (await import(pathToFileURL(entry as string).href)) as typeof NodeEntry;
const lun = await lib.openLun(url as string, { keepAlive: false });
await lun.readCapacity();
const region = (1 << 30) / 512;
let seed = 12345;
const random = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed;
};
const small = await run(lun, 8, 32, () => (random() % (region / 8)) * 8, seconds * 1000);
let cursor = 0;
const large = await run(
  lun,
  2048,
  16,
  () => {
    const lba = cursor;
    cursor = (cursor + 2048) % region;
    return lba;
  },
  seconds * 1000,
);
await lun.session.logout();
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
console.log(
  JSON.stringify({
    runtime,
    host: lun.session.host.host.name,
    iops4kQd32: Math.round(small.perSecond),
    cpuUs4k: Number(small.cpuUsPerIo.toFixed(1)),
    mbps1mQd16: Math.round((large.perSecond * (1 << 20)) / 1e6),
    cpuUs1m: Number(large.cpuUsPerIo.toFixed(0)),
  }),
);
