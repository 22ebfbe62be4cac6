/**
 * iscsi-ts on Bun: the client (../client) bound to Bun's own TCP sockets (./host.ts), with the
 * same API as the Node entry (package.json's "bun" condition).
 *
 * Bun's sockets or Node's `net` under Bun's compatibility (the Node entry run by Bun)? Measured
 * with test/hosts/bench.ts against tgtd's null LUN, Bun 1.4.5, 2026-12-03, on the shared 2-core
 * machine at load 6-10, as the median of 10 and of 12 interleaved pairs (own, compat):
 *   4 KiB random reads, QD32:  CPU per read 1.00x and 0.96x of compat's (13.2 vs 13.3 us);
 *                              IOPS 0.91x and 1.09x (31.9K vs 33.9K)
 *   1 MiB sequential, QD16:    CPU per read 0.97x and 0.93x (640 vs 754 us); MB/s 1.31x and 0.92x
 * The noise floor, the Node entry under Node paired with itself (8 pairs): IOPS 0.89x, MB/s
 * 1.29x, CPU per read 0.89x and 1.02x; Node itself spent 13.5 us per 4 KiB and 307 us per 1 MiB read.
 * Throughput swings more between runs than between the two, so CPU per read decides: a tie for
 * small reads, a few per cent less for Bun's sockets on large ones. They are the default, with
 * one cost (see ./host.ts): a connect given up on cannot be abandoned, so the process lasts until
 * the kernel gives up on the SYN; `createClient(nodeHost())` from iscsi-ts/node does not.
 */
import { createClient } from "../client/index.js";
import { defaultInitiatorName as defaultNameFor } from "../client/options.js";
import { bunHost } from "./host.js";

const client = createClient(bunHost());

/** Opens and logs in a session from a URL (`iscsi://[user[%secret]@]host[:port]/iqn[/lun]`) or options. */
export const openSession = client.openSession;
/** Opens a session and returns the LUN the URL names (`lun.session.logout()` ends it). */
export const openLun = client.openLun;
/** SendTargets discovery (RFC 7143 §13.3): every target at a portal and its addresses. */
export const discover = client.discover;

/** The initiator name used when none is given: iqn.2026-11.io.iscsi-ts:<this machine's name>. */
export function defaultInitiatorName(): string {
  return defaultNameFor(client.host.machineName());
}

// Everything the client offers, with this host's own bindings above taking the place of the
// client's host-neutral ones (defaultInitiatorName).
export * from "../client/index.js";
export { bunHost, bunSessionDeps, loadBunCrc32c } from "./host.js";
