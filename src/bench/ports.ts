/**
 * Ports for peers, for the bench and the test harness alike (test/support/ports.ts re-exports
 * these). Every run takes its own: 3260/3261 and tgtd's control port 9001 belong to whoever runs
 * the project by hand, and other benches or test files may run beside ours.
 */
import { randomInt } from "node:crypto";
import { createServer } from "node:net";
import { BenchError } from "./errors.js";

/**
 * A TCP port on `host` that was free a moment ago: the kernel picks one (bind to port 0), we read
 * it and close. Another process may take it before the caller binds it, so whoever binds it must
 * still check (tgtd's launch does, as tgtd falls back to 0.0.0.0:3260 instead of failing).
 */
export function freeTcpPort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new BenchError("BENCH_ERR_PEER", `no free port read back on ${host}`))));
    });
  });
}

/**
 * tgtd's `-C` control port names a UNIX socket and lock file (/var/run/tgtd/socket.N); it takes
 * 0..32767 and must differ between running tgtd instances. We draw from the upper half, far
 * from the hand-run default (9001); tgtd refuses a value whose lock another tgtd holds, and the
 * caller then draws again.
 */
export const CONTROL_PORT_MIN = 16384;
export const CONTROL_PORT_MAX = 32767;

export function randomControlPort(): number {
  return randomInt(CONTROL_PORT_MIN, CONTROL_PORT_MAX + 1);
}
