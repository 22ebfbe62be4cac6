/**
 * The host table's reader in a browser: the same two workloads as host-reader.ts (hosts.ts's
 * loops), through the browser host (src/browser: WebSockets to an `iscsi gateway`). hosts-main.ts
 * bundles it with esbuild into a page, opens the page in Chromium and calls
 *
 *   hostBench(gatewayUrl, iscsiUrl, seconds)  ->  ReaderResult (the windows, without CPU)
 *
 * A page cannot read its own CPU time, so each window's edges are told to `benchEdge(workload,
 * edge)` when the page has it (Playwright's exposeFunction): the bench samples /proc of Chromium's
 * processes and of the gateway then. Nothing here may import node: modules.
 */
import { connectVia } from "../browser/index.js";
import { runWorkloads, type ReaderResult } from "./hosts.js";

type Edge = (workload: "small" | "large", edge: "open" | "close") => Promise<void>;

async function hostBench(gateway: string, url: string, seconds: number): Promise<ReaderResult> {
  const lun = await connectVia(gateway).openLun(url, { keepAlive: false });
  try {
    await lun.readCapacity();
    const edge = (globalThis as { benchEdge?: Edge }).benchEdge;
    return await runWorkloads(lun, "browser", seconds, edge === undefined ? {} : { onEdge: edge });
  } finally {
    await lun.session.logout();
  }
}

(globalThis as { hostBench?: typeof hostBench }).hostBench = hostBench;
