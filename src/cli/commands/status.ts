/**
 * `status`: what the running `iscsi up` holds, asked over its control socket: each node's state,
 * session (ISID, TSIH, connections, recoveries), NBD export (address, clients) and I/O counters.
 */
import { Command } from "commander";
import { controlSocketPath } from "../../node/records/paths.js";
import { controlRequest } from "../../service/control.js";
import type { ServiceStatus } from "../../service/service.js";
import { formatBytes, formatCount, formatDuration } from "../units.js";
import { examples, type Runner } from "./command.js";

export function statusCommand(run: Runner): Command {
  return new Command("status")
    .summary("what the running `iscsi up` holds: sessions, NBD exports, I/O")
    .addHelpText("after", examples(["iscsi status", "iscsi status --json | jq '.nodes[].nbd.uri'"]))
    .action(async (_opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const status = (await controlRequest(controlSocketPath(ctx.env), { op: "status" }, Math.max(ctx.timeoutMs, 5000))) as ServiceStatus;
        ctx.out.result(status, () => {
          const lines = [`iscsi up (pid ${status.pid}) since ${status.startedAt}, initiator ${status.initiatorName}, ${status.nodes.length} node(s)`];
          for (const n of status.nodes) {
            lines.push(`${n.name}: ${n.state} since ${n.since}  ${n.url}`);
            if (n.lastError !== undefined) lines.push(`  last error: ${n.lastError}${n.nextAttemptInMs === undefined ? "" : `; next attempt in ${formatDuration(n.nextAttemptInMs)}`}`);
            if (n.session !== undefined) {
              const s = n.session;
              lines.push(`  session: ISID ${s.isid}, TSIH ${s.tsih}, ${s.connections.length} connection(s), logged in ${s.loggedInAt}, ${s.recoveries.length} recovery(ies), ${n.logins} login(s)`);
            }
            if (n.nbd !== undefined) {
              const io = n.nbd.io;
              lines.push(`  nbd: ${n.nbd.uri} (${formatBytes(n.nbd.size)}${n.nbd.readOnly ? ", read-only" : ""}), ${n.nbd.clients} client(s) now, ${n.nbd.clientsServed} served`);
              lines.push(`  io: ${formatCount(io.reads)} reads (${formatBytes(io.bytesRead)}), ${formatCount(io.writes)} writes (${formatBytes(io.bytesWritten)}), ${io.flushes} flushes, ${io.failed} failed, ${io.inFlight} in flight, latency mean ${formatDuration(io.latencyMeanMs)} max ${formatDuration(io.latencyMaxMs)}`);
            }
          }
          for (const d of status.damaged) lines.push(`damaged record: ${d}`);
          return lines.join("\n");
        });
      }),
    );
}
