/**
 * Reads from a LUN through one library entry, under the runtime running this file (Node, Bun or
 * Deno): 4 KiB random reads at queue depth 32, then 1 MiB sequential reads at queue depth 16, each
 * a window of `seconds` after a 1.5 s warm-up (hosts.ts's loops, the same in the browser reader).
 *
 *   node dist/bench/host-reader.js dist/node/index.js <iscsi://host:port/iqn/lun of a null LUN> [seconds]
 *   bun  dist/bench/host-reader.js dist/bun/index.js  <url> [seconds]
 *   deno run -A dist/bench/host-reader.js dist/deno/index.js <url> [seconds]
 *
 * Any entry may be given to any runtime (dist/node under Bun or Deno is Node's `net` under their
 * Node compatibility). Prints one JSON line: the runtime, the entry's host name, and per workload
 * the reads counted, the window's seconds and the process's CPU microseconds (user + system, every
 * thread) in it; plus the derived IOPS, MB/s and CPU per read for a person reading it.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type * as NodeEntry from "../node/index.js";
import { figuresFromWindows, runWorkloads } from "./hosts.js";

const [entry, url, secondsArg] = process.argv.slice(2);
if (entry === undefined || url === undefined) {
  console.error("usage: <runtime> dist/bench/host-reader.js <entry, e.g. dist/node/index.js> <iscsi://host:port/iqn/lun> [seconds]");
  process.exit(2);
}
const seconds = Number(secondsArg ?? 5) || 5;
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const lib = (await import(pathToFileURL(resolve(entry)).href)) as typeof NodeEntry;
const lun = await lib.openLun(url, { keepAlive: false });
await lun.readCapacity();
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
const result = await runWorkloads(lun, runtime, seconds, { cpuUs });
await lun.session.logout();
const f = figuresFromWindows(result.small, result.large);
console.log(
  JSON.stringify({
    ...result,
    host: lun.session.host.host.name,
    iops4kQd32: Math.round(f.iops4k),
    cpuUs4k: Number(f.cpuUs4k.toFixed(1)),
    mbps1mQd16: Math.round(f.mbps1m),
    cpuUs1m: Number(f.cpuUs1m.toFixed(0)),
  }),
);
