/**
 * When a connection's new commands may wait for company before they are written. At queue depth a
 * closed loop of callers gets one completion per socket read and answers it with one new command,
 * so without this every command is a write of its own (a syscall, a TCP segment, a wake-up of the
 * target). While enough commands are already at the target it has work to do, and a new command
 * loses nothing by waiting for a few more: they leave in one write, as a block layer's plug or an
 * NVMe doorbell batches them. Below that depth a command goes at once, so latency at low queue
 * depth is untouched.
 *
 * Only new SCSI Command PDUs (with their immediate data) ever wait: each has the newest CmdSN,
 * so no command at the target waits behind it. Anything else in the queue (a command sent again
 * with its CmdSN, Data-Out, a NOP-Out, task management, text, logout, SNACK) sends everything
 * queued at once, and every completion is a new chance: a command waits only while `depth` others
 * are outstanding on its connection, so it is written as soon as completions bring that below
 * the depth, or a batch has gathered. With several connections (MC/S) the host writes all their
 * queues or none (Session.transmitMayWait), so that the commands written are always all those
 * below some CmdSN: the target orders commands by CmdSN across connections (RFC 7143 §3.2.2.1),
 * and a command held on one connection must not stall later ones sent on another. The host
 * needs no timer for it: the host's turns (socket reads, timers, requests) each look again.
 */

export interface CommandBatching {
  /** Commands must wait only while at least this many of the connection's commands are at the target. */
  readonly depth: number;
  /** Waiting commands are written once this many have gathered. */
  readonly batch: number;
}

/**
 * Sixteen at the target keeps any target we know busy (tgtd and the embedded target answer a
 * 4 KiB read in tens of microseconds); four to a write cut the writes of a 4 KiB QD32 loop to a
 * quarter and the initiator's system time per I/O by about a third (docs/BENCHMARKS.md).
 */
export const DEFAULT_COMMAND_BATCHING: CommandBatching = { depth: 16, batch: 4 };

/**
 * True when the queue may wait: it holds only new commands (`commands` of them, nothing else),
 * fewer than a batch, and at least `depth` of the connection's `outstanding` commands (the queued
 * ones included) were written already.
 */
export function mayWait(batching: CommandBatching | undefined, commands: number, others: boolean, outstanding: number): boolean {
  return batching !== undefined && !others && commands > 0 && commands < batching.batch && outstanding - commands >= batching.depth;
}

/** The setting a session runs with: `false` turns batching off, absent takes the default. */
export function batchingOf(setting: CommandBatching | false | undefined): CommandBatching | undefined {
  return setting === false ? undefined : (setting ?? DEFAULT_COMMAND_BATCHING);
}
