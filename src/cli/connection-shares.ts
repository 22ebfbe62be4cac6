/**
 * MC/S on the command line: `--connections N` and `--connection-policy` for the commands that
 * move data (perf, cp), with the session's two write-side tunings, `--no-batching`
 * (core/session/batching.ts) and `--busy-poll` (SessionOptions.busyPollUs), and each
 * connection's share of what a run carried, from the session's per-connection counters taken
 * before and after the run.
 */
import { type Command, Option } from "commander";
import { CONNECTION_POLICIES, type ConnectionPolicy, DEFAULT_CONNECTION_POLICY, isConnectionPolicy } from "../core/index.js";
import type { SessionOptions, ConnectionInfo } from "../node/index.js";
import type { CliContext } from "./context.js";
import { CliError } from "./errors.js";
import { formatTable } from "./format.js";
import { formatBytes, formatCount, parseCount } from "./units.js";

/** As many as the library opens (MaxConnections still decides: the target may allow fewer). */
export const MAX_CONNECTIONS = 64;

export interface McsOptions {
  readonly connections?: string;
  readonly connectionPolicy?: string;
  /** false with --no-batching. */
  readonly batching?: boolean;
  /** Microseconds, from --busy-poll. */
  readonly busyPoll?: string;
}

/** The longest busy poll the command line takes: a second of spinning after each write is already absurd. */
const MAX_BUSY_POLL_US = 1_000_000;

/** The MC/S options of a command that moves data. */
export function addMcsOptions(command: Command): Command {
  return command
    .option("--connections <n>", `TCP connections in the session (MC/S), 1 to ${MAX_CONNECTIONS}; the target's MaxConnections may allow fewer`, "1")
    .addOption(new Option("--connection-policy <policy>", "how commands are spread over the connections").choices(CONNECTION_POLICIES).default(DEFAULT_CONNECTION_POLICY))
    .option("--no-batching", "write each command at once, even at queue depth (by default, while 16 are at the target, new commands leave four to a write)")
    .option(
      "--busy-poll <us>",
      "after each write, keep polling the sockets for up to this many microseconds instead of sleeping while commands are outstanding: lower latency at low queue depth, paid in CPU (off by default)",
    );
}

/** Session options from --connections, --connection-policy, --no-batching and --busy-poll. */
export function mcsSessionOptions(opts: McsOptions): {
  readonly connections: number;
  readonly connectionPolicy: ConnectionPolicy;
  readonly commandBatching?: false;
  readonly busyPollUs?: number;
} {
  const connections = parseCount(opts.connections ?? "1", "--connections", { min: 1, max: MAX_CONNECTIONS });
  const policy = opts.connectionPolicy ?? DEFAULT_CONNECTION_POLICY;
  if (!isConnectionPolicy(policy)) throw new CliError("ISCSI_CLI_USAGE", `--connection-policy "${policy}" is not a policy (one of ${CONNECTION_POLICIES.join(", ")})`);
  const busyPollUs = opts.busyPoll === undefined ? undefined : parseCount(opts.busyPoll, "--busy-poll", { min: 0, max: MAX_BUSY_POLL_US });
  return {
    connections,
    connectionPolicy: policy,
    ...(opts.batching === false ? { commandBatching: false as const } : {}),
    ...(busyPollUs === undefined || busyPollUs === 0 ? {} : { busyPollUs }),
  } satisfies Partial<SessionOptions>;
}

/** One connection's part of a run. */
export interface ConnectionShare {
  readonly cid: number;
  readonly commands: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** bytesIn + bytesOut. */
  readonly bytes: number;
  /** Percent of the session's commands in the run, to 0.1. */
  readonly percent: number;
}

type Counts = Pick<ConnectionInfo, "cid" | "commands" | "bytesIn" | "bytesOut">;

/** The counters now, to subtract later. */
export function countersNow(connections: readonly Counts[]): ReadonlyMap<number, Counts> {
  return new Map(connections.map((c) => [c.cid, { cid: c.cid, commands: c.commands, bytesIn: c.bytesIn, bytesOut: c.bytesOut }]));
}

/**
 * What each connection carried since `before`, in CID order. A connection that was not there
 * before (added, or re-established by a recovery, whose counters start again) counts from zero.
 */
export function sharesSince(before: ReadonlyMap<number, Counts>, connections: readonly Counts[]): ConnectionShare[] {
  const rows = [...connections]
    .sort((a, b) => a.cid - b.cid)
    .map((c) => {
      const was = before.get(c.cid);
      const fresh = was === undefined || was.commands > c.commands;
      const commands = c.commands - (fresh ? 0 : was.commands);
      const bytesIn = c.bytesIn - (fresh ? 0 : was.bytesIn);
      const bytesOut = c.bytesOut - (fresh ? 0 : was.bytesOut);
      return { cid: c.cid, commands, bytesIn, bytesOut, bytes: bytesIn + bytesOut };
    });
  const total = rows.reduce((n, r) => n + r.commands, 0);
  return rows.map((r) => ({ ...r, percent: total === 0 ? 0 : Math.round((r.commands * 1000) / total) / 10 }));
}

/** A heading and a table, one row per connection: CID, commands, bytes, percent of the commands. */
export function formatShares(shares: readonly ConnectionShare[], policy: ConnectionPolicy, indent = "  "): string {
  const table = formatTable(
    [{ header: "CID", align: "right" }, { header: "Commands", align: "right" }, { header: "Bytes", align: "right" }, { header: "Share", align: "right" }],
    shares.map((s) => [String(s.cid), formatCount(s.commands), formatBytes(s.bytes), `${s.percent.toFixed(1)}%`]),
  );
  return [`${indent}Connections: ${shares.length} (${policy})`, ...table.split("\n").map((line) => `${indent}  ${line}`)].join("\n");
}

/** A note when the target allowed fewer connections than --connections asked (MaxConnections). */
export function noteFewerConnections(ctx: CliContext, asked: number, got: number): void {
  if (got < asked) ctx.out.note(`the target allows ${got} connection(s) in a session (MaxConnections): --connections ${asked} runs on ${got}`);
}
