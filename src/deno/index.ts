/**
 * iscsi-ts on Deno: the client (../client) bound to `Deno.connect` (./host.ts), with the same
 * API as the Node entry (package.json's "deno" condition). It needs --allow-net; with
 * --allow-ffi, --allow-env and --allow-read too it uses the native CRC32C, with --allow-sys the
 * machine's name in the default initiator name. It asks for nothing it is not already granted.
 *
 * Deno's sockets or Node's `net` under Deno's compatibility (the Node entry run by Deno)?
 * Measured with test/hosts/bench.ts against tgtd's null LUN, Deno 2.9.6, 2026-12-03, on the
 * shared 2-core machine at load 6-10, as the median of 10 and of 12 interleaved pairs (own, compat):
 *   4 KiB random reads, QD32:  CPU per read 0.97x and 0.98x of compat's (14.0 vs 15.1 us);
 *                              IOPS 1.27x and 0.94x (36.5K vs 38.2K)
 *   1 MiB sequential, QD16:    CPU per read 0.98x and 1.03x (369 vs 329 us); MB/s 0.96x and 1.21x
 * The noise floor, the Node entry under Node paired with itself (8 pairs): IOPS 0.89x, MB/s
 * 1.29x, CPU per read 0.89x and 1.02x; Node itself spent 13.5 us per 4 KiB and 307 us per 1 MiB read.
 * Within the noise of the machine either way; Deno's own sockets are the default: no Node
 * compatibility layer under the data path, direct reads into the caller's buffer, and a connect
 * abandoned through its abort signal.
 */
import { createClient } from "../client/index.js";
import { defaultInitiatorName as defaultNameFor } from "../client/options.js";
import { denoHost } from "./host.js";

const client = createClient(denoHost());

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
export { denoHost, denoSessionDeps, loadDenoCrc32c } from "./host.js";
